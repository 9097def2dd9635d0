package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"golang.org/x/net/html"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/dbtest"
)

// testApp is a Server with every route on a real database.
type testApp struct {
	e    *echo.Echo
	pool *pgxpool.Pool
	srv  *Server
}

func newTestApp(t testing.TB, env map[string]string) *testApp {
	t.Helper()
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	pool := dbtest.Pool(t)
	srv := New(Deps{Options: optionsFrom(cfg), Pool: pool, Host: "test-host", Version: "test"})
	// Failed logins really wait in production; tests that need the delay observe it themselves.
	srv.sleep = func(context.Context, time.Duration) error { return nil }
	e := echo.New()
	srv.Routes(e)
	return &testApp{e: e, pool: pool, srv: srv}
}

type request struct {
	method, path string
	body         io.Reader
	header       map[string]string
	cookie       *http.Cookie
	bearer       string
}

func (a *testApp) do(t *testing.T, r request) *httptest.ResponseRecorder {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	req := httptest.NewRequest(r.method, r.path, r.body)
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if r.cookie != nil {
		req.AddCookie(r.cookie)
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	return rec
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

// answer is the JSON envelope.
type answer struct {
	Status string          `json:"status"`
	Data   json.RawMessage `json:"data"`
	Error  struct {
		Code, Message string
	} `json:"error"`
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("answer is not the JSON envelope: %v: %s", err, rec.Body.String())
	}
	return a
}

func (a *testApp) apiLogin(t *testing.T, email, password string) *httptest.ResponseRecorder {
	t.Helper()
	return a.do(t, request{method: http.MethodPost, path: "/api/v1/auth/login",
		header: map[string]string{"Content-Type": "application/json"},
		body:   jsonBody(map[string]string{"email": email, "password": password})})
}

// The origin checklist's curl flow: login, .data.access_token, a protected route with the bearer;
// after logout the same token is refused.
func TestAPILoginTokenAndLogout(t *testing.T) {
	a := newTestApp(t, nil)
	u, password := authtest.User(t, a.pool, auth.RoleAdmin)

	rec := a.apiLogin(t, u.Email, password)
	if rec.Code != http.StatusOK {
		t.Fatalf("login: %d %s", rec.Code, rec.Body.String())
	}
	var login struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(decode(t, rec).Data, &login); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(login.AccessToken, auth.TokenPrefix) || login.TokenType != "bearer" || login.ExpiresIn != 12*3600 {
		t.Fatalf("login answer: %+v", login)
	}

	for _, path := range []string{"/api/v1/auth/me", "/api/v1/users"} {
		rec = a.do(t, request{path: path, bearer: login.AccessToken})
		if rec.Code != http.StatusOK || decode(t, rec).Status != "success" {
			t.Fatalf("GET %s with the token: %d %s", path, rec.Code, rec.Body.String())
		}
	}
	var me Principal
	rec = a.do(t, request{path: "/api/v1/auth/me", bearer: login.AccessToken})
	_ = json.Unmarshal(decode(t, rec).Data, &me)
	if me.UserID != u.ID || me.Email != u.Email || me.Role != auth.RoleAdmin {
		t.Fatalf("me: %+v", me)
	}

	rec = a.do(t, request{method: http.MethodPost, path: "/api/v1/auth/logout", bearer: login.AccessToken})
	if rec.Code != http.StatusOK {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body.String())
	}
	rec = a.do(t, request{path: "/api/v1/auth/me", bearer: login.AccessToken})
	if rec.Code != http.StatusUnauthorized || decode(t, rec).Error.Code != "unauthorized" {
		t.Fatalf("the token after logout: %d %s", rec.Code, rec.Body.String())
	}
}

// publicRoutes answer without a login; every other route must refuse one.
var publicRoutes = map[string]bool{
	"/healthz": true, "/readyz": true, "/metrics": true, "/static/*": true, "/login": true,
	"/api/v1/auth/login": true, "/api/v1/openapi.json": true, "/api/docs": true,
}

