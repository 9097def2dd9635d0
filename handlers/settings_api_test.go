package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
)

// data decodes the envelope's data of a documented answer into v.
func data(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(decode(t, rec).Data, v); err != nil {
		t.Fatalf("data: %v: %s", err, rec.Body)
	}
}

// wantField fails unless the error message of rec names field first, as every validation error
// of the settings API does.
func wantField(t *testing.T, rec *httptest.ResponseRecorder, field string) {
	t.Helper()
	if msg := decode(t, rec).Error.Message; !strings.HasPrefix(msg, field) {
		t.Errorf("the error %q does not name the field %s first", msg, field)
	}
}

func TestUsersAPI(t *testing.T) {
	a := newTestApp(t, nil)
	me, _ := authtest.User(t, a.pool, auth.RoleAdmin)
	admin, _, err := a.srv.users.CreateToken(context.Background(), me.ID, "test", 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	viewer := authtest.Token(t, a.pool, auth.RoleViewer)
	do := func(method, path, body, bearer string, status int, code string) *httptest.ResponseRecorder {
		t.Helper()
		return serveDocumented(t, a.e, jsonRequest(method, path, body, bearer), status, code)
	}

	var list struct{ Items []userJSON }
	data(t, do(http.MethodGet, "/api/v1/users", "", admin, http.StatusOK, ""), &list)
	if len(list.Items) != 2 {
		t.Fatalf("users: %+v", list.Items)
	}

	// Add one with a password, one without: that one's is generated and answered once.
	var chosen, generated newUserJSON
	data(t, do(http.MethodPost, "/api/v1/users", `{"email": "Ops@Example.com", "role": "admin", "password": "a long enough password"}`, admin,
		http.StatusCreated, ""), &chosen)
	if chosen.Email != "ops@example.com" || chosen.Role != auth.RoleAdmin || chosen.Password != "" {
		t.Errorf("created %+v", chosen)
	}
	data(t, do(http.MethodPost, "/api/v1/users", `{"email": "viewer2@example.com"}`, admin, http.StatusCreated, ""), &generated)
	if generated.Role != auth.RoleViewer || len(generated.Password) < auth.MinPasswordLength {
		t.Errorf("created %+v: want a viewer with a generated password", generated)
	}
	if _, err := a.srv.users.Login(context.Background(), "viewer2@example.com", generated.Password); err != nil {
		t.Errorf("the generated password does not log in: %v", err)
	}
	for body, field := range map[string]string{
		`{"email": "nobody"}`:                               "email",
		`{"email": "x@example.com", "role": "root"}`:        "role",
		`{"email": "x@example.com", "password": "short"}`:   "password",
		`{"email": "x@example.com", "admin": true}`:         "admin",
		`{"email": "x@example.com", "role": 3}`:             "role",
		`{"email": "` + strings.Repeat("a", 251) + `@b.c"}`: "email",
	} {
		wantField(t, do(http.MethodPost, "/api/v1/users", body, admin, http.StatusBadRequest, "invalid_parameter"), field)
	}
	wantField(t, do(http.MethodPost, "/api/v1/users", `{"email": "OPS@example.com"}`, admin, http.StatusConflict, "email_taken"), "email")

	// Change it: role, disabled, password; each alone.
	path := fmt.Sprintf("/api/v1/users/%d", chosen.ID)
	var up updatedUserJSON
	data(t, do(http.MethodPatch, path, `{"role": "viewer"}`, admin, http.StatusOK, ""), &up)
	if up.Role != auth.RoleViewer {
		t.Errorf("after the role change: %+v", up)
	}
	token, _, _ := a.srv.users.CreateToken(context.Background(), chosen.ID, "script", 3600e9)
	data(t, do(http.MethodPatch, path, `{"disabled": true}`, admin, http.StatusOK, ""), &up)
	if !up.Disabled || up.DisabledAt == nil || up.RevokedTokens != 1 {
		t.Errorf("after disabling: %+v", up)
	}
	// Refused at once: the token was checked in this process a moment ago, and is not trusted now.
	do(http.MethodGet, "/api/v1/auth/me", "", token, http.StatusUnauthorized, "unauthorized")
	data(t, do(http.MethodPatch, path, `{"disabled": false, "password": "another long password"}`, admin, http.StatusOK, ""), &up)
	if up.Disabled {
		t.Errorf("after enabling: %+v", up)
	}
	if _, err := a.srv.users.Login(context.Background(), "ops@example.com", "another long password"); err != nil {
		t.Errorf("the new password does not log in: %v", err)
	}
	for body, field := range map[string]string{
		`{"role": "root"}`:      "role",
		`{"password": "short"}`: "password",
		`{"disable": true}`:     "disable",
		`{"disabled": "yes"}`:   "disabled",
	} {
		wantField(t, do(http.MethodPatch, path, body, admin, http.StatusBadRequest, "invalid_parameter"), field)
	}
	do(http.MethodPatch, path, `{}`, admin, http.StatusBadRequest, "invalid_parameter")
	do(http.MethodPatch, "/api/v1/users/0", `{"role": "admin"}`, admin, http.StatusBadRequest, "invalid_parameter")
	do(http.MethodPatch, "/api/v1/users/999", `{"role": "admin"}`, admin, http.StatusNotFound, "not_found")

	// The last enabled admin stays: me, once the others are not admins.
	mine := fmt.Sprintf("/api/v1/users/%d", me.ID)
	wantField(t, do(http.MethodPatch, mine, `{"role": "viewer"}`, admin, http.StatusConflict, "last_admin"), "role")
	wantField(t, do(http.MethodPatch, mine, `{"disabled": true}`, admin, http.StatusConflict, "last_admin"), "disabled")

	// Viewers may do none of it.
	do(http.MethodGet, "/api/v1/users", "", viewer, http.StatusForbidden, "forbidden")
	do(http.MethodPost, "/api/v1/users", `{"email": "v3@example.com"}`, viewer, http.StatusForbidden, "forbidden")
	do(http.MethodPatch, path, `{"role": "admin"}`, viewer, http.StatusForbidden, "forbidden")

	// The audit log has each change, by me, from the API, with no password in it.
	entries, _, err := audit.List(context.Background(), a.pool, audit.Filter{Target: "user:ops@example.com", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
		if e.Actor.Name != me.Email || e.Actor.Via != audit.ViaAPI || e.Actor.Address == "" {
			t.Errorf("entry %s: actor %+v", e.Action, e.Actor)
		}
	}
	if got, want := strings.Join(actions, " "), "user.password user.enable user.disable user.role user.create"; got != want {
		t.Errorf("audit of ops@example.com: %q, want %q", got, want)
	}
	var dump string
	_ = a.pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(details::text, ' '), '') FROM audit_log`).Scan(&dump)
	for _, secret := range []string{"a long enough password", "another long password", generated.Password} {
		if strings.Contains(dump, secret) {
			t.Errorf("the audit log holds a password: %s", dump)
		}
	}
}

func TestTokensAPI(t *testing.T) {
	a := newTestApp(t, nil)
	me, _ := authtest.User(t, a.pool, auth.RoleAdmin)
	admin, _, err := a.srv.users.CreateToken(context.Background(), me.ID, "admin", 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	viewer := authtest.Token(t, a.pool, auth.RoleViewer)
	do := func(method, path, body, bearer string, status int, code string) *httptest.ResponseRecorder {
		t.Helper()
		return serveDocumented(t, a.e, jsonRequest(method, path, body, bearer), status, code)
	}
	var made newTokenJSON
	data(t, do(http.MethodPost, "/api/v1/tokens", `{"name": "ci-deploy", "expires_in": 3600}`, admin, http.StatusCreated, ""), &made)
	if !strings.HasPrefix(made.Token, auth.TokenPrefix) || made.Name != "ci-deploy" || made.UserEmail != me.Email || made.Status != tokenActive {
		t.Fatalf("created %+v", made)
	}
	if got := made.ExpiresAt.Sub(made.CreatedAt); got.Seconds() != 3600 {
		t.Errorf("expires after %s, want 1h", got)
	}
	var dflt newTokenJSON
	data(t, do(http.MethodPost, "/api/v1/tokens", `{"name": "default"}`, admin, http.StatusCreated, ""), &dflt)
	if got := dflt.ExpiresAt.Sub(dflt.CreatedAt); got != defaultTokenLifetime {
		t.Errorf("without expires_in: %s, want %s", got, defaultTokenLifetime)
	}
	// The new token works, and shows its last use.
	do(http.MethodGet, "/api/v1/auth/me", "", made.Token, http.StatusOK, "")
	var list struct{ Items []tokenJSON }
	data(t, do(http.MethodGet, "/api/v1/tokens", "", admin, http.StatusOK, ""), &list)
	var found bool
	for _, tk := range list.Items {
		if tk.ID == made.ID {
			found = tk.LastUsedAt != nil && tk.Status == tokenActive
		}
	}
	if !found {
		t.Errorf("the list does not show the used token with its last use: %+v", list.Items)
	}
	for body, field := range map[string]string{
		`{"name": ""}`: "name", `{"name": "   "}`: "name", `{"name": "` + strings.Repeat("n", 101) + `"}`: "name",
		`{"name": "x", "expires_in": 0}`: "expires_in", `{"name": "x", "expires_in": 31536001}`: "expires_in",
		`{"name": "x", "expires_in": "1h"}`: "expires_in", `{"name": "x", "ttl": 60}`: "ttl",
	} {
		wantField(t, do(http.MethodPost, "/api/v1/tokens", body, admin, http.StatusBadRequest, "invalid_parameter"), field)
	}

	// Revoked: refused at once, though this process checked it a moment ago.
	var revoked tokenJSON
	data(t, do(http.MethodDelete, fmt.Sprintf("/api/v1/tokens/%d", made.ID), "", admin, http.StatusOK, ""), &revoked)
	if revoked.Status != tokenRevoked || revoked.RevokedAt == nil {
		t.Errorf("revoked %+v", revoked)
	}
	do(http.MethodGet, "/api/v1/auth/me", "", made.Token, http.StatusUnauthorized, "unauthorized")
	do(http.MethodDelete, fmt.Sprintf("/api/v1/tokens/%d", made.ID), "", admin, http.StatusNotFound, "not_found")
	wantField(t, do(http.MethodDelete, "/api/v1/tokens/abc", "", admin, http.StatusBadRequest, "invalid_parameter"), "id")

	do(http.MethodGet, "/api/v1/tokens", "", viewer, http.StatusForbidden, "forbidden")
	do(http.MethodPost, "/api/v1/tokens", `{"name": "x"}`, viewer, http.StatusForbidden, "forbidden")
	do(http.MethodDelete, fmt.Sprintf("/api/v1/tokens/%d", dflt.ID), "", viewer, http.StatusForbidden, "forbidden")

	entries, _, err := audit.List(context.Background(), a.pool, audit.Filter{Action: "token", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if e.Action != audit.TokenNewAddress {
			got = append(got, e.Action+" "+e.Target)
		}
	}
	want := fmt.Sprintf("token.revoke token:%d|token.create token:%d|token.create token:%d", made.ID, dflt.ID, made.ID)
	if strings.Join(got, "|") != want {
		t.Errorf("token entries %q, want %q", strings.Join(got, "|"), want)
	}
}

// A token used from an address it was neither created nor used from is in the audit log, once.
func TestTokenUseFromANewAddressIsAudited(t *testing.T) {
	a := newTestApp(t, nil)
	token := authtest.Token(t, a.pool, auth.RoleViewer)
	from := func(addr string) {
		t.Helper()
		req := jsonRequest(http.MethodGet, "/api/v1/auth/me", "", token)
		req.RemoteAddr = addr + ":4000"
		rec := httptest.NewRecorder()
		a.e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("from %s: %d", addr, rec.Code)
		}
	}
	for _, addr := range []string{"198.51.100.7", "198.51.100.7", "203.0.113.9", "198.51.100.7"} {
		from(addr)
	}
	a.srv.authCache = newAuthCache(a.srv.now) // another replica, or a restart: the database remembers
	from("203.0.113.9")
	entries, _, err := audit.List(context.Background(), a.pool, audit.Filter{Action: audit.TokenNewAddress, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Actor.Address)
	}
	if strings.Join(got, " ") != "203.0.113.9 198.51.100.7" {
		t.Errorf("new addresses audited: %v, want 198.51.100.7 then 203.0.113.9", got)
	}
}

func TestAuditAPI(t *testing.T) {
	a := newTestApp(t, nil)
	admin := authtest.Token(t, a.pool, auth.RoleAdmin)
	viewer := authtest.Token(t, a.pool, auth.RoleViewer)
	do := func(path, bearer string, status int, code string) *httptest.ResponseRecorder {
		t.Helper()
		return serveDocumented(t, a.e, jsonRequest(http.MethodGet, path, "", bearer), status, code)
	}
	for _, body := range []string{`{"name": "web-1", "labels": {"env": "prod"}}`, `{"name": "db-1"}`} {
		serveDocumented(t, a.e, jsonRequest(http.MethodPost, "/api/v1/hosts", body, admin), http.StatusCreated, "")
	}
	serveDocumented(t, a.e, jsonRequest(http.MethodPatch, "/api/v1/hosts/web-1", `{"labels": {"env": "staging"}}`, admin), http.StatusOK, "")

	var page struct {
		Items         []audit.Entry
		Total         int64
		Limit, Offset int
	}
	data(t, do("/api/v1/audit?target=host&limit=2", admin, http.StatusOK, ""), &page)
	if page.Total != 3 || len(page.Items) != 2 || page.Items[0].Action != audit.HostLabels {
		t.Fatalf("page one: %+v", page)
	}
	if d := page.Items[0].Details; fmt.Sprint(d["before"]) != "map[labels:map[env:prod]]" || fmt.Sprint(d["after"]) != "map[labels:map[env:staging]]" {
		t.Errorf("labels change details: %v", d)
	}
	data(t, do("/api/v1/audit?target=host&limit=2&offset=2", admin, http.StatusOK, ""), &page)
	if len(page.Items) != 1 || page.Items[0].Target != "host:web-1" || page.Items[0].Action != audit.HostEnrol {
		t.Errorf("page two: %+v", page.Items)
	}
	data(t, do("/api/v1/audit?action=host.enrol&target=host:db-1", admin, http.StatusOK, ""), &page)
	if page.Total != 1 {
		t.Errorf("one action on one target: %+v", page)
	}
	data(t, do("/api/v1/audit?from=2000-01-01&to=2000-01-02T00:00:00Z", admin, http.StatusOK, ""), &page)
	if page.Total != 0 {
		t.Errorf("a range long ago: %+v", page)
	}
	data(t, do("/api/v1/audit?actor=nobody@example.com", admin, http.StatusOK, ""), &page)
	if page.Total != 0 {
		t.Errorf("an actor who did nothing: %+v", page)
	}
	for query, field := range map[string]string{"from=yesterday": "from", "to=2026-13-01": "to", "limit=0": "limit",
		"offset=-1": "offset", "from=2026-01-02&to=2026-01-01": "to"} {
		wantField(t, do("/api/v1/audit?"+query, admin, http.StatusBadRequest, "invalid_parameter"), field)
	}
	do("/api/v1/audit", viewer, http.StatusForbidden, "forbidden")
}

func TestHostLabelsAPI(t *testing.T) {
	a := newTestApp(t, nil)
	admin := authtest.Token(t, a.pool, auth.RoleAdmin)
	viewer := authtest.Token(t, a.pool, auth.RoleViewer)
	serveDocumented(t, a.e, jsonRequest(http.MethodPost, "/api/v1/hosts", `{"name": "web-1", "labels": {"env": "prod"}}`, admin), http.StatusCreated, "")
	patch := func(path, body, bearer string, status int, code string) *httptest.ResponseRecorder {
		t.Helper()
		return serveDocumented(t, a.e, jsonRequest(http.MethodPatch, path, body, bearer), status, code)
	}
	var h hostDetailJSON
	data(t, patch("/api/v1/hosts/web-1", `{"labels": {"env": "staging", "role": "web"}}`, admin, http.StatusOK, ""), &h)
	if h.Labels["env"] != "staging" || h.Labels["role"] != "web" {
		t.Errorf("labels %v", h.Labels)
	}
	var cleared hostDetailJSON
	data(t, patch("/api/v1/hosts/web-1", `{"labels": {}}`, admin, http.StatusOK, ""), &cleared)
	if len(cleared.Labels) != 0 {
		t.Errorf("labels after {}: %v", cleared.Labels)
	}
	for body, field := range map[string]string{`{}`: "labels", `{"labels": {"Env": "x"}}`: "labels", `{"labels": "env=prod"}`: "labels",
		`{"label": {}}`: "label"} {
		wantField(t, patch("/api/v1/hosts/web-1", body, admin, http.StatusBadRequest, "invalid_parameter"), field)
	}
	patch("/api/v1/hosts/nope-1", `{"labels": {}}`, admin, http.StatusNotFound, "host_not_found")
	patch("/api/v1/hosts/web-1", `{"labels": {}}`, viewer, http.StatusForbidden, "forbidden")
}

// A user past the write limit gets 429 with Retry-After, on the API and the pages alike.
func TestWritesAreRateLimited(t *testing.T) {
	a := newTestApp(t, nil)
	admin := authtest.Token(t, a.pool, auth.RoleAdmin)
	var last *httptest.ResponseRecorder
	for i := 0; i <= writesPerMinute; i++ {
		last = a.do(t, request{method: http.MethodPatch, path: "/api/v1/hosts/nope-1", bearer: admin,
			header: map[string]string{"Content-Type": "application/json"}, body: strings.NewReader(`{"labels": {}}`)})
	}
	if last.Code != http.StatusTooManyRequests || last.Header().Get("Retry-After") == "" {
		t.Fatalf("write %d in a minute: %d %s", writesPerMinute+1, last.Code, last.Body)
	}
	validateAgainstOpenAPI(t, httptest.NewRequest(http.MethodPatch, "/api/v1/hosts/nope-1", nil), last)
	// Reads are not limited.
	if rec := a.do(t, request{path: "/api/v1/hosts", bearer: admin}); rec.Code != http.StatusOK {
		t.Errorf("a read after the limit: %d", rec.Code)
	}
}
