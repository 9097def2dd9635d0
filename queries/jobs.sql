-- name: TryAdvisoryLock :one
SELECT pg_try_advisory_lock(@key::bigint);

-- name: AdvisoryUnlock :one
SELECT pg_advisory_unlock(@key::bigint);

-- name: AggregateSystemMetrics :execrows
-- Rolls the host-wide series and every filesystem up into buckets of one period, from raw
-- samples in [from, until). An unchanged bucket is not rewritten, so a re-run changes nothing.
INSERT INTO metric_aggregations AS a (host, metric, metric_type, subject, period, bucket_start,
                                      min_value, max_value, mean_value, p95_value, sample_count, updated_at)
SELECT s.host, v.metric, v.metric_type::metrictype, v.subject, @period::text,
       date_bin(CASE @period::text WHEN 'daily' THEN interval '1 day' ELSE interval '1 hour' END,
                s.collected_at, 'epoch'::timestamptz) AS bucket,
       min(v.value), max(v.value), avg(v.value),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY v.value), count(*), @now::timestamptz
FROM system_metrics_history s
CROSS JOIN LATERAL (
    VALUES ('cpu_percent', 'cpu', '', s.cpu_percent),
           ('memory_percent', 'memory', '', s.memory_percent),
           ('swap_percent', 'swap', '', s.swap_percent),
           ('load1', 'load', '', s.load1),
           ('load5', 'load', '', s.load5),
           ('load15', 'load', '', s.load15),
           ('net_recv_bytes_per_second', 'network', '', s.net_recv_bytes_per_second),
           ('net_sent_bytes_per_second', 'network', '', s.net_sent_bytes_per_second),
           ('disk_read_bytes_per_second', 'disk_io', '', s.disk_read_bytes_per_second),
           ('disk_write_bytes_per_second', 'disk_io', '', s.disk_write_bytes_per_second)
    UNION ALL
    SELECT 'disk_percent', 'disk', fs ->> 'mountpoint', (fs ->> 'used_percent')::float8
    FROM jsonb_array_elements(s.filesystems) AS fs
) AS v (metric, metric_type, subject, value)
WHERE s.collected_at >= @from_time::timestamptz AND s.collected_at < @until::timestamptz
GROUP BY s.host, v.metric, v.metric_type, v.subject, bucket
ON CONFLICT (host, metric, subject, period, bucket_start) DO UPDATE
SET min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value, mean_value = EXCLUDED.mean_value,
    p95_value = EXCLUDED.p95_value, sample_count = EXCLUDED.sample_count, updated_at = EXCLUDED.updated_at
WHERE (a.min_value, a.max_value, a.mean_value, a.p95_value, a.sample_count)
      IS DISTINCT FROM (EXCLUDED.min_value, EXCLUDED.max_value, EXCLUDED.mean_value, EXCLUDED.p95_value, EXCLUDED.sample_count);

-- name: AggregateProcessMetrics :execrows
-- The same rollup for infradash's own process.
INSERT INTO metric_aggregations AS a (host, metric, metric_type, subject, period, bucket_start,
                                      min_value, max_value, mean_value, p95_value, sample_count, updated_at)
SELECT p.host, v.metric, 'process'::metrictype, '', @period::text,
       date_bin(CASE @period::text WHEN 'daily' THEN interval '1 day' ELSE interval '1 hour' END,
                p.collected_at, 'epoch'::timestamptz) AS bucket,
       min(v.value), max(v.value), avg(v.value),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY v.value), count(*), @now::timestamptz
FROM process_metrics_history p
CROSS JOIN LATERAL (
    VALUES ('process_cpu_percent', p.cpu_percent), ('process_rss_bytes', p.rss_bytes::float8)
) AS v (metric, value)
WHERE p.collected_at >= @from_time::timestamptz AND p.collected_at < @until::timestamptz
GROUP BY p.host, v.metric, bucket
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
       date_bin(CASE @period::text WHEN 'daily' THEN interval '1 day' ELSE interval '1 hour' END,
                h.collected_at, 'epoch'::timestamptz) AS bucket,
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

-- Cleanup: each Delete* removes at most batch_size rows, so no statement holds its locks for
-- long; the job repeats it until it removes nothing. Count* is the dry run.

-- name: CountOldSystemMetrics :one
SELECT count(*) FROM system_metrics_history WHERE collected_at < @before::timestamptz;

-- name: DeleteOldSystemMetrics :execrows
DELETE FROM system_metrics_history WHERE id IN (
    SELECT id FROM system_metrics_history WHERE collected_at < @before::timestamptz LIMIT @batch_size);

-- name: CountOldProcessMetrics :one
SELECT count(*) FROM process_metrics_history WHERE collected_at < @before::timestamptz;

-- name: DeleteOldProcessMetrics :execrows
DELETE FROM process_metrics_history WHERE id IN (
    SELECT id FROM process_metrics_history WHERE collected_at < @before::timestamptz LIMIT @batch_size);

-- name: CountOldHealth :one
SELECT count(*) FROM infrastructure_health WHERE collected_at < @before::timestamptz;

-- name: DeleteOldHealth :execrows
DELETE FROM infrastructure_health WHERE id IN (
    SELECT id FROM infrastructure_health WHERE collected_at < @before::timestamptz LIMIT @batch_size);

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
