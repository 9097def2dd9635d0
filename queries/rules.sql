-- Alert rules, notification channels and silences (packages rules and channels, the alerts job).

-- name: ListAlertRules :many
SELECT * FROM alert_rules ORDER BY metric, mount, host, labels::text, id;

-- name: GetAlertRule :one
SELECT * FROM alert_rules WHERE id = @id;

-- name: InsertAlertRule :one
INSERT INTO alert_rules (metric, mount, host, labels, warning, critical, enabled, created_at, updated_at)
VALUES (@metric, @mount, @host, @labels, @warning, @critical, @enabled, @now::timestamptz, @now::timestamptz)
RETURNING *;

-- name: UpdateAlertRule :one
UPDATE alert_rules
SET metric = @metric, mount = @mount, host = @host, labels = @labels, warning = @warning, critical = @critical,
    enabled = @enabled, updated_at = @now::timestamptz
WHERE id = @id
RETURNING *;

-- name: DeleteAlertRule :one
DELETE FROM alert_rules WHERE id = @id RETURNING *;

-- name: SettingsVersion :one
-- Counted up by a trigger on every change of the table: a replica re-reads it only then.
SELECT version FROM settings_versions WHERE name = @name;

-- name: ListChannels :many
SELECT * FROM notification_channels ORDER BY lower(name), id;

-- name: GetChannel :one
SELECT * FROM notification_channels WHERE id = @id;

-- name: InsertChannel :one
INSERT INTO notification_channels (name, kind, url_sealed, url_masked, min_severity, host, labels, created_at, updated_at)
VALUES (@name, @kind, @url_sealed, @url_masked, @min_severity, @host, @labels, @now::timestamptz, @now::timestamptz)
RETURNING *;

-- name: UpdateChannel :one
UPDATE notification_channels
SET name = @name, kind = @kind, url_sealed = @url_sealed, url_masked = @url_masked, min_severity = @min_severity,
    host = @host, labels = @labels, updated_at = @now::timestamptz
WHERE id = @id
RETURNING *;

-- name: DeleteChannel :one
DELETE FROM notification_channels WHERE id = @id RETURNING *;

-- name: ListSilences :many
-- Newest first; with @active, only those in force at @now or still to come.
SELECT * FROM silences
WHERE NOT @active::boolean OR ends_at > @now::timestamptz
ORDER BY starts_at DESC, id DESC
LIMIT 500;

-- name: ActiveSilences :many
-- The silences in force at @now: what the alerts job and the alert lists match alerts against.
SELECT * FROM silences
WHERE starts_at <= @now::timestamptz AND ends_at > @now::timestamptz
ORDER BY id;

-- name: GetSilence :one
SELECT * FROM silences WHERE id = @id;

-- name: InsertSilence :one
INSERT INTO silences (host, labels, metric, starts_at, ends_at, comment, created_by, created_at)
VALUES (@host, @labels, @metric, @starts_at, @ends_at, @comment, @created_by, @now::timestamptz)
RETURNING *;

-- name: DeleteSilence :one
DELETE FROM silences WHERE id = @id RETURNING *;

-- name: HostLabels :many
-- Every enrolled host's labels: what rules, channels and silences select on.
SELECT name, labels FROM hosts ORDER BY name;
