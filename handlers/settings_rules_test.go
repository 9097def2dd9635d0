package handlers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
	"github.com/infradash/infradash/rules"
)

// adminAndViewer are an admin's and a viewer's API tokens.
func adminAndViewer(t *testing.T, a *testApp) (admin, viewer string) {
	t.Helper()
	me, _ := authtest.User(t, a.pool, auth.RoleAdmin)
	admin, _, err := a.srv.users.CreateToken(context.Background(), me.ID, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return admin, authtest.Token(t, a.pool, auth.RoleViewer)
}

// auditActions are the actions of the audit log, oldest first.
func auditActions(t *testing.T, a *testApp) []string {
	t.Helper()
	entries, _, err := audit.List(context.Background(), a.pool, audit.Filter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		out = append(out, entries[i].Action+" "+entries[i].Target)
	}
	return out
}

func TestAlertRulesAPI(t *testing.T) {
	a := newTestApp(t, nil)
	admin, viewer := adminAndViewer(t, a)
	do := func(method, path, body, bearer string, status int, code string) *httptest.ResponseRecorder {
		t.Helper()
		return serveDocumented(t, a.e, jsonRequest(method, path, body, bearer), status, code)
	}
	var list struct {
		Items   []rules.Rule
		Builtin map[string]struct{ Warning *float64 }
	}
	data(t, do(http.MethodGet, "/api/v1/alert-rules", "", admin, http.StatusOK, ""), &list)
	if len(list.Items) != 0 || list.Builtin["cpu"].Warning == nil || *list.Builtin["cpu"].Warning != 80 {
		t.Fatalf("no rules yet, the environment's 80 %%: %+v", list)
	}
	var r rules.Rule
	data(t, do(http.MethodPost, "/api/v1/alert-rules", `{"metric": "cpu", "warning": 50, "critical": 90, "host": "Test-Host"}`, admin,
		http.StatusCreated, ""), &r)
	if r.Host != "test-host" || *r.Warning != 50 || !r.Enabled {
		t.Fatalf("created %+v", r)
	}
	if th := a.srv.rules.Thresholds("test-host", nil); th.CPU.Warning != 50 {
		t.Fatalf("the change applies on this replica at once: %+v", th.CPU)
	}
	data(t, do(http.MethodPost, "/api/v1/alert-rules", `{"metric": "host_down", "critical": 600, "labels": {"env": "prod"}}`, admin,
		http.StatusCreated, ""), &rules.Rule{})
	for body, field := range map[string]string{
		`{"metric": "gpu", "warning": 1, "critical": 2}`:                                     "metric",
		`{"metric": "cpu", "critical": 90}`:                                                  "warning",
		`{"metric": "cpu", "warning": 95, "critical": 90}`:                                   "warning",
		`{"metric": "cpu", "warning": 50, "critical": 190}`:                                  "critical",
		`{"metric": "cpu", "warning": 50, "critical": 90, "host": "a b"}`:                    "host",
		`{"metric": "cpu", "warning": 50, "critical": 90, "host": "x", "labels": {"a":"b"}}`: "labels",
		`{"metric": "cpu", "warning": 50, "critical": 90, "mount": "/"}`:                     "mount",
		`{"metric": "host_down", "warning": 5, "critical": 90}`:                              "warning",
		`{"metric": "cpu", "warning": "50", "critical": 90}`:                                 "warning",
		`{"metric": "cpu", "warning": 50, "critical": 90, "scope": "x"}`:                     "scope",
	} {
		wantField(t, do(http.MethodPost, "/api/v1/alert-rules", body, admin, http.StatusBadRequest, "invalid_parameter"), field)
	}
	do(http.MethodPost, "/api/v1/alert-rules", `{"metric": "cpu", "warning": 60, "critical": 90, "host": "test-host"}`, admin, http.StatusConflict, "rule_exists")
	path := fmt.Sprintf("/api/v1/alert-rules/%d", r.ID)
	data(t, do(http.MethodPut, path, `{"metric": "cpu", "warning": 40, "critical": 90, "host": "test-host", "enabled": false}`, admin, http.StatusOK, ""), &r)
	if *r.Warning != 40 || r.Enabled {
		t.Fatalf("changed %+v", r)
	}
	if th := a.srv.rules.Thresholds("test-host", nil); th.CPU.Warning != 80 {
		t.Fatalf("a rule turned off applies nowhere: %+v", th.CPU)
	}
	do(http.MethodPut, "/api/v1/alert-rules/999999", `{"metric": "cpu", "warning": 40, "critical": 90}`, admin, http.StatusNotFound, "not_found")
	for _, req := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/alert-rules", ""},
		{http.MethodPost, "/api/v1/alert-rules", `{"metric": "cpu", "warning": 1, "critical": 2}`},
		{http.MethodPut, path, `{"metric": "cpu", "warning": 1, "critical": 2}`},
		{http.MethodDelete, path, ""},
	} {
		do(req.method, req.path, req.body, viewer, http.StatusForbidden, "forbidden")
	}
	data(t, do(http.MethodDelete, path, "", admin, http.StatusOK, ""), &r)
	do(http.MethodDelete, path, "", admin, http.StatusNotFound, "not_found")
	want := []string{"rule.create rule:" + fmt.Sprint(r.ID), "rule.create", "rule.update rule:" + fmt.Sprint(r.ID), "rule.delete rule:" + fmt.Sprint(r.ID)}
	got := strings.Join(auditActions(t, a), "|")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("the audit log lacks %q: %s", w, got)
		}
	}
}

