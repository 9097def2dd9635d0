package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// textProblem says what is wrong with a text input, or "" when nothing is. PostgreSQL's text
// holds neither a NUL byte nor invalid UTF-8 (SQLSTATE 22021), so such a value must be refused
// before any query sees it.
func textProblem(v string) string {
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	if strings.IndexByte(v, 0) >= 0 {
		return "contains a NUL byte"
	}
	return ""
}

// malformedLoginKey marks a login whose input refuseMalformedText found malformed: it fails as an
// unknown email does, because a login's answer must not differ from any wrong credentials'.
const malformedLoginKey = "infradash.malformed_login"

// loginRoutes take credentials; their malformed input is a failed login, not a 400.
var loginRoutes = map[string]bool{"/login": true, "/api/v1/auth/login": true}

// refuseMalformedText checks every text input of a request once, before any handler: the path
// and its parameters, the query, a form or JSON body and the credential headers. A malformed
// one is a 400 naming it; on a login route, a failed login.
func refuseMalformedText(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		name, problem, err := malformedInput(c)
		switch {
		case err != nil:
			return err
		case problem == "":
			return next(c)
		case c.Request().Method == http.MethodPost && loginRoutes[c.Path()]:
			c.Set(malformedLoginKey, name+" "+problem)
			return next(c)
		default:
			return errBadParam(name, "%s", problem)
		}
	}
}

// textHeaders carry credentials that reach the database (a bearer token is hashed, but a
// session token is looked up as it is).
var textHeaders = []string{echo.HeaderAuthorization, echo.HeaderCookie}

// malformedInput returns the name of the first malformed input and what is wrong with it. The
// error is for a body that cannot be read at all.
func malformedInput(c echo.Context) (name, problem string, err error) {
	r := c.Request()
	for i, p := range c.ParamNames() {
		if i < len(c.ParamValues()) {
			if problem := textProblem(c.ParamValues()[i]); problem != "" {
				return strings.TrimPrefix(p, "*"), problem, nil
			}
		}
	}
	if problem := textProblem(r.URL.Path); problem != "" {
		return "path", problem, nil
	}
	if name, problem := malformedValues("query parameter", r.URL.Query()); problem != "" {
		return name, problem, nil
	}
	for _, h := range textHeaders {
		for _, v := range r.Header.Values(h) {
			if problem := textProblem(v); problem != "" {
				return h + " header", problem, nil
			}
		}
	}
	// Agents' batches are gzip and large: ingest checks every field of them itself
	// (sample.CheckSnapshot), and one pass over a batch is all a hub taking thousands a second
	// can afford.
	if r.URL.Path == PathIngest {
		return "", "", nil
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	switch mediaType {
	case echo.MIMEApplicationForm:
		if err := parseForm(r); err != nil {
			return "", "", err
		}
		name, problem := malformedValues("form field", r.PostForm)
		return name, problem, nil
	case echo.MIMEApplicationJSON:
		return malformedJSON(r)
	}
	return "", "", nil
}

// malformedValues checks the names and values of a query or form.
func malformedValues(kind string, values map[string][]string) (name, problem string) {
	for k, vs := range values {
		if problem := textProblem(k); problem != "" {
			return fmt.Sprintf("%s name %q", kind, k), problem
		}
		for _, v := range vs {
			if problem := textProblem(v); problem != "" {
				return k, problem
			}
		}
	}
	return "", ""
}

// parseForm reads a form body, naming what is wrong with one that cannot be read.
func parseForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		if isBodyTooLarge(err) {
			return errBodyTooLarge
		}
		return &Error{Status: http.StatusBadRequest, Code: "invalid_form", Message: "the form could not be read: " + err.Error()}
	}
	return nil
}

// malformedJSON checks every string (and key) of a JSON body and puts the body back for the
// handler. A body that is not JSON is left to the handler's decodeJSON to explain.
func malformedJSON(r *http.Request) (name, problem string, err error) {
	if r.Body == nil || r.Body == http.NoBody {
		return "", "", nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if isBodyTooLarge(err) {
			return "", "", errBodyTooLarge
		}
		return "", "", &Error{Status: http.StatusBadRequest, Code: "invalid_body", Message: "the request body could not be read: " + err.Error()}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// The decoder would quietly turn invalid UTF-8 into U+FFFD; say so instead.
	if !utf8.Valid(body) {
		return "body", "is not valid UTF-8 (JSON must be)", nil
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return "", "", nil
	}
	name, problem = malformedJSONValue("", v)
	if problem != "" && name == "" {
		name = "body"
	}
	return name, problem, nil
}

func malformedJSONValue(path string, v any) (name, problem string) {
	switch v := v.(type) {
	case string:
		return path, textProblem(v)
	case []any:
		for i, e := range v {
			if name, problem := malformedJSONValue(fmt.Sprintf("%s[%d]", path, i), e); problem != "" {
				return name, problem
			}
		}
	case map[string]any:
		for k, e := range v {
			key := k
			if path != "" {
				key = path + "." + k
			}
			if problem := textProblem(k); problem != "" {
				return fmt.Sprintf("JSON key %q", key), problem
			}
			if name, problem := malformedJSONValue(key, e); problem != "" {
				return name, problem
			}
		}
	}
	return "", ""
}
