-- How an alert resolved is a column, not a phrase to find in its message: `recovered` (its mean
-- fell below the warning threshold less the hysteresis) or `no_data` (its series stopped
-- reporting). And a critical alert can step back to warning, with a notice of its own
-- (`deescalated`).

-- +goose Up
ALTER TABLE infrastructure_alerts ADD COLUMN resolution text CHECK (resolution IN ('recovered', 'no_data'));
-- Before this column, the message of a no-data resolution was its notice's title.
UPDATE infrastructure_alerts
SET resolution = CASE WHEN message LIKE 'Resolved (no data):%' THEN 'no_data' ELSE 'recovered' END
WHERE resolved_at IS NOT NULL;
ALTER TABLE infrastructure_alerts DROP CONSTRAINT infrastructure_alerts_pending_notification_check;
ALTER TABLE infrastructure_alerts ADD CONSTRAINT infrastructure_alerts_pending_notification_check
    CHECK (pending_notification IN ('opened', 'escalated', 'deescalated', 'reminder', 'resolved'));

-- +goose Down
-- The older code knows no de-escalation notice; the nearest it has says the alert still fires.
UPDATE infrastructure_alerts SET pending_notification = 'reminder' WHERE pending_notification = 'deescalated';
ALTER TABLE infrastructure_alerts DROP CONSTRAINT infrastructure_alerts_pending_notification_check;
ALTER TABLE infrastructure_alerts ADD CONSTRAINT infrastructure_alerts_pending_notification_check
    CHECK (pending_notification IN ('opened', 'escalated', 'reminder', 'resolved'));
ALTER TABLE infrastructure_alerts DROP COLUMN resolution;
