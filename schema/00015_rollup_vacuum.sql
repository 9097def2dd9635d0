-- The five-minute rollups come and go (4.3 million rows a day at 1,000 hosts) in a table that
-- otherwise only grows: vacuum metric_aggregations at 2 % dead rows instead of 20 %, or a year
-- of hourly rollups would let a week of deleted five-minute rows pile up between two vacuums
-- (about 7 GB at 1,000 hosts; docs/scaling.md, Reads at scale).

-- +goose Up
ALTER TABLE metric_aggregations SET (autovacuum_vacuum_scale_factor = 0.02);

-- +goose Down
ALTER TABLE metric_aggregations RESET (autovacuum_vacuum_scale_factor);
