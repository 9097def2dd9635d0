// Package history plans and reads the stored time series: which metrics exist and where they
// live, the ranges the API and the dashboard offer, and whether a span reads raw samples or the
// rollups, stitched where the rollups end and cut where raw samples are past retention.
//
// It knows no host of its own: every Query names one, so the hub can read any host's history.
package history

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// MaxPoints bounds a series: more points than a chart has pixels help nobody.
const MaxPoints = 1000

// Metric is a series the history offers.
type Metric struct {
	Name string
	Unit string // percent, load, bytes_per_second, bytes or score
	// table is where its raw samples live: system, process or health.
	table string
}

var metrics = []Metric{
	{"cpu_percent", "percent", "system"},
	{"memory_percent", "percent", "system"},
	{"swap_percent", "percent", "system"},
	{"disk_percent", "percent", "system"},
	{"load1", "load", "system"},
	{"load5", "load", "system"},
	{"load15", "load", "system"},
	{"net_recv_bytes_per_second", "bytes_per_second", "system"},
	{"net_sent_bytes_per_second", "bytes_per_second", "system"},
	{"disk_read_bytes_per_second", "bytes_per_second", "system"},
	{"disk_write_bytes_per_second", "bytes_per_second", "system"},
	{"process_cpu_percent", "percent", "process"},
	{"process_rss_bytes", "bytes", "process"},
	{"health_score", "score", "health"},
}

// MetricNames lists every metric, sorted.
func MetricNames() []string {
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = m.Name
	}
	slices.Sort(names)
	return names
}

// diskMetric is the one metric with a subject: a filesystem's mountpoint.
const diskMetric = "disk_percent"

// LookupMetric finds a metric and the subject it reads: a mountpoint for disk_percent ("/" when
// none is given), nothing for the others.
func LookupMetric(name, subject string) (Metric, string, error) {
	i := slices.IndexFunc(metrics, func(m Metric) bool { return m.Name == name })
	switch {
	case i < 0 && name == "":
		return Metric{}, subject, &QueryError{"metric", "is required; one of " + strings.Join(MetricNames(), ", ")}
	case i < 0:
		return Metric{}, subject, &QueryError{"metric", fmt.Sprintf("unknown metric %q; one of %s", name, strings.Join(MetricNames(), ", "))}
	case name == diskMetric && subject == "":
		return metrics[i], "/", nil
	case name != diskMetric && subject != "":
		return metrics[i], subject, &QueryError{"subject", "only disk_percent takes a subject (a mountpoint)"}
	}
	return metrics[i], subject, nil
}

// Range is a span back from now that the API's range= and the dashboard's selector offer.
type Range struct {
	Name string
	Span time.Duration
	// ChartStep is the bucket width of the dashboard's charts, about 360 points whatever the
	// span; 0 for ranges the dashboard does not offer.
	ChartStep time.Duration
}

// ranges are shortest first; the first is the default.
var ranges = []Range{
	{"1h", time.Hour, 10 * time.Second},
	{"6h", 6 * time.Hour, time.Minute},
	{"24h", 24 * time.Hour, 5 * time.Minute}, // the five-minute rollups' buckets
	{"7d", 7 * 24 * time.Hour, 30 * time.Minute},
	{"30d", 30 * 24 * time.Hour, 2 * time.Hour},
	{"90d", 90 * 24 * time.Hour, 0},
	{"1y", 365 * 24 * time.Hour, 0},
}

// Ranges lists every range, shortest first; the first is the default.
func Ranges() []Range { return slices.Clone(ranges) }

// ChartRanges lists the ranges the dashboard offers, shortest first; the first is its default.
func ChartRanges() []Range {
	return slices.DeleteFunc(Ranges(), func(r Range) bool { return r.ChartStep == 0 })
}

// Names lists the names of rs, in order.
func Names(rs []Range) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

// LookupRange finds a range by name.
func LookupRange(name string) (Range, bool) {
	i := slices.IndexFunc(ranges, func(r Range) bool { return r.Name == name })
	if i < 0 {
		return Range{}, false
	}
	return ranges[i], true
}

// Rollup is the period of the rollups a range's chart reads ("5min", "hourly", "daily"), or ""
// for raw samples.
func (r Range) Rollup() string { return rollupFor(r.Span, r.ChartStep).period }

