package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
)

// dashboard is a Server on a fresh database with a collector that has sampled this host once,
// and whose requests act for the given principal.
type dashboard struct {
	t    testing.TB
	e    *echo.Echo
	srv  *Server
	q    *queries.Queries
	snap sample.Snapshot
}

func newDashboard(t testing.TB, who *Principal, now func(sample.Snapshot) time.Time) *dashboard {
	t.Helper()
	pool := dbtest.Pool(t)
	// One real sample of this host, then none for the rest of the test.
	col := collector.New(collector.Options{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan sample.Snapshot, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		col.Run(ctx, func(s sample.Snapshot) { first <- s })
	}()
	t.Cleanup(func() { cancel(); <-stopped })
	snap := <-first
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	d := Deps{Options: optionsFrom(cfg), Pool: pool, Host: snap.Host, Thresholds: health.DefaultThresholds()}
	if now != nil {
		d.Now = func() time.Time { return now(snap) }
	}
	srv := New(d)
	platform := col.Platform()
	observe(t, srv, snap, &platform)
	srv.authenticate = func(echo.Context) (*Principal, error) { return who, nil }
	e := echo.New()
	srv.Routes(e)
	return &dashboard{t: t, e: e, srv: srv, q: queries.New(pool), snap: snap}
}

// withThresholds serves the same host from a Server that applies th to every host.
func (d *dashboard) withThresholds(th health.Thresholds) {
	srv := New(Deps{Options: d.srv.cfg, Pool: d.srv.pool, Host: d.snap.Host, Thresholds: th, Now: d.srv.now})
	srv.authenticate = d.srv.authenticate
	observe(d.t, srv, d.snap, nil)
	d.srv, d.e = srv, echo.New()
	srv.Routes(d.e)
}

func (d *dashboard) do(method, target string, htmx bool) *httptest.ResponseRecorder {
	d.t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	rec := httptest.NewRecorder()
	d.e.ServeHTTP(rec, req)
	return rec
}

func (d *dashboard) doc(method, target string, htmx bool) (*goquery.Document, *httptest.ResponseRecorder) {
	d.t.Helper()
	rec := d.do(method, target, htmx)
	if rec.Code != http.StatusOK {
		d.t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body.String())
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(rec.Body.String()))
	if err != nil {
		d.t.Fatal(err)
	}
	return doc, rec
}

func testid(doc *goquery.Document, id string) *goquery.Selection {
	return doc.Find(`[data-testid="` + id + `"]`)
}

func mustFind(t *testing.T, doc *goquery.Document, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if testid(doc, id).Length() == 0 {
			t.Errorf("no element with data-testid=%q", id)
		}
	}
}

var viewer = &Principal{UserID: 1, Email: "viewer@example.com", Role: RoleViewer, Via: "session"}

func TestInfrastructureTabShowsTheLatestSample(t *testing.T) {
	d := newDashboard(t, viewer, nil)
	doc, rec := d.doc("GET", "/observability", false)

	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	mustFind(t, doc, "observability", "tabs", "health", "health-score", "health-status", "card-cpu", "cpu-cores",
		"card-memory", "card-swap", "card-load", "card-network", "card-uptime", "card-process", "top-cpu",
		"top-memory", "open-alerts", "platform", "charts", "updated-at", "stale-notice", "current-user", "logout")
	for _, fs := range d.snap.System.Filesystems {
		mustFind(t, doc, "card-disk-"+fs.Mountpoint)
	}
	if cur, _ := testid(doc, "tab-infrastructure").Attr("aria-current"); cur != "page" {
		t.Error("the Infrastructure tab is not marked current")
	}
	if got, want := testid(doc, "updated-at").Text(), d.snap.CollectedAt.UTC().Format("15:04:05 UTC"); got != want {
		t.Errorf("updated-at %q, want %q", got, want)
	}
	if got := testid(doc, "platform-hostname").Text(); got != d.snap.Host {
		t.Errorf("hostname %q, want %q", got, d.snap.Host)
	}
	if n := testid(doc, "cpu-cores").Find("rect.fill").Length(); n != len(d.snap.System.CPU.PerCorePercent) {
		t.Errorf("%d core bars, want %d", n, len(d.snap.System.CPU.PerCorePercent))
	}
	if _, hidden := testid(doc, "stale-notice").Attr("hidden"); !hidden {
		t.Error("the stale notice shows for a sample taken just now")
	}
	live := testid(doc, "live")
	if trig, _ := live.Attr("hx-trigger"); !strings.HasPrefix(trig, "every 5s") {
		t.Errorf("live section polls with %q, want every 5s", trig)
	}
	for _, id := range []string{"chart-cpu", "chart-memory", "chart-disk", "chart-network", "chart-load"} {
		if testid(doc, id).Find("svg.area").Length() != 1 {
			t.Errorf("%s has no plot", id)
		}
	}
	if cur, _ := testid(doc, "range-1h").Attr("aria-current"); cur != "true" {
		t.Error("1h is not the selected range by default")
	}
	// No inline style anywhere: the CSP forbids it.
	if n := doc.Find("[style]").Length(); n != 0 {
		t.Errorf("%d elements carry a style attribute", n)
	}
	if n := doc.Find("script:not([src])").Length(); n != 0 {
		t.Errorf("%d inline scripts", n)
	}
}

