-- name: AlertWindowMeans :many
-- The mean of each alerting series per host over (since, until]: CPU, memory, swap (on hosts
-- that have some), the 1-minute load per logical core, the hottest temperature sensor (on hosts
-- that report one) and every filesystem (subject = mountpoint), unpivoted in one pass over the
-- window; with how many samples it holds and when the first and the last were taken, so that a
-- window mostly empty (the first minute after a start) is not judged.
SELECT s.host,
       v.metric::text AS metric,
       v.subject::text AS subject,
       avg(v.value)::float8 AS mean_value,
       count(*)::bigint AS samples,
       min(s.collected_at)::timestamptz AS first_at,
       max(s.collected_at)::timestamptz AS last_at
FROM system_samples s
CROSS JOIN LATERAL (
    VALUES ('cpu', '', s.cpu_percent), ('memory', '', s.memory_percent)
    UNION ALL
    SELECT 'swap', '', s.swap_percent WHERE s.swap_total_bytes > 0
    UNION ALL
    SELECT 'load', '', s.load1 / cardinality(s.cpu_per_core_percent) WHERE cardinality(s.cpu_per_core_percent) > 0
    UNION ALL
    -- Sensors [sensor, celsius] and filesystems [mountpoint, ..., used_percent (6), ...] are
    -- positional rows, or objects before migration 00016 (FilesystemSeries).
    SELECT 'temperature', '', max(coalesce(t ->> 'celsius', t ->> 1)::float8)
    FROM jsonb_array_elements(s.temperatures) AS t
    HAVING count(*) > 0
    UNION ALL
    SELECT 'disk', coalesce(fs ->> 'mountpoint', fs ->> 0), coalesce(fs ->> 'used_percent', fs ->> 6)::float8
    FROM jsonb_array_elements(s.filesystems) AS fs
) AS v (metric, subject, value)
WHERE s.collected_at > @since::timestamptz AND s.collected_at <= @until::timestamptz
  AND s.block_at >= date_bin('1 hour', @since::timestamptz, 'epoch') AND s.block_at <= @until::timestamptz
GROUP BY s.host, v.metric, v.subject
ORDER BY s.host, v.metric, v.subject;

-- name: HostsLastSeen :many
-- Every enrolled host that has sent anything, and when a batch of it last arrived (the hub's
-- clock): what host_down judges. A host never seen is not here, so it raises nothing.
SELECT h.name, s.received_at
FROM hosts h
JOIN host_state s ON s.host_id = h.id
ORDER BY h.name;

-- name: OpenAlerts :many
SELECT * FROM infrastructure_alerts
WHERE resolved_at IS NULL
ORDER BY id;

-- name: OpenAlert :one
-- Opens an alert; a concurrent run that opened the same one first wins (idx_alerts_open).
INSERT INTO infrastructure_alerts (host, metric, subject, severity, value, threshold, message,
                                   started_at, updated_at, pending_notification, notice_seq)
VALUES (@host, @metric, @subject, @severity, @value, @threshold, @message, @now::timestamptz, @now::timestamptz, 'opened', 1)
ON CONFLICT (host, metric, subject) WHERE resolved_at IS NULL DO NOTHING
RETURNING id;

-- name: EscalateAlert :exec
UPDATE infrastructure_alerts
SET severity = 'critical', value = @value, threshold = @threshold, message = @message,
    escalated_at = @now::timestamptz, updated_at = @now::timestamptz, pending_notification = 'escalated',
    notice_seq = notice_seq + 1
WHERE id = @id AND resolved_at IS NULL;

-- name: DeescalateAlert :exec
-- Critical back to warning. An alert nobody was told about yet is announced as opened (at
-- warning, when the cooldown allows); otherwise the step down is the notice.
UPDATE infrastructure_alerts
SET severity = 'warning', value = @value, threshold = @threshold, message = @message, updated_at = @now::timestamptz,
    pending_notification = CASE WHEN notification_count = 0 THEN 'opened' ELSE 'deescalated' END,
    notice_seq = notice_seq + 1
WHERE id = @id AND resolved_at IS NULL;

-- name: UpdateAlertValue :exec
-- A firing alert's latest mean, and its severity's threshold as the rules now say; a reminder
-- is queued unless a notice is already pending (a new notice only then gets a new number: the
-- channels that got the pending one must not get it again).
UPDATE infrastructure_alerts
SET value = @value, threshold = @threshold, message = @message, updated_at = @now,
    notice_seq = CASE WHEN @remind::boolean AND pending_notification IS NULL THEN notice_seq + 1 ELSE notice_seq END,
    pending_notification = CASE WHEN @remind::boolean AND pending_notification IS NULL
                                THEN 'reminder' ELSE pending_notification END
WHERE id = @id AND resolved_at IS NULL;

-- name: ResolveAlert :exec
-- @threshold is the warning threshold it was judged against. An alert nobody was ever told
-- about resolves silently.
UPDATE infrastructure_alerts
SET value = @value, threshold = @threshold, message = @message, resolution = @resolution::text,
    resolved_at = @now::timestamptz, updated_at = @now::timestamptz,
    pending_notification = CASE WHEN notification_count > 0 THEN 'resolved' END,
    notice_seq = notice_seq + 1
WHERE id = @id AND resolved_at IS NULL;

