-- Alert rules, notification channels and silences (PRODUCT.md section 16), set from /settings
-- and the API. The environment's HEALTH_*, ALERT_* and HOST_DOWN_AFTER stay the built-in rule
-- and SLACK_WEBHOOK_URL / ALERT_WEBHOOK_URL the built-in channels; these tables add to them.

-- +goose Up
ALTER TYPE metrictype ADD VALUE IF NOT EXISTS 'temperature';

-- A rule overrides the built-in levels of one metric for every host (no scope), the hosts whose
-- labels match (labels: every key=value must match), or one host. The most specific wins: host
-- over labels over every host over the environment.
CREATE TABLE alert_rules (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    metric      text             NOT NULL CHECK (metric IN ('cpu', 'memory', 'swap', 'disk', 'load_per_core', 'temperature', 'host_down')),
    -- The filesystem's mountpoint of a disk rule; '' for every filesystem (and other metrics).
    mount       text             NOT NULL DEFAULT '',
    host        text             NOT NULL DEFAULT '',
    labels      jsonb            NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    -- host_down has no warning: its critical is the delay, in seconds.
    warning     double precision NOT NULL,
    critical    double precision NOT NULL,
    enabled     boolean          NOT NULL DEFAULT true,
    created_at  timestamptz      NOT NULL,
    updated_at  timestamptz      NOT NULL,
    CHECK (host = '' OR labels = '{}'),
    CHECK (mount = '' OR metric = 'disk')
);
-- One rule per metric, filesystem and scope: a second would leave "which wins" to chance.
CREATE UNIQUE INDEX idx_alert_rules_scope ON alert_rules (metric, mount, host, labels);

-- Every replica keeps the rules in memory and asks this counter (one row per table) whether they
-- changed: one tiny read a second instead of the whole table.
CREATE TABLE settings_versions (
    name     text   PRIMARY KEY,
    version  bigint NOT NULL DEFAULT 0
);
INSERT INTO settings_versions (name) VALUES ('alert_rules');

-- +goose StatementBegin
CREATE FUNCTION bump_settings_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE settings_versions SET version = version + 1 WHERE name = TG_TABLE_NAME;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER alert_rules_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON alert_rules
    FOR EACH STATEMENT EXECUTE FUNCTION bump_settings_version();

-- A channel is a destination of notices: Slack, a JSON webhook, or a service shoutrrr reaches,
-- by its URL. The URL carries the channel's secrets, so it is stored sealed (AES-256-GCM under a
-- key derived from SECRET_KEY); url_masked is what pages, the API and the audit log show.
CREATE TABLE notification_channels (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL CHECK (name <> '' AND length(name) <= 100),
    kind          text        NOT NULL CHECK (kind IN ('slack', 'webhook', 'shoutrrr')),
    url_sealed    bytea       NOT NULL,
    url_masked    text        NOT NULL,
    min_severity  text        NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('warning', 'critical')),
    host          text        NOT NULL DEFAULT '',
    labels        jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CHECK (host = '' OR labels = '{}')
);
CREATE UNIQUE INDEX idx_notification_channels_name ON notification_channels (lower(name));

-- Each notice of an alert has a number (notice_seq, counted up whenever a new one is queued), and
-- each channel's delivery of it a row: a notice that reached one channel and failed on another
-- is tried again on that one only. notified_seq is the notice last counted in
-- notification_count and last_notified_at, so a notice that is finishing its round is not held
-- back by the cooldown it started itself.
ALTER TABLE infrastructure_alerts ADD COLUMN notice_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE infrastructure_alerts ADD COLUMN notified_seq bigint NOT NULL DEFAULT 0;
-- Alerts queued before this version get their notice numbered.
UPDATE infrastructure_alerts SET notice_seq = 1 WHERE pending_notification IS NOT NULL;

CREATE TABLE alert_deliveries (
    alert_id      bigint      NOT NULL REFERENCES infrastructure_alerts (id) ON DELETE CASCADE,
    notice_seq    bigint      NOT NULL,
    -- env:slack, env:webhook (the built-in channels) or channel:ID.
    channel       text        NOT NULL,
    kind          text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('delivered', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0,
    error         text        NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (alert_id, notice_seq, channel)
);
CREATE INDEX idx_alert_deliveries_channel ON alert_deliveries (channel, alert_id);

-- A silence mutes the notices of the alerts it matches (host, labels, metric: each one set must
-- match) from starts_at to ends_at. The alerts still open and show; a notice held back goes out
-- once when the silence ends, if it is still due.
CREATE TABLE silences (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host        text        NOT NULL DEFAULT '',
    labels      jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    metric      text        NOT NULL DEFAULT '',
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    comment     text        NOT NULL DEFAULT '',
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX idx_silences_ends_at ON silences (ends_at);

-- +goose Down
DROP TABLE silences;
DROP TABLE alert_deliveries;
ALTER TABLE infrastructure_alerts DROP COLUMN notified_seq;
ALTER TABLE infrastructure_alerts DROP COLUMN notice_seq;
DROP TABLE notification_channels;
DROP TRIGGER alert_rules_version ON alert_rules;
DROP FUNCTION bump_settings_version();
DROP TABLE settings_versions;
DROP TABLE alert_rules;
-- PostgreSQL cannot drop an enum value: rebuild the type without it. The older code knows no
-- temperature alert, so those go.
DELETE FROM infrastructure_alerts WHERE metric = 'temperature';
ALTER TYPE metrictype RENAME TO metrictype_with_temperature;
CREATE TYPE metrictype AS ENUM ('cpu', 'memory', 'swap', 'disk', 'load', 'network', 'disk_io', 'process', 'health', 'host_down');
ALTER TABLE metric_aggregations ALTER COLUMN metric_type TYPE metrictype USING metric_type::text::metrictype;
ALTER TABLE infrastructure_alerts ALTER COLUMN metric TYPE metrictype USING metric::text::metrictype;
DROP TYPE metrictype_with_temperature;
