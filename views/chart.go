package views

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/units"
)

// Point is one value of a time series.
type Point struct {
	At    time.Time
	Value float64
}

// Series is one line of a chart, e.g. "received" on the network chart.
type Series struct {
	Name   string
	Points []Point
}

// Chart is what the handler knows about one chart; Geometry turns it into SVG coordinates.
type Chart struct {
	ID    string // cpu, memory, disk, network, load: used in data-testid
	Title string
	Unit  Unit
	// Series are drawn in order, each with its own class (series-0, series-1, ...).
	Series []Series
	// Thresholds draw the warning and critical lines; nil (a chart without thresholds, such as
	// network) draws none. A threshold of 0 is a real one and gets its line.
	Thresholds *health.Level
	From, To   time.Time
}

// Unit says how a chart's values are written on its axis and in its hover titles (by
// units.Format, like every value of the pages and the notifications).
type Unit = units.Unit

const (
	UnitPercent     = units.Percent
	UnitBytesPerSec = units.BytesPerSec
	UnitLoad        = units.Load
)

// Chart drawing area. The plot's SVG stretches to its container's width (viewBox, no aspect
// ratio), so x is in user units while y, with a height in CSS pixels, is in pixels. Its text
// would shrink with the width (6 px on a phone), so the axis labels are drawn beside it, in
// pixels: YTicks at their Pos, XTicks at their share of the width.
const (
	chartWidth  = 640
	chartHeight = 180
	padLeft     = 0
	padRight    = 0
	padTop      = 8
	padBottom   = 4
	// maxHoverSlots bounds the <title> targets per chart: enough to read values off a line,
	// few enough that a 30-day chart stays a few kilobytes.
	maxHoverSlots = 60
	// maxPathPoints bounds each line; more points than pixels only adds bytes.
	maxPathPoints = 320
)

// Tick is one labelled gridline: Pos is its SVG coordinate along its axis.
type Tick struct {
	Pos   float64
	Label string
}

// Line is a horizontal threshold line.
type Line struct {
	Y     float64
	Class string // warning or critical
	Label string
}

// Path is one series drawn as an SVG path.
type Path struct {
	Name  string
	Class string
	D     string
}

// Hover is an invisible column whose <title> shows the values at that time.
type Hover struct {
	X, Width float64
	Title    string
}

// Geometry is a chart laid out in SVG coordinates.
type Geometry struct {
	Width, Height          float64
	Left, Right, Top, Base float64 // the plot area
	XTicks, YTicks         []Tick
	Lines                  []Line
	Paths                  []Path
	Hovers                 []Hover
	Empty                  bool
}

// LayoutChart computes the chart's geometry: a y scale from zero to a round maximum that holds every
// value and the threshold lines, time on x from From to To, and one path per series.
func LayoutChart(c Chart) Geometry {
	g := Geometry{
		Width: chartWidth, Height: chartHeight,
		Left: padLeft, Right: chartWidth - padRight, Top: padTop, Base: chartHeight - padBottom,
	}
	maxV := 0.0
	n := 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			maxV = math.Max(maxV, p.Value)
			n++
		}
	}
	g.Empty = n == 0
	if c.Unit == UnitPercent {
		maxV = 100
	}
	if c.Thresholds != nil {
		maxV = math.Max(maxV, c.Thresholds.Critical)
	}
	ticks := NiceTicks(0, maxV, 4)
	top := ticks[len(ticks)-1]
	y := LinearScale(0, top, g.Base, g.Top)
	from, to := c.From, c.To
	if !to.After(from) {
		to = from.Add(time.Hour)
	}
	x := LinearScale(float64(from.Unix()), float64(to.Unix()), g.Left, g.Right)
	xAt := func(t time.Time) float64 { return x(float64(t.Unix())) }

	for _, v := range ticks {
		g.YTicks = append(g.YTicks, Tick{Pos: y(v), Label: units.Format(v, c.Unit)})
	}
	for _, t := range TimeTicks(from, to, 5) {
		g.XTicks = append(g.XTicks, Tick{Pos: xAt(t), Label: timeLabel(t, to.Sub(from))})
	}
	if th := c.Thresholds; th != nil {
		g.Lines = append(g.Lines,
			Line{Y: y(th.Warning), Class: "warning", Label: "warning " + units.Format(th.Warning, c.Unit)},
			Line{Y: y(th.Critical), Class: "critical", Label: "critical " + units.Format(th.Critical, c.Unit)})
	}
	for i, s := range c.Series {
		pts := Downsample(s.Points, maxPathPoints)
		g.Paths = append(g.Paths, Path{Name: s.Name, Class: "series-" + strconv.Itoa(i), D: PathData(pts, xAt, y)})
	}
	g.Hovers = hovers(c, from, to, xAt)
	return g
}

