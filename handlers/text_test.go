package handlers

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
)

// badText are values PostgreSQL's text cannot hold: a NUL byte, a byte that is not UTF-8 and an
// overlong encoding of "/".
var badText = []string{"\x00", "a\x00b", "\xff", "\xc0\xaf"}

// inputNames is every input name a client can send: the parameters and body fields of the API
// document, and those of the pages and the login form, which it does not describe.
func inputNames(t *testing.T) []string {
	t.Helper()
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"tab": true, "range": true, "next": true, "email": true, "password": true}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, p := range append(item.Parameters, op.Parameters...) {
				names[p.Value.Name] = true
			}
			if op.RequestBody == nil {
				continue
			}
			for _, mt := range op.RequestBody.Value.Content {
				for name := range mt.Schema.Value.Properties {
					names[name] = true
				}
			}
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// httpDo sends one request to the real server and returns its status and body.
func httpDo(t *testing.T, method, target, contentType, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Every route of the router, present and future, with a NUL byte or invalid UTF-8 in each input
// (query, path parameter, form field, JSON field, credential header) answers a 400 naming the
// input, or for a login a failed login; never a 5xx, and nothing reaches the log as an error.
func TestMalformedTextIsRefusedOnEveryRoute(t *testing.T) {
	a := newTestApp(t, nil)
	ts, log := a.serveHTTP(t)
	token := authtest.Token(t, a.pool, auth.RoleAdmin)
	creds := map[string]string{"Authorization": "Bearer " + token, "Sec-Fetch-Site": "same-origin"}
	names := inputNames(t)
	const form, jsonType = "application/x-www-form-urlencoded", "application/json"
	credentials := map[string]string{"email": "someone@example.com", "password": "a password of some length"}
	formBody := func(name, value string) string {
		v := url.Values{}
		for k, x := range credentials {
			v.Set(k, x)
		}
		if name != "" {
			v.Set(name, value)
		}
		return v.Encode()
	}
	// JSON escapes a NUL as \u0000; invalid UTF-8 goes into the body as raw bytes.
	jsonBody := func(name, value string) string {
		fields := map[string]string{}
		for k, x := range credentials {
			fields[k] = x
		}
		if name == "" {
			b, _ := json.Marshal(fields)
			return string(b)
		}
		fields[name] = strings.ToValidUTF8(value, "")
		b, _ := json.Marshal(fields)
		if fields[name] == value {
			return string(b)
		}
		return strings.Replace(string(b), `"`+name+`":""`, `"`+name+`":"`+value+`"`, 1)
	}

	checked := 0
	for _, r := range a.e.Routes() {
		method := r.Method
		if method == echo.RouteNotFound {
			method = http.MethodGet
		}
		login := method == http.MethodPost && loginRoutes[r.Path]
		// The body a POST carries when the malformed input is elsewhere: a login's own kind.
		contentType, body := "", ""
		if method == http.MethodPost {
			contentType, body = form, formBody("", "")
			if strings.HasPrefix(r.Path, "/api/") {
				contentType, body = jsonType, jsonBody("", "")
			}
		}
		check := func(target, contentType, body, input string, header map[string]string) {
			t.Helper()
			status, answer := httpDo(t, method, ts.URL+target, contentType, body, header)
			checked++
			switch {
			case status >= 500:
				t.Errorf("%s %s (route %s, %s): %d %s", method, target, r.Path, input, status, answer)
			case login:
				if status != http.StatusUnauthorized && status != http.StatusTooManyRequests {
					t.Errorf("login %s %s (%s): %d %s, want a failed login", method, target, input, status, answer)
				}
			case status != http.StatusBadRequest || !strings.Contains(answer, input):
				t.Errorf("%s %s (route %s): %d %.300s, want 400 naming %s", method, target, r.Path, status, answer, input)
			}
		}
		parts := strings.Split(strings.ReplaceAll(r.Path, "*", "anything"), "/")
		var params []int
		for i, p := range parts {
			if strings.HasPrefix(p, ":") {
				params = append(params, i)
				parts[i] = "1"
			}
		}
		target := strings.Join(parts, "/")
		for _, bad := range badText {
			for _, i := range params {
				withBad := append([]string(nil), parts...)
				withBad[i] = url.PathEscape(bad)
				check(strings.Join(withBad, "/"), contentType, body, strings.TrimPrefix(strings.Split(r.Path, "/")[i], ":"), creds)
			}
			for _, name := range names {
				check(target+"?"+url.Values{name: {bad}}.Encode(), contentType, body, name, creds)
				// Ingest's body is an agent's gzip batch, checked field by field by ingest itself
				// (TestIngestRefusesMalformedText); a user's token is refused before any body.
				if method != http.MethodPost || r.Path == PathIngest {
					continue
				}
				if !login || contentType == form {
					check(target, form, formBody(name, bad), name, creds)
				}
				if !login || contentType == jsonType {
					input := name
					if !strings.Contains(bad, "\x00") {
						input = "body"
					}
					check(target, jsonType, jsonBody(name, bad), input, creds)
				}
			}
			// The credential headers (the client refuses to send a NUL in a header).
			if !strings.Contains(bad, "\x00") {
				check(target, contentType, body, "Authorization header", map[string]string{"Authorization": "Bearer idt_" + bad})
				check(target, contentType, body, "Cookie header", map[string]string{"Cookie": "infradash_session=" + bad})
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d requests checked", checked)
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("malformed input was logged as an error:\n%s", log)
	}
}

// The cases found by hand: a 400 naming the parameter, and for a login the answer any wrong
// credentials get.
func TestMalformedTextAnswers(t *testing.T) {
	a := newTestApp(t, nil)
	ts, log := a.serveHTTP(t)
	token := authtest.Token(t, a.pool, auth.RoleViewer)
	bearer := map[string]string{"Authorization": "Bearer " + token}
	for _, tc := range []struct{ path, param string }{
		{"/api/v1/observability/infrastructure/history?metric=cpu_percent&host=%00", "host"},
		{"/api/v1/observability/infrastructure/history?metric=cpu_percent&host=%FF", "host"},
		{"/api/v1/observability/infrastructure/history?metric=cpu_percent&host=%C0%AF", "host"},
		{"/api/v1/observability/infrastructure/history?metric=disk_percent&subject=%00", "subject"},
		{"/api/v1/observability/infrastructure/alerts?host=%FF", "host"},
	} {
		status, body := httpDo(t, http.MethodGet, ts.URL+tc.path, "", "", bearer)
		var got answer
		_ = json.Unmarshal([]byte(body), &got)
		if status != http.StatusBadRequest || got.Error.Code != "invalid_parameter" || !strings.HasPrefix(got.Error.Message, tc.param+": ") {
			t.Errorf("GET %s: %d %s, want 400 naming %s", tc.path, status, body, tc.param)
		}
	}

	// A login with a NUL in the email fails like any wrong credentials: same status, same answer.
	_, wrongJSON := httpDo(t, http.MethodPost, ts.URL+"/api/v1/auth/login", "application/json", `{"email":"ab@x.io","password":"not the password"}`, nil)
	status, nulJSON := httpDo(t, http.MethodPost, ts.URL+"/api/v1/auth/login", "application/json", `{"email":"a\u0000b@x.io","password":"not the password"}`, nil)
	var want, got answer
	_ = json.Unmarshal([]byte(wrongJSON), &want)
	_ = json.Unmarshal([]byte(nulJSON), &got)
	if status != http.StatusUnauthorized || got.Error != want.Error || want.Error.Code != "invalid_credentials" {
		t.Errorf("API login with a NUL in the email: %d %s, want 401 as %s", status, nulJSON, wrongJSON)
	}
	status, page := httpDo(t, http.MethodPost, ts.URL+"/login", "application/x-www-form-urlencoded", "email=a%00b%40x.io&password=not+the+password", nil)
	if msg := findTestID(t, page, "login-error"); status != http.StatusUnauthorized || !strings.Contains(msg, want.Error.Message) {
		t.Errorf("login form with a NUL in the email: %d %q, want 401 %q", status, msg, want.Error.Message)
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("malformed input was logged as an error:\n%s", log)
	}
}
