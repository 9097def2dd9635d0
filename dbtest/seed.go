package dbtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SeedHistory stores a sample every step on host from `from` for d, one statement per table:
// system rows with varying values and two filesystems (/ and /data), process rows and health scores. Thirty
// days of 5-second samples (518,400 rows a table) take seconds, so benchmarks can load a
// realistic history.
func SeedHistory(tb testing.TB, pool *pgxpool.Pool, host string, from time.Time, d, step time.Duration) {
	tb.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent, swap_percent, load1, load5, load15,
    net_recv_bytes_per_second, net_sent_bytes_per_second, disk_read_bytes_per_second, disk_write_bytes_per_second, filesystems)
SELECT $1, t, (i % 100)::float8, 40 + (i % 17), (i % 7)::float8, (i % 5) / 2.0, (i % 9) / 3.0, (i % 11) / 4.0, i % 1000, i % 333, i % 250, i % 125,
       jsonb_build_array(
         jsonb_build_object('mountpoint', '/', 'device', 'sda1', 'fstype', 'ext4', 'total_bytes', 100, 'used_bytes', 50, 'used_percent', 50 + (i % 11)),
         jsonb_build_object('mountpoint', '/data', 'device', 'sdb1', 'fstype', 'xfs', 'total_bytes', 100, 'used_bytes', 80, 'used_percent', 80 + (i % 3)))
FROM generate_series(0, ($3::bigint / $4::bigint) - 1) AS i, LATERAL (SELECT $2::timestamptz + i * ($4::bigint * interval '1 microsecond')) AS s(t)`,
		host, from, d.Microseconds(), step.Microseconds()); err != nil {
		tb.Fatalf("dbtest: seed system history: %v", err)
	}
	if _, err := pool.Exec(ctx, `
INSERT INTO process_metrics_history (host, collected_at, pid, cpu_percent, rss_bytes)
SELECT $1, $2::timestamptz + i * ($4::bigint * interval '1 microsecond'), 42, (i % 13)::float8, 30000000 + (i % 1000) * 1000
FROM generate_series(0, ($3::bigint / $4::bigint) - 1) AS i`,
		host, from, d.Microseconds(), step.Microseconds()); err != nil {
		tb.Fatalf("dbtest: seed process history: %v", err)
	}
	if _, err := pool.Exec(ctx, `
INSERT INTO infrastructure_health (host, collected_at, score, status)
SELECT $1, $2::timestamptz + i * ($4::bigint * interval '1 microsecond'), 70 + i % 31, 'healthy'
FROM generate_series(0, ($3::bigint / $4::bigint) - 1) AS i`,
		host, from, d.Microseconds(), step.Microseconds()); err != nil {
		tb.Fatalf("dbtest: seed health history: %v", err)
	}
}
