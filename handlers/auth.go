package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/views"
)

// Roles.
const (
	RoleAdmin  = auth.RoleAdmin
	RoleViewer = auth.RoleViewer
)

// Principal is who a request acts for.
type Principal struct {
	UserID int64  `json:"id"`
	Email  string `json:"email"`
	Role   string `json:"role"`
	// Via is "session" for the browser's cookie or "token" for a bearer token.
	Via string `json:"-"`
	// TokenID is the bearer token's id (Via "token"), so logout can revoke it.
	TokenID int64 `json:"-"`
}

// IsAdmin reports whether the principal may change things. It is the one place that turns the
// role into a permission: views get what it decides (CanAcknowledge, CanTest…), never the rule.
func (p *Principal) IsAdmin() bool { return p != nil && p.Role == RoleAdmin }

const principalKey = "infradash.principal"

// principal returns the authenticated principal of a request that passed requireAuth.
func principal(c echo.Context) *Principal {
	p, _ := c.Get(principalKey).(*Principal)
	return p
}

// currentUser is the logged-in user as views show it; nil before login.
func currentUser(c echo.Context) *views.User {
	p := principal(c)
	if p == nil {
		return nil
	}
	return &views.User{Email: p.Email, Role: p.Role, Admin: p.IsAdmin()}
}

// setPrincipal records who the request acts for. Answers that depend on who asks must not be
// kept by a shared cache.
func setPrincipal(c echo.Context, p *Principal) {
	c.Set(principalKey, p)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
}

// requireAuth is the single authentication step for the API: a 401 without valid credentials.
func (s *Server) requireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.authenticate(c)
		if err != nil {
			return err
		}
		setPrincipal(c, p)
		return next(c)
	}
}

// requirePageAuth is requireAuth for pages: without a login it sends the browser to /login,
// which brings it back here afterwards.
func (s *Server) requirePageAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.authenticate(c)
		if errors.Is(err, errUnauthorized) {
			return redirectToLogin(c)
		}
		if err != nil {
			return err
		}
		setPrincipal(c, p)
		return next(c)
	}
}

func redirectToLogin(c echo.Context) error {
	r := c.Request()
	next := ""
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		next = r.URL.RequestURI()
	}
	// htmx would swap the login page into a fragment; it follows HX-Redirect with a full page
	// load instead, back to the page the user was on.
	if r.Header.Get("HX-Request") == "true" {
		if u, err := url.Parse(r.Header.Get("HX-Current-URL")); err == nil {
			next = u.RequestURI()
		}
		c.Response().Header().Set("HX-Redirect", loginURL(next))
		return c.NoContent(http.StatusUnauthorized)
	}
	return c.Redirect(http.StatusSeeOther, loginURL(next))
}

func loginURL(next string) string {
	if next = localPath(next); next == "" || next == "/" {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(next)
}

// localPath returns next when it is a path on this site, else "": after login the browser goes
// there, so it must never lead to another site (//evil.example, https://…, /\evil.example).
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return next
}

// requireAdmin lets only admins through; use it after requireAuth.
func requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !principal(c).IsAdmin() {
			return errForbidden
		}
		return next(c)
	}
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "Bearer") && token != ""
}

// authenticateRequest finds the principal from a bearer token or, without an Authorization
// header, from the session cookie. A request with neither costs no database query; any other is
// checked in the database every time (authcache.go says why). While the database cannot be
// reached, a credential it confirmed before is trusted from the cache.
func (s *Server) authenticateRequest(c echo.Context) (*Principal, error) {
	credential, check := "", s.checkSession
	if c.Request().Header.Get(echo.HeaderAuthorization) != "" {
		token, ok := bearerToken(c.Request())
		if !ok {
			return nil, errUnauthorized
		}
		if strings.HasPrefix(token, fleet.TokenPrefix) {
			return nil, errAgentMayNotRead
		}
		credential, check = token, s.checkToken
	} else {
		ck, err := c.Cookie(s.sessions.Cookie.Name)
		if err != nil {
			return nil, errUnauthorized
		}
		credential = ck.Value
	}
	cached, known := s.authCache.get(credential)
	var prev *authEntry
	if known {
		prev = &cached
	}
	e, err := check(c, credential, prev)
	switch {
	case err == nil:
		s.authCache.put(credential, e)
		if e.p.Via == "token" {
			s.noteTokenAddress(c, credential, e.p)
		}
		p := e.p
		return &p, nil
	case known && database.Unreachable(err):
		s.log.Debug("database unreachable: trusting a credential it confirmed before", "user", cached.p.Email, "via", cached.p.Via)
		p := cached.p
		return &p, nil
	case errors.Is(err, errUnauthorized):
		s.authCache.evict(credential)
	}
	return nil, err
}

