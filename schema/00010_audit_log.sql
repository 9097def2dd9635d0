-- The audit log (PRODUCT.md section 16): who changed what, when, from where. Written by the
-- settings pages, the API and the commands, in the transaction of the change it records; kept
-- ALERT_RETENTION_DAYS (the cleanup job). And the addresses each API token was used from, so a
-- use from a new one is logged.

-- +goose Up
CREATE TABLE audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL,
    -- Who: a user's email, "cli" for a command run with the database's credentials, or
    -- "anonymous" (failed logins: nobody proved who they are).
    actor          text        NOT NULL CHECK (actor <> ''),
    -- The acting user while the account exists; actor keeps the email after it is gone.
    actor_user_id  bigint      REFERENCES users (id) ON DELETE SET NULL,
    -- How: the settings pages (or the login form), the JSON API, or the command line.
    via            text        NOT NULL CHECK (via IN ('page', 'api', 'cli')),
    -- The operating-system user who ran a command; '' otherwise.
    os_user        text        NOT NULL DEFAULT '',
    -- From where: the client address (TRUSTED_PROXIES applied), or the machine a command ran on.
    address        text        NOT NULL DEFAULT '',
    -- What: resource.verb, e.g. user.create, token.revoke, host.enrol.
    action         text        NOT NULL CHECK (action <> ''),
    -- Of what: kind:name, e.g. user:ops@example.com, token:12, host:web-1.
    target         text        NOT NULL DEFAULT '',
    -- How it changed ({"before": ..., "after": ...}) and other facts; secrets are masked before
    -- they get here (audit.Mask).
    details        jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object')
);
CREATE INDEX idx_audit_at ON audit_log (at);
CREATE INDEX idx_audit_actor_at ON audit_log (lower(actor), at);
CREATE INDEX idx_audit_target_at ON audit_log (target, at);

-- Every address a token was used from (as far as it goes back): a use from one not in here is
-- worth an audit entry. Rows go with their token.
CREATE TABLE api_token_addresses (
    token_id       bigint      NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    address        text        NOT NULL,
    first_seen_at  timestamptz NOT NULL,
    PRIMARY KEY (token_id, address)
);

-- +goose Down
DROP TABLE api_token_addresses;
DROP TABLE audit_log;
