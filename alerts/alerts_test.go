package alerts_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/alerts"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/queries"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// hook stands in for Slack's incoming webhook: it answers with the given statuses in turn, then
// 200, and keeps the messages it accepted.
type hook struct {
	mu       sync.Mutex
	statuses []int
	requests int
	accepted []string
	srv      *httptest.Server
}

func newHook(t *testing.T, statuses ...int) *hook {
	h := &hook{statuses: statuses}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		status := http.StatusOK
		if h.requests < len(h.statuses) {
			status = h.statuses[h.requests]
		}
		h.requests++
		if status == http.StatusOK {
			h.accepted = append(h.accepted, string(body))
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// down makes every following request fail (503) until up is called.
func (h *hook) down() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.statuses = make([]int, h.requests+1000)
	for i := range h.statuses {
		h.statuses[i] = http.StatusServiceUnavailable
	}
}

func (h *hook) up() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.statuses = nil
}

func (h *hook) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.accepted...)
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	pool  *pgxpool.Pool
	now   time.Time
	eval  *alerts.Evaluator
	rules alerts.Rules
}

func rules() alerts.Rules {
	return alerts.Rules{
		Thresholds: health.DefaultThresholds(), Window: time.Minute, Cooldown: 15 * time.Minute,
		RepeatInterval: 4 * time.Hour, Hysteresis: 5,
	}
}

func newFixture(t *testing.T, notifiers ...*notify.Notifier) *fixture {
	f := &fixture{t: t, pool: dbtest.Pool(t), now: t0, rules: rules()}
	f.eval = alerts.New(alerts.Deps{DB: f.pool, Rules: f.rules, Notifiers: notifiers, BaseURL: "https://dash.example.com",
		Now: func() time.Time { return f.now }})
	return f
}

func slack(h *hook) *notify.Notifier {
	return notify.NewSlack(h.srv.URL, notify.Options{Backoff: time.Millisecond})
}

// interval is the collectors' in these tests.
const interval = 5 * time.Second

// samples stores n system samples of one host, interval apart, the last at the fixture's clock.
func (f *fixture) samples(n int, host string, cpu, mem float64, filesystems string) {
	f.t.Helper()
	if filesystems == "" {
		filesystems = "[]"
	}
	_, err := f.pool.Exec(context.Background(),
		`INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent, filesystems)
		 SELECT $1, $2::timestamptz - i * $6::interval, $3, $4, $5 FROM generate_series(0, $7::int - 1) AS i
		 ON CONFLICT DO NOTHING`,
		host, f.now, cpu, mem, filesystems, interval, n)
	if err != nil {
		f.t.Fatal(err)
	}
}

// fill stores what a collector leaves in one alert window ending at the fixture's clock: a
// sample every interval, all alike.
func (f *fixture) fill(host string, cpu, mem float64, filesystems string) {
	f.t.Helper()
	f.samples(int(f.rules.Window/interval), host, cpu, mem, filesystems)
}

// runWithCPU moves the clock to t0+d, fills the window with samples of cpu on web-1 and runs
// the job.
func (f *fixture) runWithCPU(d time.Duration, cpu float64) alerts.Report {
	f.t.Helper()
	f.now = t0.Add(d)
	f.fill("web-1", cpu, 20, "")
	return f.run()
}

func (f *fixture) run() alerts.Report {
	f.t.Helper()
	rep, err := f.eval.Run(context.Background(), false)
	if err != nil {
		f.t.Fatalf("alerts run failed: %v", err)
	}
	return rep
}

