package handlers

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/infradash/infradash/config"
)

// opsServer is an Echo with every route, for endpoints that need no database.
func opsServer(t *testing.T, cfg config.Config, log *bytes.Buffer) *echo.Echo {
	t.Helper()
	d := Deps{Options: optionsFrom(cfg), Host: "test-host", Version: "1.0.0-test"}
	if log != nil {
		d.Logger = slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e := echo.New()
	New(d).Routes(e)
	return e
}

func get(e *echo.Echo, path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func requestsCounted(t *testing.T, body string, route, status string) float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	var n float64
	for _, m := range fams["infradash_http_requests_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["route"] == route && labels["status"] == status {
			n += m.GetCounter().GetValue()
		}
	}
	return n
}

func TestMetricsCountRequestsByRoutePattern(t *testing.T) {
	e := opsServer(t, config.Config{}, nil)
	get(e, "/healthz")
	get(e, "/healthz")
	get(e, "/no/such/page/12345")

	rec := get(e, "/metrics")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if n := requestsCounted(t, rec.Body.String(), "/healthz", "200"); n != 2 {
		t.Errorf("healthz counted %v times, want 2", n)
	}
	if n := requestsCounted(t, rec.Body.String(), "unmatched", "404"); n != 1 {
		t.Errorf("unmatched 404 counted %v times, want 1", n)
	}
	if strings.Contains(rec.Body.String(), "12345") {
		t.Error("a raw URL became a label; routes must be patterns")
	}
}

func TestMetricsToken(t *testing.T) {
	e := opsServer(t, config.Config{MetricsToken: "a-long-metrics-token-0123"}, nil)
	for _, auth := range []string{"", "Bearer wrong", "a-long-metrics-token-0123", "Basic a-long-metrics-token-0123"} {
		rec := get(e, "/metrics", "Authorization", auth)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, rec.Code)
		}
		var env envelope
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error == nil || env.Error.Code != "unauthorized" {
			t.Errorf("401 must be the error envelope: %s", rec.Body)
		}
	}
	// The scheme is read as the API reads it: case-insensitively (RFC 9110).
	for _, auth := range []string{"Bearer a-long-metrics-token-0123", "bearer a-long-metrics-token-0123"} {
		if rec := get(e, "/metrics", "Authorization", auth); rec.Code != http.StatusOK {
			t.Errorf("right token as %q: status %d", auth, rec.Code)
		}
	}
}

func TestPanicBecomesClean500(t *testing.T) {
	var log bytes.Buffer
	e := opsServer(t, config.Config{}, &log)
	e.GET("/boom", func(echo.Context) error {
		var m map[string]int
		m["x"] = 1 // a real runtime panic
		return nil
	})
	rec := get(e, "/boom")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	var env envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Status != "error" || env.Error.Code != "internal" {
		t.Fatalf("body is not the error envelope: %s", rec.Body)
	}
	for _, leak := range []string{"goroutine", ".go:", "panic", "nil map"} {
		if strings.Contains(rec.Body.String(), leak) {
			t.Errorf("the client saw %q: %s", leak, rec.Body)
		}
	}
	if !strings.Contains(log.String(), "assignment to entry in nil map") || !strings.Contains(log.String(), `"status":500`) {
		t.Errorf("the panic and its 500 must be logged: %s", log.String())
	}
	// The server keeps serving.
	if rec := get(e, "/healthz"); rec.Code != http.StatusOK {
		t.Errorf("after a panic /healthz answers %d", rec.Code)
	}
}

