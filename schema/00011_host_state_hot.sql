-- host_state is rewritten with every batch. No query filters on received_at (every replica reads
-- the whole small table), so its index only made every update a non-HOT one: a new index entry
-- and a full new row each time. lz4 keeps the latest sample (about 3.5 KB of JSON) inline and
-- small, so the row stays on its page and updates are HOT; fillfactor 50 leaves the room.

-- +goose Up
DROP INDEX idx_host_state_received_at;
ALTER TABLE host_state ALTER COLUMN latest SET COMPRESSION lz4;
ALTER TABLE host_state ALTER COLUMN platform SET COMPRESSION lz4;
ALTER TABLE host_state SET (fillfactor = 50);

-- +goose Down
ALTER TABLE host_state SET (fillfactor = 70);
ALTER TABLE host_state ALTER COLUMN platform SET COMPRESSION default;
ALTER TABLE host_state ALTER COLUMN latest SET COMPRESSION default;
CREATE INDEX idx_host_state_received_at ON host_state (received_at);
