package handlers

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

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
