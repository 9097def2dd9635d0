package handlers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
)

// sessionUserKey holds the logged-in user's id in the session.
const sessionUserKey = "user_id"

// sessionLoggedInKey holds when the session logged in (Unix nanoseconds), so a password change
// or a disabled account ends the sessions started before it (auth.User.SessionValid).
const sessionLoggedInKey = "logged_in_at"

const sessionStartedKey = "infradash.session"

// NewSessionManager keeps browser sessions in PostgreSQL's sessions table. The store's own
// cleanup goroutine is off (the cleanup job deletes expired rows), and there is no idle timeout:
// with one, every 5-second poll would rewrite the session row.
func NewSessionManager(o Options, pool *pgxpool.Pool) *scs.SessionManager {
	sm := scs.New()
	sm.Store = pgxstore.NewWithCleanupInterval(pool, 0)
	sm.Lifetime = o.SessionLifetime
	sm.IdleTimeout = 0
	sm.Cookie.Name = "infradash_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Path = "/"
	if o.Production {
		sm.Cookie.Secure = true
		// __Host- makes browsers refuse the cookie unless Secure, on "/" and without Domain, so a
		// sibling subdomain cannot plant or overwrite it.
		sm.Cookie.Name = "__Host-infradash_session"
	}
	return sm
}

// startSession loads the request's session (once) and arranges for it to be saved just before
// the response is written, and only when a handler changed it: reading a session, as every
// poll does, never writes to the database.
func (s *Server) startSession(c echo.Context) error {
	if c.Get(sessionStartedKey) != nil {
		return nil
	}
	var token string
	if ck, err := c.Cookie(s.sessions.Cookie.Name); err == nil {
		token = ck.Value
	}
	ctx, err := s.sessions.Load(c.Request().Context(), token)
	if err != nil {
		return fmt.Errorf("load session: %w", err)
	}
	c.SetRequest(c.Request().WithContext(ctx))
	c.Set(sessionStartedKey, true)
	c.Response().Header().Add(echo.HeaderVary, "Cookie")
	c.Response().Before(func() { s.saveSession(c) })
	return nil
}

// saveSession runs inside WriteHeader, so it cannot return an error: a failed save turns the
// answer into a 500 rather than let a login look successful without a session.
func (s *Server) saveSession(c echo.Context) {
	ctx := c.Request().Context()
	switch s.sessions.Status(ctx) {
	case scs.Modified:
		token, expiry, err := s.sessions.Commit(ctx)
		if err != nil {
			s.log.Error("save session", "err", err)
			c.Response().Header().Del(echo.HeaderLocation)
			c.Response().Status = http.StatusInternalServerError
			return
		}
		s.sessions.WriteSessionCookie(ctx, c.Response(), token, expiry)
	case scs.Destroyed:
		s.sessions.WriteSessionCookie(ctx, c.Response(), "", time.Time{})
	}
}
