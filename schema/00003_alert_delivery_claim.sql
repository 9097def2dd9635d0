-- A notice is claimed before it is sent, so two evaluators (the scheduled job and a manual
-- `infradash alerts`, or two replicas during a leader handover) never send it twice. The claim
-- is a lease: if the claimant dies mid-send, the notice is sent again once the lease runs out.

-- +goose Up
ALTER TABLE infrastructure_alerts ADD COLUMN delivery_claimed_until timestamptz;

-- +goose Down
ALTER TABLE infrastructure_alerts DROP COLUMN delivery_claimed_until;
