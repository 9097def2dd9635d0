package handlers

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
)

// The fuzz targets of the HTTP surface send what a fuzzer makes of a request to the real router
// on a real database, and hold every answer to one property: bad input is never a 5xx, never a
// panic (recoverPanics would make it a 500), never an ERROR line in the log, and an error answer
// names what is wrong. Their seeds (testdata/fuzz/Fuzz*) run in every go test; `make fuzz` runs
// each for FUZZTIME.

// fuzzApp is one router and database for all the inputs of a fuzz target, with an admin's
// bearer token and session cookie, an enrolled agent host and the log kept.
type fuzzApp struct {
	a      *testApp
	log    *syncBuffer
	bearer string
	cookie *http.Cookie
	agent  string // web-1's agent token
}

func newFuzzApp(f *testing.F) *fuzzApp {
	f.Helper()
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		f.Fatal(err)
	}
	// A sample of this machine as the hub's own latest, and two hours of its history, so that the
	// live endpoints answer and history reads real rows.
	col := collector.New(collector.Options{Version: "fuzz"})
	snap, platform := col.Collect(context.Background()), col.Platform()
	pool := dbtest.Pool(f)
	dbtest.SeedHistory(f, pool, snap.Host, time.Now().Add(-2*time.Hour), 2*time.Hour, time.Minute)
	srv := New(Deps{Options: optionsFrom(cfg), Pool: pool, Host: snap.Host, Version: "fuzz", Thresholds: health.DefaultThresholds()})
	observe(f, srv, snap, &platform)
	srv.sleep = func(context.Context, time.Duration) error { return nil }
	e := echo.New()
	srv.Routes(e)
	a := &testApp{e: e, pool: pool, srv: srv}
	log := &syncBuffer{}
	a.srv.log = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// A fuzzer logs in thousands of times a minute from one address; past the per-address limit
	// every answer would be the same 429 and the decoding behind it never reached.
	a.srv.loginLimiter = newRateLimiter(1<<30, time.Minute, time.Now)
	_, token, err := fleet.NewRegistry(a.pool, nil).Add(context.Background(), "web-1", nil)
	if err != nil {
		f.Fatal(err)
	}
	_, cookie := authtest.Session(f, a.pool, a.e, auth.RoleAdmin)
	return &fuzzApp{a: a, log: log, bearer: authtest.Token(f, a.pool, auth.RoleAdmin), cookie: cookie, agent: token}
}

// serve sends one request and checks the property every answer must hold.
func (fa *fuzzApp) serve(t *testing.T, req *http.Request) (*httptest.ResponseRecorder, answer) {
	t.Helper()
	before := len(fa.log.String())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := httptest.NewRecorder()
	fa.a.e.ServeHTTP(rec, req)
	what := req.Method + " " + req.URL.String()
	if rec.Code >= 500 {
		t.Fatalf("%s: %d %.500s", what, rec.Code, rec.Body.String())
	}
	if logged := fa.log.String()[before:]; strings.Contains(logged, "level=ERROR") {
		t.Fatalf("%s: bad input was logged as an error:\n%s", what, logged)
	}
	var ans answer
	if strings.HasPrefix(rec.Header().Get(echo.HeaderContentType), echo.MIMEApplicationJSON) {
		_ = json.Unmarshal(rec.Body.Bytes(), &ans)
	}
	if rec.Code >= 400 && strings.HasPrefix(rec.Header().Get(echo.HeaderContentType), echo.MIMEApplicationJSON) {
		if ans.Status != "error" || ans.Error.Code == "" || ans.Error.Message == "" {
			t.Fatalf("%s: %d without an error that names what is wrong: %.500s", what, rec.Code, rec.Body.String())
		}
	}
	return rec, ans
}

// FuzzIngest posts an agent's batch to POST /api/v1/ingest with web-1's token: plain JSON (how
// 0), gzipped (how 1) or raw bytes claimed to be gzip (how 2), stored or as a dry run. A batch is
// answered 200 with every sample accounted for (accepted, duplicate or rejected with its field),
// or 400 or 413 naming what is wrong; the hub keeps nothing it cannot show.
func FuzzIngest(f *testing.F) {
	fa := newFuzzApp(f)
	f.Fuzz(func(t *testing.T, body []byte, how uint8, dryRun bool) {
		req := httptest.NewRequest(http.MethodPost, PathIngest, strings.NewReader(string(fuzzWireBody(body, how))))
		if dryRun {
			req.URL.RawQuery = "dry_run=true"
		}
		req.Header.Set("Authorization", "Bearer "+fa.agent)
		req.Header.Set("Content-Type", "application/json")
		if how%3 != 0 {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec, ans := fa.serve(t, req)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			return
		default:
			t.Fatalf("ingest: %d %.500s, want 200, 400 or 413", rec.Code, rec.Body.String())
		}
		var got ingestAnswer
		if err := json.Unmarshal(ans.Data, &got); err != nil {
			t.Fatalf("ingest: 200 without its answer: %v: %s", err, rec.Body.String())
		}
		if got.Host != "web-1" {
			t.Fatalf("ingest stored as %q, want the token's host web-1", got.Host)
		}
		if dryRun {
			return
		}
		var b struct{ Samples []json.RawMessage }
		_ = json.Unmarshal(fuzzDecoded(body, how), &b)
		if n := got.Accepted + got.Duplicates + len(got.Rejected); n != len(b.Samples) {
			t.Fatalf("ingest of %d samples answered %d accepted, %d duplicates, %d rejected", len(b.Samples), got.Accepted, got.Duplicates, len(got.Rejected))
		}
		for _, r := range got.Rejected {
			if !strings.HasPrefix(r.Field, "samples[") || r.Error == "" {
				t.Fatalf("a rejected sample without its field or reason: %+v", r)
			}
		}
	})
}