func TestLiveFragmentIsSmallAndServedToHtmx(t *testing.T) {
	d := newDashboard(t, viewer, nil)
	for _, target := range []string{"/observability/fragments/live", "/observability"} {
		doc, rec := d.doc("GET", target, true)
		if doc.Find("header.top, nav.tabs, link[rel=stylesheet]").Length() != 0 {
			t.Errorf("%s to htmx: got a whole page, want the live fragment", target)
		}
		mustFind(t, doc, "live", "updated-at", "health-score", "card-cpu")
		if n := rec.Body.Len(); n > 15*1024 {
			t.Errorf("%s: fragment is %d bytes, the budget is 15 KB", target, n)
		}
		if !strings.Contains(rec.Header().Get("Vary"), "HX-Request") {
			t.Errorf("%s: Vary %q lacks HX-Request", target, rec.Header().Get("Vary"))
		}
	}
}

func TestStaleDataShowsTheNotice(t *testing.T) {
	d := newDashboard(t, viewer, func(s sample.Snapshot) time.Time { return s.CollectedAt.Add(time.Minute) })
	doc, _ := d.doc("GET", "/observability", false)
	notice := testid(doc, "stale-notice")
	if _, hidden := notice.Attr("hidden"); hidden {
		t.Fatal("a sample a minute old at a 5 s interval must show the stale notice")
	}
	if !strings.Contains(notice.Text(), "stale") {
		t.Errorf("notice says %q", notice.Text())
	}
}

func TestChartRanges(t *testing.T) {
	d := newDashboard(t, viewer, nil)
	// Three samples a minute apart, so the 1h chart has a line to draw.
	pool := d.srv.pool
	record := dbtest.Recorder(t, pool)
	for i := 3; i >= 1; i-- {
		s := d.snap
		s.CollectedAt = d.snap.CollectedAt.Add(-time.Duration(i) * time.Minute)
		record(s)
	}

	doc, _ := d.doc("GET", "/observability/fragments/charts?range=1h", true)
	path, _ := testid(doc, "chart-cpu").Find(`path[data-testid="series-cpu"]`).Attr("d")
	if strings.Count(path, "L") != 2 {
		t.Errorf("cpu path %q, want three points", path)
	}
	if testid(doc, "chart-cpu").Find("title").Length() < 3 {
		t.Error("the cpu chart has no hover titles for its values")
	}
	if testid(doc, "chart-cpu").Find("line.threshold.warning").Length() != 1 {
		t.Error("the cpu chart lacks its warning line")
	}
	for _, r := range []string{"6h", "24h", "7d", "30d"} {
		doc, _ := d.doc("GET", "/observability/fragments/charts?range="+r, true)
		if cur, _ := testid(doc, "range-"+r).Attr("aria-current"); cur != "true" {
			t.Errorf("range %s is not marked current", r)
		}
		if doc.Find("figure.chart").Length() != 5 {
			t.Errorf("range %s: %d charts, want 5", r, doc.Find("figure.chart").Length())
		}
	}
	if rec := d.do("GET", "/observability/fragments/charts?range=2w", true); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "range") {
		t.Errorf("range=2w: %d %s, want 400 naming range", rec.Code, rec.Body.String())
	}
}

// HEALTH_CPU_WARNING=0 is valid (everything is at least a warning) and the score and the alerts
// honour it; the chart must draw that line too, even with no history to draw.
func TestAZeroWarningThresholdIsDrawn(t *testing.T) {
	d := newDashboard(t, viewer, nil)
	th := health.DefaultThresholds()
	th.CPU = health.Level{Warning: 0, Critical: 95}
	d.withThresholds(th)
	doc, _ := d.doc("GET", "/observability/fragments/charts?range=1h", true)
	line := testid(doc, "chart-cpu").Find("line.threshold.warning")
	if line.Length() != 1 || line.Find("title").Text() != "warning 0 %" {
		html, _ := testid(doc, "chart-cpu").Html()
		t.Fatalf("the cpu chart should draw its warning line at 0 %%:\n%s", html)
	}
}

