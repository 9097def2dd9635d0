package handlers

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// gunzip decompresses an answer the client asked gzipped, failing when it is not gzip.
func gunzip(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if got := rec.Header().Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", got)
	}
	zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Pages and the fragments htmx polls go out gzipped to a browser that takes gzip, and plain
// to a client that does not; caches are told the answer depends on Accept-Encoding.
func TestPagesAndFragmentsAreGzipped(t *testing.T) {
	d := newDashboard(t, viewer, nil)
	for _, tt := range []struct {
		target string
		htmx   bool
		testid string
	}{
		{"/observability", false, `data-testid="health-score"`},
		{"/observability?tab=alerts", false, `data-testid="alerts-open"`},
		{"/observability/fragments/live", true, `data-testid="updated-at"`},
		{"/observability/fragments/charts?range=6h", true, `data-testid="chart-cpu"`},
	} {
		req := httptest.NewRequest(http.MethodGet, tt.target, nil)
		req.Header.Set("Accept-Encoding", "gzip, deflate, br")
		if tt.htmx {
			req.Header.Set("HX-Request", "true")
		}
		rec := httptest.NewRecorder()
		d.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s", tt.target, rec.Code, rec.Header().Get("Content-Type"))
		}
		if !strings.Contains(strings.Join(rec.Header().Values("Vary"), ", "), "Accept-Encoding") {
			t.Errorf("%s: Vary %q lacks Accept-Encoding", tt.target, rec.Header().Values("Vary"))
		}
		zipped := rec.Body.Len()
		page := gunzip(t, rec)
		if !strings.Contains(page, tt.testid) {
			t.Errorf("%s: the gunzipped answer lacks %s", tt.target, tt.testid)
		}
		if zipped*2 > len(page) {
			t.Errorf("%s: %d bytes gzipped from %d, want at most half", tt.target, zipped, len(page))
		}

		plain := d.do(http.MethodGet, tt.target, tt.htmx)
		if plain.Header().Get("Content-Encoding") != "" || !strings.Contains(plain.Body.String(), tt.testid) {
			t.Errorf("%s without Accept-Encoding: Content-Encoding %q", tt.target, plain.Header().Get("Content-Encoding"))
		}
	}
}

// An answer smaller than a TCP segment is sent as it is (gzip would cost more than it saves);
// gzip;q=0 is a refusal.
func TestSmallAnswersAndRefusalsAreNotGzipped(t *testing.T) {
	s := New(Deps{})
	e := echo.New()
	render := func(body, acceptEncoding string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Accept-Encoding", acceptEncoding)
		rec := httptest.NewRecorder()
		if err := s.render(e.NewContext(req, rec), http.StatusOK, templ.Raw(body)); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	if rec := render("<p>acknowledged</p>", "gzip"); rec.Header().Get("Content-Encoding") != "" || rec.Body.String() != "<p>acknowledged</p>" {
		t.Errorf("a tiny answer: Content-Encoding %q, body %q", rec.Header().Get("Content-Encoding"), rec.Body)
	}
	big := "<p>" + strings.Repeat("a row of the alerts table ", 100) + "</p>"
	if got := gunzip(t, render(big, "br;q=1.0, gzip;q=0.5")); got != big {
		t.Errorf("gzip;q=0.5: got %d bytes back, want the %d rendered", len(got), len(big))
	}
	for _, refusal := range []string{"gzip;q=0", "br, gzip; q=0.0", "identity", "*;q=0", ""} {
		if rec := render(big, refusal); rec.Header().Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want none", refusal, rec.Header().Get("Content-Encoding"))
		}
	}
	if rec := render(big, "*"); rec.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("Accept-Encoding *: Content-Encoding %q, want gzip", rec.Header().Get("Content-Encoding"))
	}
}
