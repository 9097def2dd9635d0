package handlers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
	"github.com/infradash/infradash/dbtest"
)

// switchablePool is a pool on a fresh database whose connections can be made to fail as if
// PostgreSQL had stopped: down() refuses every new connection and drops the open ones.
func switchablePool(t *testing.T) (*pgxpool.Pool, func()) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	var stopped atomic.Bool
	var d net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if stopped.Load() {
			return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
		}
		return d.DialContext(ctx, network, addr)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, func() { stopped.Store(true); pool.Reset() }
}

// While PostgreSQL is down, a logged-in browser keeps polling and a script keeps reading the
// live API: both answer from memory (PRODUCT.md §3). A credential never seen before still gets
// the 503 it always did.
func TestLiveAnswersWhileTheDatabaseIsDown(t *testing.T) {
	pool, stopDatabase := switchablePool(t)
	d := newDashboard(t, nil, nil)
	srv := New(Deps{Options: d.srv.cfg, Pool: pool, Host: d.snap.Host, Fleet: d.srv.fleet, Thresholds: d.srv.thresholds})
	a := &testApp{e: echo.New(), pool: pool, srv: srv}
	srv.Routes(a.e)
	_, cookie := authtest.Session(t, pool, a.e, auth.RoleViewer)
	token := authtest.Token(t, pool, auth.RoleViewer)
	unseen := authtest.Token(t, pool, auth.RoleViewer)

	poll := func() *httptest.ResponseRecorder {
		return a.do(t, request{path: "/observability/fragments/live", cookie: cookie, header: map[string]string{"HX-Request": "true"}})
	}
	health := func(bearer string) *httptest.ResponseRecorder {
		return a.do(t, request{path: "/api/v1/observability/infrastructure/health", bearer: bearer})
	}
	if rec := poll(); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `data-testid="alerts-unavailable"`) {
		t.Fatalf("poll with the database up: %d %s", rec.Code, rec.Body)
	}
	if rec := health(token); rec.Code != http.StatusOK {
		t.Fatalf("health with the database up: %d %s", rec.Code, rec.Body)
	}

	stopDatabase()
	rec := poll()
	if rec.Code != http.StatusOK {
		t.Fatalf("poll with the database down: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `data-testid="alerts-unavailable"`) || !strings.Contains(rec.Body.String(), `data-testid="card-cpu"`) {
		t.Errorf("the poll should show the live numbers and say the alerts are unavailable: %s", rec.Body)
	}
	if rec := health(token); rec.Code != http.StatusOK {
		t.Errorf("health with a used token and the database down: %d %s", rec.Code, rec.Body)
	}
	// The whole page too: live numbers, and a note where the history charts would be.
	page := a.do(t, request{path: "/observability", cookie: cookie})
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `data-testid="charts-unavailable"`) || !strings.Contains(page.Body.String(), `data-testid="card-cpu"`) {
		t.Errorf("the dashboard page with the database down: %d %s", page.Code, page.Body)
	}
	if rec := health(unseen); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("health with a token never checked and the database down: %d %s, want 503", rec.Code, rec.Body)
	}
}

