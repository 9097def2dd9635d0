-- The audit log (package audit).

-- name: InsertAuditEntry :one
INSERT INTO audit_log (at, actor, actor_user_id, via, os_user, address, action, target, details)
VALUES (@at, @actor, sqlc.narg(actor_user_id), @via, @os_user, @address, @action, @target, @details)
RETURNING id;

-- name: CountAuditEntries :one
-- The filters of ListAuditEntries. An action or target filter matches itself and what it is the
-- prefix of up to a separator: "user" matches user.create, "host" matches host:web-1.
SELECT count(*) FROM audit_log
WHERE (@actor::text = '' OR lower(actor) = lower(@actor::text))
  AND (@action::text = '' OR action = @action::text OR starts_with(action, @action::text || '.'))
  AND (@target::text = '' OR target = @target::text OR starts_with(target, @target::text || ':'))
  AND (sqlc.narg(from_at)::timestamptz IS NULL OR at >= sqlc.narg(from_at)::timestamptz)
  AND (sqlc.narg(to_at)::timestamptz IS NULL OR at < sqlc.narg(to_at)::timestamptz);

-- name: ListAuditEntries :many
-- Newest first.
SELECT * FROM audit_log
WHERE (@actor::text = '' OR lower(actor) = lower(@actor::text))
  AND (@action::text = '' OR action = @action::text OR starts_with(action, @action::text || '.'))
  AND (@target::text = '' OR target = @target::text OR starts_with(target, @target::text || ':'))
  AND (sqlc.narg(from_at)::timestamptz IS NULL OR at >= sqlc.narg(from_at)::timestamptz)
  AND (sqlc.narg(to_at)::timestamptz IS NULL OR at < sqlc.narg(to_at)::timestamptz)
ORDER BY at DESC, id DESC
LIMIT @row_limit OFFSET @row_offset;
