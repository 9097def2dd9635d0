package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
)

// fakeTransport keeps what would have been sent to Sentry.
type fakeTransport struct {
	mu     sync.Mutex
	events []*sentry.Event
}

func (f *fakeTransport) Configure(sentry.ClientOptions)        {}
func (f *fakeTransport) Flush(time.Duration) bool              { return true }
func (f *fakeTransport) FlushWithContext(context.Context) bool { return true }
func (f *fakeTransport) Close()                                {}
func (f *fakeTransport) SendEvent(e *sentry.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
}

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
	tr := &fakeTransport{}
	r, err := NewReporter(ReporterOptions{DSN: "https://public@sentry.example.com/1", Environment: "production", Release: "1.2.3", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/api/v1/auth/login?token=abc", strings.NewReader(`{"password":"hunter2hunter2"}`))
	req.Header.Set("Authorization", "Bearer tok123")
	req.Header.Set("Cookie", "session=abc123")
	r.Error(req, errors.New("database exploded"))
	r.Panic(req, "nil map write")
	r.Flush(time.Second)

	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.events) != 2 {
		t.Fatalf("want 2 events (error and panic), got %d", len(tr.events))
	}
	for _, e := range tr.events {
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
	if msg := tr.events[1].Message + exceptionText(tr.events[1]); !strings.Contains(msg, "nil map write") {
		t.Errorf("panic event does not name the panic: %q", msg)
	}
}

func exceptionText(e *sentry.Event) string {
	var s string
	for _, x := range e.Exception {
		s += x.Value
	}
	return s
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
