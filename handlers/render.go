package handlers

import (
	"fmt"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/views"
)

// page is what every full page needs: title, the logged-in user and the asset URLs.
func (s *Server) page(c echo.Context, title string) views.Page {
	p := views.Page{Title: title, Asset: s.assets.URL}
	if pr := principal(c); pr != nil {
		p.User = &views.User{Email: pr.Email, Role: pr.Role}
	}
	return p
}

// render renders into a buffer first, so a failed render is still a clean 500.
func (s *Server) render(c echo.Context, status int, component templ.Component) error {
	buf := templ.GetBuffer()
	defer templ.ReleaseBuffer(buf)
	if err := component.Render(c.Request().Context(), buf); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}
