-- name: LatestSampleAt :one
-- Readiness: when did this host last store a sample? (pgx.ErrNoRows: never) The newest row, or
-- only when there is none (the host stopped hours ago: coalesce leaves the blocks alone
-- otherwise, and readiness is probed every few seconds) the last sample of the blocks of its
-- newest hour (an hour may have a second block, of samples that came late).
SELECT t.at::timestamptz AS collected_at
FROM (SELECT coalesce(
        (SELECT collected_at FROM system_metrics_history WHERE host = @host::text ORDER BY collected_at DESC LIMIT 1),
        (SELECT max(b.sample_at[cardinality(b.sample_at)]) FROM system_metrics_blocks b
         WHERE b.host = @host::text
           AND b.collected_at >= (SELECT date_bin('1 hour', max(n.collected_at), 'epoch')
                                  FROM system_metrics_blocks n WHERE n.host = @host::text))) AS at) AS t
WHERE t.at IS NOT NULL;
