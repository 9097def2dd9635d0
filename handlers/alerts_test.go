package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/notify"
)

var alertsNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// alertsServer serves the routes as the given role (user 1, an admin, or user 2, a viewer).
func alertsServer(t *testing.T, cfg config.Config, role string) (*echo.Echo, *pgxpool.Pool) {
	pool := dbtest.Pool(t)
	if _, err := pool.Exec(context.Background(), `INSERT INTO users (email, password_hash, role) VALUES
		('admin@example.com', 'x', 'admin'), ('viewer@example.com', 'x', 'viewer')`); err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Options: optionsFrom(cfg), Pool: pool, Now: func() time.Time { return alertsNow },
		Notifiers: notify.FromURLs(cfg.SlackWebhookURL, cfg.AlertWebhookURL, notify.Options{})})
	p := &Principal{UserID: 1, Email: "admin@example.com", Role: RoleAdmin}
	if role == RoleViewer {
		p = &Principal{UserID: 2, Email: "viewer@example.com", Role: RoleViewer}
	}
	s.authenticate = func(echo.Context) (*Principal, error) { return p, nil }
	e := echo.New()
	s.Routes(e)
	return e, pool
}

func do(e *echo.Echo, method, path string) (int, map[string]any) {
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func seedAlerts(t *testing.T, pool *pgxpool.Pool) {
	_, err := pool.Exec(context.Background(), `INSERT INTO infrastructure_alerts (host, metric, subject, severity, value, threshold, started_at, updated_at, resolved_at) VALUES
		('web-1', 'cpu', '', 'warning', 90, 80, $1::timestamptz - interval '3 hours', $1, NULL),
		('web-1', 'disk', '/data', 'critical', 97, 95, $1::timestamptz - interval '2 hours', $1, NULL),
		('web-2', 'memory', '', 'warning', 88, 85, $1::timestamptz - interval '1 hour', $1, $1)`, alertsNow)
	if err != nil {
		t.Fatal(err)
	}
}

func TestListAlertsFiltersAndPages(t *testing.T) {
	e, pool := alertsServer(t, config.Config{}, RoleViewer)
	seedAlerts(t, pool)
	for path, want := range map[string][]string{
		"/api/v1/observability/infrastructure/alerts":                          {"web-2", "web-1", "web-1"},
		"/api/v1/observability/infrastructure/alerts?status=open":              {"web-1", "web-1"},
		"/api/v1/observability/infrastructure/alerts?status=resolved":          {"web-2"},
		"/api/v1/observability/infrastructure/alerts?severity=critical":        {"web-1"},
		"/api/v1/observability/infrastructure/alerts?host=web-2":               {"web-2"},
		"/api/v1/observability/infrastructure/alerts?limit=1&offset=1":         {"web-1"},
		"/api/v1/observability/infrastructure/alerts?status=open&host=nowhere": {},
	} {
		code, body := do(e, http.MethodGet, path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %v", path, code, body)
		}
		data := body["data"].(map[string]any)
		list := data["alerts"].([]any)
		var hosts []string
		for _, a := range list {
			hosts = append(hosts, a.(map[string]any)["host"].(string))
		}
		if strings.Join(hosts, ",") != strings.Join(want, ",") {
			t.Errorf("%s: hosts %v, want %v", path, hosts, want)
		}
	}
	_, body := do(e, http.MethodGet, "/api/v1/observability/infrastructure/alerts?limit=1")
	if total := body["data"].(map[string]any)["total"]; total != float64(3) {
		t.Errorf("total should count every match, not the page: %v", total)
	}
	code, body := do(e, http.MethodGet, "/api/v1/observability/infrastructure/alerts?status=closed")
	if code != http.StatusBadRequest || !strings.Contains(body["error"].(map[string]any)["message"].(string), "status") {
		t.Errorf("a bad status should be a 400 naming it: %d %v", code, body)
	}
}

func TestAcknowledgeAlert(t *testing.T) {
	e, pool := alertsServer(t, config.Config{}, RoleAdmin)
	seedAlerts(t, pool)
	code, body := do(e, http.MethodPost, "/api/v1/observability/infrastructure/alerts/1/acknowledge")
	if code != http.StatusOK {
		t.Fatalf("acknowledge: %d %v", code, body)
	}
	a := body["data"].(map[string]any)
	if a["acknowledged_by"] != "admin@example.com" || a["acknowledged_at"] != "2026-03-02T12:00:00Z" {
		t.Fatalf("who and when should be kept: %v", a)
	}
	if code, _ := do(e, http.MethodPost, "/api/v1/observability/infrastructure/alerts/999/acknowledge"); code != http.StatusNotFound {
		t.Errorf("unknown alert: want 404, got %d", code)
	}
	code, body = do(e, http.MethodPost, "/api/v1/observability/infrastructure/alerts/3/acknowledge")
	if code != http.StatusConflict || !strings.Contains(body["error"].(map[string]any)["message"].(string), "already resolved") {
		t.Errorf("resolved alert: want 409 saying so, got %d %v", code, body)
	}
	if code, _ := do(e, http.MethodPost, "/api/v1/observability/infrastructure/alerts/x/acknowledge"); code != http.StatusBadRequest {
		t.Errorf("bad id: want 400, got %d", code)
	}
}

func TestViewersMayNotAcknowledgeOrTest(t *testing.T) {
	e, pool := alertsServer(t, config.Config{}, RoleViewer)
	seedAlerts(t, pool)
	for _, path := range []string{"/api/v1/observability/infrastructure/alerts/1/acknowledge", "/api/v1/observability/infrastructure/alerts/test"} {
		if code, _ := do(e, http.MethodPost, path); code != http.StatusForbidden {
			t.Errorf("%s as viewer: want 403, got %d", path, code)
		}
	}
	var acked *time.Time
	if err := pool.QueryRow(context.Background(), `SELECT acknowledged_at FROM infrastructure_alerts WHERE id = 1`).Scan(&acked); err != nil {
		t.Fatalf("reading alert 1 back: %v", err)
	}
	if acked != nil {
		t.Error("a viewer's request acknowledged the alert")
	}
}

func TestTestAlertReportsEachNotifier(t *testing.T) {
	var got []string
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]string
		_ = json.NewDecoder(r.Body).Decode(&b)
		got = append(got, b["text"])
	}))
	defer slack.Close()
	e, _ := alertsServer(t, config.Config{SlackWebhookURL: slack.URL, BaseURL: "https://dash.example.com"}, RoleAdmin)
	code, body := do(e, http.MethodPost, "/api/v1/observability/infrastructure/alerts/test")
	if code != http.StatusOK {
		t.Fatalf("test alert: %d %v", code, body)
	}
	res := body["data"].(map[string]any)["results"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["notifier"] != "slack" || res[0].(map[string]any)["delivered"] != true {
		t.Fatalf("want slack delivered, got %v", res)
	}
	if len(got) != 1 || !strings.Contains(got[0], "Test notification") || !strings.Contains(got[0], "https://dash.example.com/observability?tab=alerts") {
		t.Fatalf("Slack should get one test message with the link: %q", got)
	}

	e, _ = alertsServer(t, config.Config{}, RoleAdmin)
	if code, _ := do(e, http.MethodPost, "/api/v1/observability/infrastructure/alerts/test"); code != http.StatusConflict {
		t.Errorf("without a notifier: want 409, got %d", code)
	}
}