// Every route of the router, present and future, needs credentials unless it is on the list.
func TestEveryRouteNeedsALogin(t *testing.T) {
	a := newTestApp(t, nil)
	checked := 0
	for _, r := range a.e.Routes() {
		if publicRoutes[r.Path] {
			continue
		}
		method := r.Method
		if method == echo.RouteNotFound {
			method = http.MethodGet
		}
		path := strings.NewReplacer("*", "anything").Replace(r.Path)
		parts := strings.Split(path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				parts[i] = "1"
			}
		}
		path = strings.Join(parts, "/")
		rec := a.do(t, request{method: method, path: path})
		if strings.HasPrefix(path, "/api/") {
			if rec.Code != http.StatusUnauthorized || decode(t, rec).Error.Code != "unauthorized" {
				t.Errorf("%s %s (route %s) without credentials: %d %s, want 401", method, path, r.Path, rec.Code, rec.Body.String())
			}
		} else if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
			t.Errorf("%s %s without a login: %d to %q, want a redirect to /login", method, path, rec.Code, loc)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d routes checked", checked)
	}
	// A wrong or malformed token is no better than none.
	for _, h := range []string{"Bearer idt_nope", "Bearer ", "Basic YTpi", "idt_nope"} {
		rec := a.do(t, request{path: "/api/v1/auth/me", header: map[string]string{"Authorization": h}})
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", h, rec.Code)
		}
	}
}

func TestViewersMayNotDoAdminThings(t *testing.T) {
	a := newTestApp(t, nil)
	viewer := authtest.Token(t, a.pool, auth.RoleViewer)
	rec := a.do(t, request{path: "/api/v1/users", bearer: viewer})
	if rec.Code != http.StatusForbidden || decode(t, rec).Error.Code != "forbidden" {
		t.Fatalf("viewer on GET /api/v1/users: %d %s", rec.Code, rec.Body.String())
	}
	rec = a.do(t, request{path: "/api/v1/auth/me", bearer: viewer})
	if rec.Code != http.StatusOK {
		t.Fatalf("viewer reading: %d", rec.Code)
	}
	admin := authtest.Token(t, a.pool, auth.RoleAdmin)
	rec = a.do(t, request{path: "/api/v1/users", bearer: admin})
	var users struct{ Items []auth.User }
	_ = json.Unmarshal(decode(t, rec).Data, &users)
	if rec.Code != http.StatusOK || len(users.Items) != 2 {
		t.Fatalf("admin on GET /api/v1/users: %d %s", rec.Code, rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), "argon2id") {
		t.Fatal("the user list shows password hashes")
	}
}

func TestSixWrongPasswordsLockTheAccount(t *testing.T) {
	a := newTestApp(t, nil)
	u, password := authtest.User(t, a.pool, auth.RoleViewer)
	var first answer
	for i := 1; i <= 6; i++ {
		rec := a.apiLogin(t, u.Email, "not the password")
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, rec.Code)
		}
		first = decode(t, rec)
	}
	rec := a.apiLogin(t, u.Email, password)
	if got := decode(t, rec); rec.Code != http.StatusUnauthorized || got.Error != first.Error {
		t.Fatalf("right password while locked: %d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(first.Error.Message, "locked for 15m") {
		t.Fatalf("the failure message should state the lock-out rule: %q", first.Error.Message)
	}
}

func TestUnknownEmailAnswersLikeAWrongPassword(t *testing.T) {
	a := newTestApp(t, nil)
	u, _ := authtest.User(t, a.pool, auth.RoleViewer)
	wrong := a.apiLogin(t, u.Email, "not the password")
	unknown := a.apiLogin(t, "nobody@example.com", "not the password")
	if wrong.Code != http.StatusUnauthorized || unknown.Code != wrong.Code || decode(t, unknown).Error != decode(t, wrong).Error {
		t.Fatalf("unknown email %d %s vs wrong password %d %s", unknown.Code, unknown.Body, wrong.Code, wrong.Body)
	}
}

