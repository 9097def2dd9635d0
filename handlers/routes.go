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

	e.GET("/api/v1/openapi.json", s.showOpenAPI)

	// The JSON API. Everything in this group needs credentials.
	api := e.Group("/api/v1", s.requireAuth)
	infra := api.Group("/observability/infrastructure")
	infra.GET("/system", s.showSystem)
	infra.GET("/process", s.showProcess)
	infra.GET("/platform", s.showPlatform)
	infra.GET("/summary", s.showSummary)
	infra.GET("/health", s.showHealth)
	infra.GET("/report", s.showReport)
	infra.GET("/history", s.showHistory)
	_ = requireAdmin
}
