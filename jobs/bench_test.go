package jobs_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/jobs"
	"github.com/infradash/infradash/queries"
)

// benchDays of 5-second samples: 518,400 rows in each raw table, as a host collecting at the
// default interval keeps under the default retention.
const benchDays = 30

var benchNow = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

// fleetSize is how many hosts a fleet benchmark seeds: def, or BENCH_HOSTS when set (for the
// larger runs docs/benchmarks.md reports).
func fleetSize(b *testing.B, def int) int {
	b.Helper()
	if s := os.Getenv("BENCH_HOSTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("BENCH_HOSTS=%q: want a number of hosts", s)
		}
		return n
	}
	return def
}

// historyBytes is the size on disk of the history tables' partitions, indexes included.
func historyBytes(b *testing.B, pool *pgxpool.Pool) int64 {
	b.Helper()
	parts, err := jobs.ListPartitions(context.Background(), pool)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, p := range parts {
		n += p.Bytes
	}
	return n
}

// BenchmarkRetention takes a day of a fleet's samples (17,280 a host and table, 50 hosts unless
// BENCH_HOSTS says otherwise) past a 30-day retention two ways, each on its own copy of the day:
//
//   - drop-day: jobs.MaintainPartitions drops the day's partition of each of the three tables;
//   - delete-day: the rows deleted 10,000 at a time, as cleanup did before the partitions, then
//     VACUUM (ANALYZE).
//
// Each reports the rows removed and the history's size on disk before and after.
func BenchmarkRetention(b *testing.B) {
	ctx := context.Background()
	hosts := fleetSize(b, 50)
	day := time.Date(2026, 1, 30, 0, 0, 0, 0, time.UTC)
	now := day.AddDate(0, 0, 31).Add(time.Hour) // the day is entirely past 30 days
	seed := func(b *testing.B) *pgxpool.Pool {
		pool := dbtest.Pool(b)
		for _, at := range []time.Time{day, now} {
			// Partitions for the day and for today, none dropped yet.
			if _, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 90, Now: at}); err != nil {
				b.Fatal(err)
			}
		}
		dbtest.SeedHosts(b, pool, dbtest.Hosts(hosts), day, 24*time.Hour, 5*time.Second)
		exec(b, pool, "VACUUM ANALYZE")
		return pool
	}
	report := func(b *testing.B, rows, before, after int64) {
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(float64(before)/1e6, "MB-before")
		b.ReportMetric(float64(after)/1e6, "MB-after")
	}
	want := int64(3 * hosts * 17280)

	b.Run("drop-day", func(b *testing.B) {
		cpu := dbtest.CPUMeter{B: b}
		for b.Loop() {
			b.StopTimer()
			pool := seed(b)
			before := historyBytes(b, pool)
			// Counted, not taken from the report: its row counts are ANALYZE's estimates, which
			// miss by a few thousand in a day of 1,000 hosts.
			if rows := rowsBefore(b, pool, day.AddDate(0, 0, 1)); rows != want {
				b.Fatalf("the day holds %d rows, want %d", rows, want)
			}
			// The day retention drops is a month old: its pages have long left the page cache,
			// and evicting them was nearly all a just-written day's drop cost (1.59 s cached, 38 ms not).
			var parts []string
			for _, table := range jobs.HistoryTables {
				parts = append(parts, jobs.PartitionName(table, day))
			}
			dbtest.Cold(b, pool, parts...)
			b.StartTimer()
			cpu.Start()
			rep, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 30, Now: now})
			cpu.Stop()
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			// The day's partition of each table, the system blocks' (empty) one too.
			if len(rep.Dropped) != len(jobs.PartitionedTables) || len(rep.Created) != 0 {
				b.Fatalf("dropped %d partitions, created %d; want the day's %d and nothing else",
					len(rep.Dropped), len(rep.Created), len(jobs.PartitionedTables))
			}
			if left := rowsBefore(b, pool, day.AddDate(0, 0, 1)); left != 0 {
				b.Fatalf("%d rows of the day are left after the drop", left)
			}
			report(b, want, before, historyBytes(b, pool))
			pool.Close()
			b.StartTimer()
		}
		cpu.Report(b)
	})

	b.Run("delete-day", func(b *testing.B) {
		cpu := dbtest.CPUMeter{B: b}
		for b.Loop() {
			b.StopTimer()
			pool := seed(b)
			before := historyBytes(b, pool)
			b.StartTimer()
			cpu.Start()
			var rows int64
			for _, table := range jobs.HistoryTables {
				for {
					tag, err := pool.Exec(ctx, `DELETE FROM `+table+` WHERE (host, collected_at) IN (
						SELECT host, collected_at FROM `+table+` WHERE collected_at < $1 LIMIT 10000)`, now.AddDate(0, 0, -30))
					if err != nil {
						b.Fatal(err)
					}
					rows += tag.RowsAffected()
					if tag.RowsAffected() < 10000 {
						break
					}
				}
			}
			exec(b, pool, "VACUUM (ANALYZE) system_metrics_history, process_metrics_history, infrastructure_health")
			cpu.Stop()
			b.StopTimer()
			if rows != want {
				b.Fatalf("deleted %d rows, want %d", rows, want)
			}
			report(b, rows, before, historyBytes(b, pool))
			pool.Close()
			b.StartTimer()
		}
		cpu.Report(b)
	})
}

