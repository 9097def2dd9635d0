-- Failed logins count per account and client address, so that an attacker at one address
-- locks the account for that address only, never for its owner elsewhere.

-- +goose Up
CREATE TABLE login_failures (
    user_id          bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The client address as the server saw it (TRUSTED_PROXIES); '' for a login without one.
    address          text        NOT NULL,
    -- Failed logins in a row from this address, those during a lock included.
    failed_attempts  integer     NOT NULL,
    locked_until     timestamptz,
    last_failed_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, address)
);
CREATE INDEX idx_login_failures_last_failed_at ON login_failures (last_failed_at);

-- A lock under way at the upgrade is lifted: nobody knows the address it was for, and it
-- would have ended within LOGIN_LOCKOUT anyway.
ALTER TABLE users DROP COLUMN failed_attempts, DROP COLUMN locked_until;

-- +goose Down
ALTER TABLE users
    ADD COLUMN failed_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN locked_until    timestamptz;
-- The strictest of each account's addresses: whoever was locked out anywhere stays locked out.
UPDATE users u
SET failed_attempts = f.failed_attempts, locked_until = f.locked_until
FROM (SELECT user_id, max(failed_attempts) AS failed_attempts, max(locked_until) AS locked_until
      FROM login_failures GROUP BY user_id) f
WHERE f.user_id = u.id;
DROP TABLE login_failures;
