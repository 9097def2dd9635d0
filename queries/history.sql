-- The metrics history: one row per sample in each of the three history tables, written by the
-- recorder, and the time series the history endpoint reads back.

-- name: InsertSystemSamples :execrows
-- One host's samples in one statement, from arrays (one element per sample). A sample already
-- stored (a re-sent batch) hits the unique key and is skipped; the row count says how many were
-- new. Per-core percentages travel as array literals, since PostgreSQL arrays cannot be ragged.
INSERT INTO system_metrics_history (
    host, collected_at, cpu_percent, cpu_user_percent, cpu_system_percent, cpu_iowait_percent,
    cpu_steal_percent, cpu_per_core_percent, load1, load5, load15,
    memory_total_bytes, memory_used_bytes, memory_available_bytes, memory_percent,
    swap_total_bytes, swap_used_bytes, swap_percent,
    disk_read_bytes_per_second, disk_write_bytes_per_second,
    net_recv_bytes_per_second, net_sent_bytes_per_second,
    process_count, uptime_seconds, filesystems, interfaces, temperatures
)
SELECT @host::text, u.collected_at, u.cpu, u.cpu_user, u.cpu_system, u.cpu_iowait, u.cpu_steal, u.per_core::float8[],
       u.load1, u.load5, u.load15, u.mem_total, u.mem_used, u.mem_available, u.mem_percent,
       u.swap_total, u.swap_used, u.swap_percent, u.disk_read, u.disk_write, u.net_recv, u.net_sent,
       u.process_count, u.uptime, u.filesystems, u.interfaces, u.temperatures
FROM ROWS FROM (unnest(@collected_at::timestamptz[]), unnest(@cpu_percent::float8[]),
                unnest(@cpu_user_percent::float8[]), unnest(@cpu_system_percent::float8[]),
                unnest(@cpu_iowait_percent::float8[]), unnest(@cpu_steal_percent::float8[]),
                unnest(@cpu_per_core_percent::text[]), unnest(@load1::float8[]), unnest(@load5::float8[]),
                unnest(@load15::float8[]), unnest(@memory_total_bytes::bigint[]),
                unnest(@memory_used_bytes::bigint[]), unnest(@memory_available_bytes::bigint[]),
                unnest(@memory_percent::float8[]), unnest(@swap_total_bytes::bigint[]),
                unnest(@swap_used_bytes::bigint[]), unnest(@swap_percent::float8[]),
                unnest(@disk_read_bytes_per_second::float8[]),
                unnest(@disk_write_bytes_per_second::float8[]), unnest(@net_recv_bytes_per_second::float8[]),
                unnest(@net_sent_bytes_per_second::float8[]), unnest(@process_count::integer[]),
                unnest(@uptime_seconds::bigint[]), unnest(@filesystems::jsonb[]),
                unnest(@interfaces::jsonb[]), unnest(@temperatures::jsonb[]))
     AS u (collected_at, cpu, cpu_user, cpu_system, cpu_iowait, cpu_steal, per_core, load1, load5, load15,
           mem_total, mem_used, mem_available, mem_percent, swap_total, swap_used, swap_percent,
           disk_read, disk_write, net_recv, net_sent, process_count, uptime, filesystems, interfaces, temperatures)
ON CONFLICT (host, collected_at) DO NOTHING;

-- name: InsertProcessSamples :execrows
INSERT INTO process_metrics_history (
    host, collected_at, pid, cpu_percent, rss_bytes, vms_bytes, threads, open_files,
    connections, goroutines, heap_alloc_bytes, gc_pause_total_seconds
)
SELECT @host::text, u.collected_at, u.pid, u.cpu, u.rss, u.vms, u.threads, u.open_files, u.connections, u.goroutines,
       u.heap_alloc, u.gc_pause
FROM ROWS FROM (unnest(@collected_at::timestamptz[]), unnest(@pid::integer[]),
                unnest(@cpu_percent::float8[]), unnest(@rss_bytes::bigint[]), unnest(@vms_bytes::bigint[]),
                unnest(@threads::integer[]), unnest(@open_files::integer[]), unnest(@connections::integer[]),
                unnest(@goroutines::integer[]), unnest(@heap_alloc_bytes::bigint[]),
                unnest(@gc_pause_total_seconds::float8[]))
     AS u (collected_at, pid, cpu, rss, vms, threads, open_files, connections, goroutines, heap_alloc, gc_pause)
ON CONFLICT (host, collected_at) DO NOTHING;

-- name: InsertHealthSamples :execrows
INSERT INTO infrastructure_health (host, collected_at, score, status, components)
SELECT @host::text, u.collected_at, u.score, u.status::healthstatus, u.components
FROM ROWS FROM (unnest(@collected_at::timestamptz[]), unnest(@score::smallint[]), unnest(@status::text[]),
                unnest(@components::jsonb[])) AS u (collected_at, score, status, components)
ON CONFLICT (host, collected_at) DO NOTHING;

-- name: SystemSeries :many
-- One host-wide series from raw samples, in buckets of step_seconds aligned to the Unix epoch, so
-- consecutive calls give the same buckets.
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
    FROM system_metrics_history
    WHERE host = @host AND collected_at >= @from_at AND collected_at < @to_at
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
FROM system_metrics_history AS s
CROSS JOIN LATERAL (
    SELECT (f ->> 'used_percent')::float8 AS v
    FROM jsonb_array_elements(s.filesystems) AS f
    WHERE f ->> 'mountpoint' = @subject::text
    LIMIT 1
) AS fs
WHERE s.host = @host AND s.collected_at >= @from_at AND s.collected_at < @to_at AND fs.v IS NOT NULL
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
