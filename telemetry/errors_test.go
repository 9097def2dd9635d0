package telemetry

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/infradash/infradash/telemetrytest"
)

func TestScrubRemovesSecrets(t *testing.T) {
	e := &sentry.Event{
		Request: &sentry.Request{
			URL:         "https://dash.example.com/api/v1/auth/login",
			Data:        `{"email":"a@b.c","password":"hunter2hunter2"}`,
			Cookies:     "session=abc123",
			QueryString: "range=1h&access_token=tok123&x=1",
			Headers: map[string]string{
				"Authorization": "Bearer tok123",
				"Cookie":        "session=abc123",
				"X-Api-Key":     "k",
				"User-Agent":    "curl/8",
			},
		},
		User:        sentry.User{ID: "7", Email: "a@b.c", IPAddress: "10.0.0.1"},
		Tags:        map[string]string{"route": "/login", "session_id": "abc123"},
		Contexts:    map[string]sentry.Context{"app": {"secret_key": "s3cr3t", "nested": map[string]any{"db_password": "pw", "host": "db"}}},
		Breadcrumbs: []*sentry.Breadcrumb{{Data: map[string]any{"token": "tok123", "status": 500}}},
	}
	out := Scrub(e)

	var seen strings.Builder
	for _, v := range []any{out.Request.Data, out.Request.Cookies, out.Request.QueryString, out.Request.Headers, out.User, out.Tags, out.Contexts, out.Breadcrumbs[0].Data} {
		seen.WriteString(fmt.Sprint(v))
	}
	for _, secret := range []string{"hunter2", "abc123", "tok123", "s3cr3t", "Bearer", "a@b.c", "10.0.0.1", "db_password:pw", "X-Api-Key"} {
		if strings.Contains(seen.String(), secret) {
			t.Errorf("%q survived scrubbing: %s", secret, seen.String())
		}
	}
	// What helps debugging stays.
	if out.Request.Headers["User-Agent"] != "curl/8" || out.Tags["route"] != "/login" || out.User.ID != "7" {
		t.Errorf("scrubbing removed harmless fields: %+v %+v %+v", out.Request.Headers, out.Tags, out.User)
	}
	if out.Request.QueryString != "range=1h&access_token=[redacted]&x=1" {
		t.Errorf("query = %q", out.Request.QueryString)
	}
	if out.Contexts["app"]["nested"].(map[string]any)["host"] != "db" || out.Breadcrumbs[0].Data["status"] != 500 {
		t.Errorf("non-secret nested fields must stay: %+v", out.Contexts)
	}
}

func TestReporterSendsScrubbedEvents(t *testing.T) {
	tr := &telemetrytest.Transport{}
	r, err := NewReporter(ReporterOptions{DSN: telemetrytest.DSN, Environment: "production", Release: "1.2.3", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/api/v1/auth/login?token=abc", strings.NewReader(`{"password":"hunter2hunter2"}`))
	req.Header.Set("Authorization", "Bearer tok123")
	req.Header.Set("Cookie", "session=abc123")
	r.Error(req, errors.New("database exploded"))
	r.Panic(req, "nil map write")
	r.Flush(time.Second)

	events := tr.Events()
	if len(events) != 2 {
		t.Fatalf("want 2 events (error and panic), got %d", len(events))
	}
	for _, e := range events {
		if e.Environment != "production" || e.Release != "infradash@1.2.3" {
			t.Errorf("environment/release = %q/%q", e.Environment, e.Release)
		}
		if e.Request == nil || e.Request.Method != "POST" {
			t.Fatalf("the request must be attached: %+v", e.Request)
		}
		if _, ok := e.Request.Headers["Authorization"]; ok || e.Request.Cookies != "" || e.Request.Data != "" || strings.Contains(e.Request.QueryString, "abc") {
			t.Errorf("secrets reached the event: %+v", e.Request)
		}
	}
	if msg := telemetrytest.Text(events[1]); !strings.Contains(msg, "nil map write") {
		t.Errorf("panic event does not name the panic: %q", msg)
	}
}

func TestNoDSNMeansNoReporter(t *testing.T) {
	r, err := NewReporter(ReporterOptions{})
	if err != nil || r != nil {
		t.Fatalf("empty DSN: reporter %v, err %v", r, err)
	}
	// A nil reporter is safe to call.
	r.Error(nil, errors.New("x"))
	r.Panic(nil, "x")
	r.Flush(time.Millisecond)
}