func (f *fixture) alerts() []queries.InfrastructureAlert {
	f.t.Helper()
	rows, err := f.pool.Query(context.Background(), `SELECT id FROM infrastructure_alerts ORDER BY id`)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []queries.InfrastructureAlert
	q := queries.New(f.pool)
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			f.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		a, err := q.GetAlert(context.Background(), id)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func TestAlertLifecycleNotifiesOncePerChange(t *testing.T) {
	h := newHook(t)
	f := newFixture(t, slack(h))

	f.runWithCPU(0, 90)
	as := f.alerts()
	if len(as) != 1 || as[0].Severity != "warning" || as[0].ResolvedAt != nil {
		t.Fatalf("a CPU mean of 90 should open one warning alert, got %+v", as)
	}
	msgs := h.messages()
	if len(msgs) != 1 {
		t.Fatalf("opening should send one notification, got %d", len(msgs))
	}
	for _, want := range []string{"web-1", "cpu", "at 90 % (threshold 80 %)", "warning", "2026-03-02 10:00 UTC", "https://dash.example.com/observability/hosts/web-1"} {
		if !strings.Contains(msgs[0], want) {
			t.Errorf("the Slack message should mention %q: %s", want, msgs[0])
		}
	}

	f.runWithCPU(time.Minute, 91)
	if n := len(h.messages()); n != 1 {
		t.Fatalf("a second run inside the cooldown should send nothing, got %d messages", n)
	}

	f.runWithCPU(2*time.Minute, 99)
	msgs = h.messages()
	if len(msgs) != 2 || !strings.Contains(msgs[1], "Escalated to CRITICAL") {
		t.Fatalf("warning to critical should notify at once, got %q", msgs)
	}
	if as := f.alerts(); len(as) != 1 || as[0].Severity != "critical" || as[0].EscalatedAt == nil {
		t.Fatalf("the escalation should update the one alert, got %+v", as)
	}

	// 92 is below the critical threshold (95) but inside its hysteresis band (90): still critical, quiet.
	f.runWithCPU(3*time.Minute, 92)
	if as := f.alerts(); as[0].Severity != "critical" || len(h.messages()) != 2 {
		t.Fatalf("inside the critical hysteresis band the alert stays critical and quiet, got %+v", as[0])
	}

	// 85 is past that band: back to warning, said at once although the cooldown runs, since it
	// corrects what the operator was last told.
	f.runWithCPU(4*time.Minute, 85)
	msgs = h.messages()
	if len(msgs) != 3 || !strings.Contains(msgs[2], "De-escalated to WARNING: cpu on web-1 at 85 % (threshold 80 %)") {
		t.Fatalf("critical to warning should notify at once, got %q", msgs)
	}
	if as := f.alerts(); len(as) != 1 || as[0].Severity != "warning" || as[0].Threshold != 80 || as[0].ResolvedAt != nil {
		t.Fatalf("the de-escalation should update the one alert to warning, got %+v", as)
	}

	// 76 is below the warning (80) but inside its hysteresis band (75): still open, quiet.
	f.runWithCPU(5*time.Minute, 76)
	if as := f.alerts(); as[0].ResolvedAt != nil || len(h.messages()) != 3 {
		t.Fatalf("inside the hysteresis band the alert stays open and quiet")
	}

	f.runWithCPU(6*time.Minute, 10)
	f.runWithCPU(7*time.Minute, 10)
	msgs = h.messages()
	if len(msgs) != 4 || !strings.Contains(msgs[3], "Resolved: cpu on web-1 is back to 10 % (warning threshold 80 %)") {
		t.Fatalf("resolving should send exactly one notice, got %q", msgs)
	}
	as = f.alerts()
	if as[0].ResolvedAt == nil || as[0].NotificationCount != 4 || as[0].DeliveryStatus != "delivered" || as[0].Resolution.String != "recovered" {
		t.Fatalf("the alert should be resolved (recovered) after 4 delivered notices, got %+v", as[0])
	}

	// It fires again six minutes after the resolution notice: a new alert, but the cooldown
	// holds its notice until fifteen minutes have passed.
	f.runWithCPU(12*time.Minute, 90)
	if n := len(h.messages()); n != 4 {
		t.Fatalf("a reopened alert inside the cooldown should wait, got %d messages", n)
	}
	f.runWithCPU(22*time.Minute, 90)
	msgs = h.messages()
	if len(msgs) != 5 || !strings.Contains(msgs[4], "WARNING") {
		t.Fatalf("after the cooldown the new alert should be announced once, got %q", msgs)
	}
	if as := f.alerts(); len(as) != 2 || as[1].ResolvedAt != nil {
		t.Fatalf("want the old resolved alert and one open one, got %d", len(as))
	}
}

// Three samples right after a start once opened a critical alert: a window opens nothing until
// its samples cover most of it, and an open alert does not resolve on a few samples either.
func TestAWindowMostlyWithoutSamplesIsNotJudged(t *testing.T) {
	h := newHook(t)
	f := newFixture(t, slack(h))
	f.samples(3, "web-1", 99, 20, "") // 15 s of a 1-minute window
	rep := f.run()
	if as := f.alerts(); len(as) != 0 || len(h.messages()) != 0 {
		t.Fatalf("three samples must not open an alert, got %+v", as)
	}
	if len(rep.Changes) != 1 || rep.Changes[0].Action != alerts.Wait || rep.Changes[0].Severity != health.Critical {
		t.Fatalf("the report should say a critical series waits for its window, got %+v", rep.Changes)
	}
	if !strings.Contains(rep.String(), "waiting for a covered window 1") {
		t.Errorf("the summary should count it: %s", rep)
	}

	// 25 s later: eight samples speak for 40 s, under 80 % of the window.
	f.now = t0.Add(25 * time.Second)
	f.samples(5, "web-1", 99, 20, "")
	if f.run(); len(f.alerts()) != 0 {
		t.Fatal("40 s of samples in a 1-minute window must not open an alert")
	}
	// 25 s later: the twelve samples in the window speak for all of it.
	f.now = t0.Add(50 * time.Second)
	f.samples(5, "web-1", 99, 20, "")
	f.run()
	if as := f.alerts(); len(as) != 1 || as[0].Severity != "critical" || len(h.messages()) != 1 {
		t.Fatalf("a covered window at 99 should open one critical alert, got %+v", as)
	}

	// The host was away for ten minutes and is back with two samples: too few to resolve on.
	f.now = t0.Add(11 * time.Minute)
	f.samples(2, "web-1", 5, 20, "")
	f.run()
	if as := f.alerts(); as[0].ResolvedAt != nil {
		t.Fatalf("two samples must not resolve the alert, got %+v", as[0])
	}
	f.now = t0.Add(12 * time.Minute)
	f.fill("web-1", 5, 20, "")
	f.run()
	if as := f.alerts(); as[0].ResolvedAt == nil {
		t.Fatalf("a covered window at 5 should resolve it, got %+v", as[0])
	}
}

// The thresholds are those of the rules at each evaluation (a restart with new HEALTH_* values,
// later a rule changed in the browser), not those the alert opened with: reminders and the
// resolution notice name the threshold it is judged against now.
func TestNoticesNameTheThresholdsOfNow(t *testing.T) {
	h := newHook(t)
	f := newFixture(t, slack(h))
	f.runWithCPU(0, 99)
	if msgs := h.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "CRITICAL: cpu on web-1 at 99 % (threshold 95 %)") {
		t.Fatalf("want one critical notice, got %q", msgs)
	}
	f.rules.Thresholds.CPU = health.Level{Warning: 82.5, Critical: 97}
	f.eval = alerts.New(alerts.Deps{DB: f.pool, Rules: f.rules, Notifiers: []*notify.Notifier{slack(h)}, Now: func() time.Time { return f.now }})
	f.runWithCPU(5*time.Hour, 99)
	msgs := h.messages()
	if len(msgs) != 2 || !strings.Contains(msgs[1], "Still CRITICAL: cpu on web-1 at 99 % (threshold 97 %)") {
		t.Fatalf("the reminder should name the critical threshold of now, got %q", msgs)
	}
	f.runWithCPU(5*time.Hour+time.Minute, 50)
	msgs = h.messages()
	if len(msgs) != 3 || !strings.Contains(msgs[2], "Resolved: cpu on web-1 is back to 50 % (warning threshold 82.5 %)") ||
		!strings.Contains(msgs[2], "*Threshold:* 82.5 %") {
		t.Fatalf("the resolution should name the warning threshold it fell below, got %q", msgs)
	}
}

