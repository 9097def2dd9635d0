package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infradash/infradash/health"
)

func TestSendHonoursRetryAfterUpToTheCap(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	// An hour's Retry-After, capped to a millisecond: the second try comes at once and lands.
	res := NewSlack(srv.URL, Options{MaxRetryAfter: time.Millisecond}).Send(context.Background(), Message{Kind: Test})
	if res.Err != nil || res.Attempts != 2 {
		t.Fatalf("want delivery on the second try, got %+v", res)
	}
}

func TestSendGivesUpAtOnceOnAClientError(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "invalid_token", http.StatusNotFound)
	}))
	defer srv.Close()
	res := NewSlack(srv.URL, Options{Backoff: time.Millisecond}).Send(context.Background(), Message{Kind: Test})
	if res.Err == nil || calls.Load() != 1 || !strings.Contains(res.Err.Error(), "invalid_token") {
		t.Fatalf("a 404 will not change on retry: want one try and its reason, got %d tries, %v", calls.Load(), res.Err)
	}
	if strings.Contains(res.Err.Error(), srv.URL) {
		t.Fatalf("the error must not reveal the webhook URL: %v", res.Err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:30 GMT": 30 * time.Second,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// Notices write values and thresholds with the dashboard's formatter: a threshold of 82.5 is
// "82.5 %" on the chart, so it must not become "83%" in Slack.
func TestNoticesWriteValuesLikeTheDashboard(t *testing.T) {
	m := Message{Kind: Opened, Host: "web-1", Metric: "memory", Severity: health.Warning, Value: 90.04, Threshold: 82.5}
	body := slackPayload(m).(map[string]string)["text"]
	for _, want := range []string{"at 90 % (threshold 82.5 %)", "*Value:* 90 %", "*Threshold:* 82.5 %"} {
		if !strings.Contains(body, want) {
			t.Errorf("the Slack text should contain %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "83") {
		t.Errorf("the threshold was rounded:\n%s", body)
	}
}
