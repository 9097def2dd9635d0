package handlers

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// routeMethods are the methods a route may be declared with; HEAD and OPTIONS are answered for
// every route (HeadAsGet, apiRouteNotFound).
var routeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// apiRouteNotFound answers what no /api/v1 route matched. A path that exists for other methods
// gets 405 with Allow, or 204 with Allow for OPTIONS (what a client or a CORS preflight asks
// first); no credentials are needed to learn which methods a documented path takes. Any other
// path is a 404 after the login check, so a caller without credentials learns nothing more.
func (s *Server) apiRouteNotFound(c echo.Context) error {
	allow := allowHeader(c)
	if allow == "" {
		return s.requireAuth(func(echo.Context) error { return errNotFound })(c)
	}
	c.Response().Header().Set(echo.HeaderAllow, allow)
	if c.Request().Method == http.MethodOptions {
		return c.NoContent(http.StatusNoContent)
	}
	return &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
		Message: fmt.Sprintf("%s is not allowed on %s; allowed: %s", c.Request().Method, c.Request().URL.Path, allow)}
}

// allowHeader lists the methods the router has for the request's path, as an Allow header
// ("GET, HEAD, OPTIONS"), or "" when no route has the path. It asks the router itself, so it
// can never disagree with it.
func allowHeader(c echo.Context) string {
	e := c.Echo()
	path := echo.GetPath(c.Request())
	notFound := c.Path() // the catch-all this request was routed to, or "" before routing
	var allowed []string
	for _, m := range routeMethods {
		probe := e.NewContext(nil, nil)
		e.Router().Find(m, path, probe)
		if p := probe.Path(); p != "" && p != notFound && !strings.HasSuffix(p, "/*") {
			allowed = append(allowed, m)
			if m == http.MethodGet {
				allowed = append(allowed, http.MethodHead)
			}
		}
	}
	if len(allowed) == 0 {
		return ""
	}
	return strings.Join(append(allowed, http.MethodOptions), ", ")
}