func openTestAlert(t *testing.T, d *dashboard) int64 {
	t.Helper()
	id, err := d.q.OpenAlert(context.Background(), queries.OpenAlertParams{
		Host: d.snap.Host, Metric: queries.MetrictypeCpu, Severity: queries.HealthstatusCritical,
		Value: 97.5, Threshold: 95, Message: "CPU at 97.5 %", Now: time.Now().UTC(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func createTestUser(t *testing.T, d *dashboard, email, role string) *Principal {
	t.Helper()
	u, err := d.q.CreateUser(context.Background(), queries.CreateUserParams{Email: email, PasswordHash: "unused", Role: role, CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return &Principal{UserID: u.ID, Email: email, Role: role, Via: "session"}
}

func TestAlertsTab(t *testing.T) {
	admin := &Principal{}
	d := newDashboard(t, admin, nil)
	*admin = *createTestUser(t, d, "admin@example.com", RoleAdmin)
	id := openTestAlert(t, d)
	row := "alert-" + itoa(id)

	// The open alert shows on the Infrastructure tab too.
	doc, _ := d.doc("GET", "/observability", false)
	mustFind(t, doc, "open-alert-"+itoa(id))

	doc, _ = d.doc("GET", "/observability?tab=alerts", false)
	if cur, _ := testid(doc, "tab-alerts").Attr("aria-current"); cur != "page" {
		t.Error("the Alerts tab is not marked current")
	}
	mustFind(t, doc, "alerts-open", "alerts-recent", row)
	if testid(doc, row).Find(`[data-testid="acknowledge"]`).Length() != 1 {
		t.Fatal("an admin sees no acknowledge button on an open alert")
	}

	rec := d.do("POST", "/observability/alerts/"+itoa(id)+"/acknowledge", true)
	if rec.Code != http.StatusOK {
		t.Fatalf("acknowledge: %d %s", rec.Code, rec.Body.String())
	}
	// The answer is the table row htmx swaps in; a parser keeps a row only inside a table.
	doc, err := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + rec.Body.String() + "</tbody></table>"))
	if err != nil {
		t.Fatal(err)
	}
	mustFind(t, doc, row)
	ack := testid(doc, "acknowledged")
	if !strings.Contains(ack.Text(), "admin@example.com") {
		t.Errorf("acknowledged cell %q does not name the admin", ack.Text())
	}
	if ack.Find("button").Length() != 0 {
		t.Error("the acknowledged row still offers the button")
	}
	doc, _ = d.doc("GET", "/observability?tab=alerts", false)
	if !strings.Contains(testid(doc, row).Find(`[data-testid="acknowledged"]`).Text(), "admin@example.com") {
		t.Error("the acknowledgement did not last")
	}
	if rec := d.do("POST", "/observability/alerts/999999/acknowledge", true); rec.Code != http.StatusNotFound {
		t.Errorf("unknown alert: %d, want 404", rec.Code)
	}
}

func TestViewersCannotAcknowledge(t *testing.T) {
	who := &Principal{}
	d := newDashboard(t, who, nil)
	*who = *createTestUser(t, d, "viewer@example.com", RoleViewer)
	id := openTestAlert(t, d)

	doc, _ := d.doc("GET", "/observability?tab=alerts", false)
	mustFind(t, doc, "alert-"+itoa(id))
	if n := testid(doc, "acknowledge").Length(); n != 0 {
		t.Errorf("a viewer sees %d acknowledge buttons", n)
	}
	if rec := d.do("POST", "/observability/alerts/"+itoa(id)+"/acknowledge", true); rec.Code != http.StatusForbidden {
		t.Errorf("viewer acknowledging: %d, want 403", rec.Code)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The fragment carries the server's time with the sample's, so the browser judges the data's age
// by one clock; a sample a few seconds old at a short interval is not stale (no flicker).
func TestLiveFragmentCarriesTheServerClock(t *testing.T) {
	// The clock is read from several goroutines (the charts are read in parallel).
	var atNanos atomic.Int64
	d := newDashboard(t, viewer, func(s sample.Snapshot) time.Time {
		at := s.CollectedAt.Add(6 * time.Second)
		atNanos.Store(at.UnixNano())
		return at
	})
	d.srv.cfg.CollectInterval = time.Second
	doc, _ := d.doc("GET", "/observability", false)
	live := testid(doc, "live")
	at := time.Unix(0, atNanos.Load())
	if got, _ := live.Attr("data-now"); got != at.UTC().Format(time.RFC3339Nano) {
		t.Errorf("data-now %q, want the server's time %s", got, at.UTC().Format(time.RFC3339Nano))
	}
	if got, _ := live.Attr("data-collected-at"); got != d.snap.CollectedAt.UTC().Format(time.RFC3339Nano) {
		t.Errorf("data-collected-at %q, want %s", got, d.snap.CollectedAt.UTC().Format(time.RFC3339Nano))
	}
	// max(2 × 1 s, 5 s) + the 5 s poll period.
	if got, _ := live.Attr("data-max-age-ms"); got != "10000" {
		t.Errorf("data-max-age-ms %q, want 10000", got)
	}
	if _, hidden := testid(doc, "stale-notice").Attr("hidden"); !hidden {
		t.Error("a sample 6 s old at a 1 s interval shows the stale notice")
	}
}
