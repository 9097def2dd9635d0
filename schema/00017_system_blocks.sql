-- The system history past its first hours is kept as blocks: one row per host and clock hour
-- (UTC) holding that hour's samples as one array per column. PostgreSQL compresses only values in
-- a row over 2 KB, so a row per sample is never compressed, and a system sample was about 1,000
-- bytes on disk; in a block the same sample is about 150 (docs/scaling.md, Storage). The
-- compaction (jobs.CompactSystem: the hourly compact job, infradash compact) moves the samples
-- of every hour that ended two hours ago from system_metrics_history into system_metrics_blocks,
-- one hour in one statement, and the view system_samples shows both as rows of
-- system_metrics_history: every reader of the system history reads the view.
--
-- Precision: blocks keep percentages, loads, packet and error rates and temperatures to 1/1000
-- of their unit, byte rates to the byte per second, as integers (finer than anything the
-- collector measures: a CPU percentage over 5 s moves in steps of 0.05 on four cores; loads come
-- with two decimals; sensors in millidegrees), and counts, bytes and instants exactly. Kept as full doubles, the noise in their low bits does not
-- compress and a block was 250 bytes a sample. A sample holding a value that 1/1000 cannot hold
-- in a bigint (beyond 9 * 10^15, or NaN) stays a row of its own, as does a sample that arrived
-- for an hour already compacted until the next compaction.
--
-- Blocks are partitioned by the day of their first sample like the other history tables, so
-- retention drops their days with the others. The unique key (host, collected_at) is the block's
-- first sample; a sample is in one block only (the compaction skips one a block holds already).

-- +goose Up
CREATE TABLE system_metrics_blocks (
    host                        text          NOT NULL,
    -- The block's first sample: its clock hour is date_bin('1 hour', collected_at, 'epoch').
    collected_at                timestamptz   NOT NULL,
    sample_at                   timestamptz[] NOT NULL,
    -- One element per sample, in the order of sample_at. m: in 1/1000 of the unit.
    cpu_percent_m               bigint[]      NOT NULL,
    cpu_user_percent_m          bigint[]      NOT NULL,
    cpu_system_percent_m        bigint[]      NOT NULL,
    cpu_iowait_percent_m        bigint[]      NOT NULL,
    cpu_steal_percent_m         bigint[]      NOT NULL,
    -- Each sample's per-core percentages as an array literal, to 1/1000: '{12.345,3.2}'.
    cpu_per_core_percent        text[]        NOT NULL,
    load1_m                     bigint[]      NOT NULL,
    load5_m                     bigint[]      NOT NULL,
    load15_m                    bigint[]      NOT NULL,
    memory_total_bytes          bigint[]      NOT NULL,
    memory_used_bytes           bigint[]      NOT NULL,
    memory_available_bytes      bigint[]      NOT NULL,
    memory_percent_m            bigint[]      NOT NULL,
    swap_total_bytes            bigint[]      NOT NULL,
    swap_used_bytes             bigint[]      NOT NULL,
    swap_percent_m              bigint[]      NOT NULL,
    disk_read_bytes_per_second  bigint[]    NOT NULL,
    disk_write_bytes_per_second bigint[]    NOT NULL,
    net_recv_bytes_per_second bigint[]      NOT NULL,
    net_sent_bytes_per_second bigint[]      NOT NULL,
    process_count               integer[]     NOT NULL,
    uptime_seconds              bigint[]      NOT NULL,
    -- Each sample's positional rows (migration 00016) as JSON text, percentages, rates and
    -- temperatures to 1/1000: text compresses where jsonb's binary form does not.
    filesystems                 text[]        NOT NULL,
    interfaces                  text[]        NOT NULL,
    temperatures                text[]        NOT NULL,
    CONSTRAINT idx_system_blocks_host_collected_at UNIQUE (host, collected_at)
) PARTITION BY RANGE (collected_at);
SELECT history_partition('system_metrics_blocks', NULL);
-- The days the raw table has, so that a block is never refused (the job creates the others).
SELECT history_partition('system_metrics_blocks', (c.relname_day)::date)
FROM (SELECT substring(c.relname FROM '_p([0-9]{8})$') AS relname_day
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'system_metrics_history'::regclass) AS c
WHERE c.relname_day IS NOT NULL;

-- +goose StatementBegin
-- history_round rounds a JSON number to digits decimals and gives back anything else (null, a
-- string) as it is: numeric does not overflow, so every number can be rounded.
CREATE FUNCTION history_round(v jsonb, digits integer) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN to_jsonb(trim_scale(round(v::numeric, digits))) ELSE v END
$fn$;
-- +goose StatementEnd