func TestAcknowledgedAlertsSendNoReminders(t *testing.T) {
	h := newHook(t)
	f := newFixture(t, slack(h))
	f.fill("web-1", 90, 20, "")
	f.fill("web-2", 90, 20, "")
	f.run()
	if n := len(h.messages()); n != 2 {
		t.Fatalf("two hosts over the threshold should send two notices, got %d", n)
	}
	var admin int64
	if err := f.pool.QueryRow(context.Background(),
		`INSERT INTO users (email, password_hash, role) VALUES ('ops@example.com', 'x', 'admin') RETURNING id`).Scan(&admin); err != nil {
		t.Fatal(err)
	}
	web1 := f.alerts()[0]
	acked, err := alerts.Acknowledge(context.Background(), f.pool, web1.ID, admin, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if acked.AcknowledgedAt == nil || !acked.AcknowledgedAt.Equal(t0.Add(time.Minute)) || acked.AcknowledgedBy.Int64 != admin {
		t.Fatalf("who and when should be kept, got %+v", acked)
	}

	// Still firing past the repeat interval: only the unacknowledged one reminds.
	f.now = t0.Add(4*time.Hour + time.Minute)
	f.fill("web-1", 90, 20, "")
	f.fill("web-2", 90, 20, "")
	f.run()
	msgs := h.messages()
	if len(msgs) != 3 || !strings.Contains(msgs[2], "web-2") || !strings.Contains(msgs[2], "Still WARNING") {
		t.Fatalf("want one reminder, for web-2, got %q", msgs)
	}
}

func TestAcknowledgeRefusesUnknownAndResolvedAlerts(t *testing.T) {
	f := newFixture(t)
	if _, err := alerts.Acknowledge(context.Background(), f.pool, 4242, 1, t0); err != alerts.ErrNotFound {
		t.Fatalf("unknown alert: want ErrNotFound, got %v", err)
	}
	f.runWithCPU(0, 99)
	f.runWithCPU(time.Minute, 1)
	if _, err := alerts.Acknowledge(context.Background(), f.pool, f.alerts()[0].ID, 1, t0); err != alerts.ErrResolved {
		t.Fatalf("resolved alert: want ErrResolved, got %v", err)
	}
}

func TestDiskAlertsArePerFilesystem(t *testing.T) {
	h := newHook(t)
	f := newFixture(t, slack(h))
	f.fill("db-1", 10, 10, `[{"mountpoint":"/","device":"sda1","fstype":"ext4","total_bytes":100,"used_bytes":10,"used_percent":10},
	                           {"mountpoint":"/data","device":"sdb1","fstype":"xfs","total_bytes":100,"used_bytes":97,"used_percent":97}]`)
	f.run()
	as := f.alerts()
	if len(as) != 1 || as[0].Metric != "disk" || as[0].Subject != "/data" || as[0].Severity != "critical" {
		t.Fatalf("want one critical disk alert on /data, got %+v", as)
	}
	if msgs := h.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "/data") {
		t.Fatalf("the notice should name the filesystem: %q", msgs)
	}
}

