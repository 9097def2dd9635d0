package views

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/health"
)

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 100, 4, []float64{0, 25, 50, 75, 100}},
		{0, 95, 4, []float64{0, 25, 50, 75, 100}},
		{0, 3.2, 4, []float64{0, 1, 2, 3, 4}},
		{0, 0.7, 4, []float64{0, 0.2, 0.4, 0.6, 0.8}},
		{0, 1_234_567, 4, []float64{0, 500_000, 1_000_000, 1_500_000}},
		{0, 0, 4, []float64{0, 0.25, 0.5, 0.75, 1}},
	}
	for _, tt := range tests {
		got := NiceTicks(tt.lo, tt.hi, tt.n)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("NiceTicks(%v, %v, %d) = %v, want %v", tt.lo, tt.hi, tt.n, got, tt.want)
		}
	}
}

func TestLinearScale(t *testing.T) {
	y := LinearScale(0, 100, 176, 8) // SVG y grows downwards
	for _, tt := range []struct{ in, want float64 }{{0, 176}, {100, 8}, {50, 92}} {
		if got := y(tt.in); got != tt.want {
			t.Errorf("y(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := LinearScale(5, 5, 10, 20)(7); got != 10 {
		t.Errorf("zero-width domain: got %v, want 10", got)
	}
}

func TestTimeTicks(t *testing.T) {
	from := time.Date(2026, 1, 1, 10, 7, 0, 0, time.UTC)
	tests := []struct {
		span  time.Duration
		first string
		step  time.Duration
	}{
		{time.Hour, "10:15", 15 * time.Minute},
		{6 * time.Hour, "12:00", 2 * time.Hour},
		{24 * time.Hour, "12:00", 6 * time.Hour},
		{7 * 24 * time.Hour, "00:00", 2 * 24 * time.Hour},
	}
	for _, tt := range tests {
		ticks := TimeTicks(from, from.Add(tt.span), 5)
		if len(ticks) == 0 || len(ticks) > 5 {
			t.Fatalf("span %v: %d ticks, want 1..5", tt.span, len(ticks))
		}
		if got := ticks[0].Format("15:04"); got != tt.first {
			t.Errorf("span %v: first tick %s, want %s", tt.span, got, tt.first)
		}
		if len(ticks) > 1 && ticks[1].Sub(ticks[0]) != tt.step {
			t.Errorf("span %v: step %v, want %v", tt.span, ticks[1].Sub(ticks[0]), tt.step)
		}
	}
}

func pointsEvery(start time.Time, step time.Duration, vals ...float64) []Point {
	pts := make([]Point, len(vals))
	for i, v := range vals {
		pts[i] = Point{At: start.Add(time.Duration(i) * step), Value: v}
	}
	return pts
}

func TestPathData(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := func(at time.Time) float64 { return at.Sub(t0).Seconds() }
	y := func(v float64) float64 { return 100 - v }
	tests := []struct {
		name string
		pts  []Point
		want string
	}{
		{"empty", nil, ""},
		{"one point", pointsEvery(t0, 5*time.Second, 10), "M0.0 90.0"},
		{"line", pointsEvery(t0, 5*time.Second, 10, 20, 30), "M0.0 90.0L5.0 80.0L10.0 70.0"},
		{"gap starts a new segment", append(pointsEvery(t0, 5*time.Second, 10, 20, 30, 40),
			Point{At: t0.Add(100 * time.Second), Value: 50}), "M0.0 90.0L5.0 80.0L10.0 70.0L15.0 60.0M100.0 50.0"},
	}
	for _, tt := range tests {
		if got := PathData(tt.pts, x, y); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDownsample(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pts := pointsEvery(t0, time.Second, 1, 3, 5, 7, 9, 11)
	got := Downsample(pts, 3)
	want := []float64{2, 6, 10}
	if len(got) != 3 {
		t.Fatalf("len %d, want 3", len(got))
	}
	for i := range want {
		if got[i].Value != want[i] {
			t.Errorf("point %d = %v, want %v", i, got[i].Value, want[i])
		}
	}
	if len(Downsample(pts, 10)) != len(pts) {
		t.Error("fewer points than the limit must come back unchanged")
	}
}

func TestLayout(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := Chart{
		ID: "cpu", Unit: UnitPercent, Thresholds: &health.Level{Warning: 80, Critical: 95},
		From: t0, To: t0.Add(time.Hour),
		Series: []Series{{Name: "cpu", Points: pointsEvery(t0, time.Minute, 10, 50, 90)}},
	}
	g := LayoutChart(c)
	if g.Empty {
		t.Fatal("a chart with points is not empty")
	}
	if got := g.YTicks[len(g.YTicks)-1].Label; got != "100 %" {
		t.Errorf("percent axis tops at %q, want 100 %%", got)
	}
	if len(g.Lines) != 2 || g.Lines[0].Class != "warning" || g.Lines[1].Class != "critical" {
		t.Fatalf("threshold lines %+v", g.Lines)
	}
	if !(g.Lines[1].Y < g.Lines[0].Y) {
		t.Error("the critical line must be above the warning line")
	}
	if !strings.HasPrefix(g.Paths[0].D, "M0.0 ") {
		t.Errorf("path starts at the left edge of the plot: %q", g.Paths[0].D)
	}
	if len(g.Hovers) != 3 || !strings.Contains(g.Hovers[1].Title, "12:01:00 UTC: 50 %") {
		t.Errorf("hover titles %+v", g.Hovers)
	}

	net := Chart{ID: "network", Unit: UnitBytesPerSec, From: t0, To: t0.Add(time.Hour), Series: []Series{
		{Name: "received", Points: pointsEvery(t0, time.Minute, 1_500_000)},
		{Name: "sent", Points: pointsEvery(t0, time.Minute, 20_000)},
	}}
	g = LayoutChart(net)
	if got := g.YTicks[len(g.YTicks)-1].Label; got != "1.5 MB/s" {
		t.Errorf("rate axis tops at %q, want 1.5 MB/s", got)
	}
	if len(g.Hovers) != 1 || g.Hovers[0].Title != "12:00:00 UTC: received 1.5 MB/s, sent 20.0 kB/s" {
		t.Errorf("hover %+v", g.Hovers)
	}
	if !LayoutChart(Chart{Unit: UnitLoad, From: t0, To: t0.Add(time.Hour)}).Empty {
		t.Error("a chart without points is empty")
	}
}

// A warning threshold of 0 is valid configuration (everything is at least a warning) and the
// health score and the alerts honour it: the chart must draw it too, at the bottom of the plot.
func TestAZeroThresholdIsDrawn(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	g := LayoutChart(Chart{ID: "cpu", Unit: UnitPercent, Thresholds: &health.Level{Warning: 0, Critical: 95},
		From: t0, To: t0.Add(time.Hour), Series: []Series{{Name: "cpu", Points: pointsEvery(t0, time.Minute, 10)}}})
	if len(g.Lines) != 2 || g.Lines[0].Class != "warning" || g.Lines[0].Y != g.Base || g.Lines[0].Label != "warning 0 %" {
		t.Fatalf("want a warning line at 0 %% on the base of the plot, got %+v", g.Lines)
	}
	if n := len(LayoutChart(Chart{ID: "network", Unit: UnitBytesPerSec, From: t0, To: t0.Add(time.Hour)}).Lines); n != 0 {
		t.Errorf("a chart without thresholds draws no lines, got %d", n)
	}
}
