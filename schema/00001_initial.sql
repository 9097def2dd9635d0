-- The origin's five history tables (system, process, health, alerts, aggregations), plus
-- accounts, API tokens and the session store. Every timestamp is timestamptz in UTC and every
-- history row names the host it describes, so one database can hold a fleet.

-- +goose Up
CREATE TYPE metrictype AS ENUM ('cpu', 'memory', 'swap', 'disk', 'load', 'network', 'disk_io', 'process');
CREATE TYPE healthstatus AS ENUM ('healthy', 'warning', 'critical', 'unknown');

CREATE TABLE system_metrics_history (
    id                          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host                        text             NOT NULL,
    collected_at                timestamptz      NOT NULL,
    cpu_percent                 double precision NOT NULL,
    cpu_user_percent            double precision NOT NULL DEFAULT 0,
    cpu_system_percent          double precision NOT NULL DEFAULT 0,
    cpu_iowait_percent          double precision NOT NULL DEFAULT 0,
    cpu_steal_percent           double precision NOT NULL DEFAULT 0,
    cpu_per_core_percent        double precision[] NOT NULL DEFAULT '{}',
    load1                       double precision NOT NULL DEFAULT 0,
    load5                       double precision NOT NULL DEFAULT 0,
    load15                      double precision NOT NULL DEFAULT 0,
    memory_total_bytes          bigint           NOT NULL DEFAULT 0,
    memory_used_bytes           bigint           NOT NULL DEFAULT 0,
    memory_available_bytes      bigint           NOT NULL DEFAULT 0,
    memory_percent              double precision NOT NULL,
    swap_total_bytes            bigint           NOT NULL DEFAULT 0,
    swap_used_bytes             bigint           NOT NULL DEFAULT 0,
    swap_percent                double precision NOT NULL DEFAULT 0,
    disk_read_bytes_per_second  double precision NOT NULL DEFAULT 0,
    disk_write_bytes_per_second double precision NOT NULL DEFAULT 0,
    net_recv_bytes_per_second   double precision NOT NULL DEFAULT 0,
    net_sent_bytes_per_second   double precision NOT NULL DEFAULT 0,
    process_count               integer          NOT NULL DEFAULT 0,
    uptime_seconds              bigint           NOT NULL DEFAULT 0,
    -- [{"mountpoint","device","fstype","total_bytes","used_bytes","used_percent"}, ...]
    filesystems                 jsonb            NOT NULL DEFAULT '[]',
    -- [{"name","recv_bytes_per_second","sent_bytes_per_second"}, ...]
    interfaces                  jsonb            NOT NULL DEFAULT '[]',
    -- [{"sensor","celsius"}, ...]
    temperatures                jsonb            NOT NULL DEFAULT '[]',
    -- One sample per host and instant: a retried write hits this and does nothing.
    CONSTRAINT idx_system_host_collected_at UNIQUE (host, collected_at)
);
CREATE INDEX idx_system_collected_at ON system_metrics_history (collected_at);

CREATE TABLE process_metrics_history (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host                    text             NOT NULL,
    collected_at            timestamptz      NOT NULL,
    pid                     integer          NOT NULL,
    cpu_percent             double precision NOT NULL,
    rss_bytes               bigint           NOT NULL,
    vms_bytes               bigint           NOT NULL DEFAULT 0,
    threads                 integer          NOT NULL DEFAULT 0,
    open_files              integer          NOT NULL DEFAULT 0,
    connections             integer          NOT NULL DEFAULT 0,
    goroutines              integer          NOT NULL DEFAULT 0,
    heap_alloc_bytes        bigint           NOT NULL DEFAULT 0,
    gc_pause_total_seconds  double precision NOT NULL DEFAULT 0,
    CONSTRAINT idx_process_host_collected_at UNIQUE (host, collected_at)
);
CREATE INDEX idx_process_collected_at ON process_metrics_history (collected_at);

CREATE TABLE infrastructure_health (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host          text         NOT NULL,
    collected_at  timestamptz  NOT NULL,
    score         smallint     NOT NULL CHECK (score BETWEEN 0 AND 100),
    status        healthstatus NOT NULL,
    -- [{"name","kind","subject","value","unit","warning","critical","status","score"}, ...]
    components    jsonb        NOT NULL DEFAULT '[]',
    CONSTRAINT idx_infra_health_host_collected_at UNIQUE (host, collected_at)
);
CREATE INDEX idx_infra_health_collected_at ON infrastructure_health (collected_at);