func TestDeliveryRetriesAServerError(t *testing.T) {
	h := newHook(t, http.StatusInternalServerError, http.StatusInternalServerError)
	f := newFixture(t, slack(h))
	f.runWithCPU(0, 90)
	if n := len(h.messages()); n != 1 {
		t.Fatalf("500, 500, 200 should deliver the message once, got %d", n)
	}
	a := f.alerts()[0]
	if a.DeliveryStatus != "delivered" || a.DeliveryAttempts != 3 || a.NotificationCount != 1 || a.PendingNotification.Valid {
		t.Fatalf("want delivered after 3 attempts, got %+v", a)
	}
}

func TestWebhookDownNeverFailsTheJobAndKeepsTheAlert(t *testing.T) {
	h := newHook(t)
	h.down()
	f := newFixture(t, slack(h))
	rep := f.runWithCPU(0, 90)
	if rep.Failed != 1 {
		t.Fatalf("the report should count the failed delivery: %+v", rep)
	}
	a := f.alerts()[0]
	if a.DeliveryStatus != "failed" || a.PendingNotification.String != "opened" || !strings.Contains(a.DeliveryError, "503") {
		t.Fatalf("the alert should keep its pending notice and the error, got %+v", a)
	}

	h.up()
	f.runWithCPU(time.Minute, 90)
	msgs := h.messages()
	if len(msgs) != 1 || !strings.Contains(msgs[0], "WARNING") {
		t.Fatalf("the next run should deliver the kept notice once, got %q", msgs)
	}

	// Nothing listening at all: still no job failure.
	h.srv.Close()
	f.runWithCPU(2*time.Minute, 99)
	if a := f.alerts()[0]; a.DeliveryStatus != "failed" || a.PendingNotification.String != "escalated" {
		t.Fatalf("an unreachable webhook should leave the escalation pending, got %+v", a)
	}
}

