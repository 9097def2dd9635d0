-- The fleet (PRODUCT.md section 15): the hosts an admin enrolled, each with an agent token of its
-- own, and each host's live state as the hub last received it. The history tables already name
-- their host in every row; their host column holds hosts.name.

-- +goose Up
CREATE TABLE hosts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- A DNS label or FQDN, lower case (checked by the program before it gets here).
    name              text        NOT NULL CHECK (name <> '' AND length(name) <= 253),
    -- {"env": "prod", ...}: what the overview filters by and alert rules select on.
    labels            jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    -- SHA-256 of the agent token. NULL for the hub's own host, whose agent runs in process.
    token_hash        bytea,
    created_at        timestamptz NOT NULL,
    token_created_at  timestamptz
);
CREATE UNIQUE INDEX idx_hosts_name ON hosts (name);
CREATE UNIQUE INDEX idx_hosts_token_hash ON hosts (token_hash);
CREATE INDEX idx_hosts_created_at ON hosts (created_at);

-- Written by every ingest and read by every replica, so any replica can show any host live. Kept
-- apart from hosts so the enrolment rows are not rewritten every few seconds.
CREATE TABLE host_state (
    host_id               bigint      PRIMARY KEY REFERENCES hosts (id) ON DELETE CASCADE,
    -- The hub's clock when a batch last arrived: what "last seen" and host_down go by.
    received_at           timestamptz NOT NULL,
    -- The newest sample received and when it was collected (the agent's clock).
    latest_at             timestamptz,
    latest                bytea,
    -- The agent's clock minus the hub's, at the last batch.
    clock_offset_seconds  double precision NOT NULL DEFAULT 0,
    agent_version         text        NOT NULL DEFAULT '',
    platform              jsonb
) WITH (fillfactor = 70);
CREATE INDEX idx_host_state_received_at ON host_state (received_at);

-- +goose Down
DROP TABLE host_state;
DROP TABLE hosts;
