package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/views"
)

// afterLogin is where a login without a (valid) next goes.
const afterLogin = "/observability"

// checkLoginRate counts a login attempt from the client's address.
func (s *Server) checkLoginRate(c echo.Context) error {
	ok, wait := s.loginLimiter.allow(c.RealIP())
	if ok {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: fmt.Sprintf("too many login attempts from this address; try again in %d seconds", secs)}
}

var errLoginBusy = &Error{Status: http.StatusServiceUnavailable, Code: "login_busy",
	Message: "the server is checking too many logins at once; try again in a second"}

// defaultLoginSlots is how many logins may check a password at once. Each check keeps a core
// busy and holds auth.HashMemory, so: one per core (at least two), and no more than a quarter of
// the memory limit (GOMEMLIMIT, or the cgroup's memory.max in a container) holds.
// Unbounded, 60 parallel logins took 1.1 GB and 10 s each; past the bound they are answered at
// once with a 503 to retry.
func defaultLoginSlots() int {
	n := max(runtime.GOMAXPROCS(0), 2)
	limit := debug.SetMemoryLimit(-1)
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v < limit {
			limit = v
		}
	}
	if limit < math.MaxInt64 {
		n = min(n, int(limit/4/auth.HashMemory))
	}
	return max(n, 1)
}

// loginDelay is how long a failed login waits before it answers, after failures wrong passwords
// in a row: 250 ms, 500 ms, 1 s, 2 s, then 4 s each, so guessing slows down well before the
// account locks (PRODUCT.md §11) while a typo costs a person a quarter of a second.
func loginDelay(failures int) time.Duration {
	const first, most = 250 * time.Millisecond, 4 * time.Second
	if failures <= 0 {
		return 0
	}
	if failures > 5 {
		return most
	}
	return min(first<<(failures-1), most)
}

// sleepCtx waits d or until ctx ends, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// emailForLog is what the log may say about the email of a failed login: a known account's
// address, but for an unknown one only a short HMAC keyed with SECRET_KEY, because people type
// passwords into the email field and an unkeyed hash could be reversed by guessing. It still lets
// an operator see the same mistyped value come back (until the key changes).
func emailForLog(secret string, f *auth.LoginFailure, email string) string {
	email = auth.NormalizeEmail(email)
	if f.Reason != "unknown email" {
		return email
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(email))
	return "unknown:" + hex.EncodeToString(m.Sum(nil)[:4])
}

// login checks the credentials and logs the failure (never the password). It returns an
// *Error the client may see for a failed login, after a delay that grows with the failures in
// a row; unknown emails are counted in memory so that they slow down the same way. No database
// connection is held while it waits.
func (s *Server) login(c echo.Context, email, password string) (auth.User, error) {
	ctx := c.Request().Context()
	var u auth.User
	select {
	case s.loginSlots <- struct{}{}:
	default:
		c.Response().Header().Set("Retry-After", "1")
		s.log.Warn("login refused: too many being checked at once", "ip", c.RealIP(), "at_once", cap(s.loginSlots))
		return u, errLoginBusy
	}
	var err error
	malformed, _ := c.Get(malformedLoginKey).(string)
	if malformed != "" {
		// No account has such an email or password, and the database cannot even be asked.
		err = s.users.NoAccount(password)
	} else {
		u, err = s.users.LoginFrom(ctx, email, password, c.RealIP())
	}
	<-s.loginSlots // before the delay: a waiting login holds no memory and no core
	var f *auth.LoginFailure
	if errors.As(err, &f) {
		reason := f.Reason
		if malformed != "" {
			reason += " (malformed input: " + malformed + ")"
		}
		attrs := []any{"email", emailForLog(s.cfg.SecretKey, f, email), "ip", c.RealIP(), "reason", reason}
		if f.LockedUntil != nil {
			attrs = append(attrs, "locked_until", f.LockedUntil.UTC().Format(time.RFC3339))
		}
		s.log.Warn("login failed", attrs...)
		// The failure that locks the account (for this address) is worth an audit entry; the
		// others are in the log, and a flood of them must not fill the audit log.
		if f.LockedUntil != nil && f.Reason != "locked" {
			if _, err := audit.Record(ctx, s.pool, audit.Entry{At: s.now(), Actor: s.actor(c, nil), Action: audit.LoginLocked,
				Target:  audit.UserTarget(auth.NormalizeEmail(email)),
				Details: map[string]any{"failures": f.Failures, "locked_until": f.LockedUntil.UTC()}}); err != nil {
				return u, err
			}
		}
		failures := f.Failures
		if f.Reason == "unknown email" {
			// Per email and address, as an account's failures are counted.
			sum := sha256.Sum256([]byte(auth.NormalizeEmail(email)))
			failures = s.unknownEmails.count(string(sum[:]) + " " + c.RealIP())
		}
		if err := s.sleep(ctx, loginDelay(failures)); err != nil {
			return u, err
		}
		return u, &Error{Status: http.StatusUnauthorized, Code: "invalid_credentials", Message: s.users.FailureMessage()}
	}
	if err == nil {
		s.log.Info("login", "email", u.Email, "ip", c.RealIP(), "via", c.Path())
		_, err = audit.Record(ctx, s.pool, audit.Entry{At: s.now(), Actor: s.actor(c, &Principal{UserID: u.ID, Email: u.Email}),
			Action: audit.Login, Target: audit.UserTarget(u.Email)})
	}
	return u, err
}

