-- Five-minute rollups: a third period of metric_aggregations, kept two days, that the 24 h
-- charts read instead of 17,280 raw samples a line. With a fleet, one host's day of samples is
-- spread over as many pages (they are written by time, the hosts interleaved), which a chart
-- paid with 100-170 ms a line at 50 hosts; its 288 five-minute buckets sit on a few pages
-- (docs/scaling.md, Reads).
--
-- rollup_backlog says, per period, from when samples arrived after the scheduled rollups had
-- looked past them: an agent's spool sent after an outage. The ingest lowers since; a rollup
-- run moves it to claimed, starts there, and clears claimed once done (or moves it up as it
-- goes), so a run that fails or is killed leaves it for the next. Without it, the charts that
-- read rollups kept a gap where the raw samples have none.

-- +goose Up
ALTER TABLE metric_aggregations DROP CONSTRAINT metric_aggregations_period_check;
-- Wider than before, so no stored row can fail it: NOT VALID spares a scan of a year of rollups.
ALTER TABLE metric_aggregations ADD CONSTRAINT metric_aggregations_period_check
    CHECK (period IN ('5min', 'hourly', 'daily')) NOT VALID;

-- The five-minute rollups' own index on time: their runs trim the oldest and look for the newest,
-- which through idx_aggregations_bucket_start meant walking a year of hourly rows.
CREATE INDEX idx_aggregations_5min_bucket_start ON metric_aggregations (bucket_start) WHERE period = '5min';

CREATE TABLE rollup_backlog (
    period  text PRIMARY KEY CHECK (period IN ('5min', 'hourly', 'daily')),
    since   timestamptz,
    claimed timestamptz
);
INSERT INTO rollup_backlog (period) VALUES ('5min'), ('hourly'), ('daily');

-- +goose Down
DROP TABLE rollup_backlog;
DROP INDEX idx_aggregations_5min_bucket_start;
DELETE FROM metric_aggregations WHERE period = '5min';
ALTER TABLE metric_aggregations DROP CONSTRAINT metric_aggregations_period_check;
ALTER TABLE metric_aggregations ADD CONSTRAINT metric_aggregations_period_check
    CHECK (period IN ('hourly', 'daily'));
