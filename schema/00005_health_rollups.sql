-- health_score is rolled up like every other series of the history, so its rollups need a type.

-- +goose Up
ALTER TYPE metrictype ADD VALUE IF NOT EXISTS 'health';

-- +goose Down
-- PostgreSQL cannot drop an enum value: rebuild the type without it.
DELETE FROM metric_aggregations WHERE metric_type = 'health';
ALTER TYPE metrictype RENAME TO metrictype_with_health;
CREATE TYPE metrictype AS ENUM ('cpu', 'memory', 'swap', 'disk', 'load', 'network', 'disk_io', 'process');
ALTER TABLE metric_aggregations ALTER COLUMN metric_type TYPE metrictype USING metric_type::text::metrictype;
ALTER TABLE infrastructure_alerts ALTER COLUMN metric TYPE metrictype USING metric::text::metrictype;
DROP TYPE metrictype_with_health;