// LinearScale maps [d0, d1] onto [r0, r1]; a zero-width domain maps everything to r0.
func LinearScale(d0, d1, r0, r1 float64) func(float64) float64 {
	if d1 == d0 {
		return func(float64) float64 { return r0 }
	}
	k := (r1 - r0) / (d1 - d0)
	return func(v float64) float64 { return r0 + (v-d0)*k }
}

// NiceTicks returns about n+1 evenly spaced round values (1, 2 or 5 times a power of ten) from
// lo up to a value at or above hi. An empty range still gets a scale from lo to lo+1.
func NiceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var ticks []float64
	for v := start; ; v += step {
		ticks = append(ticks, roundTo(v, step))
		if v >= hi-step*1e-9 {
			break
		}
	}
	return ticks
}

func roundTo(v, step float64) float64 {
	// Removes float noise like 0.30000000000000004 from accumulated steps.
	p := math.Pow(10, math.Max(0, -math.Floor(math.Log10(step))+2))
	return math.Round(v*p) / p
}

// timeSteps are the candidate distances between time ticks.
var timeSteps = []time.Duration{
	time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour,
}

// TimeTicks returns at most n round instants (UTC) within [from, to].
func TimeTicks(from, to time.Time, n int) []time.Time {
	span := to.Sub(from)
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if span/s <= time.Duration(n) {
			step = s
			break
		}
	}
	var out []time.Time
	for t := from.UTC().Truncate(step); !t.After(to); t = t.Add(step) {
		if !t.Before(from) {
			out = append(out, t)
		}
	}
	return out
}

func timeLabel(t time.Time, span time.Duration) string {
	t = t.UTC()
	if span > 48*time.Hour {
		return t.Format("Jan 2")
	}
	return t.Format("15:04")
}

// Downsample keeps at most max points by averaging runs of neighbours, so a spike still moves
// the line while the SVG stays small. Fewer points are returned as they are.
func Downsample(pts []Point, max int) []Point {
	if len(pts) <= max || max <= 0 {
		return pts
	}
	out := make([]Point, 0, max)
	per := float64(len(pts)) / float64(max)
	for i := 0; i < max; i++ {
		a, b := int(float64(i)*per), int(float64(i+1)*per)
		if b > len(pts) {
			b = len(pts)
		}
		var sum float64
		for _, p := range pts[a:b] {
			sum += p.Value
		}
		out = append(out, Point{At: pts[(a+b-1)/2].At, Value: sum / float64(b-a)})
	}
	return out
}

// PathData is the d attribute of a polyline through pts. A gap of more than three times the
// usual spacing (the server was down) starts a new segment instead of drawing a false line.
func PathData(pts []Point, x func(time.Time) float64, y func(float64) float64) string {
	if len(pts) == 0 {
		return ""
	}
	gap := time.Duration(0)
	if len(pts) > 1 {
		gap = 3 * pts[len(pts)-1].At.Sub(pts[0].At) / time.Duration(len(pts)-1)
	}
	var b strings.Builder
	b.Grow(len(pts) * 14)
	for i, p := range pts {
		if i == 0 || (gap > 0 && p.At.Sub(pts[i-1].At) > gap) {
			b.WriteByte('M')
		} else {
			b.WriteByte('L')
		}
		b.WriteString(strconv.FormatFloat(x(p.At), 'f', 1, 64))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(y(p.Value), 'f', 1, 64))
	}
	return b.String()
}

// hovers splits the time axis into slots and titles each with the last value of every series
// in it, e.g. "14:05 UTC: received 1.2 MB/s, sent 30 kB/s".
func hovers(c Chart, from, to time.Time, x func(time.Time) float64) []Hover {
	slot := to.Sub(from) / maxHoverSlots
	if slot <= 0 {
		return nil
	}
	type cell struct {
		vals []string
		at   time.Time
	}
	cells := make([]cell, maxHoverSlots)
	for si, s := range c.Series {
		for _, p := range s.Points {
			i := int(p.At.Sub(from) / slot)
			if i < 0 || i >= maxHoverSlots {
				continue
			}
			if cells[i].vals == nil {
				cells[i].vals = make([]string, len(c.Series))
			}
			cells[i].vals[si] = units.Format(p.Value, c.Unit)
			cells[i].at = p.At
		}
	}
	format := "15:04:05 UTC"
	if to.Sub(from) > 48*time.Hour {
		format = "Jan 2 15:04 UTC"
	}
	var out []Hover
	w := x(from.Add(slot)) - x(from)
	for i, cl := range cells {
		if cl.vals == nil {
			continue
		}
		parts := make([]string, 0, len(cl.vals))
		for si, v := range cl.vals {
			if v == "" {
				continue
			}
			if len(c.Series) > 1 {
				v = c.Series[si].Name + " " + v
			}
			parts = append(parts, v)
		}
		out = append(out, Hover{
			X: x(from.Add(time.Duration(i) * slot)), Width: w,
			Title: cl.at.UTC().Format(format) + ": " + strings.Join(parts, ", "),
		})
	}
	return out
}
