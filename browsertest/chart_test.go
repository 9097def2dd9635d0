package browsertest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// minChartFontPx is the smallest chart text a person can still read on a phone.
const minChartFontPx = 11

// Chart labels keep a readable size on a phone and on a desktop: the rendered size (the computed
// font size times the scale the SVG draws it at), not only the stylesheet's number.
func TestChartLabelsStayLegibleAtEveryWidth(t *testing.T) {
	a := startApp(t)
	ctx, problems := browser(t)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	must(t, ctx, chromedp.EmulateViewport(1280, 900))
	login(t, ctx, a)
	const rendered = `(() => {
		const sizes = [...document.querySelectorAll('[data-testid="charts"] figure.chart text')].map(t => {
			const m = t.getScreenCTM();
			return parseFloat(getComputedStyle(t).fontSize) * Math.min(Math.hypot(m.a, m.b), Math.hypot(m.c, m.d));
		});
		return {count: sizes.length, min: Math.min(...sizes)};
	})()`
	for _, width := range []int64{375, 1280} {
		must(t, ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate(a.url+"/observability"),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="chart-cpu"]`)))
		got := eval[struct {
			Count int
			Min   float64
		}](t, ctx, rendered)
		// Five charts, each with at least two values and two times.
		if got.Count < 20 {
			t.Fatalf("at %d px: %d chart labels, want at least 20", width, got.Count)
		}
		if got.Min < minChartFontPx {
			t.Errorf("at %d px the smallest chart label renders at %.1f px, want at least %d", width, got.Min, minChartFontPx)
		}
		if !eval[bool](t, ctx, `document.documentElement.scrollWidth <= window.innerWidth`) {
			t.Errorf("at %d px the page scrolls sideways", width)
		}
	}
	for _, p := range problems() {
		t.Errorf("browser reported: %s", p)
	}
}
