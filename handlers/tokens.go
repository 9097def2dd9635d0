package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/auth"
)

// Token statuses, as GET /api/v1/tokens names them.
const (
	tokenActive  = "active"
	tokenExpired = "expired"
	tokenRevoked = "revoked"
)

// defaultTokenLifetime is a new token's lifetime when none is asked for, as `token create`'s.
const defaultTokenLifetime = 30 * 24 * time.Hour

// tokenJSON is an API token's record as the API shows it: never the token itself.
type tokenJSON struct {
	auth.Token
	Status string `json:"status"`
}

func (s *Server) toTokenJSON(t auth.Token) tokenJSON {
	status := tokenActive
	switch {
	case t.RevokedAt != nil:
		status = tokenRevoked
	case !s.now().Before(t.ExpiresAt):
		status = tokenExpired
	}
	return tokenJSON{Token: t, Status: status}
}

// listTokens is GET /api/v1/tokens (admins): every user's tokens, newest first.
func (s *Server) listTokens(c echo.Context) error {
	tokens, err := s.users.AllTokens(c.Request().Context())
	if err != nil {
		return err
	}
	items := make([]tokenJSON, 0, len(tokens))
	for _, t := range tokens {
		items = append(items, s.toTokenJSON(t))
	}
	return s.ok(c, map[string]any{"items": items})
}

type newTokenRequest struct {
	Name      string `json:"name"`
	ExpiresIn *int64 `json:"expires_in"` // seconds; default 30 days
}

// newTokenJSON answers a new token: the token itself, this once.
type newTokenJSON struct {
	tokenJSON
	Token string `json:"token"`
}

// createTokenFromAPI is POST /api/v1/tokens {"name", "expires_in"} (admins): a token acting for
// the caller, answered once.
func (s *Server) createTokenFromAPI(c echo.Context) error {
	var req newTokenRequest
	if err := decodeStrictJSON(c, &req, "name, expires_in"); err != nil {
		return err
	}
	ttl := defaultTokenLifetime
	if req.ExpiresIn != nil {
		var err error
		if ttl, err = tokenLifetime(*req.ExpiresIn); err != nil {
			return err
		}
	}
	plain, t, err := s.createToken(c, req.Name, ttl)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, envelope{Status: "success", Data: newTokenJSON{tokenJSON: s.toTokenJSON(t), Token: plain},
		Timestamp: s.now().UTC()})
}

// tokenLifetime turns expires_in seconds into a lifetime, within auth.MaxTokenLifetime.
func tokenLifetime(secs int64) (time.Duration, error) {
	if maxSecs := int64(auth.MaxTokenLifetime / time.Second); secs < 1 || secs > maxSecs {
		return 0, errBadParam("expires_in", "must be between 1 and %d seconds (a year), not %d", maxSecs, secs)
	}
	return time.Duration(secs) * time.Second, nil
}

// createToken is the one way the page and the API make a token (auth.ValidateToken's rules, as
// `infradash token create`): for the caller, with its audit entry.
func (s *Server) createToken(c echo.Context, name string, ttl time.Duration) (string, auth.Token, error) {
	ctx := c.Request().Context()
	p := principal(c)
	var plain string
	var t auth.Token
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if plain, t, err = s.users.In(tx).CreateTokenFrom(ctx, p.UserID, name, ttl, c.RealIP()); err != nil {
			return err
		}
		t.UserEmail = p.Email
		return s.record(c, tx, audit.TokenCreated(t, p.Email))
	})
	return plain, t, userError(err, "")
}

// revokeTokenFromAPI is DELETE /api/v1/tokens/{id} (admins).
func (s *Server) revokeTokenFromAPI(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	t, err := s.revokeToken(c, id)
	if err != nil {
		return err
	}
	return s.ok(c, s.toTokenJSON(t))
}

// revokeToken is the one way the page and the API revoke a token, with its audit entry. Every
// replica checks every request's token in the database, so it is refused everywhere from the
// commit on.
func (s *Server) revokeToken(c echo.Context, id int64) (auth.Token, error) {
	ctx := c.Request().Context()
	var t auth.Token
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		store := s.users.In(tx)
		if _, err := store.RevokeToken(ctx, id); err != nil {
			return err
		}
		var err error
		if t, err = store.TokenByID(ctx, id); err != nil {
			return err
		}
		return s.record(c, tx, audit.TokenRevoked(t))
	})
	if errors.Is(err, auth.ErrNotFound) {
		return t, &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no active token with this id (it may be revoked already)"}
	}
	return t, err
}