// A rollup is where a span's points come from: raw samples up to a day, hourly rollups up to a
// month (31 days, so a calendar month asked by from/to reads hourly too), daily beyond.
type rollup struct {
	period string        // "" for raw samples
	width  time.Duration // the width of one rollup bucket
	upTo   time.Duration // the longest span it serves; 0: any longer one
	// partial: kept for less than the raw samples, so read only where it reaches back to the
	// start of a span.
	partial bool
}

var rollups = []rollup{
	{"", 0, 24 * time.Hour, false},
	{"hourly", time.Hour, 31 * 24 * time.Hour, false},
	{"daily", 24 * time.Hour, 0, false},
}

// fiveMinute serves a span of raw samples (up to a day) when its step is a whole number of five
// minutes, as the 24 h charts' is: 288 buckets a day where the raw samples of one host among
// many are 17,280 rows on as many pages. Finer steps read the raw samples. The rollups are
// kept two days (jobs.FiveMinuteKeep).
var fiveMinute = rollup{"5min", 5 * time.Minute, 24 * time.Hour, true}

// finestRollup is what spans past retention read, whatever their length.
func finestRollup() rollup {
	for _, r := range rollups {
		if r.period != "" {
			return r
		}
	}
	panic("unreachable: there are rollups")
}

// rollupFor is what a span read in buckets of step comes from.
func rollupFor(span, step time.Duration) rollup {
	for _, r := range rollups {
		if r.upTo == 0 || span <= r.upTo {
			if r.period == "" && step > 0 && step%fiveMinute.width == 0 {
				return fiveMinute
			}
			return r
		}
	}
	panic("unreachable: the last rollup serves any span")
}

// niceSteps are the default bucket widths; a default is the smallest giving at most ~720 points.
var niceSteps = []time.Duration{
	time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour,
}

// DefaultStep is the bucket width of a span when none is asked for: the smallest nice step
// giving at most about 720 points.
func DefaultStep(span time.Duration) time.Duration {
	for _, s := range niceSteps {
		if span/s <= 720 {
			return s
		}
	}
	return niceSteps[len(niceSteps)-1]
}

// CheckStep refuses a bucket width below a second or giving more than MaxPoints over span.
func CheckStep(span, step time.Duration) error {
	switch {
	case step < time.Second:
		return &QueryError{"step", "must be at least 1s"}
	case span/step > MaxPoints:
		return &QueryError{"step", fmt.Sprintf("%s over %s gives more than %d points; use at least %s",
			step, span, MaxPoints, (span/MaxPoints).Round(time.Second)+time.Second)}
	}
	return nil
}

// BinStart is the start of the step bucket holding t, counted from the Unix epoch as the series
// queries' date_bin(step, t, 'epoch') counts (time.Truncate counts from year 1, which differs for
// steps that do not divide a day).
func BinStart(t time.Time, step time.Duration) time.Time {
	r := time.Duration(t.UnixNano() % int64(step))
	if r < 0 {
		r += step
	}
	return t.Add(-r)
}

// Query asks for one series.
type Query struct {
	Host    string // always explicit: the package knows no host of its own
	Metric  string
	Subject string // a mountpoint for disk_percent ("/" when empty); empty for the others
	From    time.Time
	To      time.Time
	Step    time.Duration // the bucket width; 0 for DefaultStep
}

// QueryError is a query Read refuses. Param names what is wrong as the history API's parameters
// do (metric, subject, from, step), so the API can answer with it as it stands.
type QueryError struct {
	Param  string
	Reason string
}

func (e *QueryError) Error() string { return e.Param + ": " + e.Reason }

// Check validates q as Read does and fills in its defaults (the subject, the step), with times
// in UTC.
func (q Query) Check() (Query, error) {
	q, _, err := q.check()
	return q, err
}

func (q Query) check() (Query, Metric, error) {
	m, subject, err := LookupMetric(q.Metric, q.Subject)
	if err != nil {
		return q, m, err
	}
	q.Subject = subject
	if !q.From.Before(q.To) {
		return q, m, &QueryError{"from", "must be before to"}
	}
	q.From, q.To = q.From.UTC(), q.To.UTC()
	span := q.To.Sub(q.From)
	if q.Step == 0 {
		q.Step = DefaultStep(span)
	}
	return q, m, CheckStep(span, q.Step)
}
