package handlers

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/history"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
)

func TestCollectingStoresOneRowPerIntervalAndHistoryReturnsThem(t *testing.T) {
	pool := newAPIServer(t, nil).pool // a fresh database
	var mu sync.Mutex
	record := dbtest.Recorder(t, pool)
	stopped, kept := false, 0
	col := runningCollector(t, func(_ *collector.Collector, s sample.Snapshot) {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			record(s)
			kept++
		}
	})
	// A few 1-second intervals.
	waitFor(t, "4 samples collected", time.Minute, func() bool { return len(col.Recent(time.Time{})) >= 4 })
	a := newAPIServerOn(t, pool)
	// Stop storing, and keep what was stored: the collector keeps going.
	mu.Lock()
	stopped = true
	n := kept
	mu.Unlock()
	recent := col.Recent(time.Time{})[:n]

	host := col.Platform().Hostname
	var stored []time.Time
	rows, err := pool.Query(context.Background(), "SELECT collected_at FROM system_metrics_history WHERE host = $1 ORDER BY collected_at", host)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, at)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	// Every sample the collector took was stored once, nothing else.
	if len(stored) < len(recent) {
		t.Fatalf("%d rows stored for %d samples taken", len(stored), len(recent))
	}
	for i, s := range recent {
		if !stored[i].Equal(s.CollectedAt.Truncate(time.Microsecond)) {
			t.Fatalf("row %d at %v, sample at %v", i, stored[i], s.CollectedAt)
		}
	}
	for i := 1; i < len(stored); i++ {
		if !stored[i].After(stored[i-1]) {
			t.Errorf("duplicate or out-of-order rows at %v", stored[i])
		}
	}
	for _, table := range []string{"process_metrics_history", "infrastructure_health"} {
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT count(DISTINCT collected_at) FROM "+table+" WHERE host = $1", host).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(stored) {
			t.Errorf("%s: %d rows, system_metrics_history: %d", table, n, len(stored))
		}
	}

	// range=1h: the default step buckets them; every stored sample is counted once.
	code, env := a.get(t, infraPath+"history?metric=cpu_percent&range=1h")
	if code != http.StatusOK || env.Status != "success" {
		t.Fatalf("history: %d %+v", code, env.Error)
	}
	var h historyData
	env.decode(t, &h)
	total := 0
	for _, p := range h.Points {
		total += int(p.Samples)
		if p.At.Location() != time.UTC || p.Min > p.Mean || p.Mean > p.Max {
			t.Errorf("point %+v", p)
		}
	}
	if total != len(stored) || h.Source != "raw" || h.Unit != "percent" || h.StepSeconds != 5 {
		t.Errorf("range=1h: %d samples in %d points from %s, step %vs; want %d from raw at 5s", total, len(h.Points), h.Source, h.StepSeconds, len(stored))
	}

	// One-second buckets over exactly the stored span: each point holds the rows stored in its
	// second. Samples are about a second apart, but timing jitter can put two in one second, so the
	// expectation buckets the stored rows the same way instead of assuming one row a point.
	from, to := stored[0].Truncate(time.Second), stored[len(stored)-1].Add(time.Second)
	q := url.Values{"metric": {"cpu_percent"}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "step": {"1s"}}
	_, env = a.get(t, infraPath+"history?"+q.Encode())
	env.decode(t, &h)
	type bucket struct {
		at    time.Time
		n     int32
		sum   float64
		known bool // every row of it is a sample in recent, whose cpu the test knows
	}
	var want []bucket
	for i, at := range stored {
		b := history.BinStart(at, time.Second)
		if len(want) == 0 || !want[len(want)-1].at.Equal(b) {
			want = append(want, bucket{at: b, known: true})
		}
		w := &want[len(want)-1]
		w.n++
		if i < len(recent) {
			w.sum += recent[i].System.CPU.TotalPercent
		} else {
			w.known = false
		}
	}
	if len(h.Points) != len(want) {
		t.Fatalf("step=1s: %d points for %d rows in %d seconds", len(h.Points), len(stored), len(want))
	}
	for i, p := range h.Points {
		w := want[i]
		if !p.At.Equal(w.at) || p.Samples != w.n {
			t.Errorf("point %d: %d samples at %v; stored: %d at %v", i, p.Samples, p.At, w.n, w.at)
		}
		if mean := w.sum / float64(w.n); w.known && math.Abs(p.Mean-mean) > 1e-9 {
			t.Errorf("point %d: mean %v, its samples' cpu mean %v", i, p.Mean, mean)
		}
	}

	for _, m := range []string{"memory_percent", "disk_percent", "load1", "process_rss_bytes", "health_score", "net_recv_bytes_per_second"} {
		code, env := a.get(t, infraPath+"history?range=1h&metric="+m)
		env.decode(t, &h)
		if code != http.StatusOK || len(h.Points) == 0 {
			t.Errorf("history of %s: %d, %d points", m, code, len(h.Points))
		}
	}
}

