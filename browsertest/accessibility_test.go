package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/queries"
)

// axeSource is axe-core (Deque, MPL-2.0), vendored and pinned; scripts/update-axe.sh replaces it.
//
//go:embed axe.min.js
var axeSource string

// violation is what axe reports for one failed rule.
type violation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  string `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// schemes are the colour schemes every page is checked in.
var schemes = []string{"light", "dark"}

// setColorScheme makes the page see prefers-color-scheme: scheme.
func setColorScheme(t *testing.T, ctx context.Context, scheme string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	}); err != nil {
		t.Fatal(err)
	}
}

// assertAccessible opens url in the browser's current session, in light and then dark mode,
// runs axe-core's default rules (WCAG 2 A and AA, contrast included, and its best practices) and
// fails with every violation's rule, impact and elements. A new page is checked by calling it
// with the page's URL.
func assertAccessible(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	for _, scheme := range schemes {
		setColorScheme(t, ctx, scheme)
		must(t, ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("main")))
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axeSource+"\n;typeof axe === 'object'")); err != nil {
			t.Fatalf("%s: load axe-core: %v", url, err)
		}
		js := `axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations.map(v => ({
			id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html, summary: n.failureSummary}))}))))`
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s (%s): axe.run: %v", url, scheme, err)
		}
		var vs []violation
		if err := json.Unmarshal([]byte(out), &vs); err != nil {
			t.Fatalf("%s (%s): axe's answer: %v", url, scheme, err)
		}
		for _, v := range vs {
			var b strings.Builder
			fmt.Fprintf(&b, "%s (%s mode): axe %s (%s): %s", url, scheme, v.ID, v.Impact, v.Help)
			for _, n := range v.Nodes {
				fmt.Fprintf(&b, "\n    %s  %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n      "))
			}
			t.Error(b.String())
		}
	}
	setColorScheme(t, ctx, "")
}

// Every page a person sees passes axe-core in light and dark mode: the login page, the
// Infrastructure tab, the Alerts tab as an admin (acknowledge buttons) and as a viewer, an
// error page and the API docs.
func TestPagesAreAccessible(t *testing.T) {
	a := startApp(t)
	if _, err := auth.NewStore(a.pool, auth.Options{}).CreateUser(context.Background(), viewerEmail, viewerPassword, "viewer"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.q.OpenAlert(context.Background(), queries.OpenAlertParams{
		Host: a.host, Metric: queries.MetrictypeCpu, Severity: queries.HealthstatusCritical,
		Value: 97.5, Threshold: 95, Message: "cpu at 97.5 %", Now: time.Now().UTC(),
	}); err != nil {
		t.Fatal(err)
	}
	ctx, problems := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	must(t, ctx, chromedp.EmulateViewport(1280, 900))

	assertAccessible(t, ctx, a.url+"/login")
	loginAs(t, ctx, a, adminEmail, adminPassword)
	for _, path := range []string{"/observability", "/observability?tab=alerts", "/observability/hosts/" + a.host,
		"/settings", "/settings/users", "/no-such-page", "/api/docs"} {
		assertAccessible(t, ctx, a.url+path)
	}
	// The admin's Alerts tab above had an acknowledge button to check; the viewer's has none.
	must(t, ctx, chromedp.Navigate(a.url+"/observability?tab=alerts"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="acknowledge"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)))
	loginAs(t, ctx, a, viewerEmail, viewerPassword)
	assertAccessible(t, ctx, a.url+"/observability?tab=alerts")

	for _, p := range problems() {
		// The error page is a 404 on purpose; the browser logs that as a failed load.
		if !strings.Contains(p, "/no-such-page") {
			t.Errorf("browser reported: %s", p)
		}
	}
}
