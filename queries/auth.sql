-- Accounts and API tokens (package auth). Emails compare case-insensitively, matching the
-- unique index on lower(email).

-- name: CreateUser :one
INSERT INTO users (email, password_hash, role, created_at)
VALUES (@email, @password_hash, @role, @created_at)
RETURNING *;

-- name: UserByEmail :one
SELECT sqlc.embed(u),
    -- Over all the account's addresses: failures since each one's last login, and the last lock
    -- still running at @now.
    (SELECT coalesce(sum(f.failed_attempts), 0)::integer FROM login_failures f WHERE f.user_id = u.id) AS failed_attempts,
    (SELECT f.locked_until FROM login_failures f WHERE f.user_id = u.id AND f.locked_until > @now::timestamptz
     ORDER BY f.locked_until DESC LIMIT 1) AS locked_until
FROM users u
WHERE lower(u.email) = lower(@email);

-- name: UserByID :one
SELECT sqlc.embed(u),
    -- Over all the account's addresses: failures since each one's last login, and the last lock
    -- still running at @now.
    (SELECT coalesce(sum(f.failed_attempts), 0)::integer FROM login_failures f WHERE f.user_id = u.id) AS failed_attempts,
    (SELECT f.locked_until FROM login_failures f WHERE f.user_id = u.id AND f.locked_until > @now::timestamptz
     ORDER BY f.locked_until DESC LIMIT 1) AS locked_until
FROM users u
WHERE u.id = @id;

-- name: ListUsers :many
SELECT sqlc.embed(u),
    -- Over all the account's addresses: failures since each one's last login, and the last lock
    -- still running at @now.
    (SELECT coalesce(sum(f.failed_attempts), 0)::integer FROM login_failures f WHERE f.user_id = u.id) AS failed_attempts,
    (SELECT f.locked_until FROM login_failures f WHERE f.user_id = u.id AND f.locked_until > @now::timestamptz
     ORDER BY f.locked_until DESC LIMIT 1) AS locked_until
FROM users u
ORDER BY u.id;

-- name: LoginCandidate :one
-- The account a login names, with its lock for the address the login comes from.
SELECT sqlc.embed(u), f.locked_until
FROM users u
LEFT JOIN login_failures f ON f.user_id = u.id AND f.address = @address
WHERE lower(u.email) = lower(@email);

-- name: LockActiveAdmins :many
-- The enabled admins, locked until the end of the transaction: of two admins demoting or
-- disabling each other at once, the second sees the first's change, so one admin always stays.
SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id FOR UPDATE;

-- name: LockUser :one
SELECT id FROM users WHERE id = @id FOR UPDATE;

-- name: SetUserRole :exec
UPDATE users SET role = @role WHERE id = @id;

-- name: SetUserPassword :one
-- A new password also lifts a lock (it is how an admin lets a locked-out user back in), ends the
-- sessions started before it and revokes the user's API tokens, in one statement: whoever knew
-- the old password is cut off.
WITH u AS (
    UPDATE users
    SET password_hash = @password_hash, sessions_valid_after = @now::timestamptz
    WHERE users.id = @id
    RETURNING users.id
), unlocked AS (
    DELETE FROM login_failures WHERE user_id IN (SELECT u.id FROM u)
), revoked AS (
    UPDATE api_tokens SET revoked_at = @now::timestamptz
    WHERE user_id IN (SELECT u.id FROM u) AND revoked_at IS NULL
    RETURNING api_tokens.id
)
SELECT u.id, (SELECT count(*) FROM revoked)::integer AS revoked_tokens FROM u;

-- name: DisableUser :one
-- A disabled account cannot log in, and its sessions and API tokens end now.
WITH u AS (
    UPDATE users
    SET disabled_at = coalesce(disabled_at, @now::timestamptz), sessions_valid_after = @now::timestamptz
    WHERE users.id = @id
    RETURNING users.id
), revoked AS (
    UPDATE api_tokens SET revoked_at = @now::timestamptz
    WHERE user_id IN (SELECT u.id FROM u) AND revoked_at IS NULL
    RETURNING api_tokens.id
)
SELECT u.id, (SELECT count(*) FROM revoked)::integer AS revoked_tokens FROM u;

