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
	frame, err := s.settings(c, "users", "Users")
	if err != nil {
		return err
	}
	users, err := s.users.Users(c.Request().Context())
	if err != nil {
		return err
	}
	me := principal(c)
	rows := make([]views.UserRow, 0, len(users))
	for _, u := range users {
		rows = append(rows, userRow(u, me))
	}
	return s.render(c, status, views.Users(views.UsersPage{Settings: frame, Users: rows, Form: f, Secret: secret}))
}

func userRow(u auth.User, me *Principal) views.UserRow {
	return views.UserRow{ID: u.ID, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt,
		LockedUntil: u.LockedUntil, DisabledAt: u.DisabledAt, Self: me != nil && me.UserID == u.ID}
}

func (s *Server) usersPageAgain(c echo.Context) func(int, views.Form) error {
	return func(status int, f views.Form) error { return s.renderUsersPage(c, status, f, nil) }
}

// addUserFromPage is POST /settings/users: email, role, password (empty: one is generated and
// shown once).
func (s *Server) addUserFromPage(c echo.Context) error {
	f, err := readForm(c, "add", "email", "role", "password")
	if err != nil {
		return err
	}
	u, generated, err := s.addUser(c, newUserRequest{Email: f.Values["email"], Role: f.Values["role"], Password: c.Request().PostForm.Get("password")})
	if err != nil {
		return again(f, err, s.usersPageAgain(c))
	}
	if generated != "" {
		return s.renderUsersPage(c, http.StatusCreated, views.Form{}, &views.Secret{
			Title: "Password for " + u.Email, Label: "Initial password", Value: generated,
			Notes: "Give it to " + u.Email + " by a safe way; they log in at /login with it.", Back: views.PathSettingsUsers})
	}
	return s.done(c, views.PathSettingsUsers, "Added "+u.Email+" as "+u.Role+".")
}

// updateUserFromPage is POST /settings/users/{id}, with action role (and role), disable, enable
// or password (and password; empty: one is generated and shown once).
func (s *Server) updateUserFromPage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	f, err := readForm(c, views.UserRow{ID: id}.FormID(), "action", "role", "password")
	if err != nil {
		return err
	}
	var ch auth.UserChange
	generated := ""
	switch f.Values["action"] {
	case "role":
		role := f.Values["role"]
		ch.Role = &role
	case "disable", "enable":
		disabled := f.Values["action"] == "disable"
		ch.Disabled = &disabled
	case "password":
		password := c.Request().PostForm.Get("password")
		if password == "" {
			generated = auth.GeneratePassword()
			password = generated
		}
		ch.Password = &password
	default:
		return errBadParam("action", "must be role, disable, enable or password, not %q", f.Values["action"])
	}
	up, err := s.updateUser(c, id, ch)
	if err != nil {
		return again(f, err, s.usersPageAgain(c))
	}
	email := up.After.Email
	switch {
	case generated != "":
		return s.renderUsersPage(c, http.StatusOK, views.Form{}, &views.Secret{
			Title: "New password for " + email, Label: "New password", Value: generated,
			Notes: "Their sessions ended and their API tokens were revoked. Give it to " + email + " by a safe way.",
			Back:  views.PathSettingsUsers})
	case ch.Password != nil:
		return s.done(c, views.PathSettingsUsers, "New password set for "+email+"; their sessions ended and their API tokens were revoked.")
	case ch.Role != nil:
		return s.done(c, views.PathSettingsUsers, email+" is now "+up.After.Role+".")
	case *ch.Disabled:
		return s.done(c, views.PathSettingsUsers, email+" is disabled: no login; their sessions ended and their API tokens were revoked.")
	}
	return s.done(c, views.PathSettingsUsers, email+" is enabled: they may log in again.")
}
