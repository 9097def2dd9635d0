-- name: LatestSampleAt :one
-- Readiness: when did this host last store a sample? (pgx.ErrNoRows: never) The newest row, or
-- when there is none (the host stopped hours ago) the end of its newest block.
SELECT t.at::timestamptz AS collected_at FROM (
    (SELECT collected_at AS at FROM system_metrics_history WHERE host = @host::text ORDER BY collected_at DESC LIMIT 1)
    UNION ALL
    (SELECT b.sample_at[cardinality(b.sample_at)] FROM system_metrics_blocks b WHERE b.host = @host::text
     ORDER BY b.collected_at DESC LIMIT 1)
) AS t
ORDER BY t.at DESC
LIMIT 1;