// stand is a local HTTP stand-in for a notification service.
type stand struct {
	mu     sync.Mutex
	bodies []string
	srv    *httptest.Server
}

func newStand(t *testing.T) *stand {
	s := &stand{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stand) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

const testSecret = "a test secret key that is long enough, 0123456789"

func TestNotificationChannelsAPI(t *testing.T) {
	a := newTestApp(t, map[string]string{"SECRET_KEY": testSecret, "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B2/secretpart"})
	admin, viewer := adminAndViewer(t, a)
	do := func(method, path, body, bearer string, status int, code string) *httptest.ResponseRecorder {
		t.Helper()
		return serveDocumented(t, a.e, jsonRequest(method, path, body, bearer), status, code)
	}
	hook := newStand(t)
	secretURL := hook.srv.URL + "/hook/s3cr3t-token?key=k3y"
	var ch struct {
		ID   int64
		Kind string
		URL  string
	}
	rec := do(http.MethodPost, "/api/v1/notification-channels", `{"name": "ops", "url": "`+secretURL+`", "min_severity": "critical"}`, admin, http.StatusCreated, "")
	data(t, rec, &ch)
	if ch.Kind != "webhook" || strings.Contains(rec.Body.String(), "s3cr3t") || strings.Contains(rec.Body.String(), "k3y") {
		t.Fatalf("the answer must mask the URL's secrets: %s", rec.Body)
	}
	var sealed []byte
	if err := a.pool.QueryRow(context.Background(), `SELECT url_sealed FROM notification_channels WHERE id = $1`, ch.ID).Scan(&sealed); err != nil ||
		strings.Contains(string(sealed), "s3cr3t") {
		t.Fatalf("the URL is stored encrypted: %v %q", err, sealed)
	}
	var shoutrrr struct{ Kind, URL string }
	data(t, do(http.MethodPost, "/api/v1/notification-channels", `{"name": "chat", "url": "discord://tok3n@12345"}`, admin, http.StatusCreated, ""), &shoutrrr)
	if shoutrrr.Kind != "shoutrrr" || strings.Contains(shoutrrr.URL, "tok3n") {
		t.Fatalf("discord:// goes to shoutrrr, masked: %+v", shoutrrr)
	}
	for body, field := range map[string]string{
		`{"name": "", "url": "https://example.com/x"}`: "name",
		`{"name": "x"}`:                                                            "url",
		`{"name": "x", "url": "nonsense://x"}`:                                     "url",
		`{"name": "x", "url": "not a url"}`:                                        "url",
		`{"name": "x", "url": "https://e.com", "min_severity": "info"}`:            "min_severity",
		`{"name": "x", "url": "https://e.com", "host": "a b"}`:                     "host",
		`{"name": "x", "url": "https://e.com", "labels": {"Bad": "x"}}`:            "labels",
		`{"name": "x", "url": "https://e.com", "host": "h", "labels": {"a": "b"}}`: "labels",
		`{"name": "x", "url": "https://e.com", "secret": "x"}`:                     "secret",
		`{"name": "OPS", "url": "https://e.com"}`:                                  "name",
	} {
		status := http.StatusBadRequest
		wantField(t, do(http.MethodPost, "/api/v1/notification-channels", body, admin, status, "invalid_parameter"), field)
	}
	var list struct {
		Items   []struct{ Name, URL string }
		Builtin []struct{ Name, URL, Variable string }
	}
	rec = do(http.MethodGet, "/api/v1/notification-channels", "", admin, http.StatusOK, "")
	data(t, rec, &list)
	if len(list.Items) != 2 || len(list.Builtin) != 1 || strings.Contains(rec.Body.String(), "secretpart") || strings.Contains(rec.Body.String(), "s3cr3t") {
		t.Fatalf("two channels and Slack from the environment, all masked: %s", rec.Body)
	}
	path := fmt.Sprintf("/api/v1/notification-channels/%d", ch.ID)
	var test struct {
		Delivered bool
		Error     string
	}
	data(t, do(http.MethodPost, path+"/test", "", admin, http.StatusOK, ""), &test)
	if got := hook.got(); !test.Delivered || len(got) != 1 || !strings.Contains(got[0], `"event":"test"`) {
		t.Fatalf("the test message reaches the stand-in: %+v %q", test, got)
	}
	// A change without a URL keeps the stored one.
	data(t, do(http.MethodPut, path, `{"name": "ops-2", "min_severity": "warning"}`, admin, http.StatusOK, ""), &ch)
	data(t, do(http.MethodPost, path+"/test", "", admin, http.StatusOK, ""), &test)
	if !test.Delivered || len(hook.got()) != 2 {
		t.Fatalf("the kept URL still works: %+v", test)
	}
	for _, req := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/notification-channels", ""},
		{http.MethodPost, "/api/v1/notification-channels", `{"name": "x", "url": "https://e.com"}`},
		{http.MethodPut, path, `{"name": "x"}`},
		{http.MethodDelete, path, ""},
		{http.MethodPost, path + "/test", ""},
	} {
		do(req.method, req.path, req.body, viewer, http.StatusForbidden, "forbidden")
	}
	do(http.MethodDelete, path, "", admin, http.StatusOK, "")
	do(http.MethodPost, path+"/test", "", admin, http.StatusNotFound, "not_found")
	entries, _, err := audit.List(context.Background(), a.pool, audit.Filter{Action: "channel", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 6 { // two created, two tests, one change, one delete
		t.Errorf("channel entries: %d", len(entries))
	}
	for _, e := range entries {
		if b := fmt.Sprint(e.Details); strings.Contains(b, "s3cr3t") || strings.Contains(b, "tok3n") {
			t.Errorf("the audit log must mask channel URLs: %s", b)
		}
	}
}

// Without SECRET_KEY (a development run's random key), no channel URL is stored: a restart could
// not read it back.
func TestChannelsNeedASecretKey(t *testing.T) {
	a := newTestApp(t, nil)
	admin, _ := adminAndViewer(t, a)
	rec := serveDocumented(t, a.e, jsonRequest(http.MethodPost, "/api/v1/notification-channels", `{"name": "x", "url": "https://example.com/h"}`, admin),
		http.StatusConflict, "no_secret_key")
	wantField(t, rec, "url")
	if !strings.Contains(rec.Body.String(), "SECRET_KEY") {
		t.Fatalf("the refusal says what to set: %s", rec.Body)
	}
}

func TestSilencesAPI(t *testing.T) {
	a := newTestApp(t, nil)
	admin, viewer := adminAndViewer(t, a)
	do := func(method, path, body, bearer string, status int, code string) *httptest.ResponseRecorder {
		t.Helper()
		return serveDocumented(t, a.e, jsonRequest(method, path, body, bearer), status, code)
	}
	end := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	var x struct {
		ID        int64
		CreatedBy string `json:"created_by"`
		Status    string
	}
	data(t, do(http.MethodPost, "/api/v1/silences", `{"host": "web-1", "metric": "cpu", "ends_at": "`+end+`", "comment": "deploy"}`, admin,
		http.StatusCreated, ""), &x)
	if x.Status != "active" || !strings.Contains(x.CreatedBy, "@") {
		t.Fatalf("created %+v", x)
	}
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for body, field := range map[string]string{
		`{"host": "web-1"}`:                                   "ends_at",
		`{"host": "web-1", "ends_at": "` + past + `"}`:        "ends_at",
		`{"host": "a b", "ends_at": "` + end + `"}`:           "host",
		`{"metric": "gpu", "ends_at": "` + end + `"}`:         "metric",
		`{"labels": {"A": "b"}, "ends_at": "` + end + `"}`:    "labels",
		`{"ends_at": "` + end + `"}`:                          "comment",
		`{"host": "web-1", "ends_at": "tomorrow"}`:            "ends_at",
		`{"host": "web-1", "ends_at": "` + end + `", "x": 1}`: "x",
	} {
		wantField(t, do(http.MethodPost, "/api/v1/silences", body, admin, http.StatusBadRequest, "invalid_parameter"), field)
	}
	var list struct{ Items []struct{ ID int64 } }
	data(t, do(http.MethodGet, "/api/v1/silences", "", admin, http.StatusOK, ""), &list)
	if len(list.Items) != 1 {
		t.Fatalf("silences: %+v", list)
	}
	path := fmt.Sprintf("/api/v1/silences/%d", x.ID)
	do(http.MethodGet, "/api/v1/silences", "", viewer, http.StatusForbidden, "forbidden")
	do(http.MethodPost, "/api/v1/silences", `{"host": "web-1", "ends_at": "`+end+`"}`, viewer, http.StatusForbidden, "forbidden")
	do(http.MethodDelete, path, "", viewer, http.StatusForbidden, "forbidden")
	do(http.MethodDelete, path, "", admin, http.StatusOK, "")
	do(http.MethodDelete, path, "", admin, http.StatusNotFound, "not_found")
	got := strings.Join(auditActions(t, a), "|")
	if !strings.Contains(got, fmt.Sprintf("silence.create silence:%d", x.ID)) || !strings.Contains(got, fmt.Sprintf("silence.delete silence:%d", x.ID)) {
		t.Errorf("the audit log: %s", got)
	}
}

// The alert list says which open alerts a silence holds back.
func TestSilencedAlertsSaySo(t *testing.T) {
	a := newTestApp(t, nil)
	admin, _ := adminAndViewer(t, a)
	ctx := context.Background()
	if _, err := a.pool.Exec(ctx, `INSERT INTO infrastructure_alerts (host, metric, severity, value, threshold, started_at, updated_at)
		VALUES ('web-1', 'cpu', 'warning', 90, 80, now(), now()), ('web-2', 'cpu', 'warning', 90, 80, now(), now())`); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	serveDocumented(t, a.e, jsonRequest(http.MethodPost, "/api/v1/silences", `{"host": "web-1", "metric": "cpu", "ends_at": "`+end+`"}`, admin), http.StatusCreated, "")
	var page struct {
		Alerts []struct {
			Host     string
			Silenced bool
		}
	}
	data(t, serveDocumented(t, a.e, jsonRequest(http.MethodGet, "/api/v1/observability/infrastructure/alerts?status=open", "", admin), http.StatusOK, ""), &page)
	got := map[string]bool{}
	for _, al := range page.Alerts {
		got[al.Host] = al.Silenced
	}
	if !got["web-1"] || got["web-2"] || len(got) != 2 {
		t.Fatalf("web-1's alert is silenced, web-2's not: %+v", page.Alerts)
	}
}

// The form parsers name the field they cannot read, and never panic on what a browser (or not)
// sends.
func TestRuleAndSilenceFormsNameTheField(t *testing.T) {
	if _, err := parseRuleForm(map[string]string{"metric": "cpu", "warning": "ten"}); err == nil || !strings.HasPrefix(err.Error(), "warning") {
		t.Errorf("warning: %v", err)
	}
	if _, err := parseRuleForm(map[string]string{"metric": "cpu", "labels": "env"}); err == nil || !strings.HasPrefix(err.Error(), "labels") {
		t.Errorf("labels: %v", err)
	}
	in, err := parseRuleForm(map[string]string{"metric": "cpu", "warning": "50", "critical": "90", "enabled": "on", "labels": "env=prod, role=db"})
	if err != nil || *in.Warning != 50 || !*in.Enabled || in.Labels["role"] != "db" {
		t.Errorf("a good form: %+v %v", in, err)
	}
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	s, err := parseSilenceForm(map[string]string{"host": "web-1", "duration": "2h"}, now)
	if err != nil || !s.EndsAt.Equal(now.Add(2*time.Hour)) {
		t.Errorf("a duration: %+v %v", s, err)
	}
	if _, err := parseSilenceForm(map[string]string{"duration": "forever"}, now); err == nil || !strings.HasPrefix(err.Error(), "duration") {
		t.Errorf("duration: %v", err)
	}
	if _, err := parseSilenceForm(map[string]string{"ends_at": "soon"}, now); err == nil || !strings.HasPrefix(err.Error(), "ends_at") {
		t.Errorf("ends_at: %v", err)
	}
	if _, err := parseChannelForm(map[string]string{"labels": "=x"}); err == nil || !strings.HasPrefix(err.Error(), "labels") {
		t.Errorf("labels: %v", err)
	}
}
