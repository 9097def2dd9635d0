package dbtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// SeedHistory stores a sample every step on host from `from` for d: see SeedHosts. Thirty days
// of 5-second samples (518,400 rows a table) take seconds, so benchmarks can load a realistic
// history.
func SeedHistory(tb testing.TB, pool *pgxpool.Pool, host string, from time.Time, d, step time.Duration) {
	tb.Helper()
	SeedHosts(tb, pool, []string{host}, from, d, step)
}

// Hosts names n hosts as a fleet would: host-0001, host-0002, ...
func Hosts(n int) []string {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("host-%04d", i+1)
	}
	return hosts
}

// SeedHosts stores a sample every step on every host from `from` for d, one statement per table,
// in time order with the hosts interleaved, as a hub receiving them live writes them. The rows
// have the shape and size of what the collector stores for a typical server: system rows with
// varying values, four cores, two filesystems (/ and /data, every value the collector writes), two
// network interfaces and two temperature sensors; process rows; and health scores with the
// components that were not healthy (the CPU, past its warning level in a fifth of the samples).
func SeedHosts(tb testing.TB, pool *pgxpool.Pool, hosts []string, from time.Time, d, step time.Duration) {
	tb.Helper()
	ctx := context.Background()
	// The instants and hosts in the order they are written; k varies the values between hosts,
	// and each host after the first samples at a phase of its own, as agents with their own
	// clocks do (so no two hosts share an instant).
	const samples = `
SELECT s.i, s.i + h.k AS j, h.name AS host,
       $2::timestamptz + (s.i * $4::bigint + ((h.k - 1) * 7919) % $4::bigint) * interval '1 microsecond' AS t
FROM generate_series(0, ($3::bigint / $4::bigint) - 1) AS s(i)
CROSS JOIN unnest($1::text[]) WITH ORDINALITY AS h(name, k)
ORDER BY s.i, h.k`
	args := []any{hosts, from, d.Microseconds(), step.Microseconds()}
	if _, err := pool.Exec(ctx, `
INSERT INTO system_metrics_history (host, collected_at, cpu_percent, cpu_user_percent, cpu_system_percent, cpu_iowait_percent,
    cpu_per_core_percent, load1, load5, load15, memory_total_bytes, memory_used_bytes, memory_available_bytes, memory_percent,
    swap_total_bytes, swap_used_bytes, swap_percent, net_recv_bytes_per_second, net_sent_bytes_per_second,
    disk_read_bytes_per_second, disk_write_bytes_per_second, process_count, uptime_seconds, filesystems, interfaces, temperatures)
SELECT host, t, (i % 100)::float8, (i % 60) * 0.9137, (i % 30) * 0.4271, (i % 7) * 0.113,
       ARRAY[(j % 97) * 1.01, (j % 89) * 1.03, (j % 83) * 0.97, (j % 79) * 1.07],
       (i % 5) / 2.0, (i % 9) / 3.0, (i % 11) / 4.0,
       16777216000, 8000000000 + (j % 1000) * 4096, 8700000000 - (j % 1000) * 4096, 40 + (i % 17),
       2147479552, (j % 100) * 65536, (i % 7)::float8, i % 1000, i % 333, i % 250, i % 125, 180 + j % 40, 864000 + i * 5,
       -- Positional rows, as the store writes them (store/rows.go).
       jsonb_build_array(
         jsonb_build_array('/', '/dev/sda1', 'ext4', 107374182400, 53687091200 + (j % 977) * 4096, 48318382080 - (j % 977) * 4096,
                           50 + (i % 11), 3.80743145942688 + (j % 5) * 0.001),
         jsonb_build_array('/data', '/dev/sdb1', 'xfs', 536870912000, 429496729600 + (j % 991) * 8192, 107374182400 - (j % 991) * 8192,
                           80 + (i % 3), 12.5 + (j % 7) * 0.01)),
       jsonb_build_array(
         jsonb_build_array('eth0', (j % 1000) * 1234.567, (j % 333) * 987.654, (j % 100) * 12.3, (j % 90) * 11.1, 0, 0),
         jsonb_build_array('lo', (j % 50) * 101.25, (j % 50) * 101.25, (j % 20) * 1.5, (j % 20) * 1.5, 0, 0)),
       jsonb_build_array(jsonb_build_array('coretemp_package_id_0', 45 + (j % 20)), jsonb_build_array('nvme_composite', 38 + (j % 9)))
FROM (`+samples+`) AS s`, args...); err != nil {
		tb.Fatalf("dbtest: seed system history: %v", err)
	}
	if _, err := pool.Exec(ctx, `
INSERT INTO process_metrics_history (host, collected_at, pid, cpu_percent, rss_bytes, vms_bytes, threads, open_files,
    connections, goroutines, heap_alloc_bytes, gc_pause_total_seconds)
SELECT host, t, 42, (i % 13)::float8, 30000000 + (i % 1000) * 1000, 1300000000 + (j % 100) * 4096, 12 + j % 4, 9 + j % 3,
       2 + j % 5, 20 + j % 11, 8000000 + (j % 1000) * 512, i * 0.000125
FROM (`+samples+`) AS s`, args...); err != nil {
		tb.Fatalf("dbtest: seed process history: %v", err)
	}
	if _, err := pool.Exec(ctx, `
INSERT INTO infrastructure_health (host, collected_at, score, status, components)
SELECT host, t, 70 + i % 31,
       CASE WHEN i % 100 >= 95 THEN 'critical' WHEN i % 100 >= 80 THEN 'warning' ELSE 'healthy' END::healthstatus,
       CASE WHEN i % 100 >= 80 THEN jsonb_build_array(
         jsonb_build_object('name', 'cpu', 'kind', 'cpu', 'subject', '', 'value', (i % 100)::float8, 'unit', 'percent',
                            'warning', 80, 'critical', 95,
                            'status', CASE WHEN i % 100 >= 95 THEN 'critical' ELSE 'warning' END, 'score', 100 - i % 100))
       ELSE '[]' END
FROM (`+samples+`) AS s`, args...); err != nil {
		tb.Fatalf("dbtest: seed health history: %v", err)
	}
}

