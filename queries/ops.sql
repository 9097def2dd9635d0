-- name: LatestSampleAt :one
-- Readiness: when did this host last store a sample? (pgx.ErrNoRows: never)
SELECT collected_at
FROM system_metrics_history
WHERE host = $1
ORDER BY collected_at DESC
LIMIT 1;
