package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/views"
)

// Routes declares every route of infradash, so the whole surface is visible in one place.
func (s *Server) Routes(e *echo.Echo) {
	e.HTTPErrorHandler = s.HTTPErrorHandler

	// Operational endpoints: no login.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/static/*", echo.WrapHandler(s.assets))

	// The dashboard pages.
	pages := e.Group(views.PathObservability, s.requireAuth)
	pages.GET("", s.showObservabilityPage)
	pages.GET("/fragments/live", s.showLiveFragment)
	pages.GET("/fragments/charts", s.showChartFragment)
	pages.POST("/alerts/:id/acknowledge", s.acknowledgeAlertFromPage, requireAdmin)

	// The JSON API. Everything in this group needs credentials.
	api := e.Group("/api/v1", s.requireAuth)
	_ = api
	_ = requireAdmin
}
