package handlers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
)

// A wrong method on an API path answers 405 naming the methods that work, in the JSON envelope,
// before any login; a path that does not exist stays a 401 without credentials.
func TestWrongMethodsInTheAPIAnswer405WithAllow(t *testing.T) {
	a := newTestApp(t, nil)
	for _, tt := range []struct{ method, path, allow string }{
		{http.MethodDelete, "/api/v1/auth/me", "GET, HEAD, OPTIONS"},
		{http.MethodGet, "/api/v1/auth/login", "POST, OPTIONS"},
		{http.MethodPut, "/api/v1/observability/infrastructure/alerts/7/acknowledge", "POST, OPTIONS"},
		{http.MethodPost, "/api/v1/observability/infrastructure/report", "GET, HEAD, OPTIONS"},
		{http.MethodPatch, "/api/v1/openapi.json", "GET, HEAD, OPTIONS"},
	} {
		rec := a.do(t, request{method: tt.method, path: tt.path})
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", tt.method, tt.path, rec.Code, rec.Header().Get("Allow"), tt.allow)
			continue
		}
		if got := decode(t, rec); got.Status != "error" || got.Error.Code != "method_not_allowed" || !strings.Contains(got.Error.Message, tt.allow) {
			t.Errorf("%s %s: envelope %+v", tt.method, tt.path, got)
		}
	}
	if rec := a.do(t, request{method: http.MethodDelete, path: "/api/v1/no-such-thing"}); rec.Code != http.StatusUnauthorized {
		t.Errorf("DELETE on an unknown API path without credentials: %d, want 401", rec.Code)
	}
	bearer := a.do(t, request{method: http.MethodGet, path: "/api/v1/no-such-thing", bearer: authtest.Token(t, a.pool, auth.RoleViewer)})
	if bearer.Code != http.StatusNotFound || decode(t, bearer).Error.Code != "not_found" {
		t.Errorf("unknown API path with credentials: %d %s, want 404", bearer.Code, bearer.Body)
	}
}

// OPTIONS (a client's question, a CORS preflight's first step) answers 204 with Allow, on the
// API and on the login page, without credentials.
func TestOptionsAnswers204WithAllow(t *testing.T) {
	a := newTestApp(t, nil)
	for path, allow := range map[string]string{
		"/api/v1/auth/login": "POST, OPTIONS",
		"/api/v1/auth/me":    "GET, HEAD, OPTIONS",
		"/login":             "OPTIONS, GET, POST",
	} {
		rec := a.do(t, request{method: http.MethodOptions, path: path})
		if rec.Code != http.StatusNoContent || rec.Header().Get("Allow") != allow {
			t.Errorf("OPTIONS %s: %d Allow %q, want 204 Allow %q", path, rec.Code, rec.Header().Get("Allow"), allow)
		}
	}
}

// A preflight from an origin CORS_ORIGINS names gets the CORS headers with the path's methods;
// another origin gets none.
func TestCORSPreflightOnTheLogin(t *testing.T) {
	a := newTestApp(t, map[string]string{"CORS_ORIGINS": "https://app.example"})
	preflight := func(origin string) http.Header {
		rec := a.do(t, request{method: http.MethodOptions, path: "/api/v1/auth/login", header: map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}})
		if rec.Code != http.StatusNoContent {
			t.Fatalf("preflight from %s: %d %s, want 204", origin, rec.Code, rec.Body)
		}
		return rec.Header()
	}
	h := preflight("https://app.example")
	if h.Get("Access-Control-Allow-Origin") != "https://app.example" || h.Get("Access-Control-Allow-Methods") != "POST, OPTIONS" ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") || h.Get("Allow") != "POST, OPTIONS" {
		t.Errorf("preflight from a configured origin: %v", h)
	}
	if h := preflight("https://other.example"); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin got CORS headers: %v", h)
	}
}
