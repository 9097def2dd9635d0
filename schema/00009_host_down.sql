-- host_down is the alert of an enrolled host that has sent nothing for HOST_DOWN_AFTER
-- (PRODUCT.md section 15): the alerts job raises it from host_state.received_at.

-- +goose Up
ALTER TYPE metrictype ADD VALUE IF NOT EXISTS 'host_down';

-- +goose Down
-- PostgreSQL cannot drop an enum value: rebuild the type without it. The older code knows no
-- host_down alert, so those go.
DELETE FROM infrastructure_alerts WHERE metric = 'host_down';
ALTER TYPE metrictype RENAME TO metrictype_with_host_down;
CREATE TYPE metrictype AS ENUM ('cpu', 'memory', 'swap', 'disk', 'load', 'network', 'disk_io', 'process', 'health');
ALTER TABLE metric_aggregations ALTER COLUMN metric_type TYPE metrictype USING metric_type::text::metrictype;
ALTER TABLE infrastructure_alerts ALTER COLUMN metric TYPE metrictype USING metric::text::metrictype;
DROP TYPE metrictype_with_host_down;
