package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/auth"
)

// userJSON is an account as the API shows it.
type userJSON struct {
	auth.User
	Disabled bool `json:"disabled"`
}

func toUserJSON(u auth.User) userJSON { return userJSON{User: u, Disabled: u.DisabledAt != nil} }

// listUsers is GET /api/v1/users (admins).
func (s *Server) listUsers(c echo.Context) error {
	users, err := s.users.Users(c.Request().Context())
	if err != nil {
		return err
	}
	items := make([]userJSON, 0, len(users))
	for _, u := range users {
		items = append(items, toUserJSON(u))
	}
	return s.ok(c, map[string]any{"items": items})
}

type newUserRequest struct {
	Email    string `json:"email"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

// newUserJSON answers a new account: the password only when it was generated, this once.
type newUserJSON struct {
	userJSON
	Password string `json:"password,omitempty"`
}

// createUser is POST /api/v1/users {"email", "role", "password"} (admins). Without a password
// one is generated and answered once.
func (s *Server) createUser(c echo.Context) error {
	var req newUserRequest
	if err := decodeStrictJSON(c, &req, "email, role, password"); err != nil {
		return err
	}
	u, generated, err := s.addUser(c, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, envelope{Status: "success", Data: newUserJSON{userJSON: toUserJSON(u), Password: generated},
		Timestamp: s.now().UTC()})
}

// addUser is the one way the page and the API add an account (auth.ValidateNewUser's rules, as
// `infradash user add`), with its audit entry. It returns the password it generated, if any.
func (s *Server) addUser(c echo.Context, req newUserRequest) (auth.User, string, error) {
	if req.Role == "" {
		req.Role = auth.RoleViewer
	}
	generated := ""
	if req.Password == "" {
		generated = auth.GeneratePassword()
		req.Password = generated
	}
	ctx := c.Request().Context()
	var u auth.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if u, err = s.users.In(tx).CreateUser(ctx, req.Email, req.Password, req.Role); err != nil {
			return err
		}
		return s.record(c, tx, audit.UserCreated(u, generated != ""))
	})
	return u, generated, userError(err, "")
}

// userChangeRequest is PATCH /api/v1/users/{id}: only the fields sent change.
type userChangeRequest struct {
	Role     *string `json:"role"`
	Disabled *bool   `json:"disabled"`
	Password *string `json:"password"`
}

// updatedUserJSON answers a change.
type updatedUserJSON struct {
	userJSON
	RevokedTokens int `json:"revoked_tokens"`
}

// updateUserFromAPI is PATCH /api/v1/users/{id} {"role", "disabled", "password"} (admins).
func (s *Server) updateUserFromAPI(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var req userChangeRequest
	if err := decodeStrictJSON(c, &req, "role, disabled, password"); err != nil {
		return err
	}
	if req.Role == nil && req.Disabled == nil && req.Password == nil {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_parameter", Message: "nothing to change: send role, disabled or password"}
	}
	up, err := s.updateUser(c, id, auth.UserChange{Role: req.Role, Disabled: req.Disabled, Password: req.Password})
	if err != nil {
		return err
	}
	return s.ok(c, updatedUserJSON{userJSON: toUserJSON(up.After), RevokedTokens: up.RevokedTokens})
}

// updateUser is the one way the page and the API change an account (auth.Store.UpdateUser, whose
// rules the `user` command shares), with an audit entry for each thing that changed.
func (s *Server) updateUser(c echo.Context, id int64, ch auth.UserChange) (auth.UserUpdate, error) {
	ctx := c.Request().Context()
	var up auth.UserUpdate
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if up, err = s.users.In(tx).UpdateUser(ctx, id, ch); err != nil {
			return err
		}
		return s.record(c, tx, audit.UserChanges(up, ch.Password != nil)...)
	})
	lastAdminField := "disabled"
	if ch.Role != nil {
		lastAdminField = "role"
	}
	return up, userError(err, lastAdminField)
}

// userError turns what auth refuses into answers naming the field.
func userError(err error, lastAdminField string) error {
	var inv *auth.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv):
		return errInvalid(inv.Field, inv.Message)
	case errors.Is(err, auth.ErrEmailTaken):
		return &Error{Status: http.StatusConflict, Code: "email_taken", Message: "email: " + err.Error(), Field: "email", Detail: err.Error()}
	case errors.Is(err, auth.ErrLastAdmin):
		return &Error{Status: http.StatusConflict, Code: "last_admin", Message: lastAdminField + ": " + err.Error(), Field: lastAdminField, Detail: err.Error()}
	case errors.Is(err, auth.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no account with this id"}
	}
	return err
}

// idParam reads a positive id from the path.
func idParam(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id < 1 {
		return 0, errBadParam(name, "must be a positive number, not %q", c.Param(name))
	}
	return id, nil
}
