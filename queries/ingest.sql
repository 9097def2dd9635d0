-- What the hub's ingest writes (package store): the samples of a group of batches, from any
-- number of hosts, in one statement per table, and their hosts' live state.

-- name: HostsForWriters :many
-- The hosts a group of batches is from: agents by the SHA-256 of their token, the hub's own host
-- by name.
SELECT id, name, token_hash FROM hosts
WHERE token_hash = ANY(@token_hashes::bytea[]) OR name = ANY(@names::text[]);

-- name: WriteSamples :many
-- A group of batches, from any number of hosts, in one statement: one round trip and one
-- implicit transaction, the three history tables and host_state together. Arrays carry one
-- element per sample (the history tables) or per host (host_state). A sample already stored
-- (a re-sent batch) hits the unique key and is skipped. The hosts come from the store's cache
-- and are checked here, in the same snapshot as the writes: the rows of a host whose token was
-- rotated or removed meanwhile are not written, and it is missing from the 'host' rows of the
-- answer. The answer: a 'host' row per host written, and a 'sample' row per new sample.
-- Per-core percentages travel as array literals, since PostgreSQL arrays cannot be ragged.
WITH writers AS (
    SELECT h.id, h.name
    FROM ROWS FROM (unnest(@writer_id::bigint[]), unnest(@writer_name::text[]), unnest(@writer_token_hash::bytea[])) AS w (id, name, token_hash)
    JOIN hosts h ON h.id = w.id AND h.name = w.name AND h.token_hash IS NOT DISTINCT FROM w.token_hash
),
sys AS (
    INSERT INTO system_metrics_history (
        host, collected_at, cpu_percent, cpu_user_percent, cpu_system_percent, cpu_iowait_percent,
        cpu_steal_percent, cpu_per_core_percent, load1, load5, load15,
        memory_total_bytes, memory_used_bytes, memory_available_bytes, memory_percent,
        swap_total_bytes, swap_used_bytes, swap_percent,
        disk_read_bytes_per_second, disk_write_bytes_per_second,
        net_recv_bytes_per_second, net_sent_bytes_per_second,
        process_count, uptime_seconds, filesystems, interfaces, temperatures
    )
    SELECT u.host, u.collected_at, u.cpu, u.cpu_user, u.cpu_system, u.cpu_iowait, u.cpu_steal, u.per_core::float8[],
           u.load1, u.load5, u.load15, u.mem_total, u.mem_used, u.mem_available, u.mem_percent,
           u.swap_total, u.swap_used, u.swap_percent, u.disk_read, u.disk_write, u.net_recv, u.net_sent,
           u.process_count, u.uptime, u.filesystems, u.interfaces, u.temperatures
    FROM ROWS FROM (unnest(@host::text[]), unnest(@collected_at::timestamptz[]), unnest(@cpu_percent::float8[]),
                    unnest(@cpu_user_percent::float8[]), unnest(@cpu_system_percent::float8[]),
                    unnest(@cpu_iowait_percent::float8[]), unnest(@cpu_steal_percent::float8[]),
                    unnest(@cpu_per_core_percent::text[]), unnest(@load1::float8[]), unnest(@load5::float8[]),
                    unnest(@load15::float8[]), unnest(@memory_total_bytes::bigint[]),
                    unnest(@memory_used_bytes::bigint[]), unnest(@memory_available_bytes::bigint[]),
                    unnest(@memory_percent::float8[]), unnest(@swap_total_bytes::bigint[]),
                    unnest(@swap_used_bytes::bigint[]), unnest(@swap_percent::float8[]),
                    unnest(@disk_read_bytes_per_second::float8[]),
                    unnest(@disk_write_bytes_per_second::float8[]), unnest(@net_recv_bytes_per_second::float8[]),
                    unnest(@net_sent_bytes_per_second::float8[]), unnest(@process_count::integer[]),
                    unnest(@uptime_seconds::bigint[]), unnest(@filesystems::jsonb[]),
                    unnest(@interfaces::jsonb[]), unnest(@temperatures::jsonb[]))
         AS u (host, collected_at, cpu, cpu_user, cpu_system, cpu_iowait, cpu_steal, per_core, load1, load5, load15,
               mem_total, mem_used, mem_available, mem_percent, swap_total, swap_used, swap_percent,
               disk_read, disk_write, net_recv, net_sent, process_count, uptime, filesystems, interfaces, temperatures)
    WHERE u.host IN (SELECT name FROM writers)
      -- Nor one a block holds: sent again after its hour was compacted (schema/00017). For a
      -- sample of the last hours, as nearly all are, no block exists: one index probe. One sent
      -- again while its hour is being compacted can still land as a row beside its block (this
      -- snapshot does not see the block yet); the next compaction drops that copy.
      AND NOT EXISTS (SELECT 1 FROM system_metrics_blocks b
                      WHERE b.host = u.host AND b.collected_at >= date_bin('1 hour', u.collected_at, 'epoch')
                        AND b.collected_at <= u.collected_at AND u.collected_at = ANY (b.sample_at))
    ON CONFLICT (host, collected_at) DO NOTHING
    RETURNING host, collected_at
),
proc AS (
    INSERT INTO process_metrics_history (
        host, collected_at, pid, cpu_percent, rss_bytes, vms_bytes, threads, open_files,
        connections, goroutines, heap_alloc_bytes, gc_pause_total_seconds
    )
    SELECT u.host, u.collected_at, u.pid, u.cpu, u.rss, u.vms, u.threads, u.open_files, u.connections, u.goroutines,
           u.heap_alloc, u.gc_pause
    FROM ROWS FROM (unnest(@host::text[]), unnest(@collected_at::timestamptz[]), unnest(@pid::integer[]),
                    unnest(@process_cpu_percent::float8[]), unnest(@rss_bytes::bigint[]), unnest(@vms_bytes::bigint[]),
                    unnest(@threads::integer[]), unnest(@open_files::integer[]), unnest(@connections::integer[]),
                    unnest(@goroutines::integer[]), unnest(@heap_alloc_bytes::bigint[]),
                    unnest(@gc_pause_total_seconds::float8[]))
         AS u (host, collected_at, pid, cpu, rss, vms, threads, open_files, connections, goroutines, heap_alloc, gc_pause)
    WHERE u.host IN (SELECT name FROM writers)
    ON CONFLICT (host, collected_at) DO NOTHING
),
health AS (
    INSERT INTO infrastructure_health (host, collected_at, score, status, components)
    SELECT u.host, u.collected_at, u.score, u.status::healthstatus, u.components
    FROM ROWS FROM (unnest(@host::text[]), unnest(@collected_at::timestamptz[]), unnest(@score::smallint[]),
                    unnest(@status::text[]), unnest(@components::jsonb[])) AS u (host, collected_at, score, status, components)
    WHERE u.host IN (SELECT name FROM writers)
    ON CONFLICT (host, collected_at) DO NOTHING
),
-- New samples older than late_before came after the rollups may have looked past them (an
-- agent's spool, sent after an outage): every rollup period's next run starts at the oldest
-- (jobs.Aggregate). Only an earlier mark is written, so a spool sent oldest first marks once,
-- not with each batch, and the rows are locked only then.
late AS (
    UPDATE rollup_backlog AS b SET since = l.since
    FROM (SELECT min(collected_at) AS since FROM sys WHERE collected_at < @late_before::timestamptz) AS l
    WHERE l.since IS NOT NULL AND (b.since IS NULL OR b.since > l.since)
),
-- One row per host (the store merges a group's batches of one host first: a statement may not
-- update a row twice), in host order, so concurrent groups lock the rows in the same order.
-- The newest sample wins; a re-sent older batch only says the agent is alive. A NULL latest (a
-- batch without an acceptable sample) keeps the stored one.
state AS (
    INSERT INTO host_state AS s (host_id, received_at, latest_at, latest, clock_offset_seconds, agent_version, platform)
    SELECT u.host_id, u.received_at, CASE WHEN u.latest IS NULL THEN NULL ELSE u.latest_at END, u.latest,
           u.clock_offset, u.agent_version, u.platform
    FROM ROWS FROM (unnest(@state_host_id::bigint[]), unnest(@received_at::timestamptz[]), unnest(@latest_at::timestamptz[]),
                    unnest(@latest::bytea[]), unnest(@clock_offset_seconds::float8[]), unnest(@agent_version::text[]),
                    unnest(@platform::jsonb[]))
         AS u (host_id, received_at, latest_at, latest, clock_offset, agent_version, platform)
    WHERE u.host_id IN (SELECT id FROM writers)
    ORDER BY u.host_id
    ON CONFLICT (host_id) DO UPDATE SET
        received_at = EXCLUDED.received_at,
        clock_offset_seconds = EXCLUDED.clock_offset_seconds,
        agent_version = EXCLUDED.agent_version,
        platform = coalesce(EXCLUDED.platform, s.platform),
        latest = CASE WHEN s.latest_at IS NULL OR EXCLUDED.latest_at > s.latest_at THEN coalesce(EXCLUDED.latest, s.latest) ELSE s.latest END,
        latest_at = CASE WHEN s.latest_at IS NULL OR EXCLUDED.latest_at > s.latest_at THEN coalesce(EXCLUDED.latest_at, s.latest_at) ELSE s.latest_at END
)
SELECT 'host'::text AS kind, w.name::text AS host, NULL::timestamptz AS collected_at FROM writers w
UNION ALL
SELECT 'sample'::text, sys.host, sys.collected_at FROM sys;