-- name: EnableUser :execrows
-- Enabling starts afresh: no lock-out left over. Sessions and tokens ended by disabling stay
-- ended; the user logs in again.
WITH unlocked AS (
    DELETE FROM login_failures WHERE user_id = @id
)
UPDATE users SET disabled_at = NULL WHERE id = @id;

-- name: RecordLoginSuccess :exec
-- A good login clears the count of its own address only: an attacker's elsewhere stays.
WITH f AS (
    DELETE FROM login_failures WHERE user_id = @id AND address = @address
)
UPDATE users SET last_login_at = @at::timestamptz WHERE id = @id;

-- name: RecordLoginFailure :one
-- Counts a failed login of the account from one address. The failure that reaches
-- max_failures locks the account for that address until lock_until; failures during the lock
-- go on counting (so they slow down like any other) but do not extend it, or anyone could keep
-- a user out forever with one guess per lock period. After the lock the count starts again.
INSERT INTO login_failures AS f (user_id, address, failed_attempts, locked_until, last_failed_at)
VALUES (@id, @address, 1, CASE WHEN @max_failures::integer <= 1 THEN @lock_until::timestamptz END, @now::timestamptz)
ON CONFLICT (user_id, address) DO UPDATE
SET failed_attempts = CASE WHEN f.locked_until <= @now::timestamptz THEN 1 ELSE f.failed_attempts + 1 END,
    locked_until = CASE
        WHEN f.locked_until > @now::timestamptz THEN f.locked_until
        WHEN (CASE WHEN f.locked_until <= @now::timestamptz THEN 1 ELSE f.failed_attempts + 1 END) >= @max_failures::integer
            THEN @lock_until::timestamptz
        END,
    last_failed_at = @now::timestamptz
RETURNING failed_attempts, locked_until;

-- name: CreateAPIToken :one
INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at)
VALUES (@user_id, @name, @token_hash, @created_at, @expires_at)
RETURNING *;

-- name: APITokenOwner :one
-- The owner of a live token (not revoked, not expired, account not disabled) found by the token's hash.
SELECT t.id AS token_id, t.last_used_at, t.expires_at, u.id AS user_id, u.email, u.role
FROM api_tokens t
JOIN users u ON u.id = t.user_id
WHERE t.token_hash = @token_hash AND t.revoked_at IS NULL AND t.expires_at > @now AND u.disabled_at IS NULL;

-- name: TouchAPIToken :exec
UPDATE api_tokens SET last_used_at = @at::timestamptz WHERE id = @id;

-- name: RevokeAPIToken :one
UPDATE api_tokens SET revoked_at = @at::timestamptz WHERE id = @id AND revoked_at IS NULL
RETURNING *;

-- name: ListAPITokens :many
SELECT * FROM api_tokens WHERE user_id = @user_id ORDER BY id;

-- name: ListAllAPITokens :many
-- Every user's tokens with their owner, newest first (the settings page and GET /api/v1/tokens).
-- Dead ones stay until the cleanup job: expired at once, revoked after RETENTION_DAYS.
SELECT sqlc.embed(t), u.email AS user_email
FROM api_tokens t
JOIN users u ON u.id = t.user_id
ORDER BY t.id DESC;

-- name: APITokenByID :one
SELECT sqlc.embed(t), u.email AS user_email
FROM api_tokens t
JOIN users u ON u.id = t.user_id
WHERE t.id = @id;

-- name: NoteAPITokenAddress :execrows
-- 1 when the token was never used from this address before.
INSERT INTO api_token_addresses (token_id, address, first_seen_at)
VALUES (@token_id, @address, @now::timestamptz)
ON CONFLICT (token_id, address) DO NOTHING;

-- name: RecheckSession :one
-- A session this replica checked before, checked again on every request by what can end it: the
-- session row (logout on any replica), the account (disabled, password changed since the login)
-- and its role now. One indexed row each, so a change takes effect on every replica at once.
SELECT u.email, u.role
FROM users u
WHERE u.id = @user_id AND u.disabled_at IS NULL
  AND (u.sessions_valid_after IS NULL OR u.sessions_valid_after < @logged_in_at::timestamptz)
  AND EXISTS (SELECT 1 FROM sessions s WHERE s.token = @token AND current_timestamp < s.expiry);