// SeedCollected stores system samples as SeedHosts does, with the values a collector measures
// rather than SeedHosts' few repeating ones: percentages are ratios of tick counts, rates are
// counter deltas over an interval that is never exactly the step, and memory, disks and loads
// drift; so the low bits of the doubles are as noisy as real ones, and what compresses them
// (the system history's blocks) is measured as it will do on real servers. Only system rows.
func SeedCollected(tb testing.TB, pool *pgxpool.Pool, hosts []string, from time.Time, d, step time.Duration) {
	tb.Helper()
	// r(c): a pseudo-random number in [0, 1), fixed for sample j and column c; dt: the interval
	// the rates were measured over.
	const r = `((hashint8(j * 64 + %d)::float8 + 2147483648) / 4294967296)`
	v := func(c int) string { return fmt.Sprintf(r, c) }
	dt := "(" + fmt.Sprint(step.Seconds()) + " + " + v(19) + " * 0.02)"
	ratio := func(lo, span, c int) string { // a tick count over the ticks of the interval
		return fmt.Sprintf("100.0 * floor(%d + %s * %d) / floor(400 + %s * 4)", lo, v(c), span, v(2))
	}
	core := func(c int) string { return fmt.Sprintf("100.0 * floor(%s * 100) / floor(100 + %s * 2)", v(c), v(c+1)) }
	rate := func(scale, c int) string { return fmt.Sprintf("floor(%s * %d) / %s", v(c), scale, dt) }
	_, err := pool.Exec(context.Background(), `
INSERT INTO system_metrics_history (host, collected_at, cpu_percent, cpu_user_percent, cpu_system_percent, cpu_iowait_percent,
    cpu_per_core_percent, load1, load5, load15, memory_total_bytes, memory_used_bytes, memory_available_bytes, memory_percent,
    swap_total_bytes, swap_used_bytes, swap_percent, net_recv_bytes_per_second, net_sent_bytes_per_second,
    disk_read_bytes_per_second, disk_write_bytes_per_second, process_count, uptime_seconds, filesystems, interfaces, temperatures)
SELECT host, t, `+ratio(40, 200, 1)+`, `+ratio(30, 150, 3)+`, `+ratio(5, 40, 4)+`, `+ratio(0, 8, 5)+`,
       ARRAY[`+core(6)+`, `+core(8)+`, `+core(10)+`, `+core(12)+`],
       round((1.5 + sin(i / 200.0) + `+v(14)+` * 0.3)::numeric, 2)::float8,
       round((1.5 + sin(i / 400.0) + `+v(15)+` * 0.1)::numeric, 2)::float8,
       round((1.5 + sin(i / 800.0) + `+v(16)+` * 0.05)::numeric, 2)::float8,
       16777216000, 8000000000 + floor(`+v(17)+` * 50000)::bigint * 4096, 8700000000 - floor(`+v(17)+` * 50000)::bigint * 4096,
       100.0 * (8000000000 + floor(`+v(17)+` * 50000) * 4096) / 16777216000,
       2147479552, 104857600, 100.0 * 104857600 / 2147479552,
       `+rate(2000000, 18)+`, `+rate(500000, 20)+`, `+rate(1000, 21)+` * 4096, `+rate(3000, 22)+` * 4096,
       180 + floor(`+v(23)+` * 20)::int, 864000 + i * 5,
       -- Positional rows (store/rows.go), with doubles as the collector's are.
       jsonb_build_array(
         jsonb_build_array('/', '/dev/sda1', 'ext4', 107374182400, 53687091200 + i * 4096, 53687091200 - i * 4096,
                           (100.0 * (53687091200 + i * 4096) / 107374182400)::float8, (100.0 * (212345 + i / 10) / 6553600)::float8),
         jsonb_build_array('/data', '/dev/sdb1', 'xfs', 536870912000, 429496729600 + i * 65536, 107374182400 - i * 65536,
                           (100.0 * (429496729600 + i * 65536) / 536870912000)::float8, (100.0 * (1234567 + i) / 262144000)::float8)),
       jsonb_build_array(
         jsonb_build_array('eth0', `+rate(5000000, 24)+`, `+rate(2000000, 25)+`, `+rate(5000, 26)+`, `+rate(3000, 27)+`, 0, 0),
         jsonb_build_array('lo', `+rate(100000, 28)+`, `+rate(100000, 28)+`, `+rate(500, 29)+`, `+rate(500, 29)+`, 0, 0)),
       jsonb_build_array(jsonb_build_array('coretemp_package_id_0', 45 + floor(`+v(30)+` * 20)),
                         jsonb_build_array('nvme_composite', 38.85 + floor(`+v(31)+` * 9)))
FROM (
    SELECT s.i, s.i::bigint * 100003 + h.k AS j, h.name AS host,
           $2::timestamptz + (s.i * $4::bigint + ((h.k - 1) * 7919) % $4::bigint + abs(hashint8(s.i * 7 + h.k) % 3000)) * interval '1 microsecond' AS t
    FROM generate_series(0, ($3::bigint / $4::bigint) - 1) AS s(i)
    CROSS JOIN unnest($1::text[]) WITH ORDINALITY AS h(name, k)
    ORDER BY s.i, h.k
) AS s`, hosts, from, d.Microseconds(), step.Microseconds())
	if err != nil {
		tb.Fatalf("dbtest: seed collected system history: %v", err)
	}
}
