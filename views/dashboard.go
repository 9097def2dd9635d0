package views

import (
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/units"
)

// Tabs of /observability, in the order they are shown.
const (
	TabInfrastructure = "infrastructure"
	TabAlerts         = "alerts"
)

// Paths the pages link to; the handlers register the same ones.
const (
	PathObservability = "/observability"
	PathLiveFragment  = "/observability/fragments/live"
	PathChartFragment = "/observability/fragments/charts"
	PathHostsFragment = "/observability/fragments/hosts"
	// PathHosts is where each host's page is, under its name.
	PathHosts = "/observability/hosts/"
)

// HostURL is a host's page.
func HostURL(name string) string { return PathHosts + url.PathEscape(name) }

// ChartRefresh is how often a host's page reads its charts again.
const ChartRefresh = time.Minute

// Alert is one row of infrastructure_alerts as the pages show it.
type Alert struct {
	ID             int64
	Host           string
	Metric         string
	Subject        string
	Severity       string
	Value          float64
	Threshold      float64
	Message        string
	StartedAt      time.Time
	ResolvedAt     *time.Time
	AcknowledgedAt *time.Time
	AcknowledgedBy string // the acknowledging user's email; "" when unknown or not acknowledged
	// SilencedUntil is when the silence that mutes its notices ends; nil when none does.
	SilencedUntil *time.Time
}

// Open reports whether the alert still fires.
func (a Alert) Open() bool { return a.ResolvedAt == nil }

// Live is what the polled part of the Infrastructure tab shows.
type Live struct {
	// Host is the host's name; its poll asks for this host.
	Host string
	// CanSilence shows the "silence for 1 h" buttons of the open alerts (admins only).
	CanSilence bool
	Snapshot   sample.Snapshot
	Health     health.Report
	OpenAlerts []Alert
	// AlertsUnavailable: the open alerts could not be read (the database is down); the live
	// numbers come from memory and are shown all the same.
	AlertsUnavailable bool
	// Interval is the collector's; MaxAge says when its data is stale.
	Interval time.Duration
	// Now is when the page was rendered, so staleness is judged without a clock in the view.
	Now time.Time
}

// PollPeriod is how often the page asks for the live fragment (hx-trigger "every 5s").
const PollPeriod = 5 * time.Second

// MaxAge is how old the data may be, by the server's clock, before the page calls it stale: two
// collection intervals (at least 5 s, so short intervals do not flicker) plus one poll period,
// since a poll may come just before the next sample.
func (l Live) MaxAge() time.Duration {
	return max(2*l.Interval, 5*time.Second) + PollPeriod
}

// Stale reports whether the data is missing or older than MaxAge.
func (l Live) Stale() bool {
	return l.Snapshot.IsZero() || l.Now.Sub(l.Snapshot.CollectedAt) > l.MaxAge()
}

// Charts is the chart section: the range selector and one chart per metric.
type Charts struct {
	Host string
	// Page is the path of the page the charts are on, which the range links keep.
	Page   string
	Range  string   // the selected one of Ranges
	Ranges []string // the choices, shortest first
	Charts []Chart
	// Unavailable, when set, says why no chart could be drawn.
	Unavailable string
}

// Infrastructure is one host's page: today's Infrastructure tab for any host.
type Infrastructure struct {
	Host     HostHeader
	Live     Live
	Platform sample.Platform
	Charts   Charts
}

// HostHeader names the host a page is about.
type HostHeader struct {
	Name   string
	Labels []string // key=value, sorted
	Status string   // up, down, never_seen
	// Fleet is set when there are other hosts: the page links back to the overview.
	Fleet bool
}

// AlertList is the Alerts tab.
type AlertList struct {
	Open   []Alert
	Recent []Alert // resolved, newest first
	// CanAcknowledge shows the acknowledge buttons (admins only).
	CanAcknowledge bool
	// Filter is what the lists are narrowed to; Hosts and Labels are the choices.
	Filter AlertFilter
	Hosts  []string
	Labels []string
}

// AlertFilter narrows the Alerts tab to a host or to the hosts with a label.
type AlertFilter struct {
	Host  string
	Label string // key=value
}

// Dashboard is /observability: the page frame and exactly one of the tabs.
type Dashboard struct {
	Page
	Overview       *Overview
	Infrastructure *Infrastructure
	Alerts         *AlertList
}

func pct(v float64) string { return units.Format(v, units.Percent) }

// num writes an SVG coordinate.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// barWidth is a percentage clamped to the 0-100 of a bar's viewBox.
func barWidth(v float64) string { return num(math.Max(0, math.Min(100, v))) }

func bytesU(v uint64) string { return units.Format(float64(v), units.Bytes) }

func rate(v float64) string { return units.Format(v, units.BytesPerSec) }

func load(v float64) string { return units.Format(v, units.Load) }

func clock(t time.Time) string { return t.UTC().Format("15:04:05 UTC") }

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func stampPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return stamp(*t)
}