func TestRequestIDAndAccessLog(t *testing.T) {
	var log bytes.Buffer
	e := opsServer(t, config.Config{}, &log)

	rec := get(e, "/static/nothing-here.css", "X-Request-ID", "proxy-abc.123")
	if got := rec.Header().Get("X-Request-ID"); got != "proxy-abc.123" {
		t.Errorf("a sane incoming ID must be kept, got %q", got)
	}
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(log.Bytes()), &line); err != nil {
		t.Fatalf("want exactly one JSON access line: %v\n%s", err, log.String())
	}
	for k, want := range map[string]any{"msg": "request", "method": "GET", "route": "/static/*", "path": "/static/nothing-here.css", "status": float64(404), "request_id": "proxy-abc.123", "level": "INFO"} {
		if line[k] != want {
			t.Errorf("access log %s = %v, want %v", k, line[k], want)
		}
	}
	if _, ok := line["duration_ms"]; !ok {
		t.Error("access log lacks duration_ms")
	}

	for _, bad := range []string{"", "has space", strings.Repeat("x", 65), "a\nb", "<script>"} {
		rec := get(e, "/healthz", "X-Request-ID", bad)
		got := rec.Header().Get("X-Request-ID")
		if got == bad || len(got) != 32 {
			t.Errorf("incoming ID %q must be replaced by a fresh one, got %q", bad, got)
		}
	}
	if a, b := get(e, "/healthz").Header().Get("X-Request-ID"), get(e, "/healthz").Header().Get("X-Request-ID"); a == b {
		t.Error("two requests got the same ID")
	}
	if !strings.Contains(log.String(), `"route":"/healthz","path":"/healthz","status":200`) || !strings.Contains(log.String(), `"level":"DEBUG","msg":"request","method":"GET","route":"/healthz"`) {
		t.Errorf("probes must be logged at debug level: %s", log.String())
	}
}

func TestAPIDocsPage(t *testing.T) {
	rec := get(opsServer(t, config.Config{Environment: config.Development}, nil), "/api/docs")
	if rec.Code != http.StatusOK {
		t.Fatalf("/api/docs in development: %d", rec.Code)
	}
	doc, err := goquery.NewDocumentFromReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Find("script:not([src])").Length() != 0 || doc.Find("[style]").Length() != 0 {
		t.Error("the docs page must have no inline script or style (CSP)")
	}
	doc.Find("script[src], link[href]").Each(func(_ int, s *goquery.Selection) {
		u := s.AttrOr("src", s.AttrOr("href", ""))
		if !strings.HasPrefix(u, "/static/") {
			t.Errorf("asset from outside the binary: %s", u)
		}
	})
	ops := map[string]*goquery.Selection{}
	doc.Find(`[data-testid="operation"]`).Each(func(_ int, s *goquery.Selection) {
		ops[s.Find(`[data-testid="method"]`).Text()+" "+s.Find(`[data-testid="path"]`).Text()] = s
	})
	login := ops["POST /api/v1/auth/login"]
	history := ops["GET /api/v1/observability/infrastructure/history"]
	if login == nil || history == nil {
		t.Fatalf("operations listed: %v", keys(ops))
	}
	if !strings.Contains(login.Find(`[data-testid="summary"]`).Text(), "Log in") {
		t.Errorf("login summary: %q", login.Find(`[data-testid="summary"]`).Text())
	}
	if got := history.Find(`[data-testid="parameters"] tbody tr`).First().Find("td").Map(func(_ int, s *goquery.Selection) string { return strings.TrimSpace(s.Text()) }); len(got) < 3 || got[0] != "metric" || got[1] != "query" || got[2] != "yes" {
		t.Errorf("history's first parameter row: %v", got)
	}
	if codes := history.Find(`[data-testid="responses"] code`).Map(func(_ int, s *goquery.Selection) string { return s.Text() }); strings.Join(codes, ",") != "200,400,401,404,503" {
		t.Errorf("history response codes: %v", codes)
	}

	prod := config.Config{Environment: config.Production}
	if rec := get(opsServer(t, prod, nil), "/api/docs"); rec.Code != http.StatusNotFound {
		t.Errorf("/api/docs in production: %d, want 404", rec.Code)
	}
}

func keys(m map[string]*goquery.Selection) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
