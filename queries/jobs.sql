-- name: TryAdvisoryLock :one
SELECT pg_try_advisory_lock(@key::bigint);

-- name: AdvisoryUnlock :one
SELECT pg_advisory_unlock(@key::bigint);

-- name: AggregateSystemMetrics :execrows
-- Rolls the host-wide series and every filesystem up into buckets of one period (bucket_seconds
-- wide), from raw samples in [from, until). An unchanged bucket is not rewritten, so a re-run changes nothing.
-- The host-wide series are aggregated side by side, one row per host and bucket, and only then
-- turned into a row per series: turning every sample into ten rows first meant sorting ten times
-- the rows, twice the CPU for a fleet (docs/scaling.md).
WITH s AS NOT MATERIALIZED (
    SELECT host,
           date_bin(make_interval(secs => @bucket_seconds::float8), collected_at, 'epoch'::timestamptz) AS bucket,
           cpu_percent, memory_percent, swap_percent, load1, load5,
           load15, net_recv_bytes_per_second, net_sent_bytes_per_second,
           disk_read_bytes_per_second, disk_write_bytes_per_second, filesystems
    FROM system_samples
    WHERE collected_at >= @from_time::timestamptz AND collected_at < @until::timestamptz
      AND block_at >= date_bin('1 hour', @from_time::timestamptz, 'epoch') AND block_at < @until::timestamptz
), hostwide AS (
    -- [min, max, mean, p95] of each series.
    SELECT host, bucket, count(*) AS samples,
           ARRAY[min(cpu_percent), max(cpu_percent), avg(cpu_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY cpu_percent)] AS cpu_percent,
           ARRAY[min(memory_percent), max(memory_percent), avg(memory_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY memory_percent)] AS memory_percent,
           ARRAY[min(swap_percent), max(swap_percent), avg(swap_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY swap_percent)] AS swap_percent,
           ARRAY[min(load1), max(load1), avg(load1), percentile_cont(0.95) WITHIN GROUP (ORDER BY load1)] AS load1,
           ARRAY[min(load5), max(load5), avg(load5), percentile_cont(0.95) WITHIN GROUP (ORDER BY load5)] AS load5,
           ARRAY[min(load15), max(load15), avg(load15), percentile_cont(0.95) WITHIN GROUP (ORDER BY load15)] AS load15,
           ARRAY[min(net_recv_bytes_per_second), max(net_recv_bytes_per_second), avg(net_recv_bytes_per_second), percentile_cont(0.95) WITHIN GROUP (ORDER BY net_recv_bytes_per_second)] AS net_recv_bytes_per_second,
           ARRAY[min(net_sent_bytes_per_second), max(net_sent_bytes_per_second), avg(net_sent_bytes_per_second), percentile_cont(0.95) WITHIN GROUP (ORDER BY net_sent_bytes_per_second)] AS net_sent_bytes_per_second,
           ARRAY[min(disk_read_bytes_per_second), max(disk_read_bytes_per_second), avg(disk_read_bytes_per_second), percentile_cont(0.95) WITHIN GROUP (ORDER BY disk_read_bytes_per_second)] AS disk_read_bytes_per_second,
           ARRAY[min(disk_write_bytes_per_second), max(disk_write_bytes_per_second), avg(disk_write_bytes_per_second), percentile_cont(0.95) WITHIN GROUP (ORDER BY disk_write_bytes_per_second)] AS disk_write_bytes_per_second
    FROM s
    GROUP BY host, bucket
)
INSERT INTO metric_aggregations AS a (host, metric, metric_type, subject, period, bucket_start,
                                      min_value, max_value, mean_value, p95_value, sample_count, updated_at)
SELECT h.host, v.metric, v.metric_type::metrictype, '', @period::text, h.bucket,
       v.agg[1], v.agg[2], v.agg[3], v.agg[4], h.samples, @now::timestamptz
FROM hostwide h
CROSS JOIN LATERAL (VALUES
    ('cpu_percent', 'cpu', h.cpu_percent),
    ('memory_percent', 'memory', h.memory_percent),
    ('swap_percent', 'swap', h.swap_percent),
    ('load1', 'load', h.load1),
    ('load5', 'load', h.load5),
    ('load15', 'load', h.load15),
    ('net_recv_bytes_per_second', 'network', h.net_recv_bytes_per_second),
    ('net_sent_bytes_per_second', 'network', h.net_sent_bytes_per_second),
    ('disk_read_bytes_per_second', 'disk_io', h.disk_read_bytes_per_second),
    ('disk_write_bytes_per_second', 'disk_io', h.disk_write_bytes_per_second)
) AS v (metric, metric_type, agg)
UNION ALL
SELECT s.host, 'disk_percent', 'disk'::metrictype, fs.mountpoint, @period::text, s.bucket,
       min(fs.used), max(fs.used), avg(fs.used), percentile_cont(0.95) WITHIN GROUP (ORDER BY fs.used), count(*), @now::timestamptz
