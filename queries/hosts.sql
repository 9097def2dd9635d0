-- Hosts of the fleet: enrolment (infradash host, /api/v1/hosts) and live state (ingest, the
-- fleet's view shared by every replica).

-- name: CreateHost :one
INSERT INTO hosts (name, labels, token_hash, created_at, token_created_at)
VALUES (@name, @labels, @token_hash, @now::timestamptz, @now::timestamptz)
RETURNING *;

-- name: EnsureLocalHost :exec
-- The hub's own host: enrolled at start, with no token (its agent runs in process).
INSERT INTO hosts (name, created_at) VALUES (@name, @now::timestamptz)
ON CONFLICT (name) DO NOTHING;

-- name: HostByName :one
SELECT * FROM hosts WHERE name = @name;

-- name: HostByTokenHash :one
SELECT id, name FROM hosts WHERE token_hash = @token_hash;

-- name: ListHosts :many
-- Every host with a summary of its live state; small rows, so every replica can read it every
-- second and fetch only the samples it has not seen (HostLatest).
SELECT h.*, s.received_at, s.latest_at, s.clock_offset_seconds, s.agent_version
FROM hosts h
LEFT JOIN host_state s ON s.host_id = h.id
ORDER BY h.name;

-- name: RotateHostToken :one
UPDATE hosts SET token_hash = @token_hash, token_created_at = @now::timestamptz
WHERE name = @name
RETURNING *;

-- name: SetHostLabels :one
UPDATE hosts SET labels = @labels WHERE name = @name
RETURNING *;

-- name: DeleteHost :one
-- Its live state goes with it (ON DELETE CASCADE); its history stays unless purged.
DELETE FROM hosts WHERE name = @name
RETURNING id;

-- name: ResolveHostAlerts :execrows
-- A removed host raises nothing: its open alerts close without a notice.
UPDATE infrastructure_alerts
SET resolved_at = @now::timestamptz, updated_at = @now::timestamptz, pending_notification = NULL,
    message = message || ' (host removed)'
WHERE host = @host::text AND resolved_at IS NULL;

-- name: HostLatest :many
-- The newest sample and platform facts of some hosts: what a replica's view lacks after ListHosts
-- showed it that their latest_at moved.
SELECT h.name, s.latest_at, s.latest, s.platform
FROM host_state s
JOIN hosts h ON h.id = s.host_id
WHERE h.name = ANY(@names::text[]);

-- name: PurgeHostHistory :many
-- host remove --purge: every stored row of a host, table by table, in one statement each (the
-- system history's samples, rows and blocks, count as its rows).
WITH sys AS (DELETE FROM system_metrics_history WHERE host = @host::text RETURNING 1),
     sysb AS (DELETE FROM system_metrics_blocks WHERE host = @host::text RETURNING cardinality(sample_at) AS samples),
     proc AS (DELETE FROM process_metrics_history WHERE host = @host::text RETURNING 1),
     hl AS (DELETE FROM infrastructure_health WHERE host = @host::text RETURNING 1),
     agg AS (DELETE FROM metric_aggregations WHERE host = @host::text RETURNING 1),
     al AS (DELETE FROM infrastructure_alerts WHERE host = @host::text RETURNING 1)
SELECT 'system_metrics_history'::text AS table_name, ((SELECT count(*) FROM sys) + (SELECT coalesce(sum(samples), 0) FROM sysb))::bigint AS rows
UNION ALL SELECT 'process_metrics_history', count(*) FROM proc
UNION ALL SELECT 'infrastructure_health', count(*) FROM hl
UNION ALL SELECT 'metric_aggregations', count(*) FROM agg
UNION ALL SELECT 'infrastructure_alerts', count(*) FROM al;
