package handlers

import (
	"compress/gzip"
	"io"
	"net/http/httptest"
	"testing"
)

// BenchmarkDashboardPage and BenchmarkLiveFragment measure the server time of the first load
// and of one poll (PRODUCT.md §12: at most 20 ms and 10 ms); they report the gzipped size too.
func BenchmarkDashboardPage(b *testing.B) { benchPage(b, "/observability", false) }

func BenchmarkLiveFragment(b *testing.B) { benchPage(b, "/observability/fragments/live", true) }

func benchPage(b *testing.B, target string, htmx bool) {
	d := newDashboard(b, viewer, nil)
	var size int
	for b.Loop() {
		rec := d.do("GET", target, htmx)
		if rec.Code != 200 {
			b.Fatalf("%s: %d", target, rec.Code)
		}
		size = rec.Body.Len()
	}
	rec := d.do("GET", target, htmx)
	b.ReportMetric(float64(size), "bytes")
	b.ReportMetric(float64(gzipSize(rec)), "gzip-bytes")
}

func gzipSize(rec *httptest.ResponseRecorder) int {
	w := &countWriter{}
	z := gzip.NewWriter(w)
	_, _ = io.Copy(z, rec.Body)
	_ = z.Close()
	return w.n
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
