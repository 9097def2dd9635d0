package handlers

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/views"
)

// page is what every full page needs: title, the logged-in user and the asset URLs.
func (s *Server) page(c echo.Context, title string) views.Page {
	return views.Page{Title: title, User: currentUser(c), Asset: s.assets.URL}
}

// render renders into a buffer first, so a failed render is still a clean 500. Pages and htmx
// fragments go out gzipped to a client that takes it, as the static files do.
func (s *Server) render(c echo.Context, status int, component templ.Component) error {
	buf := templ.GetBuffer()
	defer templ.ReleaseBuffer(buf)
	if err := component.Render(c.Request().Context(), buf); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	body := buf.Bytes()
	h := c.Response().Header()
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if len(body) >= minGzipBytes && acceptsGzip(c.Request()) {
		zbuf := templ.GetBuffer()
		defer templ.ReleaseBuffer(zbuf)
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(zbuf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		gzipWriters.Put(zw)
		h.Set(echo.HeaderContentEncoding, "gzip")
		body = zbuf.Bytes()
	}
	return c.HTMLBlob(status, body)
}

// minGzipBytes is the smallest answer worth compressing: below about one TCP segment the
// gzip header and the CPU cost more than the bytes they save.
const minGzipBytes = 1400

// gzipWriters are reused: a fresh gzip.Writer allocates about 800 KB of tables. BestSpeed makes
// a page 10-18 % larger than the default level does, in a quarter to a half of the time
// (docs/benchmarks.md): either removes about 75 % of the bytes.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// decodeJSON reads a request body holding one JSON object into v, and names what is wrong with
// a body that does not.
func decodeJSON(c echo.Context, v any) error { return decodeBody(c, v, "") }

// decodeStrictJSON is decodeJSON for a body whose every field counts (a change, where a
// misspelt field would silently change nothing): an unknown field is a 400 naming it and the
// fields there are.
func decodeStrictJSON(c echo.Context, v any, fields string) error { return decodeBody(c, v, fields) }

func decodeBody(c echo.Context, v any, strictFields string) error {
	dec := json.NewDecoder(c.Request().Body)
	if strictFields != "" {
		dec.DisallowUnknownFields()
	}
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
		return errBadParam(typeErr.Field, "must be a JSON %s, not %s", jsonKind(typeErr.Type), typeErr.Value)
	case strictFields != "" && strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errBadParam(name, "is not a field of this request; it takes %s", strictFields)
	case errors.As(err, &syntaxErr):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_json",
			Message: fmt.Sprintf("the request body is not valid JSON: %v (at byte %d)", err, syntaxErr.Offset)}
	default:
		return &Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the request body is not a valid JSON object: " + err.Error()}
	}
}

// jsonKind names a Go type as JSON does: "string", "number", "boolean", "object".
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return t.String()
}
