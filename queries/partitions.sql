-- Partition maintenance of the history tables (schema/00013_partitioned_history.sql holds the
-- functions that do the DDL, which cannot take parameters).

-- name: HistoryPartitions :many
-- Every partition of the given tables with its bounds (the epoch for the default partition), rows
-- (PostgreSQL's estimate from the last ANALYZE; -1 when never analyzed) and size on disk,
-- indexes and TOAST included.
SELECT p.relname::text AS table_name, c.relname::text AS partition_name,
       (c.oid = pt.partdefid) AS is_default,
       coalesce((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1], 'epoch')::timestamptz AS from_at,
       coalesce((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1], 'epoch')::timestamptz AS to_at,
       c.reltuples::bigint AS estimated_rows,
       pg_total_relation_size(c.oid) AS total_bytes
FROM pg_catalog.pg_class p
JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = p.oid
JOIN pg_catalog.pg_inherits i ON i.inhparent = p.oid
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
WHERE p.relname = ANY(@tables::text[]) AND p.relnamespace = current_schema()::regnamespace
ORDER BY p.relname, c.oid = pt.partdefid, c.relname;

-- name: DefaultPartitionDays :many
-- The days the default partition of a table holds samples for, with their count.
SELECT d.day::date AS day, d.rows::bigint AS rows FROM history_default_days(@table_name::text) AS d (day, rows);

-- name: CreateHistoryPartition :one
-- Creates the partition of a day (NULL: the default partition), moving that day's rows out of the
-- default partition; the rows moved, or -1 when it existed.
SELECT history_partition(@table_name::text, sqlc.narg(day)::date)::bigint AS moved;

-- name: DetachHistoryPartition :one
-- The first half of dropping a day partition: false when it is no partition of the table.
SELECT history_detach_partition(@table_name::text, @partition_name::text)::boolean AS detached;

-- name: DropDetachedHistoryPartition :one
-- The second half, in a transaction of its own: false when there is no such detached table.
SELECT history_drop_detached(@table_name::text, @partition_name::text)::boolean AS dropped;

-- name: DetachedHistoryPartitions :many
-- Day partitions of a table detached and not dropped yet: a drop interrupted halfway.
SELECT c.relname::text AS partition_name, pg_total_relation_size(c.oid) AS total_bytes
FROM pg_catalog.pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND NOT c.relispartition
  AND c.relname ~ ('^' || @table_name::text || '_p[0-9]{8}$')
ORDER BY c.relname;

-- name: SetLocalLockTimeout :exec
-- Bounds how long the DDL of this transaction waits for a lock: dropping a partition needs the
-- table to itself for a moment, and while it waits every other reader and writer queues behind it.
SELECT set_config('lock_timeout', @timeout::text, true);