func TestGenericWebhookGetsJSON(t *testing.T) {
	h := newHook(t)
	f := newFixture(t, notify.NewWebhook(h.srv.URL, notify.Options{}))
	f.runWithCPU(0, 90)
	msgs := h.messages()
	if len(msgs) != 1 {
		t.Fatalf("want one webhook call, got %d", len(msgs))
	}
	var body struct {
		Event string `json:"event"`
		Alert struct {
			Host     string  `json:"host"`
			Metric   string  `json:"metric"`
			Severity string  `json:"severity"`
			Value    float64 `json:"value"`
		} `json:"alert"`
	}
	if err := json.Unmarshal([]byte(msgs[0]), &body); err != nil {
		t.Fatal(err)
	}
	if body.Event != "opened" || body.Alert.Host != "web-1" || body.Alert.Metric != "cpu" || body.Alert.Severity != "warning" || body.Alert.Value != 90 {
		t.Fatalf("unexpected webhook body: %s", msgs[0])
	}
}

func TestDryRunDecidesButWritesNothing(t *testing.T) {
	h := newHook(t)
	f := newFixture(t, slack(h))
	f.fill("web-1", 99, 20, "")
	rep, err := f.eval.Run(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) != 1 || rep.Changes[0].Action != alerts.Open || rep.Changes[0].Severity != "critical" {
		t.Fatalf("the dry run should report opening one critical alert, got %+v", rep.Changes)
	}
	if len(f.alerts()) != 0 || len(h.messages()) != 0 {
		t.Fatal("a dry run must not store or send anything")
	}
}

func TestAnAlertWhoseSeriesStopsReportingResolvesOnce(t *testing.T) {
	h := newHook(t)
	f := newFixture(t, slack(h))
	f.fill("db-1", 10, 10, `[{"mountpoint":"/mnt/backup","used_percent":97}]`)
	f.run()
	if n := len(h.messages()); n != 1 {
		t.Fatalf("a full filesystem should notify once, got %d", n)
	}
	// The filesystem is unmounted: the host keeps reporting, but not /mnt/backup.
	for i := 1; i <= 2; i++ {
		f.now = t0.Add(time.Duration(i) * time.Minute)
		f.fill("db-1", 10, 10, "")
		f.run()
	}
	if a := f.alerts()[0]; a.ResolvedAt != nil {
		t.Fatalf("two windows without data is too soon to give up on the alert: %+v", a)
	}
	for i := 3; i <= 5; i++ {
		f.now = t0.Add(time.Duration(i) * time.Minute)
		f.fill("db-1", 10, 10, "")
		f.run()
	}
	a := f.alerts()[0]
	if a.ResolvedAt == nil || a.Resolution.String != "no_data" || !strings.Contains(a.Message, "no data") {
		t.Fatalf("after three windows without data the alert should resolve saying so, got %+v", a)
	}
	msgs := h.messages()
	if len(msgs) != 2 || !strings.Contains(msgs[1], "Resolved (no data)") || !strings.Contains(msgs[1], "/mnt/backup") {
		t.Fatalf("want exactly one no-data resolution notice, got %q", msgs)
	}
}

func TestTwoEvaluatorsSendANoticeOnce(t *testing.T) {
	// The webhook holds the first request until released, so the second evaluator runs while
	// the first is mid-send: what `infradash alerts` does while serve's job runs.
	arrived, release := make(chan struct{}, 10), make(chan struct{})
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(body))
		first := len(got) == 1
		mu.Unlock()
		arrived <- struct{}{}
		if first {
			<-release
		}
	}))
	defer srv.Close()
	f := newFixture(t)
	f.fill("web-1", 90, 20, "")
	newEval := func() *alerts.Evaluator {
		return alerts.New(alerts.Deps{DB: f.pool, Rules: f.rules, Notifiers: []*notify.Notifier{notify.NewSlack(srv.URL, notify.Options{})},
			Now: func() time.Time { return t0 }})
	}
	first := make(chan error, 1)
	go func() {
		_, err := newEval().Run(context.Background(), false)
		first <- err
	}()
	<-arrived
	if _, err := newEval().Run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("two evaluators at once should send the notice once, got %d messages", len(got))
	}
	if a := f.alerts()[0]; a.NotificationCount != 1 || a.PendingNotification.Valid {
		t.Fatalf("the alert should record one delivered notice, got %+v", a)
	}
}

