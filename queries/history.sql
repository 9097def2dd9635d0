-- The metrics history: one row per sample in each of the three history tables, written by the
-- recorder, and the time series the history endpoint reads back.

-- name: SystemSeries :many
-- One host-wide series from raw samples (rows and blocks: the view system_samples), in buckets
-- of step_seconds aligned to the Unix epoch, so consecutive calls give the same buckets.
SELECT date_bin(make_interval(secs => @step_seconds::float8), collected_at, 'epoch'::timestamptz)::timestamptz AS bucket,
       avg(v)::float8 AS mean_value, min(v)::float8 AS min_value, max(v)::float8 AS max_value,
       count(*)::integer AS sample_count
FROM (
    SELECT collected_at,
           CASE @metric::text
               WHEN 'cpu_percent' THEN cpu_percent
               WHEN 'memory_percent' THEN memory_percent
               WHEN 'swap_percent' THEN swap_percent
               WHEN 'load1' THEN load1
               WHEN 'load5' THEN load5
               WHEN 'load15' THEN load15
               WHEN 'net_recv_bytes_per_second' THEN net_recv_bytes_per_second
               WHEN 'net_sent_bytes_per_second' THEN net_sent_bytes_per_second
               WHEN 'disk_read_bytes_per_second' THEN disk_read_bytes_per_second
               WHEN 'disk_write_bytes_per_second' THEN disk_write_bytes_per_second
           END AS v
    FROM system_samples
    WHERE host = @host::text AND collected_at >= @from_at::timestamptz AND collected_at < @to_at::timestamptz
      AND block_at >= date_bin('1 hour', @from_at::timestamptz, 'epoch') AND block_at < @to_at::timestamptz
) AS samples
WHERE v IS NOT NULL
GROUP BY bucket
ORDER BY bucket;

-- name: FilesystemSeries :many
-- disk_percent of one mountpoint, bucketed as SystemSeries. The lateral join reads the jsonb once
-- per row; a scalar subquery in the select list ran once per aggregate, dragged the jsonb through
-- the sort and priced the plan into JIT compilation: 5x slower over a day of 5-second samples.
SELECT date_bin(make_interval(secs => @step_seconds::float8), s.collected_at, 'epoch'::timestamptz)::timestamptz AS bucket,
       avg(fs.v)::float8 AS mean_value, min(fs.v)::float8 AS min_value, max(fs.v)::float8 AS max_value,
       count(*)::integer AS sample_count
FROM system_samples AS s
CROSS JOIN LATERAL (
    -- A filesystem is a positional row [mountpoint, ..., used_percent (6), ...], or an object in
    -- rows written before migration 00016: ->> of the other kind of key is NULL.
    SELECT coalesce(f ->> 'used_percent', f ->> 6)::float8 AS v
    FROM jsonb_array_elements(s.filesystems) AS f
    WHERE coalesce(f ->> 'mountpoint', f ->> 0) = @subject::text
    LIMIT 1
) AS fs
WHERE s.host = @host::text AND s.collected_at >= @from_at::timestamptz AND s.collected_at < @to_at::timestamptz
  AND s.block_at >= date_bin('1 hour', @from_at::timestamptz, 'epoch') AND s.block_at < @to_at::timestamptz
  AND fs.v IS NOT NULL
GROUP BY bucket
ORDER BY bucket;

-- name: ProcessSeries :many
SELECT date_bin(make_interval(secs => @step_seconds::float8), collected_at, 'epoch'::timestamptz)::timestamptz AS bucket,
       avg(v)::float8 AS mean_value, min(v)::float8 AS min_value, max(v)::float8 AS max_value,
       count(*)::integer AS sample_count
FROM (
    SELECT collected_at,
           CASE @metric::text
               WHEN 'process_cpu_percent' THEN cpu_percent
               WHEN 'process_rss_bytes' THEN rss_bytes::float8
           END AS v
    FROM process_metrics_history
    WHERE host = @host AND collected_at >= @from_at AND collected_at < @to_at
) AS samples
WHERE v IS NOT NULL
GROUP BY bucket
ORDER BY bucket;

-- name: HealthSeries :many
SELECT date_bin(make_interval(secs => @step_seconds::float8), collected_at, 'epoch'::timestamptz)::timestamptz AS bucket,
       avg(score)::float8 AS mean_value, min(score)::float8 AS min_value, max(score)::float8 AS max_value,
       count(*)::integer AS sample_count
FROM infrastructure_health
WHERE host = @host AND collected_at >= @from_at AND collected_at < @to_at
GROUP BY bucket
ORDER BY bucket;

-- name: LatestRollupBucket :one
-- The start of the newest rollup bucket of a series in a range (pgx.ErrNoRows: none), so the
-- history endpoint knows from where raw samples must fill in what the rollups do not cover yet.
SELECT bucket_start
FROM metric_aggregations
WHERE host = @host AND metric = @metric AND subject = @subject AND period = @period
  AND bucket_start >= @from_at AND bucket_start < @to_at
ORDER BY bucket_start DESC
LIMIT 1;

-- name: EarliestRollupBucket :one
-- The start of the oldest rollup bucket of a series in a range (pgx.ErrNoRows: none): five-minute
-- rollups are kept two days and start when the hub was upgraded, so the reader checks they
-- reach back to the start of a range before it takes them.
SELECT bucket_start
FROM metric_aggregations
WHERE host = @host AND metric = @metric AND subject = @subject AND period = @period
  AND bucket_start >= @from_at AND bucket_start < @to_at
ORDER BY bucket_start
LIMIT 1;

-- name: RollupSeries :many
-- A series from rollups, merged into buckets of step_seconds: the mean weighted by samples.
SELECT date_bin(make_interval(secs => @step_seconds::float8), bucket_start, 'epoch'::timestamptz)::timestamptz AS bucket,
       (sum(mean_value * sample_count) / nullif(sum(sample_count), 0))::float8 AS mean_value,
       min(min_value)::float8 AS min_value, max(max_value)::float8 AS max_value,
       sum(sample_count)::integer AS sample_count
FROM metric_aggregations
WHERE host = @host AND metric = @metric AND subject = @subject AND period = @period
  AND bucket_start >= @from_at AND bucket_start < @to_at
GROUP BY bucket
ORDER BY bucket;

-- name: CountOpenAlertsForHost :one
SELECT count(*)::integer FROM infrastructure_alerts WHERE host = $1 AND resolved_at IS NULL;
