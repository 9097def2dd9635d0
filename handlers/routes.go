package handlers

import (
	"github.com/labstack/echo/v4"
)

// Routes declares every route of infradash, so the whole surface is visible in one place.
func (s *Server) Routes(e *echo.Echo) {
	e.HTTPErrorHandler = s.HTTPErrorHandler

	// Operational endpoints: no login.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/static/*", echo.WrapHandler(s.assets))

	// The JSON API. Everything in this group needs credentials.
	api := e.Group("/api/v1", s.requireAuth)
	api.GET("/observability/infrastructure/alerts", s.listAlerts)
	api.POST("/observability/infrastructure/alerts/test", s.testAlert, requireAdmin)
	api.POST("/observability/infrastructure/alerts/:id/acknowledge", s.acknowledgeAlert, requireAdmin)
}
