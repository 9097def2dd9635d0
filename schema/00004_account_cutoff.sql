-- Cutting an account off: a new password ends the sessions started before it
-- (sessions_valid_after; a session records when it logged in), and a disabled account
-- (disabled_at) can neither log in nor use its sessions and tokens.

-- +goose Up
ALTER TABLE users
    ADD COLUMN sessions_valid_after timestamptz,
    ADD COLUMN disabled_at          timestamptz;

-- +goose Down
ALTER TABLE users
    DROP COLUMN disabled_at,
    DROP COLUMN sessions_valid_after;
