package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
	"github.com/infradash/infradash/config"
)

// serveDocumented serves req and fails the test when the answer is not the wanted status with
// the wanted error code ("" for a success), or is not what openapi.yaml promises for it.
func serveDocumented(t *testing.T, h http.Handler, req *http.Request, status int, code string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := decode(t, rec); rec.Code != status || got.Error.Code != code {
		t.Errorf("%s %s: %d %q, want %d %q: %s", req.Method, req.URL, rec.Code, got.Error.Code, status, code, rec.Body)
	}
	validateAgainstOpenAPI(t, req, rec)
	return rec
}

func jsonRequest(method, path, body, bearer string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return req
}

func TestAuthAnswersAreDocumented(t *testing.T) {
	a := newTestApp(t, nil)
	u, password := authtest.User(t, a.pool, auth.RoleAdmin)
	login := func(body string, status int, code string) *httptest.ResponseRecorder {
		t.Helper()
		return serveDocumented(t, a.e, jsonRequest(http.MethodPost, "/api/v1/auth/login", body, ""), status, code)
	}
	login(`{"email": "`+u.Email+`", "password": "not the password"}`, http.StatusUnauthorized, "invalid_credentials")
	login(`{"email": "`+u.Email+`", "password": `, http.StatusBadRequest, "invalid_json")
	login(`{"email": "`+u.Email+`"}`, http.StatusBadRequest, "invalid_parameter")
	login(`{"email": "`+u.Email+`", "password": "`+strings.Repeat("x", 2<<20)+`"}`, http.StatusRequestEntityTooLarge, "body_too_large")
	rec := login(`{"email": "`+u.Email+`", "password": "`+password+`"}`, http.StatusOK, "")
	var token struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(decode(t, rec).Data, &token); err != nil || token.AccessToken == "" {
		t.Fatalf("login gave no token: %v %s", err, rec.Body)
	}

	serveDocumented(t, a.e, jsonRequest(http.MethodGet, "/api/v1/auth/me", "", token.AccessToken), http.StatusOK, "")
	serveDocumented(t, a.e, jsonRequest(http.MethodGet, "/api/v1/users", "", token.AccessToken), http.StatusOK, "")
	viewer := authtest.Token(t, a.pool, auth.RoleViewer)
	serveDocumented(t, a.e, jsonRequest(http.MethodGet, "/api/v1/users", "", viewer), http.StatusForbidden, "forbidden")
	serveDocumented(t, a.e, jsonRequest(http.MethodPost, "/api/v1/auth/logout", "", token.AccessToken), http.StatusOK, "")
	serveDocumented(t, a.e, jsonRequest(http.MethodGet, "/api/v1/auth/me", "", token.AccessToken), http.StatusUnauthorized, "unauthorized")
}

func TestAlertAnswersAreDocumented(t *testing.T) {
	const alertsPath = "/api/v1/observability/infrastructure/alerts"
	post := func(path string) *http.Request { return httptest.NewRequest(http.MethodPost, path, nil) }

	e, pool := alertsServer(t, config.Config{}, RoleAdmin)
	seedAlerts(t, pool)
	serveDocumented(t, e, httptest.NewRequest(http.MethodGet, alertsPath, nil), http.StatusOK, "")
	serveDocumented(t, e, httptest.NewRequest(http.MethodGet, alertsPath+"?status=open&severity=critical&limit=1", nil), http.StatusOK, "")
	serveDocumented(t, e, httptest.NewRequest(http.MethodGet, alertsPath+"?limit=0", nil), http.StatusBadRequest, "invalid_parameter")
	serveDocumented(t, e, post(alertsPath+"/1/acknowledge"), http.StatusOK, "")
	serveDocumented(t, e, post(alertsPath+"/999/acknowledge"), http.StatusNotFound, "not_found")
	serveDocumented(t, e, post(alertsPath+"/3/acknowledge"), http.StatusConflict, "alert_resolved")
	serveDocumented(t, e, post(alertsPath+"/0/acknowledge"), http.StatusBadRequest, "invalid_parameter")
	serveDocumented(t, e, post(alertsPath+"/test"), http.StatusConflict, "no_notifier")

	e, pool = alertsServer(t, config.Config{}, RoleViewer)
	seedAlerts(t, pool)
	serveDocumented(t, e, post(alertsPath+"/1/acknowledge"), http.StatusForbidden, "forbidden")
	serveDocumented(t, e, post(alertsPath+"/test"), http.StatusForbidden, "forbidden")

	// One notifier that takes the test and one that is down: both outcomes are documented.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer hook.Close()
	e, _ = alertsServer(t, config.Config{SlackWebhookURL: hook.URL + "/slack", AlertWebhookURL: hook.URL + "/down"}, RoleAdmin)
	rec := serveDocumented(t, e, post(alertsPath+"/test"), http.StatusOK, "")
	var got struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(decode(t, rec).Data, &got); err != nil || len(got.Results) != 2 {
		t.Fatalf("want one result per notifier: %v %s", err, rec.Body)
	}
}