// Duration writes an uptime for people: "3d 4h", "5h 12m", "42s".
func Duration(d time.Duration) string { return units.Format(d.Seconds(), units.Seconds) }

// diskSpace writes a filesystem's space so that it adds up to the percentage above it, which is
// used/(used+available) as df computes it: the blocks reserved for root are neither, and are
// named when there are some, so used + available + reserved is the size.
func diskSpace(fs sample.Filesystem) string {
	s := bytesU(fs.UsedBytes) + " used · " + bytesU(fs.FreeBytes) + " available"
	if reserved := fs.TotalBytes - min(fs.TotalBytes, fs.UsedBytes+fs.FreeBytes); reserved > 0 {
		s += " · " + bytesU(reserved) + " reserved"
	}
	return s + " · " + bytesU(fs.TotalBytes) + " in all"
}

// coreStatus judges one core against the CPU thresholds, for the colour of its bar.
func (l Live) coreStatus(v float64) string {
	c, ok := l.component(health.KindCPU)
	if !ok {
		return string(health.Unknown)
	}
	return string(health.Classify(v, c.Warning, c.Critical))
}

// componentValue writes a health component's value in its unit.
func componentValue(v float64, unit string) string {
	switch unit {
	case "percent":
		return pct(v)
	case "celsius":
		return units.Format(v, units.Celsius)
	}
	return load(v) + " per core"
}

// component finds a health component by name; ok is false when the snapshot lacks it.
func (l Live) component(name string) (health.Component, bool) {
	for _, c := range l.Health.Components {
		if c.Name == name {
			return c, true
		}
	}
	return health.Component{}, false
}

// statusFor is the health status of a named component, for a card's colour.
func (l Live) statusFor(name string) string {
	if c, ok := l.component(name); ok {
		return string(c.Status)
	}
	return string(health.Unknown)
}

func rangeURL(page, r string) string { return page + "?range=" + r }

func chartFragmentURL(host, r string) string {
	return PathChartFragment + "?" + url.Values{"host": {host}, "range": {r}}.Encode()
}

func liveFragmentURL(host string) string {
	return PathLiveFragment + "?" + url.Values{"host": {host}}.Encode()
}

// hostAlertsURL is the Alerts tab narrowed to one host.
func hostAlertsURL(host string) string {
	return PathObservability + "?" + url.Values{"tab": {TabAlerts}, "host": {host}}.Encode()
}

func tabURL(tab string) string { return PathObservability + "?tab=" + tab }

func ackURL(id int64) string {
	return PathObservability + "/alerts/" + strconv.FormatInt(id, 10) + "/acknowledge"
}

// MetricHostDown is the alert of a host that sends nothing; its value and threshold are seconds.
const MetricHostDown = "host_down"

// alertValue writes an alert's value or threshold in its unit: a share for the resource alerts,
// a length of silence for host_down.
func alertValue(a Alert, v float64) string {
	switch a.Metric {
	case MetricHostDown:
		return Duration(time.Duration(v * float64(time.Second)))
	case "load":
		return componentValue(v, "per_core")
	case "temperature":
		return componentValue(v, "celsius")
	}
	return componentValue(v, "percent")
}

// silenceURL is where an open alert's "silence for 1 h" button posts.
func silenceURL(id int64) string {
	return PathObservability + "/alerts/" + strconv.FormatInt(id, 10) + "/silence"
}

func alertSubject(a Alert) string {
	if a.Subject == "" {
		return a.Metric
	}
	return a.Metric + " " + a.Subject
}

func coresViewBox(n int) string { return "0 0 " + strconv.Itoa(max(n, 1)*10) + " 40" }

func coreX(i int) string { return strconv.Itoa(i*10 + 1) }

func coreY(v float64) string { return num(40 - 0.4*math.Max(0, math.Min(100, v))) }

func coreH(v float64) string { return num(0.4 * math.Max(0, math.Min(100, v))) }

func chartViewBox(g Geometry) string { return "0 0 " + num(g.Width) + " " + num(g.Height) }

// xTickX places a time label under the stretching plot: at its share of the plot's width.
func xTickX(g Geometry, t Tick) string {
	return num(100*(t.Pos-g.Left)/(g.Right-g.Left)) + "%"
}

// xTickAnchor centres a time label on its tick, except near the right edge, where a centred
// label would stick out of the card.
func xTickAnchor(g Geometry, t Tick) string {
	if (t.Pos-g.Left)/(g.Right-g.Left) > 0.93 {
		return "end"
	}
	return "middle"
}

func unitLabel(u Unit) string {
	if u == UnitLoad {
		return "1-minute load average"
	}
	return string(u)
}

// TestResult is how one notifier took a test notification.
type TestResult struct {
	Notifier  string `json:"notifier"`
	Delivered bool   `json:"delivered"`
	Attempts  int    `json:"attempts"`
	Error     string `json:"error,omitempty"`
}

// PathTestAlert is where the Alerts tab's "send test alert" button posts.
const PathTestAlert = PathObservability + "/alerts/test"
