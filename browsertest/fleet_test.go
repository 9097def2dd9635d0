package browsertest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/dbtest"
)

// The fleet end to end, as an operator meets it: the built binary as the hub (which watches its
// own host) and as two agents, in headless Chromium.
//
// The overview lists the three hosts with their numbers; a host's name opens its page; the
// filters and the sort work; an agent stopped turns its row red within a poll of
// HOST_DOWN_AFTER and the alerts job opens one host_down alert with one notice (to a stand-in
// for Slack); the agent started again resolves it with one notice. Every page passes axe-core in
// light and dark mode, nothing scrolls sideways at 375 px, and the browser reports no error.
func TestFleetInChromium(t *testing.T) {
	bin := buildBinary(t)
	hook := newWebhook(t)
	dbURL := dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	addr := freeAddr(t)
	hubURL := "http://" + addr
	env := []string{"DATABASE_URL=" + dbURL, "HTTP_ADDR=" + addr, "BASE_URL=" + hubURL, "JOBS_ENABLED=false",
		"INFRADASH_HOST=hub", "HOST_DOWN_AFTER=5s", "COLLECT_INTERVAL=1s", "ALERT_WEBHOOK_URL=" + hook.srv.URL,
		"AGENT_SPOOL_DIR=" + filepath.Join(t.TempDir(), "hub-spool"), "ADMIN_EMAIL=" + adminEmail, "ADMIN_PASSWORD=" + adminPassword}
	startProcess(t, bin, "hub", env, "serve")
	waitFor(t, "the hub to answer /healthz", time.Minute, func() bool {
		res, err := http.Get(hubURL + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	})
	cli := func(args ...string) string {
		t.Helper()
		out, err := command(t, bin, env, args...).Output()
		if err != nil {
			t.Fatalf("infradash %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	web := cli("host", "add", "web-1", "--label", "role=web", "--label", "env=prod", "--quiet")
	db := cli("host", "add", "db-1", "--label", "role=db", "--label", "env=prod", "--quiet")
	agentEnv := func(token, spool string) []string {
		return []string{"HUB_URL=" + hubURL, "AGENT_TOKEN=" + token, "AGENT_SPOOL_DIR=" + spool, "COLLECT_INTERVAL=1s"}
	}
	dbSpool := filepath.Join(t.TempDir(), "db-1")
	startProcess(t, bin, "agent web-1", agentEnv(web, filepath.Join(t.TempDir(), "web-1")), "agent")
	dbAgent := startProcess(t, bin, "agent db-1", agentEnv(db, dbSpool), "agent")

	ctx, problems := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	must(t, ctx, chromedp.EmulateViewport(1280, 900))
	a := &app{url: hubURL}
	must(t, ctx,
		chromedp.Navigate(a.url+"/observability"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="login-email"]`), adminEmail),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="login-password"]`), adminPassword),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="hosts-table"]`)),
	)

	// The overview lists the three hosts, each up with its numbers, and keeps them live.
	rows := func() string {
		return eval[string](t, ctx, `[...document.querySelectorAll('[data-testid="hosts-table"] tbody tr')].map(r => r.querySelector('[data-testid="host-link"]').textContent + ":" + r.dataset.status).join(",")`)
	}
	pollUntil(t, ctx, "three hosts up on the overview", `[...document.querySelectorAll('[data-testid="hosts-table"] tbody tr[data-status="up"]')].length === 3`)
	// The hub learns the labels of hosts enrolled by another process at its next read of the
	// database (a second at most), and the next poll offers them in the label filter.
	pollUntil(t, ctx, "role=web in the label filter", `[...document.querySelectorAll('[data-testid="filter-label"] option')].some(o => o.value === "role=web")`)
	if got := rows(); got != "db-1:up,hub:up,web-1:up" {
		t.Fatalf("overview rows %q", got)
	}
	if got := text(t, ctx, `[data-testid="count-up"]`); got != "3 up" {
		t.Errorf("counts say %q", got)
	}
	if got := text(t, ctx, `[data-testid="host-row-web-1"] [data-testid="host-cpu"]`); !strings.HasSuffix(got, "%") {
		t.Errorf("web-1's CPU cell says %q", got)
	}
	eval[bool](t, ctx, `window.__sameDocument = true`)

	// The filters and the sort, through the form and the column headers (plain GETs).
	must(t, ctx, chromedp.SetValue(chromedp.CSS(`[data-testid="filter-label"]`), "role=web"),
		chromedp.Click(chromedp.CSS(`[data-testid="filter-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="filter-label"]`)))
	pollUntil(t, ctx, "the label filter applied", `location.search.includes("label=role%3Dweb")`)
	if got := rows(); got != "web-1:up" {
		t.Errorf("label role=web: rows %q", got)
	}
	// A host enrolled meanwhile from the CLI: its label is offered without a reload, and the
	// filter keeps the label chosen; removed, its label goes.
	eval[bool](t, ctx, `window.__sameDocument = true`)
	offered := `[...document.querySelectorAll('[data-testid="filter-label"] option')].some(o => o.value === "role=cache")`
	cli("host", "add", "cache-1", "--label", "role=cache", "--quiet")
	pollUntil(t, ctx, "role=cache in the label filter", offered)
	if got := eval[string](t, ctx, `document.querySelector('[data-testid="filter-label"]').value`); got != "role=web" {
		t.Errorf("the label filter, sent again by the poll, shows %q, want the applied role=web", got)
	}
	cli("host", "remove", "cache-1")
	pollUntil(t, ctx, "role=cache gone from the label filter", "!"+offered)
	if !eval[bool](t, ctx, `window.__sameDocument === true`) {
		t.Error("the label filter changed by a reload, not by the poll")
	}
	must(t, ctx, chromedp.Navigate(a.url+"/observability"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="filter-q"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="filter-q"]`), "db"),
		chromedp.Click(chromedp.CSS(`[data-testid="filter-submit"]`)))
	pollUntil(t, ctx, "the name filter applied", `location.search.includes("q=db")`)
	if got := rows(); got != "db-1:up" {
		t.Errorf("name contains db: rows %q", got)
	}
	must(t, ctx, chromedp.Navigate(a.url+"/observability"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="sort-name"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="sort-name"]`)))
	pollUntil(t, ctx, "sorted by name, reversed", `location.search.includes("sort=-name")`)
	if got := rows(); got != "web-1:up,hub:up,db-1:up" {
		t.Errorf("sorted by name, reversed: rows %q", got)
	}

	// Clicking a host opens its page, with its numbers: the sample it shows is one web-1 sent.
	must(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="host-row-web-1"] [data-testid="host-link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="health-score"]`)))
	if got := eval[string](t, ctx, `location.pathname`); got != "/observability/hosts/web-1" {
		t.Errorf("the link opened %s", got)
	}
	if got := text(t, ctx, `[data-testid="host-name"]`); !strings.HasPrefix(got, "web-1") {
		t.Errorf("the host page is titled %q", got)
	}
	at := eval[string](t, ctx, `document.querySelector('[data-testid="live"]').dataset.collectedAt`)
	collected, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		t.Fatalf("data-collected-at %q: %v", at, err)
	}
	var whose string
	if err := pool.QueryRow(context.Background(), `SELECT string_agg(host, ',') FROM system_metrics_history WHERE collected_at = $1`,
		collected.Truncate(time.Microsecond)).Scan(&whose); err != nil || whose != "web-1" {
		t.Errorf("web-1's page shows the sample of %q (%v), want one of web-1's", whose, err)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('[data-testid="charts"] figure.chart svg.area').length`); n != 5 {
		t.Errorf("web-1's page has %d charts, want 5", n)
	}

	// Every page of the fleet passes axe-core in light and dark, and fits a phone.
	for _, path := range []string{"/observability", "/observability/hosts/web-1", "/observability?tab=alerts&label=env%3Dprod"} {
		assertAccessible(t, ctx, a.url+path)
	}
	takeFleetScreenshots(t, ctx, a)
	for _, path := range []string{"/observability", "/observability/hosts/db-1"} {
		must(t, ctx, chromedp.EmulateViewport(375, 812), chromedp.Navigate(a.url+path), chromedp.WaitVisible(chromedp.CSS(`main`)))
		if !eval[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`) {
			t.Errorf("%s at 375 px is %v px wide", path, eval[float64](t, ctx, `document.documentElement.scrollWidth`))
		}
	}
	must(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(a.url+"/observability"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="host-row-db-1"]`)))
	eval[bool](t, ctx, `window.__sameDocument = true`)

	// db-1's agent stops: its row turns red by the poll, and the alerts job raises host_down once.
	dbAgent.stop()
	stopped := time.Now()
	pollUntil(t, ctx, "db-1's row turns red", `(document.querySelector('[data-testid="host-row-db-1"]') || {dataset: {}}).dataset.status === "down"`)
	t.Logf("db-1 turned red %s after its agent stopped (HOST_DOWN_AFTER 5s, a poll every 5 s)", time.Since(stopped).Round(100*time.Millisecond))
	if !eval[bool](t, ctx, `window.__sameDocument === true`) {
		t.Error("the row turned red by a reload, not by the poll")
	}
	if !eval[bool](t, ctx, `document.querySelector('[data-testid="host-row-db-1"] [data-testid="host-last-seen"]').classList.contains("critical")`) {
		t.Error("db-1's last seen is not red")
	}
	runAlerts := func() { t.Helper(); cli("alerts") }
	waitFor(t, "a host_down alert for db-1", time.Minute, func() bool {
		runAlerts()
		return len(hook.bodies("host_down")) > 0
	})
	runAlerts()
	if got := hook.bodies("host_down"); len(got) != 1 || !strings.Contains(got[0], "db-1 is down") || !strings.Contains(got[0], hubURL+"/observability/hosts/db-1") {
		t.Fatalf("want one host_down notice naming db-1 and linking to its page, got %q", got)
	}
	must(t, ctx, chromedp.Navigate(a.url+"/observability?tab=alerts&host=db-1"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="alerts-open"]`)))
	if got := text(t, ctx, `[data-testid="alerts-open"] tbody`); !strings.Contains(got, "db-1") || !strings.Contains(got, "host_down") {
		t.Errorf("the Alerts tab's open alerts of db-1: %q", got)
	}

	// Started again on its spool, db-1 is up, and the next run resolves the alert with one notice.
	startProcess(t, bin, "agent db-1 again", agentEnv(db, dbSpool), "agent")
	must(t, ctx, chromedp.Navigate(a.url+"/observability"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="host-row-db-1"]`)))
	pollUntil(t, ctx, "db-1's row up again", `document.querySelector('[data-testid="host-row-db-1"]').dataset.status === "up"`)
	waitFor(t, "db-1's host_down resolved", time.Minute, func() bool {
		runAlerts()
		return len(hook.bodies("host_down")) > 1
	})
	runAlerts()
	if got := hook.bodies("host_down"); len(got) != 2 || !strings.Contains(got[1], "Resolved: db-1 is sending again") {
		t.Errorf("want the opening and one resolution notice, got %q", got)
	}
	for _, p := range problems() {
		t.Errorf("browser reported: %s", p)
	}
}

// takeFleetScreenshots writes docs/screenshots/overview-*.png when INFRADASH_SCREENSHOTS names the
// folder (make screenshots); a normal test run writes nothing.
func takeFleetScreenshots(t *testing.T, ctx context.Context, a *app) {
	dir := os.Getenv("INFRADASH_SCREENSHOTS")
	if dir == "" {
		return
	}
	for _, shot := range []struct {
		name   string
		w, h   int64
		scheme string
	}{
		{"desktop-light", 1280, 900, "light"}, {"desktop-dark", 1280, 900, "dark"},
		{"phone-light", 375, 812, "light"}, {"phone-dark", 375, 812, "dark"},
	} {
		setColorScheme(t, ctx, shot.scheme)
		must(t, ctx, chromedp.EmulateViewport(shot.w, shot.h), chromedp.Navigate(a.url+"/observability"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="hosts-table"]`)))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "overview-"+shot.name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setColorScheme(t, ctx, "")
}

