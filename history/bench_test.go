package history_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/history"
	"github.com/infradash/infradash/jobs"
)

// BenchmarkFleetChart reads a 24 h chart line (five-minute rollups; and from raw samples, to
// compare) and a 30 d line (hourly rollups) of one host among a fleet (50 hosts unless
// BENCH_HOSTS says otherwise) over 30 days of history in day partitions: the last 25 hours at
// the default 5 seconds, the 29 days before at 5 minutes (so that every partition holds a day,
// without 50 million rows to seed). The rows are in the order a hub writes them, by time with the
// hosts interleaved, so that one host's day is spread over as many pages as with a larger fleet:
// the 24 h line from raw samples reads 17,280 rows from as many pages, and the other days'
// partitions are pruned.
// Warm cache: the database has just been seeded.
func BenchmarkFleetChart(b *testing.B) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)
	hosts := 50
	if s := os.Getenv("BENCH_HOSTS"); s != "" {
		var err error
		if hosts, err = strconv.Atoi(s); err != nil || hosts < 1 {
			b.Fatalf("BENCH_HOSTS=%q: want a number of hosts", s)
		}
	}
	fleet := dbtest.Hosts(hosts)
	pool := dbtest.Pool(b)
	recent := now.Add(-25 * time.Hour)
	dbtest.SeedHosts(b, pool, fleet, now.AddDate(0, 0, -30), recent.Sub(now.AddDate(0, 0, -30)), 5*time.Minute)
	if _, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 30, Now: now}); err != nil {
		b.Fatal(err)
	}
	dbtest.SeedHosts(b, pool, fleet, recent, 25*time.Hour, 5*time.Second)
	// The hourly rollups of the 30 days, as the aggregate job would have left them: what the
	// 30 d chart reads.
	if _, err := jobs.Aggregate(ctx, pool, jobs.Hourly, 30*24*time.Hour, now); err != nil {
		b.Fatal(err)
	}
	// And the five-minute ones of the last two days, which the 24 h chart reads.
	if _, err := jobs.Aggregate(ctx, pool, jobs.FiveMinute, jobs.FiveMinuteLookback, now); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		b.Fatal(err)
	}
	r := history.NewReader(pool, history.Options{RetentionDays: 30, Now: func() time.Time { return now }})
	rng, _ := history.LookupRange("24h")
	host := fleet[len(fleet)/2]
	// series-24h is the chart (five-minute rollups, then raw samples for the minutes after the
	// newest); series-24h-raw the same line from the raw samples alone, in 4-minute buckets.
	for _, read := range []struct {
		name, source string
		step         time.Duration
	}{{"series-24h", "5min", rng.ChartStep}, {"series-24h-raw", "raw", 4 * time.Minute}} {
		for _, line := range []struct{ metric, subject string }{{"cpu_percent", ""}, {"disk_percent", "/data"}, {"health_score", ""}} {
			q := history.Query{Host: host, Metric: line.metric, Subject: line.subject, From: now.Add(-rng.Span), To: now, Step: read.step}
			b.Run(read.name+"/"+line.metric, func(b *testing.B) {
				var samples int32
				cpu := dbtest.CPUMeter{B: b}
				for b.Loop() {
					cpu.Start()
					s, err := r.Read(ctx, q)
					cpu.Stop()
					if err != nil {
						b.Fatal(err)
					}
					samples = 0
					for _, p := range s.Points {
						samples += p.Samples
					}
					if !strings.HasPrefix(s.Source, read.source) {
						b.Fatalf("24 h read %q, want %s", s.Source, read.source)
					}
				}
				if samples != 17280 {
					b.Fatalf("%d samples in 24 h, want 17280", samples)
				}
				b.ReportMetric(float64(samples), "samples")
				cpu.Report(b)
			})
		}
	}
	month, _ := history.LookupRange("30d")
	for _, line := range []struct{ metric, subject string }{{"cpu_percent", ""}, {"disk_percent", "/data"}, {"health_score", ""}} {
		q := history.Query{Host: host, Metric: line.metric, Subject: line.subject, From: now.Add(-month.Span), To: now, Step: month.ChartStep}
		b.Run("series-30d/"+line.metric, func(b *testing.B) {
			cpu := dbtest.CPUMeter{B: b}
			for b.Loop() {
				cpu.Start()
				s, err := r.Read(ctx, q)
				cpu.Stop()
				if err != nil {
					b.Fatal(err)
				}
				if !strings.HasPrefix(s.Source, "hourly") {
					b.Fatalf("30 d read %q, want the hourly rollups", s.Source)
				}
				if len(s.Points) < 300 {
					b.Fatalf("%d points in 30 d, want a line", len(s.Points))
				}
			}
			cpu.Report(b)
		})
	}
}