-- name: PendingNotifications :many
-- Alerts with something to send, and whether anything about the same series was sent after
-- quiet_since (an alert that resolved and reopened shares its predecessor's cooldown).
SELECT a.*,
       EXISTS (SELECT 1 FROM infrastructure_alerts o
               WHERE o.host = a.host AND o.metric = a.metric AND o.subject = a.subject
                 AND o.last_notified_at > @quiet_since::timestamptz) AS in_cooldown
FROM infrastructure_alerts a
WHERE a.pending_notification IS NOT NULL
ORDER BY a.id;

-- name: ClaimNotification :one
-- Takes the notice for one evaluator until @until; no row when it was sent, replaced, or is
-- claimed by another evaluator whose lease still runs.
UPDATE infrastructure_alerts
SET delivery_claimed_until = @until::timestamptz
WHERE id = @id AND pending_notification = @kind
  AND (delivery_claimed_until IS NULL OR delivery_claimed_until <= @now::timestamptz)
RETURNING id;

-- name: MarkNotified :exec
-- The first channel got notice @seq: it counts once, however many channels get it, and starts
-- the series' cooldown.
UPDATE infrastructure_alerts
SET last_notified_at = @now::timestamptz, notification_count = notification_count + 1, notified_seq = @seq
WHERE id = @id AND notified_seq < @seq;

-- name: MarkDelivered :exec
-- Every channel the notice was for has it.
UPDATE infrastructure_alerts
SET pending_notification = NULL, delivery_claimed_until = NULL,
    delivery_status = 'delivered', delivery_error = @error, delivery_attempts = delivery_attempts + @attempts::integer
WHERE id = @id AND notice_seq = @seq;

-- name: MarkDeliveryFailed :exec
-- The notification stays pending, so the next run tries again, on the channels that lack it.
UPDATE infrastructure_alerts
SET delivery_status = 'failed', delivery_error = @error, delivery_attempts = delivery_attempts + @attempts::integer,
    delivery_claimed_until = NULL
WHERE id = @id;

-- name: NoticeDeliveries :many
-- How each channel fared with the alert's notices: those of notice @seq, and every channel that
-- was ever told about the alert (it gets the alert's end too, whatever its minimum severity).
SELECT channel, notice_seq, status FROM alert_deliveries
WHERE alert_id = @alert_id AND (notice_seq = @seq OR status = 'delivered');

-- name: RecordDelivery :exec
INSERT INTO alert_deliveries (alert_id, notice_seq, channel, kind, status, attempts, error, updated_at)
VALUES (@alert_id, @seq, @channel, @kind, @status, @attempts, @error, @now::timestamptz)
ON CONFLICT (alert_id, notice_seq, channel) DO UPDATE
SET status = EXCLUDED.status, attempts = alert_deliveries.attempts + EXCLUDED.attempts, error = EXCLUDED.error,
    updated_at = EXCLUDED.updated_at;

-- name: AlertDeliveries :many
-- Each channel's delivery of the alerts' latest notices, for the API.
SELECT d.alert_id, d.channel, d.kind, d.status, d.attempts, d.error, d.updated_at
FROM alert_deliveries d
JOIN infrastructure_alerts a ON a.id = d.alert_id AND d.notice_seq = a.notice_seq
WHERE d.alert_id = ANY(@ids::bigint[])
ORDER BY d.alert_id, d.channel;

-- name: DropPendingNotification :exec
-- No notifier is configured: nothing can be sent, and nothing should pile up for later.
UPDATE infrastructure_alerts SET pending_notification = NULL WHERE id = @id;

-- name: AcknowledgeAlert :one
UPDATE infrastructure_alerts
SET acknowledged_at = COALESCE(acknowledged_at, @now::timestamptz), acknowledged_by = COALESCE(acknowledged_by, @user_id::bigint),
    pending_notification = CASE WHEN pending_notification = 'reminder' THEN NULL ELSE pending_notification END
WHERE id = @id AND resolved_at IS NULL
RETURNING *;

-- name: GetAlert :one
SELECT * FROM infrastructure_alerts WHERE id = @id;

-- name: ListAlerts :many
SELECT sqlc.embed(a), u.email AS acknowledged_by_email
FROM infrastructure_alerts a
LEFT JOIN users u ON u.id = a.acknowledged_by
WHERE (@status::text = 'all'
       OR (@status::text = 'open' AND a.resolved_at IS NULL)
       OR (@status::text = 'resolved' AND a.resolved_at IS NOT NULL))
  AND (@severity::text = '' OR a.severity::text = @severity::text)
  AND (@host::text = '' OR a.host = @host::text)
  -- The hosts with a label (the label filter); NULL for every host.
  AND (sqlc.narg(hosts)::text[] IS NULL OR a.host = ANY(sqlc.narg(hosts)::text[]))
ORDER BY a.started_at DESC, a.id DESC
LIMIT @row_limit OFFSET @row_offset;

-- name: CountAlerts :one
SELECT count(*) FROM infrastructure_alerts a
WHERE (@status::text = 'all'
       OR (@status::text = 'open' AND a.resolved_at IS NULL)
       OR (@status::text = 'resolved' AND a.resolved_at IS NOT NULL))
  AND (@severity::text = '' OR a.severity::text = @severity::text)
  AND (@host::text = '' OR a.host = @host::text)
  AND (sqlc.narg(hosts)::text[] IS NULL OR a.host = ANY(sqlc.narg(hosts)::text[]));

-- name: GetAlertWithAcknowledger :one
SELECT sqlc.embed(a), u.email AS acknowledged_by_email
FROM infrastructure_alerts a
LEFT JOIN users u ON u.id = a.acknowledged_by
WHERE a.id = @id;

-- name: CountOpenAlertsBySeverity :many
-- For /metrics: open alerts across every host, by severity.
SELECT severity, count(*) AS open
FROM infrastructure_alerts
WHERE resolved_at IS NULL
GROUP BY severity;

-- name: CountOpenAlertsByHost :many
-- The overview's and GET /hosts' open-alert column, for every host at once.
SELECT host, count(*)::integer AS open
FROM infrastructure_alerts
WHERE resolved_at IS NULL
GROUP BY host;
