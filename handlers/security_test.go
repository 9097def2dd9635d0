package handlers

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
)

// syncBuffer is a log sink that handlers may write to from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveHTTP serves the app on a real listener on 127.0.0.1 and logs into the returned buffer.
func (a *testApp) serveHTTP(t *testing.T) (*httptest.Server, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	a.srv.log = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := httptest.NewServer(a.e)
	t.Cleanup(ts.Close)
	return ts, log
}

// X-Forwarded-For is believed only from TRUSTED_PROXIES: from anyone else, inventing addresses
// does not reset the per-address login limit, and the log names the real peer.
func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		limited bool
	}{
		{"untrusted peer", nil, true},
		{"peer in a trusted range that is not this one", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8"}, true},
		{"trusted proxy", map[string]string{"TRUSTED_PROXIES": "127.0.0.1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp(t, tc.env)
			u, _ := authtest.User(t, a.pool, auth.RoleViewer)
			ts, log := a.serveHTTP(t)
			limited := 0
			for i := range 14 {
				req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/auth/login",
					strings.NewReader(fmt.Sprintf(`{"email":%q,"password":"not the password"}`, u.Email)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1))
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_ = res.Body.Close()
				switch res.StatusCode {
				case http.StatusTooManyRequests:
					limited++
				case http.StatusUnauthorized:
				default:
					t.Fatalf("login %d: %d", i+1, res.StatusCode)
				}
			}
			if tc.limited && limited != 14-loginAttemptsPerMinute {
				t.Errorf("14 logins from one peer with invented X-Forwarded-For: %d refused with 429, want %d", limited, 14-loginAttemptsPerMinute)
			}
			if !tc.limited && limited != 0 {
				t.Errorf("14 logins of 14 clients through a trusted proxy: %d refused with 429, want none", limited)
			}
			forged := strings.Contains(log.String(), "ip=203.0.113.")
			if forged == tc.limited {
				t.Errorf("log names the forwarded addresses: %t, want %t:\n%s", forged, !tc.limited, log)
			}
		})
	}
}

func loginOverHTTP(t *testing.T, ts *httptest.Server, email, password, from string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/auth/login",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)))
	req.Header.Set("Content-Type", "application/json")
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res
}

// An attacker who locks the admin's account from one address does not lock the admin out at
// another.
func TestLockOutDoesNotLockTheOwnerOutElsewhere(t *testing.T) {
	a := newTestApp(t, map[string]string{"TRUSTED_PROXIES": "127.0.0.1"})
	u, password := authtest.User(t, a.pool, auth.RoleAdmin)
	ts, _ := a.serveHTTP(t)
	const attacker, owner = "198.51.100.9", "192.0.2.7"
	for i := range 8 {
		if res := loginOverHTTP(t, ts, u.Email, fmt.Sprintf("guess %d", i), attacker); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, res.StatusCode)
		}
	}
	if res := loginOverHTTP(t, ts, u.Email, password, attacker); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the right password from the attacker's address: %d, want 401 (locked there)", res.StatusCode)
	}
	if res := loginOverHTTP(t, ts, u.Email, password, owner); res.StatusCode != http.StatusOK {
		t.Errorf("the admin from another address after the attacker's lock: %d, want 200", res.StatusCode)
	}
}

// Past the logins the server checks at once, a login is answered at once with a 503 to retry,
// on the API and on the form, and it does not count as a failure.
func TestLoginsPastTheBoundAreAnsweredAtOnce(t *testing.T) {
	a := newTestApp(t, nil)
	u, password := authtest.User(t, a.pool, auth.RoleViewer)
	if cap(a.srv.loginSlots) < 1 || cap(a.srv.loginSlots) > 64 {
		t.Fatalf("%d logins at once", cap(a.srv.loginSlots))
	}
	for range cap(a.srv.loginSlots) {
		a.srv.loginSlots <- struct{}{} // logins under way
	}
	rec := a.apiLogin(t, u.Email, password)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || decode(t, rec).Error.Code != "login_busy" {
		t.Fatalf("API login while the bound is reached: %d Retry-After %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	rec = a.do(t, postForm("/login", map[string][]string{"email": {u.Email}, "password": {password}}, nil, nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" ||
		!strings.Contains(findTestID(t, rec.Body.String(), "login-error"), "try again in a second") {
		t.Fatalf("login form while the bound is reached: %d %s", rec.Code, rec.Body)
	}
	for range cap(a.srv.loginSlots) {
		<-a.srv.loginSlots
	}
	if rec := a.apiLogin(t, u.Email, password); rec.Code != http.StatusOK {
		t.Fatalf("login once the others are done: %d %s", rec.Code, rec.Body)
	}
}

// A locked or disabled account slows down exactly like an unknown email, so the time an answer
// takes does not tell them apart.
func TestLockedAndDisabledAccountsSlowDownLikeAnUnknownEmail(t *testing.T) {
	a := newTestApp(t, nil)
	a.srv.loginLimiter = newRateLimiter(1000, time.Minute, time.Now)
	var waited []time.Duration
	a.srv.sleep = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	locked, _ := authtest.User(t, a.pool, auth.RoleViewer)
	disabled, _ := authtest.User(t, a.pool, auth.RoleViewer)
	if _, err := auth.NewStore(a.pool, auth.Options{}).DisableUser(context.Background(), disabled.Email); err != nil {
		t.Fatal(err)
	}
	delays := func(email string) []time.Duration {
		waited = nil
		for range 9 {
			if rec := a.apiLogin(t, email, "not the password"); rec.Code != http.StatusUnauthorized {
				t.Fatalf("%s: %d %s", email, rec.Code, rec.Body)
			}
		}
		return waited
	}
	unknown := delays("nobody@example.com")
	if unknown[8] != 4*time.Second {
		t.Fatalf("unknown email waited %v", unknown)
	}
	// The account locks at the fifth failure; the four after it fail as locked.
	for email, what := range map[string]string{locked.Email: "locked account", disabled.Email: "disabled account"} {
		if got := delays(email); fmt.Sprint(got) != fmt.Sprint(unknown) {
			t.Errorf("%s waited %v, an unknown email %v", what, got, unknown)
		}
	}
}
