package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/jobs"
)

// buckets counts one series' rollups of a period in [from, until).
func buckets(tb testing.TB, pool *pgxpool.Pool, host, period string, from, until time.Time) int {
	tb.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM metric_aggregations
		WHERE host = $1 AND metric = 'cpu_percent' AND period = $2 AND bucket_start >= $3 AND bucket_start < $4`,
		host, period, from, until).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// The five-minute rollups: the first run fills the two days they are kept, later runs go on
// from the newest bucket however long the jobs stopped, and each trims what is past two days.
func TestFiveMinuteRollupsFillTwoDaysKeepUpAndTrim(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	start := t0.Add(-50 * time.Hour)
	dbtest.SeedHistory(t, pool, "web-1", start, 50*time.Hour+20*time.Minute, time.Minute)

	rep, err := jobs.Aggregate(ctx, pool, jobs.FiveMinute, jobs.FiveMinuteLookback, t0)
	if err != nil {
		t.Fatal(err)
	}
	until := time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC)
	if !rep.Until.Equal(until) || !rep.From.Equal(until.Add(-jobs.FiveMinuteKeep)) {
		t.Fatalf("first run from %s until %s, want the 48 hours before 10:15", rep.From, rep.Until)
	}
	if n := buckets(t, pool, "web-1", jobs.FiveMinute, time.Time{}, until.Add(time.Hour)); n != 48*12 {
		t.Fatalf("%d five-minute buckets of cpu_percent, want %d", n, 48*12)
	}
	got := rollups(t, pool)["web-1|cpu_percent||5min|2026-03-02T10:10:00Z"]
	var want aggRow
	if err := pool.QueryRow(ctx, `SELECT min(cpu_percent), max(cpu_percent), avg(cpu_percent), count(*) FROM system_metrics_history
		WHERE host = 'web-1' AND collected_at >= '2026-03-02T10:10:00Z' AND collected_at < '2026-03-02T10:15:00Z'`).
		Scan(&want.min, &want.max, &want.mean, &want.count); err != nil {
		t.Fatal(err)
	}
	if got.count != 5 || got.count != want.count || got.min != want.min || got.max != want.max || abs(got.mean-want.mean) > 1e-9 {
		t.Fatalf("the 10:10 bucket: %+v, from the raw rows %+v", got, want)
	}

	// Twenty minutes on: the buckets since, and the oldest four trimmed.
	rep, err = jobs.Aggregate(ctx, pool, jobs.FiveMinute, jobs.FiveMinuteLookback, t0.Add(20*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Trimmed != 4*15 {
		t.Errorf("trimmed %d rollups, want the 4 oldest buckets of 15 series", rep.Trimmed)
	}
	if n := buckets(t, pool, "web-1", jobs.FiveMinute, time.Time{}, rep.Until.Add(-jobs.FiveMinuteKeep)); n != 0 {
		t.Errorf("%d buckets older than two days left", n)
	}
	if n := buckets(t, pool, "web-1", jobs.FiveMinute, until, rep.Until); n != 4 {
		t.Errorf("%d buckets from 10:15 to 10:35, want 4", n)
	}

	// The jobs stopped for three hours (no leader, say) while samples came in: the next run
	// starts where the newest bucket ends, not 15 minutes back.
	dbtest.SeedHistory(t, pool, "web-1", t0.Add(20*time.Minute), 3*time.Hour, time.Minute)
	later := t0.Add(3*time.Hour + 20*time.Minute)
	rep, err = jobs.Aggregate(ctx, pool, jobs.FiveMinute, jobs.FiveMinuteLookback, later)
	if err != nil {
		t.Fatal(err)
	}
	if n := buckets(t, pool, "web-1", jobs.FiveMinute, until, rep.Until); n != int(rep.Until.Sub(until)/(5*time.Minute)) {
		t.Errorf("after three hours without runs: %d buckets from 10:15 to %s, want no gap", n, rep.Until.Format("15:04"))
	}
}

// Samples stored after the rollups had looked past them (an agent's spool after an outage; the
// ingest marks rollup_backlog, store tests check that) are rolled up by the next run of every
// period, and a claim that a killed run left is taken up by the next.
func TestLateSamplesAreRolledUpByTheNextRun(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	dbtest.SeedHistory(t, pool, "web-1", t0.Add(-2*time.Hour), 2*time.Hour, 30*time.Second)
	if _, err := jobs.Aggregate(ctx, pool, jobs.Hourly, jobs.HourlyLookback, t0); err != nil {
		t.Fatal(err)
	}
	// web-2 was cut off from 04:17 to 05:17 and sends its spool now.
	dbtest.SeedHistory(t, pool, "web-2", t0.Add(-6*time.Hour), time.Hour, 30*time.Second)
	exec(t, pool, "UPDATE rollup_backlog SET since = $1", t0.Add(-6*time.Hour))

	for _, period := range []string{jobs.Hourly, jobs.FiveMinute} {
		lookback, _ := jobs.Lookback(period)
		rep, err := jobs.Aggregate(ctx, pool, period, lookback, t0)
		if err != nil {
			t.Fatal(err)
		}
		if rep.From.After(t0.Add(-6 * time.Hour)) {
			t.Errorf("%s run from %s, want from the late samples' 04:17 on", period, rep.From.Format("15:04"))
		}
	}
	if n := buckets(t, pool, "web-2", jobs.Hourly, time.Time{}, t0); n != 2 {
		t.Errorf("web-2's late hour is in %d hourly buckets, want 2 (04:00, 05:00)", n)
	}
	if n := buckets(t, pool, "web-2", jobs.FiveMinute, time.Time{}, t0); n != 13 {
		t.Errorf("web-2's late hour is in %d five-minute buckets, want 13 (04:15 to 05:15)", n)
	}
	var marked int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM rollup_backlog WHERE period IN ('hourly', '5min') AND (since IS NOT NULL OR claimed IS NOT NULL)").Scan(&marked); err != nil {
		t.Fatal(err)
	}
	if marked != 0 {
		t.Errorf("%d marks left after the runs that rolled them up", marked)
	}
	// The daily rollup has not run: its mark waits for it.
	var since *time.Time
	if err := pool.QueryRow(ctx, "SELECT since FROM rollup_backlog WHERE period = 'daily'").Scan(&since); err != nil {
		t.Fatal(err)
	}
	if since == nil || !since.Equal(t0.Add(-6*time.Hour)) {
		t.Errorf("the daily mark is %v, want 04:17 until the daily run", since)
	}

	// A run killed halfway leaves its claim (moved up to what it finished): the next run starts there.
	exec(t, pool, "DELETE FROM metric_aggregations WHERE host = 'web-2' AND period = 'hourly'")
	exec(t, pool, "UPDATE rollup_backlog SET claimed = $1 WHERE period = 'hourly'", t0.Add(-6*time.Hour))
	if _, err := jobs.Aggregate(ctx, pool, jobs.Hourly, jobs.HourlyLookback, t0); err != nil {
		t.Fatal(err)
	}
	if n := buckets(t, pool, "web-2", jobs.Hourly, time.Time{}, t0); n != 2 {
		t.Errorf("after a claim left by a killed run: %d hourly buckets of web-2, want 2", n)
	}
}