// lockedBuffer is a log destination the evaluator may write to from any goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A notice that reached one channel and failed on another stays pending for that other one
// only: each run tries it again there, and the channel that got it never gets it twice.
func TestANoticeThatReachedOnlyOneChannelIsRetriedOnTheOtherOnly(t *testing.T) {
	up, down := newHook(t), newHook(t)
	down.down()
	var logs lockedBuffer
	f := newFixture(t)
	f.eval = alerts.New(alerts.Deps{DB: f.pool, Rules: f.rules, Now: func() time.Time { return f.now },
		Notifiers: []*notify.Notifier{slack(up), notify.NewWebhook(down.srv.URL, notify.Options{Backoff: time.Millisecond})},
		Logger:    slog.New(slog.NewTextHandler(&logs, nil))})
	f.runWithCPU(0, 90)
	f.runWithCPU(time.Minute, 90)
	if n := len(up.messages()); n != 1 {
		t.Fatalf("the notifier that worked should get the notice once, got %d", n)
	}
	if a := f.alerts()[0]; !a.PendingNotification.Valid || !strings.Contains(a.DeliveryError, "webhook") || a.NotificationCount != 1 {
		t.Fatalf("the notice stays pending for the webhook, counted once, with the webhook's error, got %+v", a)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "reached only some notifiers") {
		t.Fatalf("the partial delivery should be logged at WARN:\n%s", logs.String())
	}
	down.up()
	f.runWithCPU(2*time.Minute, 90)
	f.runWithCPU(3*time.Minute, 90)
	if n := len(down.messages()); n != 1 || !strings.Contains(down.messages()[0], `"event":"opened"`) {
		t.Fatalf("the webhook should get the opened notice once it is back, got %q", down.messages())
	}
	if n := len(up.messages()); n != 1 {
		t.Fatalf("the channel that had it must not get it again, got %d", n)
	}
	if a := f.alerts()[0]; a.PendingNotification.Valid || a.DeliveryStatus != "delivered" || a.NotificationCount != 1 {
		t.Fatalf("once every channel has it the notice is done, counted once: %+v", a)
	}
}

// newHostDownFixture is a fixture whose rules say a host is down after a minute of silence.
func newHostDownFixture(t *testing.T, h *hook) *fixture {
	f := newFixture(t, slack(h))
	f.rules.HostDownAfter = time.Minute
	f.eval = alerts.New(alerts.Deps{DB: f.pool, Rules: f.rules, Notifiers: []*notify.Notifier{slack(h)}, BaseURL: "https://dash.example.com",
		Now: func() time.Time { return f.now }})
	return f
}

// lastSeen records that the hub heard from host at at, as a stored batch does; the host is
// enrolled on first use.
func (f *fixture) lastSeen(host string, at time.Time) {
	f.t.Helper()
	if _, err := f.pool.Exec(context.Background(), `
		WITH h AS (INSERT INTO hosts (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id)
		INSERT INTO host_state (host_id, received_at) SELECT id, $2 FROM h
		ON CONFLICT (host_id) DO UPDATE SET received_at = EXCLUDED.received_at`, host, at); err != nil {
		f.t.Fatal(err)
	}
}