// BenchmarkFleetHistory works on the history of a fleet, 1,000 hosts unless BENCH_HOSTS says otherwise,
// each sending a sample every 5 seconds for the last 2 h 15 min (1.62 million rows a table, in
// its day's partition, in the order a hub writes them: by time, the hosts interleaved):
//
//   - storage: reports the bytes on disk per sample of each table, indexes included (the rows
//     have the size of a typical server's, dbtest.SeedHosts);
//   - aggregate-hourly: the scheduled hourly rollup, jobs.Aggregate over the last 2 hours;
//   - aggregate-5min: the scheduled five-minute rollup, the last 15 minutes;
//   - alerts-window: the means the alerts job judges every minute, 5 minutes of every host.
func BenchmarkFleetHistory(b *testing.B) {
	ctx := context.Background()
	hosts := fleetSize(b, 1000)
	pool := dbtest.Pool(b)
	if _, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 30, Now: benchNow}); err != nil {
		b.Fatal(err)
	}
	dbtest.SeedHosts(b, pool, dbtest.Hosts(hosts), benchNow.Add(-135*time.Minute), 135*time.Minute, 5*time.Second)
	exec(b, pool, "VACUUM ANALYZE")

	b.Run("storage", func(b *testing.B) {
		for b.Loop() {
			for _, table := range jobs.HistoryTables {
				rows := count(b, pool, table)
				var indexes, total int64
				if err := pool.QueryRow(ctx, `SELECT sum(pg_indexes_size(c.oid)), sum(pg_total_relation_size(c.oid))
					FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass`, table).Scan(&indexes, &total); err != nil {
					b.Fatal(err)
				}
				if want := int64(hosts * 135 * 12); rows != want {
					b.Fatalf("%s: %d rows, want %d", table, rows, want)
				}
				b.ReportMetric(float64(total)/float64(rows), table+"-B/sample")
				b.ReportMetric(float64(indexes)/float64(rows), table+"-index-B/sample")
			}
		}
	})
	b.Run("aggregate-hourly", func(b *testing.B) {
		cpu := dbtest.CPUMeter{B: b}
		for b.Loop() {
			cpu.Start()
			rep, err := jobs.Aggregate(ctx, pool, jobs.Hourly, jobs.HourlyLookback, benchNow)
			cpu.Stop()
			if err != nil {
				b.Fatal(err)
			}
			if want := int64(hosts * 15 * 2); rep.Rows != want && rep.Rows != 0 { // 15 series, 2 hours
				b.Fatalf("%d rollups written, want %d", rep.Rows, want)
			}
		}
		cpu.Report(b)
	})
	b.Run("aggregate-5min", func(b *testing.B) {
		// The first run fills what the samples hold; each one after it is the scheduled run:
		// the last 15 minutes (3 buckets), written only where they changed.
		if _, err := jobs.Aggregate(ctx, pool, jobs.FiveMinute, jobs.FiveMinuteLookback, benchNow); err != nil {
			b.Fatal(err)
		}
		cpu := dbtest.CPUMeter{B: b}
		for b.Loop() {
			cpu.Start()
			rep, err := jobs.Aggregate(ctx, pool, jobs.FiveMinute, jobs.FiveMinuteLookback, benchNow)
			cpu.Stop()
			if err != nil {
				b.Fatal(err)
			}
			if got := rep.Until.Sub(rep.From); got != jobs.FiveMinuteLookback {
				b.Fatalf("the scheduled run covered %s, want %s", got, jobs.FiveMinuteLookback)
			}
		}
		cpu.Report(b)
	})
	b.Run("alerts-window", func(b *testing.B) {
		q := queries.New(pool)
		cpu := dbtest.CPUMeter{B: b}
		for b.Loop() {
			cpu.Start()
			means, err := q.AlertWindowMeans(ctx, queries.AlertWindowMeansParams{Since: benchNow.Add(-5 * time.Minute), Until: benchNow})
			cpu.Stop()
			if err != nil {
				b.Fatal(err)
			}
			// cpu, memory, swap, load per core, the hottest sensor and two filesystems
			if want := 7 * hosts; len(means) != want {
				b.Fatalf("%d means, want %d", len(means), want)
			}
		}
		cpu.Report(b)
	})
}

