package browsertest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/alerts"
	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/channels"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/handlers"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/rules"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/store"
)

// rulesApp is the hub's pages over two hosts fed by hand (web-1, web-2, env=prod), with the one
// thresholds resolver main wires, and the alerts job's evaluator to run at will.
type rulesApp struct {
	app
	eval *alerts.Evaluator
	view *fleet.Fleet
}

const rulesSecret = "a browser test secret key, long enough 0123456789"

func startRulesApp(t *testing.T) *rulesApp {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	env := map[string]string{"COLLECT_INTERVAL": "1s", "SECRET_KEY": rulesSecret}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewStore(pool, auth.Options{}).CreateUser(ctx, adminEmail, adminPassword, "admin"); err != nil {
		t.Fatal(err)
	}
	builtin := cfg.Thresholds
	builtin.DownAfter = time.Hour
	resolver := rules.NewResolver(pool, builtin, nil)
	view := fleet.New(fleet.Options{DB: pool, DownAfter: time.Hour, Thresholds: resolver.Thresholds})
	reg := fleet.NewRegistry(pool, nil)
	for _, h := range []string{"web-1", "web-2"} {
		if _, _, err := reg.Add(ctx, h, fleet.Labels{"env": "prod"}); err != nil {
			t.Fatal(err)
		}
	}
	box, err := channels.NewBox(rulesSecret)
	if err != nil {
		t.Fatal(err)
	}
	chans := channels.NewStore(pool, box, notify.Options{Backoff: time.Millisecond})
	// Six minutes of samples of both hosts at 30 % CPU: a covered alert window, and a chart.
	now := time.Now().UTC()
	for _, h := range []string{"web-1", "web-2"} {
		if _, err := pool.Exec(ctx, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent)
			SELECT $1, $2::timestamptz - i * interval '5 seconds', 30, 40 FROM generate_series(0, 71) AS i`, h, now); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); view.Run(runCtx) }()
	go func() { defer wg.Done(); resolver.Run(runCtx) }()
	waitFor(t, "the fleet's first read", time.Minute, view.Loaded)
	for _, h := range []string{"web-1", "web-2"} {
		s := sample.Snapshot{CollectedAt: now, Host: h}
		s.System.CPU.TotalPercent, s.System.CPU.LogicalCores, s.System.Memory.UsedPercent = 30, 2, 40
		view.Observe(store.Observation{Host: h, ReceivedAt: now, Latest: s})
	}
	opts := handlers.Options{BaseURL: cfg.BaseURL, CollectInterval: cfg.CollectInterval, SessionLifetime: cfg.SessionLifetime,
		SecretKey: cfg.SecretKey, HostDownAfter: cfg.HostDownAfter, RetentionDays: cfg.RetentionDays,
		LoginMaxFailures: cfg.LoginMaxFailures, LoginLockout: cfg.LoginLockout, AlertHysteresis: cfg.AlertHysteresis}
	srv := handlers.New(handlers.Deps{Options: opts, Pool: pool, Host: "web-1", Fleet: view, Rules: resolver, Channels: chans,
		Thresholds: cfg.Thresholds, Version: "1.0.0"})
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	srv.Routes(e)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		_ = hs.Close()
		stop()
		wg.Wait()
	})
	r := alerts.RulesFrom(cfg)
	r.HostDownAfter = 0
	ev := alerts.New(alerts.Deps{DB: pool, Rules: r, Resolver: resolver, Channels: chans.Load, BaseURL: "http://" + ln.Addr().String()})
	return &rulesApp{app: app{url: "http://" + ln.Addr().String(), q: queries.New(pool), pool: pool, host: "web-1"}, eval: ev, view: view}
}

func (a *rulesApp) evaluate(t *testing.T) alerts.Report {
	t.Helper()
	rep, err := a.eval.Run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// openAlerts are the hosts with an open cpu alert.
func openCPUAlerts(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT host FROM infrastructure_alerts WHERE resolved_at IS NULL AND metric = 'cpu' ORDER BY host`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

// standIn is a local HTTP stand-in for a channel: it keeps each notice's event and host.
type standIn struct {
	mu     sync.Mutex
	events []string
	srv    *httptest.Server
}

func newStandIn(t *testing.T) *standIn {
	s := &standIn{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Event string
			Alert *struct{ Host string }
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		e := body.Event
		if body.Alert != nil {
			e += " " + body.Alert.Host
		}
		s.mu.Lock()
		s.events = append(s.events, e)
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *standIn) got() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.events, ", ")
}

// An admin points a channel at a local stand-in and tests it, lowers the CPU warning of one
// host, and the next evaluation opens an alert for that host only, judged by the new level in
// the health score and the chart too; a silence holds a notice back and its end releases it
// once; the audit log shows every step by its author.
func TestAlertRulesChannelsAndSilencesInChromium(t *testing.T) {
	a := startRulesApp(t)
	hook := newStandIn(t)
	ctx, problems := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 8*time.Minute) // a bound for a broken test, not a speed requirement
	defer cancel()
	must(t, ctx, chromedp.EmulateViewport(1280, 900))
	must(t, ctx,
		chromedp.Navigate(a.url+"/settings/alerts"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="login-email"]`), adminEmail),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="login-password"]`), adminPassword),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="current-user"]`)),
	)
	submit := func(path, form string, fields map[string]string, button string) {
		t.Helper()
		must(t, ctx, chromedp.Navigate(a.url+path), chromedp.WaitVisible(chromedp.CSS(`[data-testid="`+form+`"]`)))
		for id, v := range fields {
			if strings.HasPrefix(v, "select:") {
				must(t, ctx, chromedp.SetValue(chromedp.CSS(`[data-testid="`+id+`"]`), strings.TrimPrefix(v, "select:")))
				continue
			}
			must(t, ctx, chromedp.SendKeys(chromedp.CSS(`[data-testid="`+id+`"]`), v))
		}
		must(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="`+button+`"]`)))
	}
	// flash is the flash of the page a form led to: a new one, not the one still on screen.
	last := ""
	flash := func() string {
		t.Helper()
		waitPage(t, ctx, `!!document.querySelector('[data-testid="flash"]') && document.querySelector('[data-testid="flash"]').innerText !== `+jsString(last))
		last = text(t, ctx, `[data-testid="flash"]`)
		return last
	}

	// A channel: a mistake beside its field, then saved, masked, and its test message arrives.
	submit("/settings/channels", "add-channel-form", map[string]string{"add-name": "ops-hook", "add-url": "gopher://nowhere"}, "add-channel-submit")
	waitPage(t, ctx, `!!document.querySelector('[data-testid="add-url-error"]')`)
	if got := text(t, ctx, `[data-testid="add-url-error"]`); !strings.Contains(got, "gopher") {
		t.Errorf("the URL's error: %q", got)
	}
	secretURL := hook.srv.URL + "/hooks/t0ps3cret"
	submit("/settings/channels", "add-channel-form", map[string]string{"add-name": "ops-hook", "add-url": secretURL}, "add-channel-submit")
	if got := flash(); !strings.Contains(got, "ops-hook") {
		t.Errorf("flash: %q", got)
	}
	if eval[bool](t, ctx, `document.body.innerHTML.includes("t0ps3cret")`) {
		t.Error("the channel's secret path is shown")
	}
	must(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="channel-test"]`)))
	if got := flash(); !strings.Contains(got, "delivered") || hook.got() != "test" {
		t.Fatalf("the test message: flash %q, stand-in got %q", got, hook.got())
	}

	// Nothing fires at 30 % against the built-in 80 %.
	a.evaluate(t)
	if got := openCPUAlerts(t, a.pool); len(got) != 0 {
		t.Fatalf("no alert yet: %v", got)
	}
	// The rule: web-1's CPU warning down to 20 %.
	submit("/settings/alerts", "add-rule-form", map[string]string{"add-metric": "select:cpu", "add-host": "select:web-1",
		"add-warning": "20", "add-critical": "90"}, "add-rule-submit")
	if got := flash(); !strings.Contains(got, "web-1") {
		t.Errorf("flash: %q", got)
	}
	must(t, ctx, chromedp.Navigate(a.url+"/settings/alerts?host=web-1"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="effective-web-1"]`)))
	if got := text(t, ctx, `[data-testid="effective-web-1"] [data-testid="effective-cpu"] [data-testid="effective-source"]`); !strings.EqualFold(got, "rule for web-1") {
		t.Errorf("web-1's cpu level comes from %q", got)
	}
	if got := text(t, ctx, `[data-testid="effective-web-1"] [data-testid="effective-memory"] [data-testid="effective-source"]`); !strings.EqualFold(got, "built-in (environment)") {
		t.Errorf("web-1's memory level comes from %q", got)
	}
	a.evaluate(t)
	if got := openCPUAlerts(t, a.pool); strings.Join(got, ",") != "web-1" {
		t.Fatalf("the next evaluation opens an alert for web-1 only: %v", got)
	}
	waitFor(t, "the opened notice at the stand-in", 30*time.Second, func() bool { return hook.got() == "test, opened web-1" })
	// The host's page judges by the same level: its health score and its chart's warning line.
	waitFor(t, "web-1's view judging by the rule", 30*time.Second, func() bool { h, _ := a.view.Host("web-1"); return h.Thresholds.CPU.Warning == 20 })
	must(t, ctx, chromedp.Navigate(a.url+"/observability/hosts/web-1"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="chart-cpu"]`)))
	pollUntil(t, ctx, "web-1's health at warning", `document.querySelector('[data-testid="health-status"]').innerText.toLowerCase() === "warning"`)
	if score := eval[int](t, ctx, `+document.querySelector('[data-testid="health-score"]').innerText`); score > 79 {
		t.Errorf("web-1 at warning scores %d, want at most 79", score)
	}
	if got := eval[string](t, ctx, `document.querySelector('[data-testid="chart-cpu"] line.threshold.warning title').textContent`); got != "warning 20 %" {
		t.Errorf("the CPU chart's warning line: %q", got)
	}
	if h, _ := a.view.Host("web-2"); h.Health.Status != "healthy" {
		t.Errorf("web-2 keeps the environment's levels: %s", h.Health.Status)
	}

	// A silence of web-2's CPU, then a label rule that makes web-2 fire: the alert opens, its
	// notice is held; ending the silence releases it once.
	submit("/settings/silences", "add-silence-form", map[string]string{"add-host": "select:web-2", "add-metric": "select:cpu",
		"add-comment": "load test"}, "add-silence-submit")
	if got := flash(); !strings.Contains(got, "cpu on web-2") {
		t.Errorf("flash: %q", got)
	}
	submit("/settings/alerts", "add-rule-form", map[string]string{"add-metric": "select:cpu", "add-labels": "env=prod",
		"add-warning": "25", "add-critical": "90"}, "add-rule-submit")
	flash()
	if rep := a.evaluate(t); rep.Silenced != 1 {
		t.Errorf("the silence holds web-2's notice: %+v", rep)
	}
	if got := openCPUAlerts(t, a.pool); strings.Join(got, ",") != "web-1,web-2" {
		t.Fatalf("web-2's alert opens all the same: %v", got)
	}
	must(t, ctx, chromedp.Navigate(a.url+"/observability?tab=alerts"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="alerts-open"]`)))
	silenced := eval[[]string](t, ctx, `[...document.querySelectorAll('[data-testid="alerts-open"] tbody tr')].filter(r => r.querySelector('[data-testid="alert-silenced"]')).map(r => r.querySelector('[data-testid="alert-host"]').innerText)`)
	if strings.Join(silenced, ",") != "web-2" {
		t.Errorf("the Alerts tab shows web-2's alert silenced: %v", silenced)
	}
	if hook.got() != "test, opened web-1" {
		t.Fatalf("nothing about web-2 while silenced: %q", hook.got())
	}
	must(t, ctx, chromedp.Navigate(a.url+"/settings/silences"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="silence-end"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="silence-end"]`)))
	flash()
	a.evaluate(t)
	a.evaluate(t)
	if got := hook.got(); got != "test, opened web-1, opened web-2" {
		t.Fatalf("the end of the silence releases web-2's notice once: %q", got)
	}

	// The "silence for 1 h" button of web-1's open alert.
	must(t, ctx, chromedp.Navigate(a.url+"/observability?tab=alerts"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="silence-alert"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="silence-alert"]`)))
	waitPage(t, ctx, `document.querySelectorAll('[data-testid="alerts-open"] [data-testid="alert-silenced"]').length === 1`)

	// The audit log: every step, by this admin.
	must(t, ctx, chromedp.Navigate(a.url+"/settings/audit"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit"]`)))
	rows := eval[[]string](t, ctx, `[...document.querySelectorAll('[data-testid="audit"] tbody tr')].map(r =>
		r.querySelector('[data-testid="audit-action"]').innerText + " " + r.querySelector('[data-testid="audit-who"]').innerText.split(" ")[0])`)
	want := []string{"silence.create", "silence.delete", "rule.create", "silence.create", "rule.create", "channel.test", "channel.create", "login"}
	for i := range want {
		want[i] += " " + adminEmail
	}
	if strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Errorf("audit log:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if eval[bool](t, ctx, `document.body.innerHTML.includes("t0ps3cret")`) {
		t.Error("the audit log shows the channel's secret")
	}

	for _, path := range []string{"/settings/alerts", "/settings/alerts?host=web-1", "/settings/channels", "/settings/silences", "/observability?tab=alerts"} {
		assertAccessible(t, ctx, a.url+path)
		must(t, ctx, chromedp.EmulateViewport(375, 812), chromedp.Navigate(a.url+path), chromedp.WaitVisible(chromedp.CSS(`main`)))
		if w := eval[float64](t, ctx, `document.documentElement.scrollWidth`); w > 375 {
			t.Errorf("%s at 375 px is %v px wide", path, w)
		}
		must(t, ctx, chromedp.EmulateViewport(1280, 900))
		if name, ok := map[string]string{"/settings/alerts?host=web-1": "alerts", "/settings/channels": "channels", "/settings/silences": "silences"}[path]; ok {
			takeSettingsScreenshots(t, ctx, name, true)
		}
	}
	for _, p := range problems() {
		// The channel form in error (400) is on purpose; the browser logs it as a failed load.
		if !strings.Contains(p, "status of 400 (Bad Request) "+a.url+"/settings/channels") {
			t.Errorf("browser reported: %s", p)
		}
	}
}
