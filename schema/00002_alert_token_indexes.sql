-- Indexes for the timestamp filters the first schema missed (PRODUCT.md section 6): the
-- notification cooldown looks up a series' latest notice, every alerts run reads the pending
-- notices, and the cleanup job deletes revoked tokens.

-- +goose Up
-- PendingNotifications' cooldown: was anything about this series sent after a time?
CREATE INDEX idx_alerts_last_notified_at ON infrastructure_alerts (host, metric, subject, last_notified_at);
-- Almost every alert has nothing pending: the partial index stays tiny.
CREATE INDEX idx_alerts_pending ON infrastructure_alerts (id) WHERE pending_notification IS NOT NULL;
CREATE INDEX idx_tokens_revoked_at ON api_tokens (revoked_at) WHERE revoked_at IS NOT NULL;

-- +goose Down
DROP INDEX idx_tokens_revoked_at;
DROP INDEX idx_alerts_pending;
DROP INDEX idx_alerts_last_notified_at;