CREATE TABLE users (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email            text        NOT NULL CHECK (email <> ''),
    password_hash    text        NOT NULL,
    role             text        NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_login_at    timestamptz,
    failed_attempts  integer     NOT NULL DEFAULT 0,
    locked_until     timestamptz
);
-- Emails are unique whatever their case: Admin@X and admin@x are one account.
CREATE UNIQUE INDEX idx_users_email ON users (lower(email));

CREATE TABLE api_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text        NOT NULL DEFAULT '',
    -- SHA-256 of the token: a stolen database does not yield working tokens.
    token_hash    bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE UNIQUE INDEX idx_tokens_hash ON api_tokens (token_hash);
CREATE INDEX idx_tokens_user ON api_tokens (user_id);
CREATE INDEX idx_tokens_expires_at ON api_tokens (expires_at);

CREATE TABLE infrastructure_alerts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host                text             NOT NULL,
    metric              metrictype       NOT NULL,
    -- The filesystem's mountpoint for disk alerts; '' for host-wide metrics.
    subject             text             NOT NULL DEFAULT '',
    severity            healthstatus     NOT NULL CHECK (severity IN ('warning', 'critical')),
    value               double precision NOT NULL,
    threshold           double precision NOT NULL,
    message             text             NOT NULL DEFAULT '',
    started_at          timestamptz      NOT NULL,
    updated_at          timestamptz      NOT NULL,
    escalated_at        timestamptz,
    resolved_at         timestamptz,
    acknowledged_at     timestamptz,
    acknowledged_by     bigint REFERENCES users (id) ON DELETE SET NULL,
    -- Delivery bookkeeping: what still has to be sent, and how the last attempt went.
    pending_notification text CHECK (pending_notification IN ('opened', 'escalated', 'reminder', 'resolved')),
    last_notified_at    timestamptz,
    notification_count  integer          NOT NULL DEFAULT 0,
    delivery_status     text             NOT NULL DEFAULT 'none' CHECK (delivery_status IN ('none', 'delivered', 'failed')),
    delivery_error      text             NOT NULL DEFAULT '',
    delivery_attempts   integer          NOT NULL DEFAULT 0
);
-- At most one open alert per host, metric and subject.
CREATE UNIQUE INDEX idx_alerts_open ON infrastructure_alerts (host, metric, subject) WHERE resolved_at IS NULL;
CREATE INDEX idx_alerts_started_at ON infrastructure_alerts (started_at);
CREATE INDEX idx_alerts_resolved_at ON infrastructure_alerts (resolved_at);

CREATE TABLE metric_aggregations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    host          text             NOT NULL,
    -- A series name of the history, e.g. cpu_percent, disk_percent, net_recv_bytes_per_second.
    metric        text             NOT NULL,
    metric_type   metrictype       NOT NULL,
    subject       text             NOT NULL DEFAULT '',
    period        text             NOT NULL CHECK (period IN ('hourly', 'daily')),
    bucket_start  timestamptz      NOT NULL,
    min_value     double precision NOT NULL,
    max_value     double precision NOT NULL,
    mean_value    double precision NOT NULL,
    p95_value     double precision NOT NULL,
    sample_count  integer          NOT NULL,
    updated_at    timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT idx_aggregations_series_bucket UNIQUE (host, metric, subject, period, bucket_start)
);
CREATE INDEX idx_aggregations_bucket_start ON metric_aggregations (bucket_start);

-- The session store of alexedwards/scs (pgxstore).
CREATE TABLE sessions (
    token   text        PRIMARY KEY,
    data    bytea       NOT NULL,
    expiry  timestamptz NOT NULL
);
CREATE INDEX idx_sessions_expiry ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
DROP TABLE metric_aggregations;
DROP TABLE infrastructure_alerts;
DROP TABLE api_tokens;
DROP TABLE users;
DROP TABLE infrastructure_health;
DROP TABLE process_metrics_history;
DROP TABLE system_metrics_history;
DROP TYPE healthstatus;
DROP TYPE metrictype;