// Logging out through this process ends the session at once, cache or not.
func TestLogoutEvictsTheCachedSession(t *testing.T) {
	a := newTestApp(t, nil)
	_, cookie := authtest.Session(t, a.pool, a.e, auth.RoleViewer)
	token := authtest.Token(t, a.pool, auth.RoleViewer)
	if rec := a.do(t, request{path: "/api/v1/auth/me", cookie: cookie}); rec.Code != http.StatusOK {
		t.Fatalf("me: %d", rec.Code)
	}
	if rec := a.do(t, request{path: "/api/v1/auth/me", bearer: token}); rec.Code != http.StatusOK {
		t.Fatalf("me: %d", rec.Code)
	}
	a.do(t, request{method: http.MethodPost, path: "/logout", cookie: cookie, header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	a.do(t, request{method: http.MethodPost, path: "/api/v1/auth/logout", bearer: token})
	if rec := a.do(t, request{path: "/api/v1/auth/me", cookie: cookie}); rec.Code != http.StatusUnauthorized {
		t.Errorf("session after logout: %d, want 401", rec.Code)
	}
	if rec := a.do(t, request{path: "/api/v1/auth/me", bearer: token}); rec.Code != http.StatusUnauthorized {
		t.Errorf("token after logout: %d, want 401", rec.Code)
	}
}

// A password changed by another process (the `user passwd` command, another replica) ends the
// browser's session here at once: every request is checked in the database.
func TestPasswordChangeEndsSessions(t *testing.T) {
	now := time.Now()
	a := newTestApp(t, nil)
	a.srv.now = func() time.Time { return now }
	a.srv.authCache = newAuthCache(a.srv.now)
	u, cookie := authtest.Session(t, a.pool, a.e, auth.RoleViewer)
	if rec := a.do(t, request{path: "/api/v1/auth/me", cookie: cookie}); rec.Code != http.StatusOK {
		t.Fatalf("me: %d", rec.Code)
	}
	now = now.Add(time.Second)
	if _, err := auth.NewStore(a.pool, auth.Options{Now: func() time.Time { return now }}).SetPassword(context.Background(), u.Email, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if rec := a.do(t, request{path: "/api/v1/auth/me", cookie: cookie}); rec.Code != http.StatusUnauthorized {
		t.Errorf("session after the password changed: %d, want 401", rec.Code)
	}
	if rec := a.do(t, request{path: "/observability", cookie: cookie}); rec.Code != http.StatusSeeOther {
		t.Errorf("page after the password changed: %d, want a redirect to /login", rec.Code)
	}
}

// clock is a settable time that handlers may read from several goroutines.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// PostgreSQL really stops, for an hour: a session and a token that were valid keep working for
// live data until it is back; history and new logins answer 503;
// what changed meanwhile (a revoked token, a new password) applies as soon as it is back.
func TestLiveAnswersThroughAnOutageLongerThanTheCache(t *testing.T) {
	pg := dbtest.PrivateServer(t)
	pool, err := pgxpool.New(context.Background(), pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	d := newDashboard(t, nil, nil)
	c := &clock{t: time.Now()}
	srv := New(Deps{Options: d.srv.cfg, Pool: pool, Host: d.snap.Host, Fleet: d.srv.fleet, Thresholds: d.srv.thresholds, Now: c.now})
	srv.sleep = func(context.Context, time.Duration) error { return nil }
	e := echo.New()
	srv.Routes(e)
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)

	u, cookie := authtest.Session(t, pool, e, auth.RoleViewer)
	token := authtest.Token(t, pool, auth.RoleViewer)
	get := func(path string, h map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return res.StatusCode
	}
	browser := map[string]string{"Cookie": cookie.Name + "=" + cookie.Value, "HX-Request": "true"}
	script := map[string]string{"Authorization": "Bearer " + token}
	const poll, health, history = "/observability/fragments/live", "/api/v1/observability/infrastructure/health",
		"/api/v1/observability/infrastructure/history?metric=cpu_percent"
	if got := []int{get(poll, browser), get(health, script), get(history, script)}; fmt.Sprint(got) != "[200 200 200]" {
		t.Fatalf("with the database up: poll, health, history answered %v", got)
	}

	pg.Stop()
	for _, after := range []time.Duration{0, time.Minute, time.Hour} {
		c.advance(after)
		if code := get(poll, browser); code != http.StatusOK {
			t.Errorf("dashboard poll %s into the outage: %d, want 200", after, code)
		}
		if code := get("/observability", map[string]string{"Cookie": browser["Cookie"]}); code != http.StatusOK {
			t.Errorf("dashboard page %s into the outage: %d, want 200", after, code)
		}
		if code := get(health, script); code != http.StatusOK {
			t.Errorf("live API %s into the outage: %d, want 200", after, code)
		}
		if code := get(history, script); code != http.StatusServiceUnavailable {
			t.Errorf("history %s into the outage: %d, want 503", after, code)
		}
	}
	login := httptestLogin(t, ts, u.Email)
	if login != http.StatusServiceUnavailable {
		t.Errorf("a new login during the outage: %d, want 503", login)
	}

	pg.Start()
	// Changed as soon as the database is back, by another process (the user and token commands).
	store := auth.NewStore(pool, auth.Options{Now: c.now})
	ctx := context.Background()
	_, tok, err := store.TokenOwner(ctx, token)
	if err != nil {
		t.Fatalf("the token after the restart: %v", err)
	}
	if _, err := store.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Second)
	if _, err := store.SetPassword(ctx, u.Email, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if code := get(health, script); code != http.StatusUnauthorized {
		t.Errorf("the token revoked once the database was back: %d, want 401", code)
	}
	if code := get(poll, browser); code != http.StatusUnauthorized {
		t.Errorf("the session of a changed password once the database was back: %d, want 401", code)
	}
}

func httptestLogin(t *testing.T, ts *httptest.Server, email string) int {
	t.Helper()
	res, err := http.Post(ts.URL+"/api/v1/auth/login", "application/json",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":"any password at all"}`, email)))
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// Two replicas on one database: what one ends (a token revoked, an account disabled, a new role, a
// logout) the other refuses on the next request, though it had just confirmed the credential.
func TestChangesTakeEffectOnEveryReplicaAtOnce(t *testing.T) {
	a := newTestApp(t, nil)
	b := &testApp{e: echo.New(), pool: a.pool, srv: New(Deps{Options: a.srv.cfg, Pool: a.pool, Host: "test-host"})}
	b.srv.Routes(b.e)
	admin := authtest.Token(t, a.pool, auth.RoleAdmin)
	me := func(app *testApp, r request) int {
		t.Helper()
		r.path = "/api/v1/auth/me"
		return app.do(t, r).Code
	}
	patch := func(path, body string) {
		t.Helper()
		rec := a.do(t, request{method: http.MethodPatch, path: path, bearer: admin, header: map[string]string{"Content-Type": "application/json"},
			body: strings.NewReader(body)})
		if rec.Code != http.StatusOK {
			t.Fatalf("PATCH %s %s on replica A: %d %s", path, body, rec.Code, rec.Body)
		}
	}

	// A token revoked on A.
	u, _ := authtest.User(t, a.pool, auth.RoleAdmin)
	token, tok, err := a.srv.users.CreateToken(context.Background(), u.ID, "script", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if code := me(b, request{bearer: token}); code != http.StatusOK {
		t.Fatalf("the token on replica B: %d", code)
	}
	if rec := a.do(t, request{method: http.MethodDelete, path: fmt.Sprintf("/api/v1/tokens/%d", tok.ID), bearer: admin}); rec.Code != http.StatusOK {
		t.Fatalf("revoke on replica A: %d %s", rec.Code, rec.Body)
	}
	if code := me(b, request{bearer: token}); code != http.StatusUnauthorized {
		t.Errorf("the token revoked on A, on replica B: %d, want 401", code)
	}

	// A role changed and an account disabled on A: B's session follows.
	v, cookie := authtest.Session(t, a.pool, b.e, auth.RoleAdmin)
	if code := b.do(t, request{path: "/settings/users", cookie: cookie, header: map[string]string{"Accept": "text/html"}}).Code; code != http.StatusOK {
		t.Fatalf("the admin's session on replica B: %d", code)
	}
	patch(fmt.Sprintf("/api/v1/users/%d", v.ID), `{"role": "viewer"}`)
	if code := b.do(t, request{path: "/settings/users", cookie: cookie, header: map[string]string{"Accept": "text/html"}}).Code; code != http.StatusForbidden {
		t.Errorf("demoted on A, the settings on replica B: %d, want 403", code)
	}
	patch(fmt.Sprintf("/api/v1/users/%d", v.ID), `{"disabled": true}`)
	if code := me(b, request{cookie: cookie}); code != http.StatusUnauthorized {
		t.Errorf("disabled on A, the session on replica B: %d, want 401", code)
	}

	// A logout on A ends the session on B.
	_, cookie = authtest.Session(t, a.pool, a.e, auth.RoleViewer)
	if code := me(b, request{cookie: cookie}); code != http.StatusOK {
		t.Fatalf("the session on replica B: %d", code)
	}
	a.do(t, request{method: http.MethodPost, path: "/logout", cookie: cookie, header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	if code := me(b, request{cookie: cookie}); code != http.StatusUnauthorized {
		t.Errorf("logged out on A, the session on replica B: %d, want 401", code)
	}
}