// BenchmarkAggregateHourly rolls up over 30 days of samples of one host, in their day
// partitions: the scheduled run (the last two hours) and a full backfill of all 720 hours.
func BenchmarkAggregateHourly(b *testing.B) {
	ctx := context.Background()
	pool := dbtest.Pool(b)
	dbtest.SeedHistory(b, pool, "web-1", benchNow.Add(-benchDays*24*time.Hour), benchDays*24*time.Hour, 5*time.Second)
	if _, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: benchDays + 1, Now: benchNow}); err != nil {
		b.Fatal(err)
	}
	exec(b, pool, "VACUUM ANALYZE")
	b.Run("scheduled-2h", func(b *testing.B) {
		for b.Loop() {
			if _, err := jobs.Aggregate(ctx, pool, jobs.Hourly, jobs.HourlyLookback, benchNow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("backfill-30d", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			exec(b, pool, "TRUNCATE metric_aggregations")
			b.StartTimer()
			rep, err := jobs.Aggregate(ctx, pool, jobs.Hourly, benchDays*24*time.Hour, benchNow)
			if err != nil {
				b.Fatal(err)
			}
			if want := int64(12 * (benchDays*24 + 1)); rep.Rows < want-12 {
				b.Fatalf("wrote %d rows, want about %d", rep.Rows, want)
			}
		}
	})
}

// rowsBefore counts the history tables' rows older than t.
func rowsBefore(b *testing.B, pool *pgxpool.Pool, t time.Time) int64 {
	b.Helper()
	var total int64
	for _, table := range jobs.HistoryTables {
		var n int64
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table+" WHERE collected_at < $1", t).Scan(&n); err != nil {
			b.Fatal(err)
		}
		total += n
	}
	return total
}

// BenchmarkCompact compacts an hour of a fleet's system history (1,000 hosts unless BENCH_HOSTS
// says otherwise, a sample every 5 seconds, with the noise of real measurements:
// dbtest.SeedCollected) into blocks, the scheduled compact job's work, and reports what a sample
// takes on disk, indexes and TOAST included: as a row, in a block, and over a month of history
// (the last CompactAfter and the hour under way as rows, the rest in blocks). Then it reads a
// 24 h chart of one host (a line of one-minute points, which reads raw samples) from blocks.
func BenchmarkCompact(b *testing.B) {
	ctx := context.Background()
	hosts := fleetSize(b, 1000)
	hour := benchNow.Add(-3 * time.Hour).Truncate(time.Hour)
	var pool *pgxpool.Pool
	parent := b
	b.Run("hour", func(b *testing.B) {
		cpu := dbtest.CPUMeter{B: b}
		for b.Loop() {
			b.StopTimer()
			pool = dbtest.Pool(parent) // the read below works on the last one
			if _, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 30, Now: benchNow}); err != nil {
				b.Fatal(err)
			}
			dbtest.SeedCollected(b, pool, dbtest.Hosts(hosts), hour, time.Hour, 5*time.Second)
			exec(b, pool, "VACUUM ANALYZE system_metrics_history")
			rows := tableBytes(b, pool, "system_metrics_history")
			b.StartTimer()
			cpu.Start()
			rep, err := jobs.CompactSystem(ctx, pool, hour.Add(time.Hour+jobs.CompactAfter))
			cpu.Stop()
			b.StopTimer()
			if want := int64(hosts * 720); err != nil || rep.Samples != want || rep.Blocks != int64(hosts) {
				b.Fatalf("compacted %s (%v); want %d samples into %d blocks", rep, err, want, hosts)
			}
			exec(b, pool, "VACUUM ANALYZE system_metrics_blocks")
			blocks := tableBytes(b, pool, "system_metrics_blocks")
			perRow, perBlock := float64(rows)/float64(rep.Samples), float64(blocks)/float64(rep.Samples)
			b.ReportMetric(perRow, "row-B/sample")
			b.ReportMetric(perBlock, "block-B/sample")
			asRows := (jobs.CompactAfter + 30*time.Minute).Hours() / (30 * 24)
			b.ReportMetric(asRows*perRow+(1-asRows)*perBlock, "month-B/sample")
			b.StartTimer()
		}
		cpu.Report(b)
	})
	if pool == nil {
		return // -bench picked only the other sub-benchmark
	}

	// A day of one more host, compacted, read as the chart of a day in one-minute steps does.
	day := hour.Add(-24 * time.Hour)
	dbtest.SeedCollected(b, pool, []string{"chart-1"}, day, 24*time.Hour, 5*time.Second)
	if _, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 30, Now: benchNow}); err != nil {
		b.Fatal(err)
	}
	if _, err := jobs.CompactSystem(ctx, pool, hour.Add(jobs.CompactAfter)); err != nil {
		b.Fatal(err)
	}
	exec(b, pool, "VACUUM ANALYZE system_metrics_blocks")
	b.Run("series-24h-blocks", func(b *testing.B) {
		q := queries.New(pool)
		for b.Loop() {
			points, err := q.SystemSeries(ctx, queries.SystemSeriesParams{StepSeconds: 60, Metric: "cpu_percent", Host: "chart-1", FromAt: day, ToAt: hour})
			if err != nil || len(points) != 24*60 {
				b.Fatalf("%d points (%v), want %d", len(points), err, 24*60)
			}
		}
	})
}

// tableBytes is the size on disk of a partitioned table's partitions, indexes and TOAST included.
func tableBytes(b *testing.B, pool *pgxpool.Pool, table string) int64 {
	b.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), `SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)
		FROM pg_inherits i WHERE i.inhparent = $1::regclass`, table).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}
