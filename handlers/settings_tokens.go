package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/views"
)

// showTokensPage is GET /settings/tokens.
func (s *Server) showTokensPage(c echo.Context) error {
	return s.renderTokensPage(c, http.StatusOK, views.Form{}, nil)
}

func (s *Server) renderTokensPage(c echo.Context, status int, f views.Form, secret *views.Secret) error {
	frame, err := s.settings(c, "tokens", "API tokens")
	if err != nil {
		return err
	}
	tokens, err := s.users.AllTokens(c.Request().Context())
	if err != nil {
		return err
	}
	rows := make([]views.TokenRow, 0, len(tokens))
	for _, t := range tokens {
		j := s.toTokenJSON(t)
		rows = append(rows, views.TokenRow{ID: t.ID, Name: t.Name, Owner: t.UserEmail, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
			LastUsedAt: t.LastUsedAt, Status: j.Status})
	}
	return s.render(c, status, views.Tokens(views.TokensPage{Settings: frame, Tokens: rows, Form: f, Secret: secret}))
}

// createTokenFromPage is POST /settings/tokens: name and expires_in (seconds); the token is shown
// once, in the answer.
func (s *Server) createTokenFromPage(c echo.Context) error {
	f, err := readForm(c, "add", "name", "expires_in")
	if err != nil {
		return err
	}
	show := func(status int, f views.Form) error { return s.renderTokensPage(c, status, f, nil) }
	secs, err := strconv.ParseInt(f.Values["expires_in"], 10, 64)
	if err != nil {
		return again(f, errBadParam("expires_in", "choose how long the token is valid"), show)
	}
	ttl, err := tokenLifetime(secs)
	if err != nil {
		return again(f, err, show)
	}
	plain, t, err := s.createToken(c, f.Values["name"], ttl)
	if err != nil {
		return again(f, err, show)
	}
	return s.renderTokensPage(c, http.StatusCreated, views.Form{}, &views.Secret{
		Title: "Token " + t.Name, Label: "API token", Value: plain,
		Notes: "It acts for you (" + t.UserEmail + ") until " + t.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC") + ". Revoke it here when it is no longer needed.",
		Back:  views.PathSettingsTokens})
}

// revokeTokenFromPage is POST /settings/tokens/{id}/revoke.
func (s *Server) revokeTokenFromPage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	t, err := s.revokeToken(c, id)
	if err != nil {
		return err
	}
	return s.done(c, views.PathSettingsTokens, "Revoked token "+t.Name+" (#"+strconv.FormatInt(t.ID, 10)+"): it is refused from now on.")
}