// showLoginPage shows the form, or sends an already logged-in user on.
func (s *Server) showLoginPage(c echo.Context) error {
	next := localPath(c.QueryParam("next"))
	if _, err := s.authenticate(c); err == nil {
		return c.Redirect(http.StatusSeeOther, orDefault(next, afterLogin))
	}
	return s.render(c, http.StatusOK, views.LoginPage(s.page(c, "Log in"), views.LoginForm{Next: next}))
}

// submitLogin logs a browser in: a new session token (so one planted before login is useless),
// then back where the user was going.
func (s *Server) submitLogin(c echo.Context) error {
	if err := parseForm(c.Request()); err != nil {
		return err
	}
	email := strings.TrimSpace(c.Request().PostForm.Get("email"))
	form := views.LoginForm{
		// Shown back in the form: a malformed value is shown as well as it can be.
		Email: strings.ToValidUTF8(strings.ReplaceAll(email, "\x00", ""), "\uFFFD"),
		Next:  localPath(c.Request().PostForm.Get("next")),
	}
	again := func(status int, msg string) error {
		form.Error = msg
		return s.render(c, status, views.LoginPage(s.page(c, "Log in"), form))
	}
	if err := s.checkLoginRate(c); err != nil {
		var e *Error
		errors.As(err, &e)
		return again(e.Status, e.Message)
	}
	password := c.Request().PostForm.Get("password")
	if email == "" || password == "" {
		return again(http.StatusBadRequest, "Enter your email and your password.")
	}
	u, err := s.login(c, email, password)
	var e *Error
	if errors.As(err, &e) {
		return again(e.Status, e.Message)
	}
	if err != nil {
		return err
	}
	if err := s.startSession(c); err != nil {
		return err
	}
	// The renewal below kills the browser's old session token; the cache must not outlive it.
	if ck, err := c.Cookie(s.sessions.Cookie.Name); err == nil {
		s.authCache.evict(ck.Value)
	}
	ctx := c.Request().Context()
	if err := s.sessions.RenewToken(ctx); err != nil {
		return fmt.Errorf("renew session: %w", err)
	}
	s.sessions.Put(ctx, sessionUserKey, u.ID)
	s.sessions.Put(ctx, sessionLoggedInKey, s.now().UnixNano())
	return c.Redirect(http.StatusSeeOther, orDefault(form.Next, afterLogin))
}

// logout ends the browser's session.
func (s *Server) logout(c echo.Context) error {
	if err := s.endLogin(c, principal(c)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
