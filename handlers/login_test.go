package handlers

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
)

func TestLoginDelayGrowsThenCaps(t *testing.T) {
	want := map[int]time.Duration{0: 0, 1: 250 * time.Millisecond, 2: 500 * time.Millisecond, 3: time.Second,
		4: 2 * time.Second, 5: 4 * time.Second, 6: 4 * time.Second, 100: 4 * time.Second}
	for n, d := range want {
		if got := loginDelay(n); got != d {
			t.Errorf("loginDelay(%d) = %s, want %s", n, got, d)
		}
	}
}

// Guessing slows down before the account locks, and an unknown email slows down the same way,
// so the delay does not tell which emails have accounts.
func TestFailedLoginsSlowDown(t *testing.T) {
	a := newTestApp(t, nil)
	var waited []time.Duration
	a.srv.sleep = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
	u, _ := authtest.User(t, a.pool, auth.RoleViewer)
	for _, email := range []string{u.Email, "nobody@example.com"} {
		waited = nil
		for range 3 {
			rec := a.do(t, request{method: http.MethodPost, path: "/api/v1/auth/login",
				body:   jsonBody(map[string]string{"email": email, "password": "not the password"}),
				header: map[string]string{"Content-Type": "application/json"}})
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("%s: %d %s", email, rec.Code, rec.Body)
			}
		}
		if len(waited) != 3 || waited[2] < time.Second {
			t.Errorf("%s: waited %v, want the third failure to wait at least 1s", email, waited)
		}
	}
}

// People type passwords into the email field: an unknown email never reaches the log as typed.
func TestFailedLoginDoesNotLogAnUnknownEmail(t *testing.T) {
	a := newTestApp(t, nil)
	a.srv.sleep = func(context.Context, time.Duration) error { return nil }
	var buf bytes.Buffer
	a.srv.log = slog.New(slog.NewTextHandler(&buf, nil))
	u, _ := authtest.User(t, a.pool, auth.RoleViewer)
	for _, email := range []string{"Hunter2-Secret!", u.Email} {
		a.do(t, request{method: http.MethodPost, path: "/api/v1/auth/login",
			body:   jsonBody(map[string]string{"email": email, "password": "not the password"}),
			header: map[string]string{"Content-Type": "application/json"}})
	}
	log := buf.String()
	if strings.Contains(strings.ToLower(log), "hunter2") {
		t.Errorf("the log holds the typed email: %s", log)
	}
	if !strings.Contains(log, "email=unknown:") || !strings.Contains(log, u.Email) {
		t.Errorf("the log should name the known account and a hash of the unknown email: %s", log)
	}
}

// The hash standing for an unknown email is keyed with SECRET_KEY: without the key, guessing
// what was typed and hashing it does not find it in the log.
func TestUnknownEmailHashIsKeyed(t *testing.T) {
	f := &auth.LoginFailure{Reason: "unknown email"}
	a, b := emailForLog("one key of enough length for the test", f, "x@y"), emailForLog("another key of enough length", f, "x@y")
	if a == b || !strings.HasPrefix(a, "unknown:") {
		t.Errorf("the same email under two keys: %q, %q", a, b)
	}
	if got := emailForLog("k", &auth.LoginFailure{Reason: "wrong password"}, "Ops@Example.com"); got != "ops@example.com" {
		t.Errorf("a known account's email is logged as %q", got)
	}
}