// A host that sends nothing for HOST_DOWN_AFTER raises one critical host_down alert with one
// notice naming it and linking to its page; it reminds like any alert; its return resolves it
// with one notice. A host never seen raises nothing.
func TestAHostThatGoesSilentIsDownUntilItSendsAgain(t *testing.T) {
	h := newHook(t)
	f := newHostDownFixture(t, h)
	f.lastSeen("web-1", t0.Add(-10*time.Second))
	if _, err := f.pool.Exec(context.Background(), `INSERT INTO hosts (name, created_at) VALUES ('new-1', $1)`, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}

	f.run()
	if n := len(f.alerts()); n != 0 {
		t.Fatalf("10 s of silence, under HOST_DOWN_AFTER: %d alerts", n)
	}
	f.now = t0.Add(2 * time.Minute)
	f.run()
	as := f.alerts()
	if len(as) != 1 || as[0].Host != "web-1" || string(as[0].Metric) != "host_down" || as[0].Severity != "critical" || as[0].Value != 130 {
		t.Fatalf("web-1 silent for 2m 10s: want one critical host_down alert of 130 s, got %+v", as)
	}
	msgs := h.messages()
	if len(msgs) != 1 {
		t.Fatalf("opening sends one notice, got %d", len(msgs))
	}
	for _, want := range []string{"CRITICAL: web-1 is down: nothing received for 2m 10s (HOST_DOWN_AFTER 1m)", "https://dash.example.com/observability/hosts/web-1"} {
		if !strings.Contains(msgs[0], want) {
			t.Errorf("the notice should say %q: %s", want, msgs[0])
		}
	}
	// Still silent, well past three alert windows: still open, quiet until the repeat interval.
	for _, d := range []time.Duration{3 * time.Minute, 10 * time.Minute, time.Hour} {
		f.now = t0.Add(d)
		f.run()
	}
	if a := f.alerts()[0]; a.ResolvedAt != nil || len(h.messages()) != 1 {
		t.Fatalf("a host still silent: alert %+v, %d notices", a, len(h.messages()))
	}
	f.now = t0.Add(2*time.Minute + f.rules.RepeatInterval)
	f.run()
	if msgs := h.messages(); len(msgs) != 2 || !strings.Contains(msgs[1], "Still CRITICAL: web-1 is down") {
		t.Fatalf("after the repeat interval one reminder, got %q", msgs)
	}
	// It sends again: resolved, with one notice.
	f.now = f.now.Add(time.Minute)
	f.lastSeen("web-1", f.now.Add(-time.Second))
	f.run()
	f.now = f.now.Add(time.Minute)
	f.lastSeen("web-1", f.now.Add(-time.Second))
	f.run()
	a := f.alerts()[0]
	if a.ResolvedAt == nil || a.Resolution.String != "recovered" {
		t.Fatalf("web-1 sends again: its alert should resolve, got %+v", a)
	}
	msgs = h.messages()
	if len(msgs) != 3 || !strings.Contains(msgs[2], "Resolved: web-1 is sending again") {
		t.Fatalf("want exactly one resolution notice, got %q", msgs)
	}
	if n := len(f.alerts()); n != 1 {
		t.Errorf("%d alerts; new-1, never seen, must raise none", n)
	}
}

func TestAcknowledgedHostDownSendsNoReminders(t *testing.T) {
	h := newHook(t)
	f := newHostDownFixture(t, h)
	f.lastSeen("db-1", t0.Add(-5*time.Minute))
	f.run()
	a := f.alerts()[0]
	if _, err := f.pool.Exec(context.Background(), `INSERT INTO users (email, password_hash, role) VALUES ('ops@example.com', 'x', 'admin')`); err != nil {
		t.Fatal(err)
	}
	var uid int64
	if err := f.pool.QueryRow(context.Background(), `SELECT id FROM users`).Scan(&uid); err != nil {
		t.Fatal(err)
	}
	if _, err := alerts.Acknowledge(context.Background(), f.pool, a.ID, uid, f.now); err != nil {
		t.Fatal(err)
	}
	f.now = t0.Add(2 * f.rules.RepeatInterval)
	f.run()
	if n := len(h.messages()); n != 1 {
		t.Fatalf("an acknowledged host_down sent %d notices, want the opening one", n)
	}
}

// A removed host raises nothing: removing it closes its host_down alert without a notice, and
// later runs do not open another.
func TestARemovedHostRaisesNothing(t *testing.T) {
	h := newHook(t)
	f := newHostDownFixture(t, h)
	f.lastSeen("gone-1", t0.Add(-10*time.Minute))
	f.run()
	if n := len(h.messages()); n != 1 {
		t.Fatalf("gone-1 silent for 10 minutes: %d notices, want 1", n)
	}
	if _, err := fleet.NewRegistry(f.pool, func() time.Time { return f.now }).Remove(context.Background(), "gone-1", false); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{time.Minute, time.Hour, 5 * time.Hour} {
		f.now = t0.Add(d)
		f.run()
	}
	as := f.alerts()
	if len(as) != 1 || as[0].ResolvedAt == nil {
		t.Fatalf("after removing gone-1: %+v, want its one alert closed", as)
	}
	if n := len(h.messages()); n != 1 {
		t.Errorf("removing a host sent %d more notices, want none", n-1)
	}
}
