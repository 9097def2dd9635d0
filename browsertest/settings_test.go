package browsertest

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// An admin runs the place from /settings: adds a viewer, creates and revokes an API token (the
// revoked token is refused at once), enrols a host and sees its token once; the audit log shows
// each step with its author. The viewer logs in and cannot reach the settings. Every settings
// page passes axe-core in light and dark mode, fits a 375 px phone, and nothing reaches the
// browser's console.
func TestSettingsInChromium(t *testing.T) {
	a := startApp(t)
	ctx, problems := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 8*time.Minute) // a bound for a broken test, not a speed requirement
	defer cancel()
	must(t, ctx, chromedp.EmulateViewport(1280, 900))
	login(t, ctx, a)

	// From the dashboard to the settings through the link only admins see.
	must(t, ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="nav-settings"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-user-form"]`)),
	)
	if cur := eval[string](t, ctx, `document.querySelector('[data-testid="settings-users"]').getAttribute("aria-current")`); cur != "page" {
		t.Errorf("Users is not the current section: %q", cur)
	}

	// A mistake is shown beside its field, without JavaScript's help: the form is posted.
	must(t, ctx,
		chromedp.SendKeys(chromedp.CSS(`[data-testid="add-email"]`), viewerEmail),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="add-password"]`), "short"),
		chromedp.Click(chromedp.CSS(`[data-testid="add-user-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-password-error"]`)),
	)
	if got := text(t, ctx, `[data-testid="add-password-error"]`); !strings.Contains(got, "at least 12") {
		t.Errorf("error beside the password: %q", got)
	}
	must(t, ctx,
		chromedp.SendKeys(chromedp.CSS(`[data-testid="add-password"]`), viewerPassword),
		chromedp.Click(chromedp.CSS(`[data-testid="add-user-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash"]`)),
	)
	if got := text(t, ctx, `[data-testid="user-`+viewerEmail+`"] [data-testid="user-status"]`); got != "active" {
		t.Errorf("the new viewer's status: %q", got)
	}

	// An API token: shown once, works, revoked, refused at once.
	must(t, ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="settings-tokens"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-token-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="add-name"]`), "ci-deploy"),
		chromedp.Click(chromedp.CSS(`[data-testid="add-token-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="secret-value"]`)),
	)
	token := eval[string](t, ctx, `document.querySelector('[data-testid="secret-value"]').value`)
	if !strings.HasPrefix(token, "idt_") {
		t.Fatalf("the token shown: %q", token)
	}
	if code := apiStatus(t, a, token); code != http.StatusOK {
		t.Fatalf("the new token: %d", code)
	}
	must(t, ctx, chromedp.Click(chromedp.CSS(`[data-testid="secret-done"]`)))
	waitPage(t, ctx, `!document.querySelector('[data-testid="secret"]') && !!document.querySelector('[data-testid="tokens"]')`)
	if eval[bool](t, ctx, `document.body.innerText.includes(`+jsString(token)+`)`) {
		t.Error("the token is shown again")
	}
	if got := text(t, ctx, `[data-testid="tokens"] tbody tr:first-child [data-testid="token-last-used"]`); got == "never" {
		t.Errorf("the used token's last use: %q", got)
	}
	must(t, ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="tokens"] tbody tr:first-child [data-testid="token-revoke"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="flash"]`)),
	)
	if code := apiStatus(t, a, token); code != http.StatusUnauthorized {
		t.Errorf("the revoked token: %d, want 401 at once", code)
	}
	if got := text(t, ctx, `[data-testid="tokens"] tbody tr:first-child [data-testid="token-status"]`); got != "revoked" {
		t.Errorf("the revoked token's status: %q", got)
	}

	// A host: enrolled, its agent token and start lines shown once.
	must(t, ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="settings-hosts"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-host-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="add-name"]`), "web-1"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="add-labels"]`), "env=prod,role=web"),
		chromedp.Click(chromedp.CSS(`[data-testid="add-host-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="secret-lines"]`)),
	)
	agentToken := eval[string](t, ctx, `document.querySelector('[data-testid="secret-value"]').value`)
	if lines := text(t, ctx, `[data-testid="secret-lines"]`); !strings.HasPrefix(agentToken, "idh_") || !strings.Contains(lines, agentToken) {
		t.Errorf("agent token %q and start lines %q", agentToken, lines)
	}
	if got := text(t, ctx, `[data-testid="host-web-1"] [data-testid="host-status"]`); !strings.EqualFold(got, "never seen") {
		t.Errorf("web-1's status: %q", got)
	}
	// At phone width, with the long start lines on it, the page still fits (the lines scroll).
	must(t, ctx, chromedp.EmulateViewport(375, 812))
	if w := eval[float64](t, ctx, `document.documentElement.scrollWidth`); w > 375 {
		t.Errorf("/settings/hosts with the start lines at 375 px is %v px wide", w)
	}
	takeSettingsScreenshots(t, ctx, "hosts-enrolled", false)
	must(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(a.url+"/settings/hosts"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="host-web-1"]`)))
	if eval[bool](t, ctx, `document.body.innerText.includes(`+jsString(agentToken)+`)`) {
		t.Error("the agent token is shown again")
	}

	// The audit log: every step, by this admin, newest first.
	must(t, ctx,
		chromedp.Click(chromedp.CSS(`[data-testid="settings-audit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit"]`)),
	)
	rows := eval[[]string](t, ctx, `[...document.querySelectorAll('[data-testid="audit"] tbody tr')].map(r =>
		r.querySelector('[data-testid="audit-action"]').innerText + " " + r.querySelector('[data-testid="audit-who"]').innerText.split(" ")[0])`)
	// The token was used from the address it was created from: no token.new_address.
	want := []string{"host.enrol " + adminEmail, "token.revoke " + adminEmail, "token.create " + adminEmail,
		"user.create " + adminEmail, "login " + adminEmail}
	if strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Errorf("audit log:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	// Filtered by what was done to one user.
	must(t, ctx,
		chromedp.SendKeys(chromedp.CSS(`[data-testid="filter-target"]`), "user:"+viewerEmail),
		chromedp.Click(chromedp.CSS(`[data-testid="audit-filter-submit"]`)),
	)
	waitPage(t, ctx, `location.search.includes("target=") && !!document.querySelector('[data-testid="audit"]')`)
	if n := eval[int](t, ctx, `document.querySelectorAll('[data-testid="audit"] tbody tr').length`); n != 1 {
		t.Errorf("entries about %s: %d, want 1", viewerEmail, n)
	}

	for _, path := range []string{"/settings/users", "/settings/tokens", "/settings/hosts", "/settings/audit"} {
		assertAccessible(t, ctx, a.url+path)
		must(t, ctx, chromedp.EmulateViewport(375, 812), chromedp.Navigate(a.url+path), chromedp.WaitVisible(chromedp.CSS(`[data-testid="settings"]`)))
		if w := eval[float64](t, ctx, `document.documentElement.scrollWidth`); w > 375 {
			t.Errorf("%s at 375 px is %v px wide", path, w)
		}
		must(t, ctx, chromedp.EmulateViewport(1280, 900))
		takeSettingsScreenshots(t, ctx, strings.TrimPrefix(path, "/settings/"), true)
	}

	// The viewer logs in, sees no way to the settings, and is refused them.
	must(t, ctx,
		chromedp.Navigate(a.url+"/observability"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
	)
	// With web-1 enrolled, /observability is the systems overview, not a host's page.
	must(t, ctx,
		chromedp.Navigate(a.url+"/observability"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="login-email"]`), viewerEmail),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="login-password"]`), viewerPassword),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
	)
	waitPage(t, ctx, `location.pathname === "/observability" && !!document.querySelector('[data-testid="current-user"]')`)
	if got := text(t, ctx, `[data-testid="current-user"]`); !strings.Contains(got, viewerEmail) {
		t.Fatalf("logged in as %q, want %s", got, viewerEmail)
	}
	if eval[int](t, ctx, `document.querySelectorAll('a[href^="/settings"]').length`) != 0 {
		t.Error("the viewer's dashboard links to the settings")
	}
	must(t, ctx, chromedp.Navigate(a.url+"/settings/users"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-page"]`)))
	if got := text(t, ctx, `h1`); !strings.HasPrefix(got, "403") {
		t.Errorf("the viewer on /settings/users sees %q, want 403", got)
	}
	if eval[int](t, ctx, `document.querySelectorAll('[data-testid="add-user-form"]').length`) != 0 {
		t.Error("the viewer sees the settings")
	}

	for _, p := range problems() {
		// The form in error (400) and the viewer's 403 are on purpose; the browser logs them as
		// failed loads.
		if !strings.Contains(p, "status of 400 (Bad Request) "+a.url+"/settings/users") && !strings.Contains(p, "status of 403") {
			t.Errorf("browser reported: %s", p)
		}
	}
}

// waitPage waits until cond (JavaScript) holds in the page: the new page after a click, not the
// old one still on screen.
// Asking while the page is being replaced fails; that is asked again.
func waitPage(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (`+cond+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s (last error: %v)", cond, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiStatus is what the API answers a script with this token.
func apiStatus(t *testing.T, a *app, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.url+"/api/v1/auth/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

func jsString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// takeSettingsScreenshots writes docs/screenshots/settings-NAME-*.png of the page as it is, when
// INFRADASH_SCREENSHOTS names the folder (make screenshots): at the current width in light mode,
// and in dark mode too when dark.
func takeSettingsScreenshots(t *testing.T, ctx context.Context, name string, dark bool) {
	dir := os.Getenv("INFRADASH_SCREENSHOTS")
	if dir == "" {
		return
	}
	schemes := []string{"light"}
	if dark {
		schemes = append(schemes, "dark")
	}
	width := eval[float64](t, ctx, `window.innerWidth`)
	form := "desktop"
	if width < 600 {
		form = "phone"
	}
	for _, scheme := range schemes {
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		}); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "settings-"+name+"-"+form+"-"+scheme+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setColorScheme(t, ctx, "")
}
