package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

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

// login checks the credentials and logs the failure (never the password). It returns an
// *Error the client may see for a failed login.
func (s *Server) login(c echo.Context, email, password string) (auth.User, error) {
	u, err := s.users.Login(c.Request().Context(), email, password)
	var f *auth.LoginFailure
	if errors.As(err, &f) {
		attrs := []any{"email", auth.NormalizeEmail(email), "ip", c.RealIP(), "reason", f.Reason}
		if f.LockedUntil != nil {
			attrs = append(attrs, "locked_until", f.LockedUntil.UTC().Format(time.RFC3339))
		}
		s.log.Warn("login failed", attrs...)
		return u, &Error{Status: http.StatusUnauthorized, Code: "invalid_credentials", Message: s.users.FailureMessage()}
	}
	if err == nil {
		s.log.Info("login", "email", u.Email, "ip", c.RealIP(), "via", c.Path())
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
	if err := c.Request().ParseForm(); err != nil {
		if isBodyTooLarge(err) {
			return errBodyTooLarge
		}
		return &Error{Status: http.StatusBadRequest, Code: "invalid_form", Message: "the login form could not be read: " + err.Error()}
	}
	form := views.LoginForm{
		Email: strings.TrimSpace(c.Request().PostForm.Get("email")),
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
	if form.Email == "" || password == "" {
		return again(http.StatusBadRequest, "Enter your email and your password.")
	}
	u, err := s.login(c, form.Email, password)
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
