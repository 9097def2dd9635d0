package handlers

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/views"
)

// envelope is the shape of every JSON answer.
type envelope struct {
	Status    string     `json:"status"`
	Data      any        `json:"data,omitempty"`
	Error     *errorBody `json:"error,omitempty"`
	Timestamp time.Time  `json:"timestamp"`
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error is an error a client may see: a status, a stable code and a message that names what is
// wrong. Anything else that reaches the error handler becomes an opaque 500.
type Error struct {
	Status  int
	Code    string
	Message string
	// Field is the parameter or form field the message is about, when there is one: a page shows
	// Detail beside that field.
	Field  string
	Detail string
}

func (e *Error) Error() string { return e.Message }

func errBadParam(param, format string, args ...any) *Error {
	detail := sprintf(format, args...)
	return &Error{Status: http.StatusBadRequest, Code: "invalid_parameter", Message: param + ": " + detail, Field: param, Detail: detail}
}

// errInvalid is errBadParam for a message that already names its field (auth.InvalidError).
func errInvalid(field, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_parameter", Message: message, Field: field, Detail: message}
}

var (
	errUnauthorized = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "valid credentials are required"}
	errForbidden    = &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "your role may not do this"}
	errNotFound     = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such resource"}
	errUnavailable  = &Error{Status: http.StatusServiceUnavailable, Code: "database_unavailable", Message: "the database cannot be reached; try again shortly"}
	errInternal     = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal server error"}
)

func (s *Server) ok(c echo.Context, data any) error {
	return c.JSON(http.StatusOK, envelope{Status: "success", Data: data, Timestamp: s.now().UTC()})
}

// HTTPErrorHandler is the one place that turns an error into an HTTP answer.
func (s *Server) HTTPErrorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var e *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &e):
	case database.Unreachable(err):
		s.log.Warn("database unreachable", "method", c.Request().Method, "path", c.Path(), "err", err)
		e = errUnavailable
	case database.Refusing(err):
		s.log.Warn("the database refuses writes", "method", c.Request().Method, "path", c.Path(), "reason", database.RefusalReason(err))
		c.Response().Header().Set("Retry-After", "10")
		e = &Error{Status: http.StatusServiceUnavailable, Code: "database_unavailable", Message: database.RefusalReason(err) + "; try again once it is fixed"}
	case errors.As(err, &he):
		e = fromEcho(he)
		if e.Status >= 500 {
			s.reporter.Error(c.Request(), err)
		}
	default:
		// Only errors nobody anticipated are reported: an *Error is an answer chosen on purpose.
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
		s.reporter.Error(c.Request(), err)
		e = errInternal
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(e.Status)
		return
	}
	if wantsPage(c) {
		_ = s.render(c, e.Status, views.ErrorPage(s.page(c, http.StatusText(e.Status)), e.Status, e.Message))
		return
	}
	_ = c.JSON(e.Status, envelope{Status: "error", Error: &errorBody{Code: e.Code, Message: e.Message}, Timestamp: s.now().UTC()})
}

func fromEcho(he *echo.HTTPError) *Error {
	msg := http.StatusText(he.Code)
	if m, ok := he.Message.(string); ok && m != "" {
		msg = m
	}
	code := map[int]string{
		http.StatusNotFound:              "not_found",
		http.StatusMethodNotAllowed:      "method_not_allowed",
		http.StatusRequestEntityTooLarge: "body_too_large",
		http.StatusTooManyRequests:       "rate_limited",
		http.StatusUnauthorized:          "unauthorized",
		http.StatusForbidden:             "forbidden",
		http.StatusBadRequest:            "bad_request",
	}[he.Code]
	if code == "" {
		code = "error"
	}
	if he.Code >= 500 {
		msg = http.StatusText(he.Code)
	}
	return &Error{Status: he.Code, Code: code, Message: msg}
}

// wantsPage reports whether an error should be answered as an HTML page: a browser asking for a
// page, not the API and not an htmx fragment (htmx shows its own notice).
func wantsPage(c echo.Context) bool {
	r := c.Request()
	return !strings.HasPrefix(r.URL.Path, "/api/") && r.Header.Get("HX-Request") == "" &&
		strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html")
}
