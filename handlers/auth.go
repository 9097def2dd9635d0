package handlers

import (
	"github.com/labstack/echo/v4"
)

// Roles.
const (
	RoleAdmin  = "admin"
	RoleViewer = "viewer"
)

// Principal is who a request acts for.
type Principal struct {
	UserID int64  `json:"id"`
	Email  string `json:"email"`
	Role   string `json:"role"`
	// Via is "session" for the browser's cookie or "token" for a bearer token.
	Via string `json:"-"`
}

// IsAdmin reports whether the principal may change things.
func (p *Principal) IsAdmin() bool { return p != nil && p.Role == RoleAdmin }

const principalKey = "infradash.principal"

// principal returns the authenticated principal of a request that passed requireAuth.
func principal(c echo.Context) *Principal {
	p, _ := c.Get(principalKey).(*Principal)
	return p
}

// requireAuth is the single authentication step for the API and the pages.
func (s *Server) requireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.authenticate(c)
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
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
