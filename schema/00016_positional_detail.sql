-- From this version the hub writes each filesystem, interface and sensor of a sample as a
-- positional row (a JSON array of its values in the order below) instead of an object that
-- names every value: the names were half of every system row (docs/scaling.md, Bytes per
-- sample). Rows written before keep their objects until retention drops their day; the readers
-- take both. Only the comments change here, so that \d+ in psql says how to read the rows.

-- +goose Up
COMMENT ON COLUMN system_metrics_history.filesystems IS
    'Each filesystem: [mountpoint, device, fstype, total_bytes, used_bytes, free_bytes, used_percent, inodes_used_percent] (an object with those keys in rows written before migration 00016).';
COMMENT ON COLUMN system_metrics_history.interfaces IS
    'Each interface: [name, recv_bytes_per_second, sent_bytes_per_second, recv_packets_per_second, sent_packets_per_second, recv_errors_per_second, sent_errors_per_second] (an object with those keys in rows written before migration 00016).';
COMMENT ON COLUMN system_metrics_history.temperatures IS
    'Each sensor: [sensor, celsius] (an object with those keys in rows written before migration 00016).';

-- +goose Down
-- The version before reads objects only: the rows written as arrays become the objects it wrote.
UPDATE system_metrics_history SET
    filesystems = (SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(f) = 'array' THEN jsonb_build_object(
                       'mountpoint', f -> 0, 'device', f -> 1, 'fstype', f -> 2, 'total_bytes', f -> 3, 'used_bytes', f -> 4,
                       'free_bytes', f -> 5, 'used_percent', f -> 6, 'inodes_used_percent', f -> 7) ELSE f END ORDER BY n), '[]')
                   FROM jsonb_array_elements(filesystems) WITH ORDINALITY AS e (f, n)),
    interfaces = (SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(f) = 'array' THEN jsonb_build_object(
                      'name', f -> 0, 'recv_bytes_per_second', f -> 1, 'sent_bytes_per_second', f -> 2,
                      'recv_packets_per_second', f -> 3, 'sent_packets_per_second', f -> 4,
                      'recv_errors_per_second', f -> 5, 'sent_errors_per_second', f -> 6) ELSE f END ORDER BY n), '[]')
                  FROM jsonb_array_elements(interfaces) WITH ORDINALITY AS e (f, n)),
    temperatures = (SELECT coalesce(jsonb_agg(CASE WHEN jsonb_typeof(f) = 'array' THEN jsonb_build_object(
                        'sensor', f -> 0, 'celsius', f -> 1) ELSE f END ORDER BY n), '[]')
                    FROM jsonb_array_elements(temperatures) WITH ORDINALITY AS e (f, n))
WHERE jsonb_typeof(filesystems -> 0) = 'array' OR jsonb_typeof(interfaces -> 0) = 'array'
   OR jsonb_typeof(temperatures -> 0) = 'array';
COMMENT ON COLUMN system_metrics_history.filesystems IS NULL;
COMMENT ON COLUMN system_metrics_history.interfaces IS NULL;
COMMENT ON COLUMN system_metrics_history.temperatures IS NULL;