FROM s
CROSS JOIN LATERAL (
    -- Positional rows, or objects before migration 00016 (FilesystemSeries).
    SELECT coalesce(f ->> 'mountpoint', f ->> 0), coalesce(f ->> 'used_percent', f ->> 6)::float8
    FROM jsonb_array_elements(s.filesystems) AS f
) AS fs (mountpoint, used)
GROUP BY s.host, fs.mountpoint, s.bucket
ON CONFLICT (host, metric, subject, period, bucket_start) DO UPDATE
SET min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value, mean_value = EXCLUDED.mean_value,
    p95_value = EXCLUDED.p95_value, sample_count = EXCLUDED.sample_count, updated_at = EXCLUDED.updated_at
WHERE (a.min_value, a.max_value, a.mean_value, a.p95_value, a.sample_count)
      IS DISTINCT FROM (EXCLUDED.min_value, EXCLUDED.max_value, EXCLUDED.mean_value, EXCLUDED.p95_value, EXCLUDED.sample_count);

-- name: AggregateProcessMetrics :execrows
-- The same rollup for infradash's own process, aggregated side by side as well.
INSERT INTO metric_aggregations AS a (host, metric, metric_type, subject, period, bucket_start,
                                      min_value, max_value, mean_value, p95_value, sample_count, updated_at)
SELECT h.host, v.metric, 'process'::metrictype, '', @period::text, h.bucket,
       v.agg[1], v.agg[2], v.agg[3], v.agg[4], h.samples, @now::timestamptz
FROM (
    SELECT host,
           date_bin(make_interval(secs => @bucket_seconds::float8), collected_at, 'epoch'::timestamptz) AS bucket,
           count(*) AS samples,
           ARRAY[min(cpu_percent), max(cpu_percent), avg(cpu_percent),
                 percentile_cont(0.95) WITHIN GROUP (ORDER BY cpu_percent)] AS cpu,
           ARRAY[min(rss_bytes)::float8, max(rss_bytes)::float8, avg(rss_bytes)::float8,
                 percentile_cont(0.95) WITHIN GROUP (ORDER BY rss_bytes::float8)] AS rss
    FROM process_metrics_history
    WHERE collected_at >= @from_time::timestamptz AND collected_at < @until::timestamptz
    GROUP BY 1, 2
) AS h
CROSS JOIN LATERAL (VALUES ('process_cpu_percent', h.cpu), ('process_rss_bytes', h.rss)) AS v (metric, agg)
ON CONFLICT (host, metric, subject, period, bucket_start) DO UPDATE
SET min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value, mean_value = EXCLUDED.mean_value,
    p95_value = EXCLUDED.p95_value, sample_count = EXCLUDED.sample_count, updated_at = EXCLUDED.updated_at
WHERE (a.min_value, a.max_value, a.mean_value, a.p95_value, a.sample_count)
      IS DISTINCT FROM (EXCLUDED.min_value, EXCLUDED.max_value, EXCLUDED.mean_value, EXCLUDED.p95_value, EXCLUDED.sample_count);

-- name: AggregateHealthMetrics :execrows
-- The same rollup for the health score.
INSERT INTO metric_aggregations AS a (host, metric, metric_type, subject, period, bucket_start,
                                      min_value, max_value, mean_value, p95_value, sample_count, updated_at)
SELECT h.host, 'health_score', 'health'::metrictype, '', @period::text,
       date_bin(make_interval(secs => @bucket_seconds::float8), h.collected_at, 'epoch'::timestamptz) AS bucket,
       min(h.score)::float8, max(h.score)::float8, avg(h.score)::float8,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY h.score::float8), count(*), @now::timestamptz
FROM infrastructure_health h
WHERE h.collected_at >= @from_time::timestamptz AND h.collected_at < @until::timestamptz
GROUP BY h.host, bucket
ON CONFLICT (host, metric, subject, period, bucket_start) DO UPDATE
SET min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value, mean_value = EXCLUDED.mean_value,
    p95_value = EXCLUDED.p95_value, sample_count = EXCLUDED.sample_count, updated_at = EXCLUDED.updated_at
WHERE (a.min_value, a.max_value, a.mean_value, a.p95_value, a.sample_count)
      IS DISTINCT FROM (EXCLUDED.min_value, EXCLUDED.max_value, EXCLUDED.mean_value, EXCLUDED.p95_value, EXCLUDED.sample_count);

