-- The compaction of the system history into blocks (schema/00017_system_blocks.sql).

-- name: NextRawSystemSample :one
-- The oldest sample still a row in [after, until): the next hour a compaction has work in
-- (pgx.ErrNoRows: none), so that it skips the hours with nothing to move, and those where only
-- samples that must stay rows are left.
SELECT collected_at AS next
FROM system_metrics_history
WHERE collected_at >= @after::timestamptz AND collected_at < @until::timestamptz
ORDER BY collected_at
LIMIT 1;

-- name: CompactSystemHour :one
-- Moves the raw system samples of [from_time, until), one clock hour, into a block per host, in
-- one statement: the rows deleted are exactly the rows the blocks get, so a sample written
-- meanwhile stays a row for the next run, and a failure keeps everything where it was. A row with
-- a value 1/1000 cannot hold in a bigint stays a row (abs(NaN) < x is false); one whose sample a
-- block holds already (sent again after its hour was compacted) is dropped as the unique key
-- would have refused it. The answer: the rows moved and the blocks written.
WITH moved AS (
    DELETE FROM system_metrics_history AS r
    WHERE r.collected_at >= @from_time::timestamptz AND r.collected_at < @until::timestamptz
      AND abs(r.cpu_percent) < 9e15 AND abs(r.cpu_user_percent) < 9e15 AND abs(r.cpu_system_percent) < 9e15
      AND abs(r.cpu_iowait_percent) < 9e15 AND abs(r.cpu_steal_percent) < 9e15
      AND abs(r.load1) < 9e15 AND abs(r.load5) < 9e15 AND abs(r.load15) < 9e15
      AND abs(r.memory_percent) < 9e15 AND abs(r.swap_percent) < 9e15
      AND abs(r.disk_read_bytes_per_second) < 9e15 AND abs(r.disk_write_bytes_per_second) < 9e15
      AND abs(r.net_recv_bytes_per_second) < 9e15 AND abs(r.net_sent_bytes_per_second) < 9e15
    RETURNING r.host, r.collected_at, r.cpu_percent, r.cpu_user_percent, r.cpu_system_percent,
              r.cpu_iowait_percent, r.cpu_steal_percent, r.cpu_per_core_percent, r.load1, r.load5, r.load15,
              r.memory_total_bytes, r.memory_used_bytes, r.memory_available_bytes, r.memory_percent,
              r.swap_total_bytes, r.swap_used_bytes, r.swap_percent, r.disk_read_bytes_per_second,
              r.disk_write_bytes_per_second, r.net_recv_bytes_per_second, r.net_sent_bytes_per_second,
              r.process_count, r.uptime_seconds, r.filesystems, r.interfaces, r.temperatures
), blocks AS (
    INSERT INTO system_metrics_blocks (
        host, collected_at, sample_at, cpu_percent_m, cpu_user_percent_m, cpu_system_percent_m,
        cpu_iowait_percent_m, cpu_steal_percent_m, cpu_per_core_percent, load1_m, load5_m, load15_m,
        memory_total_bytes, memory_used_bytes, memory_available_bytes, memory_percent_m,
        swap_total_bytes, swap_used_bytes, swap_percent_m, disk_read_bytes_per_second,
        disk_write_bytes_per_second, net_recv_bytes_per_second, net_sent_bytes_per_second,
        process_count, uptime_seconds, filesystems, interfaces, temperatures)
    SELECT f.host, min(f.collected_at), array_agg(f.collected_at ORDER BY f.collected_at),
           array_agg(round(f.cpu_percent * 1000)::bigint ORDER BY f.collected_at),
           array_agg(round(f.cpu_user_percent * 1000)::bigint ORDER BY f.collected_at),
           array_agg(round(f.cpu_system_percent * 1000)::bigint ORDER BY f.collected_at),
           array_agg(round(f.cpu_iowait_percent * 1000)::bigint ORDER BY f.collected_at),
           array_agg(round(f.cpu_steal_percent * 1000)::bigint ORDER BY f.collected_at),
           array_agg((SELECT coalesce(array_agg(trim_scale(round(c.v::numeric, 3)) ORDER BY c.n), ARRAY[]::numeric[])
                      FROM unnest(f.cpu_per_core_percent) WITH ORDINALITY AS c (v, n))::text ORDER BY f.collected_at),
           array_agg(round(f.load1 * 1000)::bigint ORDER BY f.collected_at),
           array_agg(round(f.load5 * 1000)::bigint ORDER BY f.collected_at),
           array_agg(round(f.load15 * 1000)::bigint ORDER BY f.collected_at),
           array_agg(f.memory_total_bytes ORDER BY f.collected_at),
           array_agg(f.memory_used_bytes ORDER BY f.collected_at),
           array_agg(f.memory_available_bytes ORDER BY f.collected_at),
           array_agg(round(f.memory_percent * 1000)::bigint ORDER BY f.collected_at),
           array_agg(f.swap_total_bytes ORDER BY f.collected_at),
           array_agg(f.swap_used_bytes ORDER BY f.collected_at),
           array_agg(round(f.swap_percent * 1000)::bigint ORDER BY f.collected_at),
           array_agg(round(f.disk_read_bytes_per_second)::bigint ORDER BY f.collected_at),
           array_agg(round(f.disk_write_bytes_per_second)::bigint ORDER BY f.collected_at),
           array_agg(round(f.net_recv_bytes_per_second)::bigint ORDER BY f.collected_at),
           array_agg(round(f.net_sent_bytes_per_second)::bigint ORDER BY f.collected_at),
           array_agg(f.process_count ORDER BY f.collected_at),
           array_agg(f.uptime_seconds ORDER BY f.collected_at),
           -- Positional rows, or objects before migration 00016, which become positional rows.
           array_agg((SELECT coalesce(jsonb_agg(jsonb_build_array(
                          coalesce(x -> 'mountpoint', x -> 0), coalesce(x -> 'device', x -> 1),
                          coalesce(x -> 'fstype', x -> 2), coalesce(x -> 'total_bytes', x -> 3),
                          coalesce(x -> 'used_bytes', x -> 4), coalesce(x -> 'free_bytes', x -> 5),
                          history_round(coalesce(x -> 'used_percent', x -> 6), 3),
                          history_round(coalesce(x -> 'inodes_used_percent', x -> 7), 3)) ORDER BY n), '[]')
                      FROM jsonb_array_elements(f.filesystems) WITH ORDINALITY AS e (x, n))::text ORDER BY f.collected_at),
           array_agg((SELECT coalesce(jsonb_agg(jsonb_build_array(
                          coalesce(x -> 'name', x -> 0),
                          history_round(coalesce(x -> 'recv_bytes_per_second', x -> 1), 0),
                          history_round(coalesce(x -> 'sent_bytes_per_second', x -> 2), 0),
                          history_round(coalesce(x -> 'recv_packets_per_second', x -> 3), 3),
                          history_round(coalesce(x -> 'sent_packets_per_second', x -> 4), 3),
                          history_round(coalesce(x -> 'recv_errors_per_second', x -> 5), 3),
                          history_round(coalesce(x -> 'sent_errors_per_second', x -> 6), 3)) ORDER BY n), '[]')
                      FROM jsonb_array_elements(f.interfaces) WITH ORDINALITY AS e (x, n))::text ORDER BY f.collected_at),
           array_agg((SELECT coalesce(jsonb_agg(jsonb_build_array(
                          coalesce(x -> 'sensor', x -> 0), history_round(coalesce(x -> 'celsius', x -> 1), 3)) ORDER BY n), '[]')
                      FROM jsonb_array_elements(f.temperatures) WITH ORDINALITY AS e (x, n))::text ORDER BY f.collected_at)
    FROM moved AS f
    WHERE NOT EXISTS (
        SELECT 1 FROM system_metrics_blocks AS b
        WHERE b.host = f.host AND b.collected_at >= date_bin('1 hour', f.collected_at, 'epoch')
          AND b.collected_at <= f.collected_at AND f.collected_at = ANY (b.sample_at))
    GROUP BY f.host, date_bin('1 hour', f.collected_at, 'epoch')
    RETURNING 1
)
SELECT (SELECT count(*) FROM moved)::bigint AS moved, (SELECT count(*) FROM blocks)::bigint AS blocks;

