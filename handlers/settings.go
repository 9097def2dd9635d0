package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/views"
)

// Every settings form reads the same way (STYLE.md, miniflux): parse it (readForm), validate and
// store through the same function the API uses, then redirect with a flash (done), or show the
// page again with what is wrong beside each field (again). A new credential is the exception: it
// is shown at once in the answer to the POST, never stored anywhere it could be shown again.

// sessionFlashKey holds the flash of the last change until the next settings page shows it.
const sessionFlashKey = "flash"

// settings is what every settings page shows around its content: the section, and the flash of
// the change that redirected here (shown once).
func (s *Server) settings(c echo.Context, section, title string) (views.Settings, error) {
	if err := s.startSession(c); err != nil {
		return views.Settings{}, err
	}
	flash := s.sessions.PopString(c.Request().Context(), sessionFlashKey)
	return views.Settings{Page: s.page(c, title), Section: section, Flash: flash}, nil
}

// showSettings sends /settings to its first page.
func (s *Server) showSettings(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, views.SettingsSections[0].Path)
}

// readForm parses a submitted form into a views.Form with the given ID, with the fields named
// ("" for one not sent: an unchosen radio button is still a field to show an error beside).
// Only the submitted form of a page shows its values and errors again.
func readForm(c echo.Context, id string, fields ...string) (views.Form, error) {
	if err := parseForm(c.Request()); err != nil {
		return views.Form{}, err
	}
	f := views.NewForm(id)
	for _, name := range fields {
		f.Values[name] = strings.TrimSpace(c.Request().PostForm.Get(name))
	}
	return f, nil
}

// done ends a successful form: back to the page (303, so a reload does not post again), which
// shows the flash once.
func (s *Server) done(c echo.Context, to, flash string) error {
	// A script posting a form with a bearer token has no session to keep a flash in, and must
	// not get one for it.
	if p := principal(c); p != nil && p.Via == "session" {
		if err := s.startSession(c); err != nil {
			return err
		}
		s.sessions.Put(c.Request().Context(), sessionFlashKey, flash)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// again shows a form again after err, through show: a refusal about one of the form's fields
// goes beside that field, any other refusal above the form, with the refusal's status. Anything
// else (the database away, a bug) goes to the error handler as it is.
func again(f views.Form, err error, show func(status int, f views.Form) error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	if _, ok := f.Values[e.Field]; ok {
		f.Errors[e.Field] = e.Detail
	} else {
		f.Error = e.Message
	}
	return show(e.Status, f)
}

// writesPerMinute bounds the changes one user makes per minute on one replica: far above what a
// person clicks or a sane script sends, low enough that a runaway loop or a stolen session cannot
// flood the audit log or hash passwords without end.
const writesPerMinute = 60

// limitWrites answers 429 to a user past writesPerMinute changes; use it after requireAdmin on
// every route that changes settings.
func (s *Server) limitWrites(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := principal(c)
		if p == nil {
			return errUnauthorized
		}
		ok, wait := s.writeLimiter.allow(strconv.FormatInt(p.UserID, 10))
		if !ok {
			secs := int(math.Ceil(wait.Seconds()))
			c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
				Message: fmt.Sprintf("more than %d changes in a minute; try again in %d seconds", writesPerMinute, secs)}
		}
		return next(c)
	}
}