-- name: ClaimRollupBacklog :one
-- Takes the mark the ingest left for a period (the oldest sample stored after the rollups had
-- looked past it) into claimed, which stays until the run that claimed it is done: a run that
-- fails leaves it for the next. NULL: nothing arrived late.
UPDATE rollup_backlog SET claimed = least(claimed, since), since = NULL
WHERE period = @period
RETURNING claimed;

-- name: AdvanceRollupBacklog :exec
-- Moves a claim past what a run has rolled up so far.
UPDATE rollup_backlog SET claimed = @done::timestamptz WHERE period = @period AND claimed < @done::timestamptz;

-- name: ClearRollupBacklog :exec
-- A run is done with its claim.
UPDATE rollup_backlog SET claimed = NULL WHERE period = @period;

-- name: LatestFiveMinuteRollup :one
-- The start of the newest five-minute bucket, over every series (pgx.ErrNoRows: none). The
-- period is written out, not a parameter: only then can a prepared statement's generic plan use
-- the five-minute rollups' partial index.
SELECT bucket_start FROM metric_aggregations WHERE period = '5min' ORDER BY bucket_start DESC LIMIT 1;

-- name: DeleteFiveMinuteRollupsBefore :execrows
-- The five-minute rollups older than before: they are kept two days, trimmed by every run (a few
-- thousand rows), not by the daily cleanup. The period is written out for the partial index, as
-- above: through idx_aggregations_bucket_start this would walk a year of hourly rows.
DELETE FROM metric_aggregations WHERE period = '5min' AND bucket_start < @before::timestamptz;

-- Cleanup: each Delete* removes at most batch_size rows, so no statement holds its locks for
-- long; the job repeats it until it removes nothing. Count* is the dry run. The raw history is
-- not here: its retention drops whole day partitions (queries/partitions.sql).

-- name: CountOldResolvedAlerts :one
SELECT count(*) FROM infrastructure_alerts WHERE resolved_at < @before::timestamptz;

-- name: DeleteOldResolvedAlerts :execrows
DELETE FROM infrastructure_alerts WHERE id IN (
    SELECT id FROM infrastructure_alerts WHERE resolved_at < @before::timestamptz LIMIT @batch_size);

-- name: CountOldAggregations :one
SELECT count(*) FROM metric_aggregations WHERE bucket_start < @before::timestamptz;

-- name: DeleteOldAggregations :execrows
DELETE FROM metric_aggregations WHERE id IN (
    SELECT id FROM metric_aggregations WHERE bucket_start < @before::timestamptz LIMIT @batch_size);

-- name: CountExpiredSessions :one
SELECT count(*) FROM sessions WHERE expiry < @before::timestamptz;

-- name: DeleteExpiredSessions :execrows
DELETE FROM sessions WHERE token IN (
    SELECT token FROM sessions WHERE expiry < @before::timestamptz LIMIT @batch_size);

-- name: CountDeadTokens :one
-- Expired tokens, and revoked ones kept a while for the record.
SELECT count(*) FROM api_tokens
WHERE expires_at < @expired_before::timestamptz OR revoked_at < @revoked_before::timestamptz;

-- name: DeleteDeadTokens :execrows
DELETE FROM api_tokens WHERE id IN (
    SELECT id FROM api_tokens
    WHERE expires_at < @expired_before::timestamptz OR revoked_at < @revoked_before::timestamptz
    LIMIT @batch_size);

-- name: CountStaleLoginFailures :one
-- Failed-login counts no failure has added to since @before: a week, the longest LOGIN_LOCKOUT,
-- so their locks have ended too.
SELECT count(*) FROM login_failures WHERE last_failed_at < @before::timestamptz;

-- name: DeleteStaleLoginFailures :execrows
DELETE FROM login_failures WHERE (user_id, address) IN (
    SELECT user_id, address FROM login_failures WHERE last_failed_at < @before::timestamptz LIMIT @batch_size);

-- name: CountOldAuditEntries :one
SELECT count(*) FROM audit_log WHERE at < @before::timestamptz;

-- name: DeleteOldAuditEntries :execrows
DELETE FROM audit_log WHERE id IN (
    SELECT id FROM audit_log WHERE at < @before::timestamptz LIMIT @batch_size);

-- name: CountOldSilences :one
-- Silences that ended before @before: nothing they mute is still kept.
SELECT count(*) FROM silences WHERE ends_at < @before::timestamptz;

-- name: DeleteOldSilences :execrows
DELETE FROM silences WHERE id IN (
    SELECT id FROM silences WHERE ends_at < @before::timestamptz LIMIT @batch_size);
