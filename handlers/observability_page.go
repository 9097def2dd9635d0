package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// showHome sends the browser to the dashboard.
func (s *Server) showHome(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, afterLogin)
}
