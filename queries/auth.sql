-- Accounts and API tokens (package auth). Emails compare case-insensitively, matching the
-- unique index on lower(email).

-- name: CreateUser :one
INSERT INTO users (email, password_hash, role, created_at)
VALUES (@email, @password_hash, @role, @created_at)
RETURNING *;

-- name: UserByEmail :one
SELECT * FROM users WHERE lower(email) = lower(@email);

-- name: UserByID :one
SELECT * FROM users WHERE id = @id;

-- name: ListUsers :many
SELECT * FROM users ORDER BY id;

-- name: SetUserPassword :one
-- A new password also lifts a lock (it is how an admin lets a locked-out user back in), ends the
-- sessions started before it and revokes the user's API tokens, in one statement: whoever knew
-- the old password is cut off.
WITH u AS (
    UPDATE users
    SET password_hash = @password_hash, failed_attempts = 0, locked_until = NULL, sessions_valid_after = @now::timestamptz
    WHERE lower(email) = lower(@email)
    RETURNING id
), revoked AS (
    UPDATE api_tokens SET revoked_at = @now::timestamptz
    WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL
    RETURNING api_tokens.id
)
SELECT u.id, (SELECT count(*) FROM revoked)::integer AS revoked_tokens FROM u;

-- name: DisableUser :one
-- A disabled account cannot log in, and its sessions and API tokens end now.
WITH u AS (
    UPDATE users
    SET disabled_at = coalesce(disabled_at, @now::timestamptz), sessions_valid_after = @now::timestamptz
    WHERE lower(email) = lower(@email)
    RETURNING id
), revoked AS (
    UPDATE api_tokens SET revoked_at = @now::timestamptz
    WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL
    RETURNING api_tokens.id
)
SELECT u.id, (SELECT count(*) FROM revoked)::integer AS revoked_tokens FROM u;

-- name: EnableUser :execrows
-- Enabling starts afresh: no lock-out left over. Sessions and tokens ended by disabling stay
-- ended; the user logs in again.
UPDATE users SET disabled_at = NULL, failed_attempts = 0, locked_until = NULL
WHERE lower(email) = lower(@email);

-- name: RecordLoginSuccess :exec
UPDATE users
SET last_login_at = @at::timestamptz, failed_attempts = 0, locked_until = NULL
WHERE id = @id;

-- name: RecordLoginFailure :one
-- Counts a wrong password; the failure that reaches max_failures locks the account until
-- lock_until and starts the count again, so after the lock the user has the full allowance.
UPDATE users
SET failed_attempts = CASE WHEN failed_attempts + 1 >= @max_failures::integer THEN 0 ELSE failed_attempts + 1 END,
    locked_until    = CASE WHEN failed_attempts + 1 >= @max_failures::integer THEN @lock_until::timestamptz ELSE locked_until END
WHERE id = @id
RETURNING locked_until, failed_attempts;

-- name: CreateAPIToken :one
INSERT INTO api_tokens (user_id, name, token_hash, created_at, expires_at)
VALUES (@user_id, @name, @token_hash, @created_at, @expires_at)
RETURNING *;

-- name: APITokenOwner :one
-- The owner of a live token (not revoked, not expired, account not disabled) found by the token's hash.
SELECT t.id AS token_id, t.last_used_at, u.id AS user_id, u.email, u.role
FROM api_tokens t
JOIN users u ON u.id = t.user_id
WHERE t.token_hash = @token_hash AND t.revoked_at IS NULL AND t.expires_at > @now AND u.disabled_at IS NULL;

-- name: TouchAPIToken :exec
UPDATE api_tokens SET last_used_at = @at::timestamptz WHERE id = @id;

-- name: RevokeAPIToken :execrows
UPDATE api_tokens SET revoked_at = @at::timestamptz WHERE id = @id AND revoked_at IS NULL;

-- name: ListAPITokens :many
SELECT * FROM api_tokens WHERE user_id = @user_id ORDER BY id;
