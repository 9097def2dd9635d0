package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
)

// page requests a page as a browser would and parses it.
func (a *testApp) page(t *testing.T, r request) (*goquery.Document, *httptest.ResponseRecorder) {
	t.Helper()
	if r.header == nil {
		r.header = map[string]string{}
	}
	r.header["Accept"] = "text/html"
	rec := a.do(t, r)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	return doc, rec
}

// Admins find the settings from every page; viewers see no link, and the pages answer them 403.
func TestSettingsAreForAdminsOnly(t *testing.T) {
	a := newTestApp(t, nil)
	admin, adminCookie := authtest.Session(t, a.pool, a.e, auth.RoleAdmin)
	viewer, viewerCookie := authtest.Session(t, a.pool, a.e, auth.RoleViewer)

	doc, rec := a.page(t, request{path: "/settings/users", cookie: adminCookie})
	if rec.Code != http.StatusOK {
		t.Fatalf("admin: GET /settings/users: %d %s", rec.Code, rec.Body)
	}
	if doc.Find(`[data-testid="nav-settings"]`).Length() != 1 {
		t.Error("an admin's page has no Settings link")
	}
	for _, email := range []string{admin.Email, viewer.Email} {
		if doc.Find(`[data-testid="user-`+email+`"]`).Length() != 1 {
			t.Errorf("the users page does not list %s", email)
		}
	}
	if cur, _ := doc.Find(`[data-testid="settings-users"]`).Attr("aria-current"); cur != "page" {
		t.Error("Users is not the current settings section")
	}
	if rec := a.do(t, request{path: "/settings", cookie: adminCookie}); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/settings/users" {
		t.Errorf("GET /settings: %d to %q, want 303 to /settings/users", rec.Code, rec.Header().Get("Location"))
	}

	for _, path := range []string{"/settings", "/settings/users"} {
		doc, rec := a.page(t, request{path: path, cookie: viewerCookie})
		if rec.Code != http.StatusForbidden {
			t.Errorf("viewer: GET %s: %d, want 403", path, rec.Code)
		}
		if doc.Find(`[data-testid="error-page"]`).Length() != 1 {
			t.Errorf("viewer: GET %s is not the error page: %s", path, rec.Body)
		}
		if doc.Find(`[data-testid="nav-settings"]`).Length() != 0 {
			t.Errorf("viewer: GET %s links to the settings", path)
		}
	}
	doc, _ = a.page(t, request{path: "/observability", cookie: viewerCookie})
	if doc.Find(`[data-testid="current-user"]`).Length() != 1 || doc.Find(`a[href^="/settings"]`).Length() != 0 {
		t.Error("the viewer's dashboard links to the settings")
	}
	if rec := a.do(t, request{path: "/settings/users"}); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login") {
		t.Errorf("without a login: %d to %q, want a redirect to /login", rec.Code, rec.Header().Get("Location"))
	}
}
