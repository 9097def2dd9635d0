package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/infradash/infradash/notify"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
)

// A database that cannot be reached is a 503 the client may retry, never a 500 or a stack trace.
func TestDatabaseDownAnswers503(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := New(Deps{Options: Options{SessionLifetime: 3600e9}, Pool: pool})
	e := echo.New()
	s.Routes(e)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/auth/me", nil)
	req.Header.Set("Authorization", "Bearer "+auth.TokenPrefix+"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code":"database_unavailable"`) {
		t.Fatalf("with the database down: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "127.0.0.1") {
		t.Fatalf("the answer leaks connection details: %s", rec.Body)
	}
}

// A person who follows a dead link sees a page, not JSON; scripts keep the JSON envelope.
func TestBrowserErrorsArePages(t *testing.T) {
	a := newTestApp(t, nil)
	rec := a.do(t, request{path: "/no-such-page", header: map[string]string{"Accept": "text/html,application/xhtml+xml"}})
	if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("browser 404: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if findTestID(t, rec.Body.String(), "error-page") == "" {
		t.Fatalf("no error page: %s", rec.Body)
	}
	rec = a.do(t, request{path: "/api/v1/no-such-thing", header: map[string]string{"Accept": "text/html"}})
	if rec.Code != http.StatusUnauthorized || decode(t, rec).Status != "error" {
		t.Fatalf("the API answers JSON whatever the Accept header: %d %s", rec.Code, rec.Body)
	}
}

// Polling all day must not write the session row: only logging in and out do.
func TestPollsDoNotWriteTheSession(t *testing.T) {
	d := newDashboard(t, nil, nil)
	d.srv.authenticate = d.srv.authenticateRequest
	pool := d.srv.pool
	_, cookie := authtest.Session(t, pool, d.e, auth.RoleViewer)
	version := func() string {
		var v string
		if err := pool.QueryRow(context.Background(), `SELECT string_agg(xmin::text || ':' || expiry::text, ',') FROM sessions`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	for range 3 {
		req := httptest.NewRequest(http.MethodGet, "/observability/fragments/live", nil)
		req.Header.Set("HX-Request", "true")
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		d.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("Set-Cookie") != "" {
			t.Fatalf("poll: %d, Set-Cookie %q", rec.Code, rec.Header().Get("Set-Cookie"))
		}
	}
	if after := version(); after != before {
		t.Fatalf("polling rewrote the session row: %s -> %s", before, after)
	}
}

// The Alerts tab's "send test alert" reaches the configured Slack webhook, for admins only.
func TestTestAlertFromAlertsTab(t *testing.T) {
	var got atomic.Int32
	var body atomic.Value
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body.Store(string(b))
		got.Add(1)
	}))
	t.Cleanup(slack.Close)

	admin := &Principal{}
	d := newDashboard(t, admin, nil)
	*admin = *createTestUser(t, d, "admin@example.com", RoleAdmin)
	d.srv.notifiers = notify.FromURLs(slack.URL, "", notify.Options{})

	doc, _ := d.doc("GET", "/observability?tab=alerts", false)
	mustFind(t, doc, "send-test-alert")
	doc, rec := d.doc("POST", "/observability/alerts/test", true)
	if rec.Code != http.StatusOK || testid(doc, "test-delivered").Length() != 1 {
		t.Fatalf("test alert: %d %s", rec.Code, rec.Body)
	}
	if got.Load() != 1 || !strings.Contains(body.Load().(string), "Test notification") {
		t.Fatalf("Slack stand-in got %d messages: %v", got.Load(), body.Load())
	}

	*admin = *createTestUser(t, d, "viewer@example.com", RoleViewer)
	doc, _ = d.doc("GET", "/observability?tab=alerts", false)
	if testid(doc, "send-test-alert").Length() != 0 {
		t.Error("a viewer sees the test alert button")
	}
	if rec := d.do("POST", "/observability/alerts/test", true); rec.Code != http.StatusForbidden || got.Load() != 1 {
		t.Errorf("a viewer's test alert: %d, %d messages sent", rec.Code, got.Load())
	}
}

// Uptime checkers probe with HEAD: it answers like GET, without a body.
func TestHeadAnswersLikeGet(t *testing.T) {
	a := newTestApp(t, nil)
	srv := httptest.NewServer(HeadAsGet(a.e))
	t.Cleanup(srv.Close)
	resp, err := http.Head(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("HEAD /healthz: %d with %d body bytes", resp.StatusCode, len(body))
	}
	resp, err = http.Post(srv.URL+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /healthz: %d, want 405", resp.StatusCode)
	}
}
