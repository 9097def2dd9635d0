package handlers

import (
	"github.com/labstack/echo/v4"
)

// Routes declares every route of infradash, so the whole surface is visible in one place.
func (s *Server) Routes(e *echo.Echo) {
	e.HTTPErrorHandler = s.HTTPErrorHandler

	// Every request gets an ID first, so every later line about it carries the ID. The access
	// log sits outside the panic recovery so a panic is logged and counted as the 500 it became.
	e.Use(requestID, s.observe, s.recoverPanics)

	// Operational endpoints: no login.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.serveMetrics)
	e.GET("/static/*", echo.WrapHandler(s.assets))
	if !s.cfg.Production() {
		e.GET("/api/docs", s.showAPIDocsPage)
	}

	// The JSON API. Everything in this group needs credentials.
	api := e.Group("/api/v1", s.requireAuth)
	_ = api
	_ = requireAdmin
}
