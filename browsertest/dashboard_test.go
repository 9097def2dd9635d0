// Package browsertest drives the real dashboard in headless Chromium: the real handlers on a
// real listener, a real PostgreSQL database and the collector sampling this host every second.
package browsertest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/handlers"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const (
	adminEmail     = "admin@example.com"
	adminPassword  = "correct horse battery staple"
	viewerEmail    = "viewer@example.com"
	viewerPassword = "viewer horse battery staple"
)

// app is infradash serving on 127.0.0.1 for one test.
type app struct {
	url  string
	q    *queries.Queries
	pool *pgxpool.Pool
	host string
}

func startApp(t *testing.T) *app {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	cfg, err := config.Load(func(k string) (string, bool) {
		if k == "COLLECT_INTERVAL" {
			return "1s", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewStore(pool, auth.Options{}).CreateUser(ctx, adminEmail, adminPassword, "admin"); err != nil {
		t.Fatal(err)
	}
	th := health.DefaultThresholds()
	col := collector.New(collector.Options{Interval: cfg.CollectInterval, Version: "1.0.0"})
	host := col.Platform().Hostname
	// As serve runs its own host: each sample stored, and shown live at once.
	view := fleet.New(fleet.Options{DB: pool, DownAfter: cfg.HostDownAfter, Thresholds: func(string, map[string]string) health.Thresholds { return th }})
	platform := col.Platform()
	live := func(s sample.Snapshot) {
		view.Observe(store.Observation{Host: host, ReceivedAt: time.Now().UTC(), Latest: s, AgentVersion: "1.0.0", Platform: &platform})
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); col.Run(runCtx, dbtest.Recorder(t, pool), live) }()
	go func() { defer wg.Done(); view.Run(runCtx) }()

	opts := handlers.Options{BaseURL: cfg.BaseURL, CollectInterval: cfg.CollectInterval, SessionLifetime: cfg.SessionLifetime,
		SecretKey: cfg.SecretKey, HostDownAfter: cfg.HostDownAfter, RetentionDays: cfg.RetentionDays,
		LoginMaxFailures: cfg.LoginMaxFailures, LoginLockout: cfg.LoginLockout}
	srv := handlers.New(handlers.Deps{Options: opts, Pool: pool, Host: host, Fleet: view, Thresholds: th, Version: "1.0.0"})
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
	// The dashboard is worth looking at once the collector has a sample.
	waitFor(t, "the collector's first sample", time.Minute, func() bool { _, ok := col.Latest(); return ok })
	return &app{url: "http://" + ln.Addr().String(), q: queries.New(pool), pool: pool, host: host}
}

// browser starts a fresh headless Chromium and collects every console error, uncaught
// exception and browser log error (CSP violations land there) into problems.
// waitFor polls cond until it holds, or fails the test naming what never happened. The deadline
// only keeps a broken test from hanging until the test binary's timeout.
func waitFor(t *testing.T, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("waited %s for %s", deadline, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })

	var mu sync.Mutex
	var problems []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, "console.error: "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				problems = append(problems, fmt.Sprintf("log %s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), problems...)
	}
}

func must(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func login(t *testing.T, ctx context.Context, a *app) {
	t.Helper()
	loginAs(t, ctx, a, adminEmail, adminPassword)
}

// loginAs logs in through the form and waits for the Infrastructure tab.
func loginAs(t *testing.T, ctx context.Context, a *app, email, password string) {
	t.Helper()
	must(t, ctx,
		chromedp.Navigate(a.url+"/observability"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="login-email"]`), email),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="login-password"]`), password),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="health-score"]`)),
	)
}

func TestDashboardInChromium(t *testing.T) {
	a := startApp(t)
	ctx, problems := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	must(t, ctx, chromedp.EmulateViewport(1280, 900))

	// Logging in through the form lands on the Infrastructure tab with real numbers.
	login(t, ctx, a)
	if got := text(t, ctx, `[data-testid="current-user"]`); !strings.Contains(got, adminEmail) {
		t.Errorf("current user %q", got)
	}
	if cur := eval[string](t, ctx, `document.querySelector('[data-testid="tab-infrastructure"]').getAttribute("aria-current")`); cur != "page" {
		t.Error("Infrastructure is not the current tab")
	}
	if got := text(t, ctx, `[data-testid="cpu-percent"]`); !strings.HasSuffix(got, "%") {
		t.Errorf("CPU card shows %q, want a percentage", got)
	}
	if got := text(t, ctx, `[data-testid="platform-hostname"]`); got != a.host {
		t.Errorf("hostname %q, want %q", got, a.host)
	}

	// The live part refreshes without a reload: the "updated" time changes.
	first := text(t, ctx, `[data-testid="updated-at"]`)
	eval[bool](t, ctx, `window.__sameDocument = true`)
	deadline := time.Now().Add(12 * time.Second)
	for text(t, ctx, `[data-testid="updated-at"]`) == first {
		if time.Now().After(deadline) {
			t.Fatalf("updated-at still %q after 12 s", first)
		}
		must(t, ctx, chromedp.Sleep(250*time.Millisecond))
	}
	if !eval[bool](t, ctx, `window.__sameDocument === true`) {
		t.Error("the page reloaded instead of swapping the fragment")
	}
	if eval[bool](t, ctx, `document.querySelector('[data-testid="stale-notice"]').hidden === false`) {
		t.Errorf("stale notice shows on fresh data: %q", text(t, ctx, `[data-testid="stale-notice"]`))
	}

	// Switching chart ranges swaps the chart section.
	for _, r := range []string{"6h", "24h", "7d", "30d", "1h"} {
		// A link swapped in a moment ago is a plain link until htmx has processed it.
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!(document.querySelector('[data-testid="range-`+r+`"]') || {})["htmx-internal-data"]`)); err != nil {
			t.Fatal(err)
		}
		must(t, ctx,
			chromedp.Click(chromedp.CSS(`[data-testid="range-`+r+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="charts"][data-range="`+r+`"]`)),
		)
		if !eval[bool](t, ctx, `window.__sameDocument === true`) {
			t.Fatalf("switching to %s reloaded the page", r)
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('[data-testid="charts"] figure.chart svg.area').length`); n != 5 {
			t.Errorf("range %s: %d charts, want 5", r, n)
		}
	}
	if !eval[bool](t, ctx, `window.__sameDocument === true`) {
		t.Error("switching ranges reloaded the page")
	}

	// An admin acknowledges an open alert from the Alerts tab.
	id, err := a.q.OpenAlert(context.Background(), queries.OpenAlertParams{
		Host: a.host, Metric: queries.MetrictypeMemory, Severity: queries.HealthstatusWarning,
		Value: 88, Threshold: 85, Message: "memory at 88 %", Now: time.Now().UTC(),
	})
	if err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf(`[data-testid="alert-%d"]`, id)
	must(t, ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="tab-alerts"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` [data-testid="acknowledge"]`)),
		chromedp.Click(chromedp.CSS(row+` [data-testid="acknowledge"]`)),
	)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector('`+row+` [data-testid="acknowledged"]') || {textContent: ""}).textContent.includes("`+adminEmail+`")`)); err != nil {
		t.Fatalf("the acknowledged row never named the admin: %v", err)
	}

	takeScreenshots(t, ctx, a)

	// At phone width nothing is wider than the screen.
	must(t, ctx,
		chromedp.EmulateViewport(375, 812),
		chromedp.Navigate(a.url+"/observability"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="health-score"]`)),
	)
	if !eval[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Errorf("at 375 px the page is %v px wide", eval[float64](t, ctx, `document.documentElement.scrollWidth`))
	}
	must(t, ctx, chromedp.EmulateViewport(768, 1024), chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="health-score"]`)))
	if !eval[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Error("at tablet width the page scrolls sideways")
	}

	// Logging out ends the session: the dashboard asks for a login again.
	must(t, ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.Navigate(a.url+"/observability"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
	)

	for _, p := range problems() {
		t.Errorf("browser reported: %s", p)
	}
}

// takeScreenshots writes docs/screenshots/*.png when INFRADASH_SCREENSHOTS names the folder
// (make screenshots); a normal test run writes nothing.
func takeScreenshots(t *testing.T, ctx context.Context, a *app) {
	dir := os.Getenv("INFRADASH_SCREENSHOTS")
	if dir == "" {
		return
	}
	// Six hours of a plausible working day before now, so the charts have something to show.
	if _, err := a.pool.Exec(context.Background(), `
		INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent, load1, load5, load15,
			net_recv_bytes_per_second, net_sent_bytes_per_second, filesystems)
		SELECT $1, t,
			35 + 25 * sin(extract(epoch FROM t) / 1800) + 10 * random(),
			55 + 10 * sin(extract(epoch FROM t) / 5400),
			1 + sin(extract(epoch FROM t) / 1800), 1, 1,
			400000 + 300000 * sin(extract(epoch FROM t) / 900), 120000 + 80000 * random(),
			jsonb_build_array(jsonb_build_object('mountpoint', '/', 'used_percent', 61 + extract(epoch FROM t - now()) / 86400))
		FROM generate_series(now() - interval '6 hours', now() - interval '1 minute', interval '30 seconds') AS t
		ON CONFLICT DO NOTHING`, a.host); err != nil {
		t.Fatal(err)
	}
	for _, shot := range []struct {
		name string
		w, h int64
		dark bool
	}{
		{"desktop-light", 1280, 900, false}, {"desktop-dark", 1280, 900, true},
		{"phone-light", 375, 812, false}, {"phone-dark", 375, 812, true},
	} {
		scheme := "light"
		if shot.dark {
			scheme = "dark"
		}
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		}); err != nil {
			t.Fatal(err)
		}
		must(t, ctx,
			chromedp.EmulateViewport(shot.w, shot.h),
			chromedp.Navigate(a.url+"/observability"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="health-score"]`)),
		)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100 gives PNG; less gives JPEG
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "dashboard-"+shot.name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
		t.Fatal(err)
	}
}