// pollUntil waits in the page for a JavaScript condition, failing the test with what after a
// minute. A navigation under way (a form submitted, a link followed) only delays it.
func pollUntil(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s (last: %v, %v)", what, ok, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// webhook stands in for Slack: it keeps every message it gets.
type webhook struct {
	mu  sync.Mutex
	got []string
	srv *httptest.Server
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.got = append(w.got, string(b))
		w.mu.Unlock()
	}))
	t.Cleanup(w.srv.Close)
	return w
}

// bodies are the messages received that mention s.
func (w *webhook) bodies(s string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, b := range w.got {
		if strings.Contains(b, s) {
			out = append(out, b)
		}
	}
	return out
}

// buildBinary compiles infradash as `make build` does, into the test's temporary folder.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "infradash")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/infradash/infradash").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// command runs the binary with exactly env (nothing of the developer's shell) in an empty folder.
func command(t *testing.T, bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir, "LOG_FORMAT=json"}, env...)
	return cmd
}

// process is the binary running as hub or agent, its log kept for a failing test.
type process struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  bytes.Buffer
	mu   sync.Mutex
	done chan struct{}
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func startProcess(t *testing.T, bin, name string, env []string, args ...string) *process {
	t.Helper()
	p := &process{t: t, name: name, done: make(chan struct{})}
	p.cmd = command(t, bin, env, args...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			t.Logf("%s's log:\n%s", p.name, p.log.String())
			p.mu.Unlock()
		}
	})
	return p
}

// stop ends the process as systemd does (SIGTERM) and waits for it.
func (p *process) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.t.Fatalf("%s did not stop within 40 s of SIGTERM", p.name)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
