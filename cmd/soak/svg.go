package main

import (
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// panel is one chart of the plot: a few series over the soak's time.
type panel struct {
	title  string
	series []series
}

type series struct {
	name  string
	color string
	v     func(row) float64
}

// writeSVG draws the rows as stacked line charts, one panel per quantity, with the end of the
// warm-up marked: a plain SVG file, no plotting library.
func writeSVG(path string, rows []row, warmup time.Duration) error {
	panels := []panel{
		{"RSS (MB)", []series{{"rss", "#1f77b4", func(r row) float64 { return r.rssMB }}}},
		{"goroutines", []series{{"goroutines", "#2ca02c", func(r row) float64 { return float64(r.goroutines) }}}},
		{"open files and database connections", []series{
			{"open files", "#9467bd", func(r row) float64 { return float64(r.openFiles) }},
			{"db connections", "#d62728", func(r row) float64 { return float64(r.dbConns) }}}},
		{"p99 latency (ms)", []series{
			{"ingest", "#ff7f0e", func(r row) float64 { return r.p99[ingest] }},
			{"dashboard", "#17becf", func(r row) float64 { return r.p99[dashboard] }},
			{"api", "#8c564b", func(r row) float64 { return r.p99[api] }}}},
	}
	const width, panelH, left, right, top, gap = 760.0, 150.0, 60.0, 20.0, 30.0, 40.0
	height := top + float64(len(panels))*(panelH+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	total := time.Duration(0)
	if len(rows) > 0 {
		total = rows[len(rows)-1].at
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="18" font-size="13" font-weight="bold">infradash soak: %d samples over %s (dashed: end of the %s warm-up)</text>`+"\n",
		left, len(rows), total.Round(time.Second), warmup)
	x := func(d time.Duration) float64 {
		if total == 0 {
			return left
		}
		return left + (width-left-right)*d.Seconds()/total.Seconds()
	}
	for i, p := range panels {
		y0 := top + float64(i)*(panelH+gap) + gap/2
		hi := 0.0
		for _, s := range p.series {
			for _, r := range rows {
				hi = math.Max(hi, s.v(r))
			}
		}
		hi = niceCeil(hi)
		y := func(v float64) float64 { return y0 + panelH - panelH*v/hi }
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0-6, p.title)
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#ccc"/>`+"\n", left, y0, width-left-right, panelH)
		for _, f := range []float64{0, 0.5, 1} {
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-4, y(f*hi)+4, tick(f*hi))
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", left, width-right, y(f*hi), y(f*hi))
		}
		if warmup < total {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#999" stroke-dasharray="4 3"/>`+"\n", x(warmup), x(warmup), y0, y0+panelH)
		}
		for k, s := range p.series {
			var pts []string
			for _, r := range rows {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(r.at), y(s.v(r))))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", s.color, strings.Join(pts, " "))
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="%s" text-anchor="end">%s</text>`+"\n", width-right-float64(k)*110, y0-6, s.color, s.name)
		}
		if i == len(panels)-1 {
			for _, f := range []float64{0, 0.25, 0.5, 0.75, 1} {
				d := time.Duration(f * float64(total))
				fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", x(d), y0+panelH+14, shortDuration(d, total))
			}
		}
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// niceCeil rounds a chart's top up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func tick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// shortDuration labels the time axis: whole minutes for long soaks (1h5m, not 1h5m0s).
func shortDuration(d, total time.Duration) string {
	unit := time.Minute
	if total < 10*time.Minute {
		unit = 10 * time.Second
	}
	str := d.Round(unit).String()
	if unit == time.Minute {
		str = strings.TrimSuffix(str, "0s")
	}
	if strings.HasSuffix(str, "h0m") {
		str = strings.TrimSuffix(str, "0m")
	}
	return str
}