func TestLoginAttemptsPerAddressAreLimited(t *testing.T) {
	a := newTestApp(t, nil)
	for i := 1; i <= loginAttemptsPerMinute; i++ {
		if rec := a.apiLogin(t, "nobody@example.com", "guess number one"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, rec.Code)
		}
	}
	rec := a.apiLogin(t, "nobody@example.com", "guess number one")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || decode(t, rec).Error.Code != "rate_limited" {
		t.Fatalf("attempt past the limit: %d Retry-After %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	// The login form shares the address's allowance.
	form := url.Values{"email": {"nobody@example.com"}, "password": {"guess number one"}}
	rec = a.do(t, request{method: http.MethodPost, path: "/login", body: strings.NewReader(form.Encode()),
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	if rec.Code != http.StatusTooManyRequests || findTestID(t, rec.Body.String(), "login-error") == "" {
		t.Fatalf("login form past the limit: %d", rec.Code)
	}
}

func TestBadLoginBodiesChangeNothing(t *testing.T) {
	a := newTestApp(t, nil)
	u, _ := authtest.User(t, a.pool, auth.RoleViewer)
	big := `{"email":"` + u.Email + `","password":"` + strings.Repeat("x", 2<<20) + `"}`
	for _, tc := range []struct {
		name, body string
		status     int
		code, want string
	}{
		{"malformed JSON", `{"email": "` + u.Email + `", "password": `, http.StatusBadRequest, "invalid_json", "not valid JSON"},
		{"missing field", `{"email": "` + u.Email + `"}`, http.StatusBadRequest, "invalid_parameter", "password: is required"},
		{"wrong type", `{"email": 42, "password": "x"}`, http.StatusBadRequest, "invalid_parameter", "email: must be a JSON string"},
		{"empty", ``, http.StatusBadRequest, "invalid_json", "empty"},
		{"2 MiB", big, http.StatusRequestEntityTooLarge, "body_too_large", "larger than 1 MiB"},
	} {
		rec := a.do(t, request{method: http.MethodPost, path: "/api/v1/auth/login", body: strings.NewReader(tc.body),
			header: map[string]string{"Content-Type": "application/json"}})
		got := decode(t, rec)
		if rec.Code != tc.status || got.Error.Code != tc.code || !strings.Contains(got.Error.Message, tc.want) {
			t.Errorf("%s: %d %+v, want %d %s %q", tc.name, rec.Code, got.Error, tc.status, tc.code, tc.want)
		}
	}
	// A body over the limit without Content-Length is cut off while reading.
	req := httptest.NewRequest(http.MethodPost, "/api/v1/auth/login", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("streamed 2 MiB body: %d %s", rec.Code, rec.Body)
	}

	store := auth.NewStore(a.pool, auth.Options{})
	after, _ := store.UserByEmail(context.Background(), u.Email)
	tokens, _ := store.Tokens(context.Background(), u.ID)
	if after.FailedAttempts != 0 || len(tokens) != 0 {
		t.Fatalf("bad requests changed the database: %d failed attempts, %d tokens", after.FailedAttempts, len(tokens))
	}
}

// findTestID returns the text of the element with data-testid=id, or "".
func findTestID(t *testing.T, page, id string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var text func(*html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	var found string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for _, at := range n.Attr {
			if at.Key == "data-testid" && at.Val == id && found == "" {
				found = strings.TrimSpace(text(n)) + " " // non-empty even for an empty element
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return found
}

func postForm(path string, form url.Values, cookie *http.Cookie, header map[string]string) request {
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range header {
		h[k] = v
	}
	return request{method: http.MethodPost, path: path, body: strings.NewReader(form.Encode()), header: h, cookie: cookie}
}

// A browser: the dashboard sends it to /login, which brings it back after login; reading pages
// does not write the session; logout ends it.
func TestBrowserLoginRoundTrip(t *testing.T) {
	a := newTestApp(t, nil)
	u, password := authtest.User(t, a.pool, auth.RoleViewer)

	rec := a.do(t, request{path: "/observability?tab=alerts"})
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/login?next=%2Fobservability%3Ftab%3Dalerts" {
		t.Fatalf("dashboard without login: %d to %q", rec.Code, loc)
	}
	rec = a.do(t, request{path: "/login?next=%2Fobservability%3Ftab%3Dalerts"})
	if rec.Code != http.StatusOK || findTestID(t, rec.Body.String(), "login-form") == "" {
		t.Fatalf("login page: %d", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), `value="/observability?tab=alerts"`) {
		t.Fatal("the login form does not carry where to go next")
	}

	rec = a.do(t, postForm("/login", url.Values{"email": {u.Email}, "password": {"not the password"}, "next": {"/observability"}}, nil, nil))
	if rec.Code != http.StatusUnauthorized || !strings.Contains(findTestID(t, rec.Body.String(), "login-error"), "invalid email or password") {
		t.Fatalf("wrong password on the form: %d %s", rec.Code, rec.Body)
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Fatal("a failed login set a cookie")
	}

	rec = a.do(t, postForm("/login", url.Values{"email": {u.Email}, "password": {password}, "next": {"/observability?tab=alerts"}}, nil, nil))
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/observability?tab=alerts" {
		t.Fatalf("login: %d to %q", rec.Code, loc)
	}
	cookie := rec.Result().Cookies()[0]
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure {
		t.Fatalf("development cookie: %+v", cookie)
	}

	rec = a.do(t, request{path: "/observability", cookie: cookie})
	if rec.Code != http.StatusOK || findTestID(t, rec.Body.String(), "observability") == "" {
		t.Fatalf("dashboard after login: %d", rec.Code)
	}
	if got := findTestID(t, rec.Body.String(), "current-user"); !strings.Contains(got, u.Email) {
		t.Fatalf("the page shows user %q", got)
	}
	if rec.Header().Get("Set-Cookie") != "" {
		t.Fatal("reading a page wrote the session")
	}
	rec = a.do(t, request{path: "/api/v1/auth/me", cookie: cookie})
	if rec.Code != http.StatusOK || rec.Header().Get("Set-Cookie") != "" {
		t.Fatalf("API with the session cookie: %d, Set-Cookie %q", rec.Code, rec.Header().Get("Set-Cookie"))
	}
	rec = a.do(t, request{path: "/login", cookie: cookie})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/observability" {
		t.Fatalf("login page when logged in: %d %q", rec.Code, rec.Header().Get("Location"))
	}

	rec = a.do(t, postForm("/logout", nil, cookie, map[string]string{"Sec-Fetch-Site": "same-origin"}))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Fatalf("logout should expire the cookie: %+v", c)
	}
	if rec = a.do(t, request{path: "/observability", cookie: cookie}); rec.Code != http.StatusSeeOther {
		t.Fatalf("the old session after logout: %d", rec.Code)
	}
}

func TestLoginRenewsTheSessionToken(t *testing.T) {
	a := newTestApp(t, nil)
	u, password := authtest.User(t, a.pool, auth.RoleViewer)
	first := authtest.SessionCookie(t, a.e, u.Email, password)
	rec := a.do(t, postForm("/login", url.Values{"email": {u.Email}, "password": {password}}, first, nil))
	second := rec.Result().Cookies()[0]
	if second.Value == first.Value {
		t.Fatal("logging in again kept the session token")
	}
	if rec = a.do(t, request{path: "/observability", cookie: first}); rec.Code != http.StatusSeeOther {
		t.Fatalf("the token from before the login still works: %d", rec.Code)
	}
}

func TestNextOnlyLeadsToThisSite(t *testing.T) {
	a := newTestApp(t, nil)
	u, password := authtest.User(t, a.pool, auth.RoleViewer)
	for next, want := range map[string]string{
		"/observability?x=1":    "/observability?x=1",
		"//evil.example/":       "/observability",
		"https://evil.example/": "/observability",
		"/\\evil.example":       "/observability",
		"\\\\evil.example":      "/observability",
		"javascript:alert(1)":   "/observability",
		"":                      "/observability",
	} {
		rec := a.do(t, postForm("/login", url.Values{"email": {u.Email}, "password": {password}, "next": {next}}, nil, nil))
		if loc := rec.Header().Get("Location"); loc != want {
			t.Errorf("next %q: went to %q, want %q", next, loc, want)
		}
	}
}

func TestCrossSiteFormPostsAreRefused(t *testing.T) {
	a := newTestApp(t, nil)
	_, cookie := authtest.Session(t, a.pool, a.e, auth.RoleViewer)
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		rec := a.do(t, postForm("/logout", nil, cookie, h))
		if rec.Code != http.StatusForbidden || decode(t, rec).Error.Code != "cross_origin_request" {
			t.Fatalf("cross-site logout %v: %d %s", h, rec.Code, rec.Body)
		}
	}
	if rec := a.do(t, request{path: "/observability", cookie: cookie}); rec.Code != http.StatusOK {
		t.Fatalf("the session after a refused cross-site logout: %d", rec.Code)
	}
	// A script with a bearer token is not a browser form: a foreign Origin does not matter.
	token := authtest.Token(t, a.pool, auth.RoleViewer)
	rec := a.do(t, request{method: http.MethodPost, path: "/api/v1/auth/logout", bearer: token,
		header: map[string]string{"Origin": "https://elsewhere.example"}})
	if rec.Code != http.StatusOK {
		t.Fatalf("bearer logout with a foreign Origin: %d %s", rec.Code, rec.Body)
	}
}

func TestProductionCookieAndHeaders(t *testing.T) {
	a := newTestApp(t, map[string]string{
		"ENVIRONMENT": "production", "DATABASE_URL": "postgres://unused/db",
		"SECRET_KEY": "4f9c2b7e1a8d3f6c0b5e9a2d7c4f1b8e", "CORS_ORIGINS": "https://dash.example.com",
	})
	_, cookie := authtest.Session(t, a.pool, a.e, auth.RoleViewer)
	if cookie.Name != "__Host-infradash_session" || !cookie.Secure || !cookie.HttpOnly ||
		cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" || cookie.Domain != "" {
		t.Fatalf("production session cookie: %+v", cookie)
	}
	rec := a.do(t, request{path: "/healthz"})
	if rec.Header().Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS in production")
	}

	rec = a.do(t, request{method: http.MethodOptions, path: "/api/v1/auth/me", header: map[string]string{
		"Origin": "https://dash.example.com", "Access-Control-Request-Method": "GET"}})
	if rec.Header().Get("Access-Control-Allow-Origin") != "https://dash.example.com" {
		t.Fatalf("CORS preflight from a configured origin: %d %v", rec.Code, rec.Header())
	}
	rec = a.do(t, request{path: "/api/v1/auth/me", header: map[string]string{"Origin": "https://other.example"}})
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("CORS for an origin not configured: %q", got)
	}
}

func TestNoCORSWithoutOrigins(t *testing.T) {
	a := newTestApp(t, nil)
	rec := a.do(t, request{path: "/api/v1/auth/me", header: map[string]string{"Origin": "https://other.example"}})
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("CORS without CORS_ORIGINS: %q", got)
	}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	a := newTestApp(t, nil)
	for _, path := range []string{"/healthz", "/login", "/no/such/page", "/api/v1/auth/me", "/static/app.css"} {
		h := a.do(t, request{path: path}).Header()
		if h.Get("Content-Security-Policy") != contentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: security headers missing: %v", path, h)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS in development", path)
		}
	}
}

func TestHtmxPollAfterSessionEndRedirectsTheWholePage(t *testing.T) {
	a := newTestApp(t, nil)
	rec := a.do(t, request{path: "/observability", header: map[string]string{
		"HX-Request": "true", "HX-Current-URL": "http://127.0.0.1:8080/observability?tab=alerts"}})
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("HX-Redirect") != "/login?next=%2Fobservability%3Ftab%3Dalerts" {
		t.Fatalf("htmx request without login: %d HX-Redirect %q", rec.Code, rec.Header().Get("HX-Redirect"))
	}
}
