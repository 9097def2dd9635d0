package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/views"
)

// page is what every full page needs: title, the logged-in user and the asset URLs.
func (s *Server) page(c echo.Context, title string) views.Page {
	return views.Page{Title: title, User: currentUser(c), Asset: s.assets.URL}
}

// render renders into a buffer first, so a failed render is still a clean 500.
func (s *Server) render(c echo.Context, status int, component templ.Component) error {
	buf := templ.GetBuffer()
	defer templ.ReleaseBuffer(buf)
	if err := component.Render(c.Request().Context(), buf); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// decodeJSON reads a request body holding one JSON object into v, and names what is wrong with
// a body that does not.
func decodeJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON object")
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case isBodyTooLarge(err):
		return errBodyTooLarge
	case errors.Is(err, io.EOF):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the request body is empty; send a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the request body is not valid JSON: it ends before the object does"}
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return errBadParam(typeErr.Field, "must be a JSON %s, not %s", typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_json",
			Message: fmt.Sprintf("the request body is not valid JSON: %v (at byte %d)", err, syntaxErr.Offset)}
	default:
		return &Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the request body is not a valid JSON object: " + err.Error()}
	}
}
