package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"
)

// saneRequestID is what an incoming X-Request-ID must look like to be kept: short, and nothing
// that could forge a log line or smuggle markup.
var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// requestID gives every request an ID, answered in X-Request-ID and written in its log line. An
// ID from a proxy in front is kept so one request can be followed across both logs.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !saneRequestID.MatchString(id) {
			b := make([]byte, 16)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

// probes are polled every few seconds by load balancers and Prometheus; their lines would
// drown the log at info level.
var probes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// observe writes one access-log line per request and counts it in /metrics. It answers errors
// itself (c.Error) so that the status it logs is the one the client got.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		took := time.Since(start)
		req, res := c.Request(), c.Response()
		route := c.Path()
		if route == "" || res.Status == http.StatusNotFound && route == "/*" {
			route = "unmatched"
		}
		s.metrics.ObserveRequest(req.Method, route, res.Status, took)

		level := slog.LevelInfo
		if probes[route] {
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{
			slog.String("method", req.Method),
			slog.String("route", route),
			slog.String("path", req.URL.Path),
			slog.Int("status", res.Status),
			slog.Float64("duration_ms", float64(took.Microseconds())/1000),
			slog.Int64("bytes", res.Size),
			slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
		}
		if p := principal(c); p != nil {
			attrs = append(attrs, slog.String("user", p.Email))
		}
		s.log.LogAttrs(req.Context(), level, "request", attrs...)
		return nil
	}
}

// recoverPanics turns a panic in a handler into a clean 500 in the error envelope: the stack
// goes to the log and to the error reporter, never to the client.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // net/http's way to abort a response; it is not a bug
			}
			s.log.Error("panic in handler", "method", c.Request().Method, "route", c.Path(),
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			s.reporter.Panic(c.Request(), v)
			err = errInternal
		}()
		return next(c)
	}
}

// HeadAsGet answers HEAD wherever GET is answered, as uptime checkers expect: the routes see
// a GET, while net/http, which keeps the client's own request, sends the headers without the
// body. It wraps the whole router because Echo routes on the method before any middleware.
func HeadAsGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			get := r.WithContext(r.Context())
			get.Method = http.MethodGet
			r = get
		}
		h.ServeHTTP(w, r)
	})
}
