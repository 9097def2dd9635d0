package handlers

import (
	"github.com/labstack/echo/v4"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

// apiLogin trades an email and password for a bearer token valid for SESSION_LIFETIME.
func (s *Server) apiLogin(c echo.Context) error {
	if err := s.checkLoginRate(c); err != nil {
		return err
	}
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Email == "" {
		return errBadParam("email", "is required")
	}
	if req.Password == "" {
		return errBadParam("password", "is required")
	}
	u, err := s.login(c, req.Email, req.Password)
	if err != nil {
		return err
	}
	ttl := s.cfg.SessionLifetime
	token, _, err := s.users.CreateTokenFrom(c.Request().Context(), u.ID, "login from "+c.RealIP(), ttl, c.RealIP())
	if err != nil {
		return err
	}
	return s.ok(c, loginResponse{AccessToken: token, TokenType: "bearer", ExpiresIn: int64(ttl.Seconds())})
}

// apiLogout revokes the bearer token the request came with, or ends its session.
func (s *Server) apiLogout(c echo.Context) error {
	if err := s.endLogin(c, principal(c)); err != nil {
		return err
	}
	return s.ok(c, map[string]bool{"logged_out": true})
}

// showMe answers who the credentials belong to.
func (s *Server) showMe(c echo.Context) error {
	return s.ok(c, principal(c))
}