// fuzzWireBody is body as a client sends it with how: plain, gzipped, or raw under a gzip header.
func fuzzWireBody(body []byte, how uint8) []byte {
	if how%3 == 1 {
		return gz(body)
	}
	return body
}

// fuzzDecoded is the JSON the hub read from fuzzWireBody(body, how), when it read any.
func fuzzDecoded(body []byte, how uint8) []byte {
	if how%3 == 2 {
		return nil
	}
	return body
}

// fuzzRoute picks the route named path (seeds name them, so they stay put when routes are
// added), or one of them by a hash of path.
func fuzzRoute(routes []*echo.Route, path string) *echo.Route {
	for _, r := range routes {
		if r.Path == path {
			return r
		}
	}
	h := fnv.New32a()
	h.Write([]byte(path))
	return routes[int(h.Sum32()%uint32(len(routes)))]
}

// fuzzTarget fills a route's path parameters (:name, :id, *) with value, escaped.
func fuzzTarget(path, value string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || p == "*" {
			parts[i] = escapePathSegment(value)
		}
	}
	return strings.Join(parts, "/")
}

func escapePathSegment(v string) string {
	if v == "" {
		return "x"
	}
	return url.PathEscape(v)
}

// FuzzAPIQuery sends GET requests with any query string and path parameter to every GET route
// of the JSON API (history, alerts, hosts, and any added later), as an admin. A 400 names the
// parameter it refuses; nothing is a 5xx.
func FuzzAPIQuery(f *testing.F) {
	fa := newFuzzApp(f)
	var routes []*echo.Route
	for _, r := range fa.a.e.Routes() {
		if r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/api/v1/") && !strings.HasSuffix(r.Path, "/*") {
			routes = append(routes, r)
		}
	}
	slices.SortFunc(routes, func(a, b *echo.Route) int { return strings.Compare(a.Path, b.Path) })
	f.Fuzz(func(t *testing.T, path, query, param string) {
		r := fuzzRoute(routes, path)
		req := httptest.NewRequest(http.MethodGet, fuzzTarget(r.Path, param), nil)
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+fa.bearer)
		rec, ans := fa.serve(t, req)
		if rec.Code == http.StatusBadRequest && ans.Error.Code == "invalid_parameter" {
			name, _, _ := strings.Cut(ans.Error.Message, ": ")
			if name == "" || !strings.Contains(ans.Error.Message, ": ") {
				t.Fatalf("GET %s?%s: 400 %q does not name the parameter", r.Path, query, ans.Error.Message)
			}
		}
	})
}

// FuzzLogin posts any body to the two logins: the API's JSON (form false) and the page's form
// (form true). Whatever it holds, the answer is a failed login (401), a 400 naming the field or
// the JSON's fault, or a redirect for a form without credentials; never a 5xx, and never a login.
func FuzzLogin(f *testing.F) {
	fa := newFuzzApp(f)
	f.Fuzz(func(t *testing.T, body []byte, form bool) {
		path, contentType := "/api/v1/auth/login", echo.MIMEApplicationJSON
		if form {
			path, contentType = "/login", echo.MIMEApplicationForm
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", contentType)
		rec, _ := fa.serve(t, req)
		switch rec.Code {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("POST %s with %q: %d %.300s; a login with made-up credentials must fail", path, body, rec.Code, rec.Body.String())
		}
	})
}

// fuzzBodyRoutes are the routes FuzzRequestBody posts to: every POST, PUT, PATCH and DELETE but
// the logins (FuzzLogin), ingest (FuzzIngest) and the logouts, which end the fuzzer's own session.
func fuzzBodyRoutes(e *echo.Echo) []*echo.Route {
	skip := map[string]bool{"/login": true, "/api/v1/auth/login": true, PathIngest: true, "/logout": true, "/api/v1/auth/logout": true}
	var out []*echo.Route
	for _, r := range e.Routes() {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			if !skip[r.Path] && !strings.HasSuffix(r.Path, "/*") {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b *echo.Route) int { return strings.Compare(a.Method+a.Path, b.Method+b.Path) })
	return out
}

// FuzzRequestBody sends any body to every route that changes something, as an admin: the API's
// routes (hosts: names and labels; alerts) as JSON with a bearer token, the pages' forms (the
// Alerts tab, and the settings pages under /settings as they are added) as a form with a session
// cookie. Nothing is a 5xx or an ERROR log line; an API error names what is wrong.
func FuzzRequestBody(f *testing.F) {
	fa := newFuzzApp(f)
	routes := fuzzBodyRoutes(fa.a.e)
	f.Fuzz(func(t *testing.T, path string, body []byte, param string) {
		r := fuzzRoute(routes, path)
		req := httptest.NewRequest(r.Method, fuzzTarget(r.Path, param), strings.NewReader(string(body)))
		if strings.HasPrefix(r.Path, "/api/") {
			req.Header.Set("Content-Type", echo.MIMEApplicationJSON)
			req.Header.Set("Authorization", "Bearer "+fa.bearer)
		} else {
			req.Header.Set("Content-Type", echo.MIMEApplicationForm)
			req.AddCookie(fa.cookie)
		}
		rec, _ := fa.serve(t, req)
		_, _ = io.Copy(io.Discard, rec.Result().Body)
	})
}
