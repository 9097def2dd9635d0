package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/history"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
)

// BenchmarkCharts reads the dashboard's charts over 30 days of 5-second samples (518,400 rows in
// system_metrics_history, two filesystems each) with the hourly rollups of those 30 days in place,
// as a server keeping the default retention has them (PRODUCT.md §12: a 24 h and a 30 d chart in
// at most 50 ms each).
//
//   - series-24h/*: one chart line through history.Reader, the code the chart fragment and the
//     history endpoint share; 24 h reads raw samples.
//   - series-30d/*: the same over 30 days, which reads the hourly rollups.
//   - page-1h: the first load, GET /observability, its charts full (an hour of samples).
//   - fragment-*: GET /observability/fragments/charts, all five charts (seven lines and two
//     disks), rendered: what a user waits for after choosing a range.
func BenchmarkCharts(b *testing.B) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)
	const days = 30
	from := now.Add(-days * 24 * time.Hour)

	col := collector.New(collector.Options{Version: "bench"})
	snap := col.Collect(ctx)
	snap.System.Filesystems = []sample.Filesystem{{Mountpoint: "/", UsedPercent: 55}, {Mountpoint: "/data", UsedPercent: 81}}
	pool := dbtest.Pool(b)
	s := New(Deps{
		Options: Options{CollectInterval: 5 * time.Second}, Pool: pool, Host: snap.Host,
		Thresholds: health.DefaultThresholds(), Now: func() time.Time { return now },
	})
	platform := col.Platform()
	observe(b, s, snap, &platform)
	s.authenticate = func(echo.Context) (*Principal, error) { return viewer, nil }
	e := echo.New()
	s.Routes(e)

	dbtest.SeedHistory(b, pool, snap.Host, from, days*24*time.Hour, 5*time.Second)
	// The query jobs.Aggregate runs for the hourly rollups (handlers may not import jobs).
	if _, err := queries.New(pool).AggregateSystemMetrics(ctx, queries.AggregateSystemMetricsParams{
		Period: "hourly", BucketSeconds: 3600, Now: now, FromTime: from, Until: now.Truncate(time.Hour),
	}); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		b.Fatal(err)
	}

	// The first load with a full hour in every chart: the page's size as sent and gzipped.
	b.Run("page-1h", func(b *testing.B) {
		var rec *httptest.ResponseRecorder
		for b.Loop() {
			rec = httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/observability", nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("page: %d %s", rec.Code, rec.Body)
			}
		}
		b.ReportMetric(float64(rec.Body.Len()), "bytes")
		b.ReportMetric(float64(gzipSize(rec)), "gzip-bytes")
	})
	for _, rng := range []string{"24h", "30d"} {
		for _, line := range []struct{ metric, subject string }{{"cpu_percent", ""}, {"disk_percent", "/data"}} {
			r, _ := history.LookupRange(rng)
			q := history.Query{Host: snap.Host, Metric: line.metric, Subject: line.subject, From: now.Add(-r.Span), To: now, Step: r.ChartStep}
			b.Run("series-"+rng+"/"+line.metric, func(b *testing.B) {
				var points int
				var source string
				for b.Loop() {
					series, err := s.history.Read(ctx, q)
					if err != nil {
						b.Fatal(err)
					}
					points, source = len(series.Points), series.Source
				}
				if points < 288 {
					b.Fatalf("%d points, want about 360 (288 over 24 h)", points)
				}
				if rng == "30d" && source != "hourly" && source != "hourly+raw" {
					b.Fatalf("30 d read %q, want the hourly rollups", source)
				}
				b.ReportMetric(float64(points), "points")
			})
		}
		b.Run("fragment-"+rng, func(b *testing.B) {
			var size int
			for b.Loop() {
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/observability/fragments/charts?range="+rng, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("chart fragment %s: %d %s", rng, rec.Code, rec.Body)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}