// checkToken asks the database whose bearer token this is, and until when it is valid.
func (s *Server) checkToken(c echo.Context, token string, _ *authEntry) (authEntry, error) {
	u, t, err := s.users.TokenOwner(c.Request().Context(), token)
	if errors.Is(err, auth.ErrNotFound) {
		return authEntry{}, errUnauthorized
	}
	if err != nil {
		return authEntry{}, err
	}
	return authEntry{p: Principal{UserID: u.ID, Email: u.Email, Role: u.Role, Via: "token", TokenID: t.ID}, notAfter: t.ExpiresAt}, nil
}

// noteTokenAddress records in the audit log the first use of a token from an address it was
// neither created from nor used from before. It is bookkeeping: a failure is logged and the
// request goes on.
func (s *Server) noteTokenAddress(c echo.Context, token string, p Principal) {
	addr := c.RealIP()
	if s.authCache.noted(token, addr) {
		return
	}
	ctx := c.Request().Context()
	first, err := s.users.NoteTokenAddress(ctx, p.TokenID, addr)
	if err == nil && first {
		_, err = audit.Record(ctx, s.pool, audit.Entry{At: s.now(), Actor: s.actor(c, &p), Action: audit.TokenNewAddress,
			Target: audit.TokenTarget(p.TokenID), Details: map[string]any{"address": addr}})
	}
	if err != nil {
		s.log.Warn("could not note the address a token was used from", "token_id", p.TokenID, "err", err)
		return
	}
	s.authCache.note(token, addr)
}

// checkSession asks the database whether the request's session still acts for its user, with
// what role, and until when. A session this replica checked before is checked by its user and
// login time alone; a new one is loaded.
func (s *Server) checkSession(c echo.Context, token string, prev *authEntry) (authEntry, error) {
	ctx := c.Request().Context()
	if prev != nil && !prev.loggedInAt.IsZero() {
		u, err := s.users.SessionUser(ctx, token, prev.p.UserID, prev.loggedInAt)
		if errors.Is(err, auth.ErrNotFound) {
			return authEntry{}, errUnauthorized
		}
		if err != nil {
			return authEntry{}, err
		}
		e := *prev
		e.p.Email, e.p.Role = u.Email, u.Role
		return e, nil
	}
	if err := s.startSession(c); err != nil {
		return authEntry{}, err
	}
	ctx = c.Request().Context()
	id := s.sessions.GetInt64(ctx, sessionUserKey)
	if id == 0 {
		return authEntry{}, errUnauthorized
	}
	u, err := s.users.UserByID(ctx, id)
	if errors.Is(err, auth.ErrNotFound) {
		return authEntry{}, errUnauthorized
	}
	if err != nil {
		return authEntry{}, err
	}
	loggedIn := time.Unix(0, s.sessions.GetInt64(ctx, sessionLoggedInKey))
	if !u.SessionValid(loggedIn) {
		return authEntry{}, errUnauthorized
	}
	return authEntry{p: Principal{UserID: u.ID, Email: u.Email, Role: u.Role, Via: "session"},
		notAfter: s.sessions.Deadline(ctx), loggedInAt: loggedIn}, nil
}

// endLogin revokes the bearer token or ends the session the principal came with, and forgets it
// in the cache at once.
func (s *Server) endLogin(c echo.Context, p *Principal) error {
	if p.Via == "token" {
		if token, ok := bearerToken(c.Request()); ok {
			s.authCache.evict(token)
		}
		if _, err := s.users.RevokeToken(c.Request().Context(), p.TokenID); err != nil && !errors.Is(err, auth.ErrNotFound) {
			return err
		}
		return nil
	}
	if ck, err := c.Cookie(s.sessions.Cookie.Name); err == nil {
		s.authCache.evict(ck.Value)
	}
	// A request authenticated from the cache has not loaded its session yet.
	if err := s.startSession(c); err != nil {
		return err
	}
	// Destroy deletes the session row and expires the cookie: the old token is dead, which is
	// what renewing it at logout is for.
	return s.sessions.Destroy(c.Request().Context())
}
