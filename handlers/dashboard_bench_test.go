package handlers

import (
	"compress/gzip"
	"io"
	"net/http/httptest"
	"testing"
)

// BenchmarkDashboardPage and BenchmarkLiveFragment measure the server time of the first load
// and of one poll (PRODUCT.md §12: at most 20 ms and 10 ms) as a browser asks for them, gzip
// accepted; they report the bytes sent and the HTML's own size.
func BenchmarkDashboardPage(b *testing.B) { benchPage(b, "/observability", false) }

func BenchmarkLiveFragment(b *testing.B) { benchPage(b, "/observability/fragments/live", true) }

func benchPage(b *testing.B, target string, htmx bool) {
	d := newDashboard(b, viewer, nil)
	get := func(acceptEncoding string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("Accept-Encoding", acceptEncoding)
		if htmx {
			req.Header.Set("HX-Request", "true")
		}
		rec := httptest.NewRecorder()
		d.e.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%s: %d", target, rec.Code)
		}
		return rec
	}
	var sent int
	for b.Loop() {
		sent = get("gzip, deflate, br").Body.Len()
	}
	b.ReportMetric(float64(sent), "bytes")
	b.ReportMetric(float64(get("identity").Body.Len()), "html-bytes")
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
