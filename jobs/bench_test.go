package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/jobs"
)

// benchDays of 5-second samples: 518,400 rows in each raw table, as a host collecting at the
// default interval keeps under the default retention.
const benchDays = 30

var benchNow = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

// BenchmarkCleanup deletes the oldest week of 30 days of samples (120,960 rows in each of the
// three history tables: system, process and health) in batches of 10,000, without VACUUM.
func BenchmarkCleanup(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		pool := dbtest.Pool(b)
		dbtest.SeedHistory(b, pool, "web-1", benchNow.Add(-benchDays*24*time.Hour), benchDays*24*time.Hour, 5*time.Second)
		exec(b, pool, "ANALYZE")
		b.StartTimer()
		rep, err := jobs.Cleanup(ctx, pool, jobs.CleanupOptions{
			Retention: jobs.Retention{RawDays: benchDays - 7, AlertDays: 90, AggregateDays: 365}, Now: benchNow})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Total() != 3*7*24*720 {
			b.Fatalf("deleted %d rows, want %d", rep.Total(), 3*7*24*720)
		}
		b.StopTimer()
		pool.Close()
		b.StartTimer()
	}
}

// BenchmarkAggregateHourly rolls up over 30 days of samples: the scheduled run (the last two
// hours) and a full backfill of all 720 hours.
func BenchmarkAggregateHourly(b *testing.B) {
	ctx := context.Background()
	pool := dbtest.Pool(b)
	dbtest.SeedHistory(b, pool, "web-1", benchNow.Add(-benchDays*24*time.Hour), benchDays*24*time.Hour, 5*time.Second)
	exec(b, pool, "ANALYZE")
	b.Run("scheduled-2h", func(b *testing.B) {
		for b.Loop() {
			if _, err := jobs.Aggregate(ctx, pool, jobs.Hourly, jobs.HourlyLookbackHours, benchNow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("backfill-30d", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			exec(b, pool, "TRUNCATE metric_aggregations")
			b.StartTimer()
			rep, err := jobs.Aggregate(ctx, pool, jobs.Hourly, benchDays*24, benchNow)
			if err != nil {
				b.Fatal(err)
			}
			if want := int64(12 * (benchDays*24 + 1)); rep.Rows < want-12 {
				b.Fatalf("wrote %d rows, want about %d", rep.Rows, want)
			}
		}
	})
}
