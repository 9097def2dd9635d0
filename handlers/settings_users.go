package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/views"
)

// showUsersPage is GET /settings/users.
func (s *Server) showUsersPage(c echo.Context) error {
	return s.renderUsersPage(c, http.StatusOK, views.Form{}, nil)
}

// renderUsersPage shows the accounts, with a form shown again (its errors beside its fields) or
// a password just generated.
func (s *Server) renderUsersPage(c echo.Context, status int, f views.Form, secret *views.Secret) error {
	users, err := s.users.Users(c.Request().Context())
	if err != nil {
		return err
	}
	me := principal(c)
	rows := make([]views.UserRow, 0, len(users))
	for _, u := range users {
		rows = append(rows, userRow(u, me))
	}
	page := views.UsersPage{Settings: s.settings(c, "users", "Users"), Users: rows, Form: f, Secret: secret}
	return s.render(c, status, views.Users(page))
}

func userRow(u auth.User, me *Principal) views.UserRow {
	return views.UserRow{ID: u.ID, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt,
		LockedUntil: u.LockedUntil, DisabledAt: u.DisabledAt, Self: me != nil && me.UserID == u.ID}
}