func TestHistoryReadsRollupsForLongRangesAndFillsInFromRawSamples(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	a := newAPIServer(t, func() time.Time { return now })
	ctx := context.Background()
	// Without rollups a week is bucketed from raw samples.
	for _, at := range []time.Time{now.Add(-3 * 24 * time.Hour), now.Add(-20 * time.Minute), now.Add(-10 * time.Minute)} {
		if _, err := a.pool.Exec(ctx, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent) VALUES ($2, $1, 50, 40)`, at, a.s.host); err != nil {
			t.Fatal(err)
		}
	}
	var h historyData
	_, env := a.get(t, infraPath+"history?metric=cpu_percent&range=7d")
	env.decode(t, &h)
	if h.Source != "raw" || len(h.Points) != 3 || h.StepSeconds != 900 { // 15-minute buckets: 9 March 12:30, 12:00, 12:15
		t.Errorf("7d without rollups: source %s, %d points, step %v", h.Source, len(h.Points), h.StepSeconds)
	}

	// Hourly rollups up to 11:00 (covering until 12:00); the raw samples after it fill in.
	for hour := 48; hour >= 2; hour-- {
		if _, err := a.pool.Exec(ctx, `INSERT INTO metric_aggregations
			(host, metric, metric_type, period, bucket_start, min_value, max_value, mean_value, p95_value, sample_count)
			VALUES ($2, 'cpu_percent', 'cpu', 'hourly', $1, 10, 30, 20, 28, 720)`, now.Truncate(time.Hour).Add(-time.Duration(hour-1)*time.Hour), a.s.host); err != nil {
			t.Fatal(err)
		}
	}
	_, env = a.get(t, infraPath+"history?metric=cpu_percent&range=7d")
	env.decode(t, &h)
	if h.Source != "hourly+raw" || h.StepSeconds != 3600 {
		t.Fatalf("7d with rollups: source %s, step %v", h.Source, h.StepSeconds)
	}
	last := h.Points[len(h.Points)-1]
	if !last.At.Equal(now.Truncate(time.Hour)) || last.Samples != 2 || last.Mean != 50 {
		t.Errorf("newest point from raw samples: %+v", last)
	}
	if first := h.Points[0]; first.Samples != 720 || first.Mean != 20 || first.Min != 10 || first.Max != 30 {
		t.Errorf("oldest point from rollups: %+v", first)
	}
	if len(h.Points) != 48 {
		t.Errorf("%d points, want 47 hours of rollups and 1 of raw samples", len(h.Points))
	}
}

func TestHistoryRejectsBadParametersNamingThem(t *testing.T) {
	a := newAPIServer(t, nil)
	for query, param := range map[string]string{
		"range=1h":                          "metric",
		"metric=banana":                     "metric",
		"metric=cpu_percent&range=banana":   "range",
		"metric=cpu_percent&step=0":         "step",
		"metric=cpu_percent&step=soon":      "step",
		"metric=cpu_percent&step=1s":        "step", // 3,600 points in the default hour
		"metric=cpu_percent&subject=/":      "subject",
		"metric=cpu_percent&from=yesterday": "from",
		"metric=cpu_percent&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z": "from",
		"metric=cpu_percent&to=2026-01-01T00:00:00Z":                           "from",
		"metric=cpu_percent&range=1h&from=2026-01-01T00:00:00Z":                "range",
	} {
		code, env := a.get(t, infraPath+"history?"+query)
		if code != http.StatusBadRequest || env.Error == nil || env.Error.Code != "invalid_parameter" ||
			!strings.HasPrefix(env.Error.Message, param+":") {
			t.Errorf("%s: %d %+v; want 400 naming %s", query, code, env.Error, param)
		}
	}
}

// The history endpoint offers each metric package history knows; the raw series queries and the
// rollup queries list metric names on their own (SQL cannot share a Go list). This test keeps
// them from drifting: every metric the endpoint accepts must come back from raw samples and
// from rollups.
func TestEveryHistoryMetricIsRolledUpAndReadFromRawSamples(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	a := newAPIServer(t, func() time.Time { return now })
	ctx := context.Background()
	a.enrol(t, "web-1")
	dbtest.SeedHistory(t, a.pool, "web-1", now.Add(-3*time.Hour), 3*time.Hour, time.Minute)
	// Every rollup query jobs.Aggregate runs (handlers may not import jobs).
	q := queries.New(a.pool)
	from, until := now.Add(-3*time.Hour), now.Truncate(time.Hour)
	if _, err := q.AggregateSystemMetrics(ctx, queries.AggregateSystemMetricsParams{Period: "hourly", BucketSeconds: 3600, Now: now, FromTime: from, Until: until}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.AggregateProcessMetrics(ctx, queries.AggregateProcessMetricsParams{Period: "hourly", BucketSeconds: 3600, Now: now, FromTime: from, Until: until}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.AggregateHealthMetrics(ctx, queries.AggregateHealthMetricsParams{Period: "hourly", BucketSeconds: 3600, Now: now, FromTime: from, Until: until}); err != nil {
		t.Fatal(err)
	}

	for _, metric := range history.MetricNames() {
		for rng, source := range map[string]string{"1h": "raw", "7d": "hourly+raw"} {
			var h historyData
			code, env := a.get(t, infraPath+"history?host=web-1&metric="+metric+"&range="+rng)
			env.decode(t, &h)
			if code != http.StatusOK || h.Source != source || len(h.Points) == 0 {
				t.Errorf("%s over %s: %d, %d points from %q; want points from %s", metric, rng, code, len(h.Points), h.Source, source)
			}
		}
	}
}

func TestHistoryOlderThanRetentionReadsRollupsWhateverTheSpan(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	a := newAPIServer(t, func() time.Time { return now })
	a.s.history = history.NewReader(a.pool, history.Options{RetentionDays: 30, Now: a.s.now}) // raw samples older than 30 days are gone
	a.enrol(t, "old")
	day := now.AddDate(0, 0, -60).Truncate(24 * time.Hour)
	for hour := range 24 {
		if _, err := a.pool.Exec(context.Background(), `INSERT INTO metric_aggregations
			(host, metric, metric_type, period, bucket_start, min_value, max_value, mean_value, p95_value, sample_count)
			VALUES ('old', 'cpu_percent', 'cpu', 'hourly', $1, 10, 30, 20, 28, 720)`, day.Add(time.Duration(hour)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	q := url.Values{"host": {"old"}, "metric": {"cpu_percent"}, "from": {day.Format(time.RFC3339)}, "to": {day.Add(24 * time.Hour).Format(time.RFC3339)}}
	var h historyData
	code, env := a.get(t, infraPath+"history?"+q.Encode())
	env.decode(t, &h)
	if code != http.StatusOK || h.Source != "hourly" || len(h.Points) != 24 || h.StepSeconds != 3600 {
		t.Errorf("a day 60 days ago: %d, %d points from %q at %vs; want the 24 hourly rollups", code, len(h.Points), h.Source, h.StepSeconds)
	}
}

func TestHistoryBucketsAreEpochAlignedAndNeverBeforeFrom(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	a := newAPIServer(t, func() time.Time { return now })
	ctx := context.Background()
	a.enrol(t, "web")
	// Hourly rollups of one sample each up to the 11:00 bucket, the raw sample each holds, and two
	// raw samples of the current hour: whatever the seam, every hour is counted once.
	exec := func(sql string, args ...any) {
		if _, err := a.pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	for hour := 48; hour >= 2; hour-- {
		start := now.Truncate(time.Hour).Add(-time.Duration(hour-1) * time.Hour)
		exec(`INSERT INTO metric_aggregations
			(host, metric, metric_type, period, bucket_start, min_value, max_value, mean_value, p95_value, sample_count)
			VALUES ('web', 'cpu_percent', 'cpu', 'hourly', $1, 50, 50, 50, 50, 1)`, start)
		exec(`INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent) VALUES ('web', $1, 50, 40)`, start.Add(30*time.Minute))
	}
	for _, at := range []time.Time{now.Add(-25 * time.Minute), now.Add(-10 * time.Minute)} {
		exec(`INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent) VALUES ('web', $1, 50, 40)`, at)
	}
	// 7 h does not divide a day: buckets counted from year 1 and from 1970 differ.
	for _, query := range []string{"range=7d&step=7h", "range=7d&step=5h", "range=1h&step=7h", "range=6h&step=25m"} {
		var h historyData
		code, env := a.get(t, infraPath+"history?host=web&metric=cpu_percent&"+query)
		env.decode(t, &h)
		if code != http.StatusOK || len(h.Points) == 0 {
			t.Fatalf("%s: %d, %d points", query, code, len(h.Points))
		}
		total := int32(0)
		for i, p := range h.Points {
			total += p.Samples
			if p.At.Before(h.From) {
				t.Errorf("%s: point %d at %v, before from %v", query, i, p.At, h.From)
			}
			if i > 0 && !p.At.After(h.Points[i-1].At) {
				t.Errorf("%s: point %d at %v repeats or precedes %v", query, i, p.At, h.Points[i-1].At)
			}
			if step := time.Duration(h.StepSeconds) * time.Second; i > 0 && p.At.UnixNano()%int64(step) != 0 {
				t.Errorf("%s: point %d at %v is not on a %v boundary from the epoch", query, i, p.At, step)
			}
		}
		if strings.HasPrefix(query, "range=7d") && total != 47+2 {
			t.Errorf("%s: %d samples, want every rolled-up and raw sample once", query, total)
		}
	}
}

// openapi.yaml lists the metrics and ranges by hand; they must be package history's, so a
// client generated from the document asks only for what the endpoint serves.
func TestOpenAPIListsTheHistoryMetricsAndRanges(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	op := doc.Paths.Find("/observability/infrastructure/history").Get
	for param, want := range map[string][]string{"metric": history.MetricNames(), "range": history.Names(history.Ranges())} {
		p := op.Parameters.GetByInAndName("query", param)
		if p == nil {
			t.Fatalf("openapi.yaml: the history endpoint has no %s parameter", param)
		}
		var got []string
		for _, v := range p.Schema.Value.Enum {
			got = append(got, v.(string))
		}
		if param == "metric" {
			slices.Sort(got)
		}
		if !slices.Equal(got, want) {
			t.Errorf("openapi.yaml offers %s %v; the endpoint serves %v", param, got, want)
		}
	}
}
