package history_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/history"
	"github.com/infradash/infradash/jobs"
)

// The 24 h chart reads the five-minute rollups and the raw samples after them, and shows what
// the raw samples alone would (but for a partial first bucket); where the rollups do not reach back to the start of the day (a
// hub upgraded an hour ago), it reads the raw samples.
func TestTheDayChartReadsFiveMinuteRollupsWhereTheyReachBack(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 10, 12, 32, 0, 0, time.UTC)
	pool := dbtest.Pool(t)
	dbtest.SeedHistory(t, pool, "web-1", now.Add(-26*time.Hour), 26*time.Hour, 30*time.Second)
	r := history.NewReader(pool, history.Options{RetentionDays: 30, Now: func() time.Time { return now }})
	day, _ := history.LookupRange("24h")
	read := func(metric, subject string) history.Series {
		t.Helper()
		s, err := r.Read(ctx, history.Query{Host: "web-1", Metric: metric, Subject: subject, From: now.Add(-day.Span), To: now, Step: day.ChartStep})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	lines := [][2]string{{"cpu_percent", ""}, {"disk_percent", "/"}, {"health_score", ""}, {"process_rss_bytes", ""}}
	raw := map[string]history.Series{}
	for _, l := range lines {
		raw[l[0]] = read(l[0], l[1])
		if raw[l[0]].Source != "raw" {
			t.Fatalf("%s before any rollup: from %q", l[0], raw[l[0]].Source)
		}
	}
	// Rollups of the last two hours only, as after an upgrade: not enough for the day.
	if _, err := jobs.Aggregate(ctx, pool, jobs.FiveMinute, time.Hour, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "DELETE FROM metric_aggregations WHERE bucket_start < $1", now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if s := read("cpu_percent", ""); s.Source != "raw" {
		t.Errorf("with rollups of the last two hours only, the day read %q, want raw", s.Source)
	}

	if _, err := pool.Exec(ctx, "DELETE FROM metric_aggregations"); err != nil {
		t.Fatal(err)
	}
	if _, err := jobs.Aggregate(ctx, pool, jobs.FiveMinute, jobs.FiveMinuteLookback, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		s, want := read(l[0], l[1]), raw[l[0]]
		// The rollups start at the first whole bucket: the raw samples' first point holds the
		// three minutes from 12:32 to 12:35 yesterday, which the chart goes without.
		want.Points = want.Points[1:]
		if s.Source != "5min+raw" {
			t.Errorf("%s over a day: from %q, want the five-minute rollups and the raw samples after them", l[0], s.Source)
		}
		if len(s.Points) != len(want.Points) || len(s.Points) < 288 {
			t.Fatalf("%s: %d points, %d from raw samples; want the same, at least 288", l[0], len(s.Points), len(want.Points))
		}
		for i, p := range s.Points {
			w := want.Points[i]
			if !p.At.Equal(w.At) || p.Samples != w.Samples || p.Min != w.Min || p.Max != w.Max || math.Abs(p.Mean-w.Mean) > 1e-9*math.Max(1, math.Abs(w.Mean)) {
				t.Fatalf("%s point %d: %+v from rollups, %+v from raw samples", l[0], i, p, w)
			}
		}
	}
}