-- system_samples is the system history, raw rows and blocks alike, as rows of
-- system_metrics_history, with block_at: the instant that places the sample's block (its first
-- sample; a raw row's own collected_at). A reader of a range gives both bounds twice:
--   WHERE collected_at >= $from AND collected_at < $to
--     AND block_at >= date_bin('1 hour', $from, 'epoch') AND block_at < $to
-- The second pair is what lets PostgreSQL skip the blocks (and their days) outside the range.
CREATE VIEW system_samples AS
SELECT collected_at AS block_at, host, collected_at, cpu_percent, cpu_user_percent, cpu_system_percent,
       cpu_iowait_percent, cpu_steal_percent, cpu_per_core_percent, load1, load5, load15,
       memory_total_bytes, memory_used_bytes, memory_available_bytes, memory_percent,
       swap_total_bytes, swap_used_bytes, swap_percent, disk_read_bytes_per_second,
       disk_write_bytes_per_second, net_recv_bytes_per_second, net_sent_bytes_per_second,
       process_count, uptime_seconds, filesystems, interfaces, temperatures
FROM system_metrics_history
UNION ALL
SELECT b.collected_at, b.host, s.collected_at, s.cpu / 1000.0::float8, s.cpu_user / 1000.0::float8,
       s.cpu_system / 1000.0::float8, s.cpu_iowait / 1000.0::float8, s.cpu_steal / 1000.0::float8,
       s.per_core::float8[], s.load1 / 1000.0::float8, s.load5 / 1000.0::float8, s.load15 / 1000.0::float8,
       s.mem_total, s.mem_used, s.mem_available, s.mem_percent / 1000.0::float8,
       s.swap_total, s.swap_used, s.swap_percent / 1000.0::float8, s.disk_read::float8,
       s.disk_write::float8, s.net_recv::float8, s.net_sent::float8,
       s.process_count, s.uptime, s.filesystems::jsonb, s.interfaces::jsonb, s.temperatures::jsonb
FROM system_metrics_blocks AS b
CROSS JOIN LATERAL unnest(b.sample_at, b.cpu_percent_m, b.cpu_user_percent_m, b.cpu_system_percent_m,
                          b.cpu_iowait_percent_m, b.cpu_steal_percent_m, b.cpu_per_core_percent, b.load1_m,
                          b.load5_m, b.load15_m, b.memory_total_bytes, b.memory_used_bytes,
                          b.memory_available_bytes, b.memory_percent_m, b.swap_total_bytes, b.swap_used_bytes,
                          b.swap_percent_m, b.disk_read_bytes_per_second, b.disk_write_bytes_per_second,
                          b.net_recv_bytes_per_second, b.net_sent_bytes_per_second, b.process_count,
                          b.uptime_seconds, b.filesystems, b.interfaces, b.temperatures)
    AS s (collected_at, cpu, cpu_user, cpu_system, cpu_iowait, cpu_steal, per_core, load1, load5, load15,
          mem_total, mem_used, mem_available, mem_percent, swap_total, swap_used, swap_percent,
          disk_read, disk_write, net_recv, net_sent, process_count, uptime, filesystems, interfaces, temperatures);

COMMENT ON TABLE system_metrics_blocks IS
    'The system history past its first hours: a row per host and UTC hour, a column of values per field; read it through the view system_samples (migration 00017).';
COMMENT ON VIEW system_samples IS
    'system_metrics_history and system_metrics_blocks as rows of system_metrics_history; block_at places a sample''s block: give a range on it as well as on collected_at (migration 00017).';

-- +goose Down
-- The samples of the blocks become rows again (at the precision the blocks kept).
INSERT INTO system_metrics_history (host, collected_at, cpu_percent, cpu_user_percent, cpu_system_percent,
    cpu_iowait_percent, cpu_steal_percent, cpu_per_core_percent, load1, load5, load15, memory_total_bytes,
    memory_used_bytes, memory_available_bytes, memory_percent, swap_total_bytes, swap_used_bytes, swap_percent,
    disk_read_bytes_per_second, disk_write_bytes_per_second, net_recv_bytes_per_second, net_sent_bytes_per_second,
    process_count, uptime_seconds, filesystems, interfaces, temperatures)
SELECT host, collected_at, cpu_percent, cpu_user_percent, cpu_system_percent, cpu_iowait_percent,
       cpu_steal_percent, cpu_per_core_percent, load1, load5, load15, memory_total_bytes, memory_used_bytes,
       memory_available_bytes, memory_percent, swap_total_bytes, swap_used_bytes, swap_percent,
       disk_read_bytes_per_second, disk_write_bytes_per_second, net_recv_bytes_per_second,
       net_sent_bytes_per_second, process_count, uptime_seconds, filesystems, interfaces, temperatures
FROM system_samples AS v
-- The view's rows from blocks (a raw row is the start of no block, but for a sample stored twice).
WHERE EXISTS (SELECT 1 FROM system_metrics_blocks b WHERE b.host = v.host AND b.collected_at = v.block_at)
ON CONFLICT (host, collected_at) DO NOTHING;
DROP VIEW system_samples;
DROP FUNCTION history_round(jsonb, integer);
DROP TABLE system_metrics_blocks;