func TestTestAlertTriesEachNotifierOnceAndAtTheSameTime(t *testing.T) {
	// Slack is down (503) and the webhook answers only once both requests are in: notifiers
	// sent one after another, with retries, would keep an admin waiting past the server's
	// write timeout.
	var mu sync.Mutex
	requests := map[string]int{}
	bothIn := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests[r.URL.Path]++
		if len(requests) == 2 && requests["/slack"]+requests["/hook"] == 2 {
			close(bothIn)
		}
		mu.Unlock()
		select {
		case <-bothIn:
		case <-time.After(5 * time.Second):
			w.WriteHeader(http.StatusGatewayTimeout)
			return
		}
		if r.URL.Path == "/slack" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	e, _ := alertsServer(t, config.Config{SlackWebhookURL: srv.URL + "/slack", AlertWebhookURL: srv.URL + "/hook"}, RoleAdmin)
	code, body := do(e, http.MethodPost, "/api/v1/observability/infrastructure/alerts/test")
	if code != http.StatusOK {
		t.Fatalf("test alert: %d %v", code, body)
	}
	outcome := map[string]map[string]any{}
	for _, r := range body["data"].(map[string]any)["results"].([]any) {
		outcome[r.(map[string]any)["notifier"].(string)] = r.(map[string]any)
	}
	if s := outcome["slack"]; s["delivered"] != false || s["attempts"] != 1.0 || !strings.Contains(s["error"].(string), "503") {
		t.Errorf("Slack down: want one failed try naming the 503, got %v", s)
	}
	if w := outcome["webhook"]; w["delivered"] != true || w["attempts"] != 1.0 {
		t.Errorf("the webhook should get the test while Slack is being tried, got %v", w)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests["/slack"] != 1 || requests["/hook"] != 1 {
		t.Errorf("a test is one try per notifier, got %v", requests)
	}
}
