package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/views"
)

// showHome sends the browser to the dashboard.
func (s *Server) showHome(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, afterLogin)
}

// showObservabilityPage renders the dashboard.
func (s *Server) showObservabilityPage(c echo.Context) error {
	return s.render(c, http.StatusOK, views.ObservabilityPage(s.page(c, "Observability")))
}
