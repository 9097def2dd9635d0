package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/views"
)

// settings is what every settings page shows around its content, for the section it belongs to.
func (s *Server) settings(c echo.Context, section, title string) views.Settings {
	return views.Settings{Page: s.page(c, title), Section: section}
}

// showSettings sends /settings to its first page.
func (s *Server) showSettings(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, views.SettingsSections[0].Path)
}
