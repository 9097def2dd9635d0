package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// submit posts a settings form as a browser does (same origin) and parses the answer.
func (a *testApp) submit(t *testing.T, cookie *http.Cookie, path string, form url.Values) (*goquery.Document, *httptest.ResponseRecorder) {
	t.Helper()
	return a.page(t, request{method: http.MethodPost, path: path, cookie: cookie, body: strings.NewReader(form.Encode()),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}})
}

// follow loads where a 303 points, as the browser does after a form.
func (a *testApp) follow(t *testing.T, cookie *http.Cookie, rec *httptest.ResponseRecorder) *goquery.Document {
	t.Helper()
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("want a 303 after the form, got %d: %s", rec.Code, rec.Body)
	}
	doc, res := a.page(t, request{path: rec.Header().Get("Location"), cookie: cookie})
	if res.Code != http.StatusOK {
		t.Fatalf("GET %s: %d", rec.Header().Get("Location"), res.Code)
	}
	return doc
}

// Every settings form: a mistake is shown beside its field (and nothing is stored), a success
// redirects and says once what it did, a new secret is shown in the answer once.
func TestSettingsForms(t *testing.T) {
	a := newTestApp(t, nil)
	_, cookie := authtest.Session(t, a.pool, a.e, auth.RoleAdmin)
	fieldError := func(doc *goquery.Document, id string) string {
		return strings.TrimSpace(doc.Find(`[data-testid="` + id + `-error"]`).Text())
	}

	// Users: a bad email stays in the form with the error beside it.
	doc, rec := a.submit(t, cookie, "/settings/users", url.Values{"email": {"not-an-email"}, "role": {"viewer"}, "password": {"a long enough password"}})
	if rec.Code != http.StatusBadRequest || !strings.Contains(fieldError(doc, "add-email"), "not an email address") {
		t.Fatalf("bad email: %d, error %q", rec.Code, fieldError(doc, "add-email"))
	}
	if v, _ := doc.Find(`[data-testid="add-email"]`).Attr("value"); v != "not-an-email" {
		t.Errorf("the form lost what was typed: %q", v)
	}
	if inv, _ := doc.Find(`[data-testid="add-email"]`).Attr("aria-invalid"); inv != "true" {
		t.Error("the field in error is not marked aria-invalid")
	}
	if v, ok := doc.Find(`[data-testid="add-password"]`).Attr("value"); ok && v != "" {
		t.Errorf("the password is shown back in the form: %q", v)
	}
	doc, rec = a.submit(t, cookie, "/settings/users", url.Values{"email": {"ops@example.com"}, "role": {"viewer"}, "password": {"short"}})
	if rec.Code != http.StatusBadRequest || !strings.Contains(fieldError(doc, "add-password"), "at least 12") {
		t.Errorf("short password: %d, error %q", rec.Code, fieldError(doc, "add-password"))
	}
	_, rec = a.submit(t, cookie, "/settings/users", url.Values{"email": {"ops@example.com"}, "role": {"admin"}, "password": {"a long enough password"}})
	doc = a.follow(t, cookie, rec)
	if flash := doc.Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "ops@example.com") {
		t.Errorf("flash after adding: %q", flash)
	}
	if doc.Find(`[data-testid="user-ops@example.com"]`).Length() != 1 {
		t.Error("the new user is not listed")
	}
	if doc, _ := a.page(t, request{path: "/settings/users", cookie: cookie}); doc.Find(`[data-testid="flash"]`).Length() != 0 {
		t.Error("the flash shows twice")
	}
	// Without a password, one is generated and shown once, in the answer.
	doc, rec = a.submit(t, cookie, "/settings/users", url.Values{"email": {"viewer@example.com"}, "role": {"viewer"}})
	generated, _ := doc.Find(`[data-testid="secret-value"]`).Attr("value")
	if rec.Code != http.StatusCreated || len(generated) < 12 {
		t.Fatalf("generated password: %d %q", rec.Code, generated)
	}
	if _, err := a.srv.users.Login(context.Background(), "viewer@example.com", generated); err != nil {
		t.Errorf("the generated password: %v", err)
	}
	ops, _ := a.srv.users.UserByEmail(context.Background(), "ops@example.com")
	row := fmt.Sprintf("/settings/users/%d", ops.ID)
	doc, rec = a.submit(t, cookie, row, url.Values{"action": {"role"}, "role": {"root"}})
	if rec.Code != http.StatusBadRequest || !strings.Contains(fieldError(doc, fmt.Sprintf("user-%d-role", ops.ID)), "role must be") {
		t.Errorf("bad role: %d %q", rec.Code, fieldError(doc, fmt.Sprintf("user-%d-role", ops.ID)))
	}
	for _, step := range []url.Values{{"action": {"role"}, "role": {"viewer"}}, {"action": {"disable"}}, {"action": {"enable"}},
		{"action": {"password"}, "password": {"a different password"}}} {
		_, rec = a.submit(t, cookie, row, step)
		if rec.Code != http.StatusSeeOther {
			t.Errorf("%v: %d %s", step, rec.Code, rec.Body)
		}
	}
	if _, err := a.srv.users.Login(context.Background(), "ops@example.com", "a different password"); err != nil {
		t.Errorf("after the page set a password: %v", err)
	}
	doc, rec = a.submit(t, cookie, row, url.Values{"action": {"password"}})
	if v, _ := doc.Find(`[data-testid="secret-value"]`).Attr("value"); rec.Code != http.StatusOK || len(v) < 12 {
		t.Errorf("reset without a password: %d, secret %q", rec.Code, v)
	}

	// Tokens: created and shown once; revoked.
	doc, rec = a.submit(t, cookie, "/settings/tokens", url.Values{"name": {""}, "expires_in": {"86400"}})
	if rec.Code != http.StatusBadRequest || !strings.Contains(fieldError(doc, "add-name"), "name is required") {
		t.Errorf("token without a name: %d %q", rec.Code, fieldError(doc, "add-name"))
	}
	doc, rec = a.submit(t, cookie, "/settings/tokens", url.Values{"name": {"ci"}, "expires_in": {"forever"}})
	if rec.Code != http.StatusBadRequest || fieldError(doc, "add-expires_in") == "" {
		t.Errorf("token with a bad expiry: %d %q", rec.Code, fieldError(doc, "add-expires_in"))
	}
	doc, rec = a.submit(t, cookie, "/settings/tokens", url.Values{"name": {"ci"}, "expires_in": {"86400"}})
	token, _ := doc.Find(`[data-testid="secret-value"]`).Attr("value")
	if rec.Code != http.StatusCreated || !strings.HasPrefix(token, auth.TokenPrefix) {
		t.Fatalf("token: %d %q", rec.Code, token)
	}
	if r := a.do(t, request{path: "/api/v1/auth/me", bearer: token}); r.Code != http.StatusOK {
		t.Fatalf("the new token: %d", r.Code)
	}
	doc, _ = a.page(t, request{path: "/settings/tokens", cookie: cookie})
	if strings.Contains(doc.Text(), token) || doc.Find(`[data-testid="secret"]`).Length() != 0 {
		t.Error("the token is shown again")
	}
	id, _ := doc.Find(`[data-testid^="token-"]:has([data-testid="token-revoke"])`).First().Attr("data-testid")
	_, rec = a.submit(t, cookie, "/settings/tokens/"+strings.TrimPrefix(id, "token-")+"/revoke", nil)
	if flash := a.follow(t, cookie, rec).Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "Revoked token ci") {
		t.Errorf("flash after revoking: %q", flash)
	}
	if r := a.do(t, request{path: "/api/v1/auth/me", bearer: token}); r.Code != http.StatusUnauthorized {
		t.Errorf("the revoked token: %d, want 401 at once", r.Code)
	}

	// Hosts: enrolled with its token and start lines once; labels; a removal needs its choice.
	doc, rec = a.submit(t, cookie, "/settings/hosts", url.Values{"name": {"web_1"}, "labels": {"env=prod"}})
	if rec.Code != http.StatusBadRequest || fieldError(doc, "add-name") == "" {
		t.Errorf("bad host name: %d %q", rec.Code, fieldError(doc, "add-name"))
	}
	doc, rec = a.submit(t, cookie, "/settings/hosts", url.Values{"name": {"web-1"}, "labels": {"envprod"}})
	if rec.Code != http.StatusBadRequest || !strings.Contains(fieldError(doc, "add-labels"), "KEY=VALUE") {
		t.Errorf("bad labels: %d %q", rec.Code, fieldError(doc, "add-labels"))
	}
	doc, rec = a.submit(t, cookie, "/settings/hosts", url.Values{"name": {"web-1"}, "labels": {"env=prod, role=web"}})
	agentToken, _ := doc.Find(`[data-testid="secret-value"]`).Attr("value")
	lines := doc.Find(`[data-testid="secret-lines"]`).Text()
	if rec.Code != http.StatusCreated || !strings.HasPrefix(agentToken, "idh_") || !strings.Contains(lines, agentToken) || !strings.Contains(lines, "HUB_URL=") {
		t.Fatalf("enrolled: %d token %q lines %q", rec.Code, agentToken, lines)
	}
	if v, _ := doc.Find(`[data-testid="host-web-1-labels"]`).Attr("value"); v != "env=prod,role=web" {
		t.Errorf("labels of web-1 on the page: %q", v)
	}
	_, rec = a.submit(t, cookie, "/settings/hosts/web-1/labels", url.Values{"labels": {"env=staging"}})
	a.follow(t, cookie, rec)
	if h, _ := a.srv.fleet.Host("web-1"); h.Labels.String() != "env=staging" {
		t.Errorf("labels after saving: %v", h.Labels)
	}
	doc, rec = a.submit(t, cookie, "/settings/hosts/web-1/rotate", nil)
	if v, _ := doc.Find(`[data-testid="secret-value"]`).Attr("value"); rec.Code != http.StatusOK || !strings.HasPrefix(v, "idh_") || v == agentToken {
		t.Errorf("rotated: %d %q", rec.Code, v)
	}
	doc, rec = a.submit(t, cookie, "/settings/hosts/web-1/remove", nil)
	if rec.Code != http.StatusBadRequest || !strings.Contains(fieldError(doc, "host-web-1-history"), "keep") {
		t.Errorf("remove without a choice: %d %q", rec.Code, fieldError(doc, "host-web-1-history"))
	}
	if _, ok := a.srv.fleet.Host("web-1"); !ok {
		t.Fatal("removed without a choice")
	}
	_, rec = a.submit(t, cookie, "/settings/hosts/web-1/remove", url.Values{"history": {"purge"}})
	if flash := a.follow(t, cookie, rec).Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "deleted its history") {
		t.Errorf("flash after removing: %q", flash)
	}

	// The audit log has it all, by this admin, from the pages, and can be filtered.
	doc, _ = a.page(t, request{path: "/settings/audit?target=host", cookie: cookie})
	var actions []string
	doc.Find(`[data-testid="audit"] tbody tr`).Each(func(_ int, s *goquery.Selection) {
		actions = append(actions, strings.TrimSpace(s.Find(`[data-testid="audit-action"]`).Text()))
	})
	if got := strings.Join(actions, " "); got != "host.remove host.rotate host.labels host.enrol" {
		t.Errorf("host entries on the page: %q", got)
	}
	doc, rec = a.page(t, request{path: "/settings/audit?from=soon", cookie: cookie})
	if rec.Code != http.StatusBadRequest || fieldError(doc, "filter-from") == "" {
		t.Errorf("a bad filter: %d %q", rec.Code, fieldError(doc, "filter-from"))
	}

	// A form posted from another site is refused before anything happens.
	rec = a.do(t, request{method: http.MethodPost, path: "/settings/users", cookie: cookie, body: strings.NewReader("email=evil@example.com"),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"}})
	if rec.Code != http.StatusForbidden {
		t.Errorf("cross-site form: %d, want 403", rec.Code)
	}
	if _, err := a.srv.users.UserByEmail(context.Background(), "evil@example.com"); err == nil {
		t.Error("the cross-site form added a user")
	}
}

// Viewers can post none of the forms.
func TestSettingsFormsRefuseViewers(t *testing.T) {
	a := newTestApp(t, nil)
	_, cookie := authtest.Session(t, a.pool, a.e, auth.RoleViewer)
	for _, path := range []string{"/settings/users", "/settings/users/1", "/settings/tokens", "/settings/tokens/1/revoke",
		"/settings/hosts", "/settings/hosts/web-1/rotate", "/settings/hosts/web-1/labels", "/settings/hosts/web-1/remove"} {
		if _, rec := a.submit(t, cookie, path, url.Values{"email": {"x@example.com"}, "name": {"web-1"}}); rec.Code != http.StatusForbidden {
			t.Errorf("viewer: POST %s: %d, want 403", path, rec.Code)
		}
	}
	if rec := a.do(t, request{path: "/settings/audit", cookie: cookie}); rec.Code != http.StatusForbidden {
		t.Errorf("viewer: GET /settings/audit: %d", rec.Code)
	}
}
