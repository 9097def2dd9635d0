package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/database"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// healthz answers as long as the process serves HTTP.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "version": s.version})
}

// readyz answers 200 only when the database is reachable and stores what it is sent, and this
// host has a recent sample, so a load balancer sends no traffic to a replica that cannot show
// fresh data. A database that answers but refuses writes (read-only, disk full) is named in
// "writes", since the last write the store tried.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok", "writes": "ok", "sample": "ok"}
	status := http.StatusOK
	if since, err := s.store.Failing(); err != nil {
		checks["writes"] = fmt.Sprintf("failing for %s: %s", s.now().Sub(since).Round(time.Second), writeFailure(err))
		status = http.StatusServiceUnavailable
	}
	if err := s.pool.Ping(ctx); err != nil {
		checks["database"] = "unreachable"
		checks["sample"] = "unknown"
		status = http.StatusServiceUnavailable
	} else {
		at, err := s.q.LatestSampleAt(ctx, s.host)
		maxAge := 3 * s.cfg.CollectInterval
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			checks["sample"] = "none stored yet"
			status = http.StatusServiceUnavailable
		case err != nil:
			checks["sample"] = "unknown"
			status = http.StatusServiceUnavailable
		case s.now().Sub(at) > maxAge:
			checks["sample"] = fmt.Sprintf("stale: last stored %s ago", s.now().Sub(at).Round(time.Second))
			status = http.StatusServiceUnavailable
		}
	}
	word := "ready"
	if status != http.StatusOK {
		word = "not ready"
	}
	return c.JSON(status, map[string]any{"status": word, "checks": checks})
}

// serveMetrics answers /metrics in the Prometheus text format, behind METRICS_TOKEN when it is set.
func (s *Server) serveMetrics(c echo.Context) error {
	if want := s.cfg.MetricsToken; want != "" {
		got, ok := bearerToken(c.Request())
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
			return errUnauthorized
		}
	}
	s.metrics.Handler().ServeHTTP(c.Response(), c.Request())
	return nil
}

// writeFailure is why writes fail, in an operator's words, without the SQL or the connection
// string a raw error may hold.
func writeFailure(err error) string {
	if r := database.RefusalReason(err); r != "" {
		return r
	}
	return "the database cannot be reached"
}
