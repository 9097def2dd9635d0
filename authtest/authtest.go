// Package authtest logs tests in: it creates users and hands out a bearer token or a browser
// session cookie for them, through the same code paths as real logins.
package authtest

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/auth"
)

// User creates an account with the given role and a random password, and returns both.
func User(tb testing.TB, db auth.DB, role string) (auth.User, string) {
	tb.Helper()
	password := rand.Text()
	email := strings.ToLower(rand.Text()[:10]) + "@test.example"
	u, err := auth.NewStore(db, auth.Options{}).CreateUser(context.Background(), email, password, role)
	if err != nil {
		tb.Fatalf("authtest: create %s user: %v", role, err)
	}
	return u, password
}

// Token creates a user with the given role and returns a bearer token for it, valid for a day.
func Token(tb testing.TB, db auth.DB, role string) string {
	tb.Helper()
	u, _ := User(tb, db, role)
	token, _, err := auth.NewStore(db, auth.Options{}).CreateToken(context.Background(), u.ID, "test", 24*time.Hour)
	if err != nil {
		tb.Fatalf("authtest: create token: %v", err)
	}
	return token
}

// SessionCookie logs in through the login form served by h (POST /login) and returns the
// session cookie the browser would keep.
func SessionCookie(tb testing.TB, h http.Handler, email, password string) *http.Cookie {
	tb.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		tb.Fatalf("authtest: login as %s: status %d, want 303: %s", email, rec.Code, rec.Body.String())
	}
	for _, c := range rec.Result().Cookies() {
		if strings.HasSuffix(c.Name, "infradash_session") && c.Value != "" {
			return c
		}
	}
	tb.Fatalf("authtest: login as %s set no session cookie", email)
	return nil
}

// Session creates a user with the given role and logs it in through h; it returns the user and
// its session cookie.
func Session(tb testing.TB, db auth.DB, h http.Handler, role string) (auth.User, *http.Cookie) {
	tb.Helper()
	u, password := User(tb, db, role)
	return u, SessionCookie(tb, h, u.Email, password)
}
