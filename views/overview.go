package views

import (
	"hash/fnv"
	"math"
	"net/url"
	"strconv"
	"time"
)

// Overview is /observability with more than one host: a row per host, the fleet's counts, and the
// filters and order the rows are in.
type Overview struct {
	Rows   []HostRow
	Counts FleetCounts
	Filter HostFilter
	// Labels are every key=value the hosts carry, for the label filter.
	Labels []string
	// ShownLabels is the labelsVersion of the label filter on the polling page (its known_labels
	// parameter); "" for a whole page.
	ShownLabels string
	// Matched is how many hosts the filter leaves, on every page; Pages how many pages they fill.
	Matched, Pages int
	// Now is when the page was rendered: last seen is counted from it.
	Now time.Time
}

// FleetCounts are the numbers at the top of the overview, over every host whatever the filter.
type FleetCounts struct {
	Hosts, Up, Down, NeverSeen, Unhealthy int
	// OpenAlerts is -1 when the database cannot be reached.
	OpenAlerts int
	// Silenced is how many of them a silence holds back.
	Silenced int
}

// HostRow is one host of the overview. Bars and numbers take their colour from the host's own
// thresholds (the Status fields).
type HostRow struct {
	Name         string
	Labels       []string // key=value, sorted
	Status       string   // up, down, never_seen
	HasSample    bool
	HealthScore  int
	HealthStatus string
	CPUPercent   float64
	CPUStatus    string
	MemPercent   float64
	MemStatus    string
	DiskPercent  float64
	DiskMount    string
	DiskStatus   string
	LoadPerCore  float64
	LoadStatus   string
	RxBps, TxBps float64
	Uptime       time.Duration
	// OpenAlerts is -1 when the database cannot be reached.
	OpenAlerts   int
	LastSeen     time.Time // zero when never seen
	AgentVersion string
	ClockOffset  time.Duration
}

// HostFilter is the overview's filter, order and page, as its query string carries them.
type HostFilter struct {
	Label  string // key=value
	Q      string // the name contains this
	Status string // up, down, never_seen, or "" for all
	Sort   string // a HostSorts key, "-" in front to reverse; "" is by name
	Page   int    // from 1
}

// HostSort is a column the overview (and GET /api/v1/hosts) sorts by.
type HostSort struct {
	Key, Label string
	// Descending is the natural order's direction in the column's numbers ("busiest first"), for
	// aria-sort.
	Descending bool
}

// HostSorts are the orders offered, in the overview's column order.
var HostSorts = []HostSort{
	{"status", "status", false}, {"name", "host", false}, {"health", "health", false},
	{"cpu", "CPU", true}, {"memory", "memory", true}, {"disk", "disk", true}, {"load", "load", true},
	{"network", "network", true}, {"uptime", "uptime", true}, {"alerts", "alerts", true},
	{"last_seen", "last seen", false}, {"agent", "agent", false},
}

// OverviewPageSize is how many hosts one page of the overview shows: enough to see a rack at a
// glance, few enough that the 5-second poll stays small with a thousand hosts (filter or sort to
// bring the ones that matter to the first page).
const OverviewPageSize = 100

// ClockOffsetShown is how far a host's clock may be off the hub's before its row says so: the
// agent's own --check warns from 2 s.
const ClockOffsetShown = 2 * time.Second

// query is the filter as a query string, with page and sort replaced when given.
func (f HostFilter) query(sort string, page int) string {
	v := url.Values{}
	if f.Label != "" {
		v.Set("label", f.Label)
	}
	if f.Q != "" {
		v.Set("q", f.Q)
	}
	if f.Status != "" {
		v.Set("status", f.Status)
	}
	if sort != "" && sort != "name" {
		v.Set("sort", sort)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

func (f HostFilter) sortKey() (string, bool) {
	if len(f.Sort) > 0 && f.Sort[0] == '-' {
		return f.Sort[1:], true
	}
	if f.Sort == "" {
		return "name", false
	}
	return f.Sort, false
}

// sortURL is the overview ordered by key; the column already ordered by key reverses.
func (f HostFilter) sortURL(key string) string {
	cur, rev := f.sortKey()
	next := key
	if cur == key && !rev {
		next = "-" + key
	}
	return PathObservability + f.query(next, 1)
}

// ariaSort says how the column is ordered, or "" when the rows are not ordered by it.
func (f HostFilter) ariaSort(s HostSort) string {
	cur, rev := f.sortKey()
	if cur != s.Key {
		return ""
	}
	if s.Descending != rev {
		return "descending"
	}
	return "ascending"
}

func (o Overview) pageURL(page int) string {
	return PathObservability + o.Filter.query(o.Filter.Sort, page)
}

func (o Overview) statusURL(status string) string {
	f := o.Filter
	f.Status = status
	return PathObservability + f.query(f.Sort, 1)
}

// fragmentURL is what the table polls: the same filter, order and page, and which labels the
// label filter offers.
func (o Overview) fragmentURL() string {
	q := o.Filter.query(o.Filter.Sort, o.Filter.Page)
	if q == "" {
		q = "?"
	} else {
		q += "&"
	}
	return PathHostsFragment + q + "known_labels=" + o.labelsVersion()
}

// labelsVersion names the set of labels in a few characters.
func (o Overview) labelsVersion() string {
	h := fnv.New32a()
	for _, l := range o.Labels {
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

// labelsStale: the polling page's label filter offers other labels than the hosts carry now.
func (o Overview) labelsStale() bool {
	return o.ShownLabels != "" && o.ShownLabels != o.labelsVersion()
}

// ago writes how long before now t was, in the overview's short words: "3 s ago".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min ago"
	}
	return Duration(d) + " ago"
}

// offsetShown is whether the row names the host's clock offset.
func (r HostRow) offsetShown() bool {
	return math.Abs(float64(r.ClockOffset)) > float64(ClockOffsetShown)
}

// clockOffset writes an offset with its sign: "+7 s", "-3 min".
func clockOffset(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	if d < time.Minute {
		return sign + strconv.Itoa(int(d.Seconds())) + " s"
	}
	return sign + Duration(d)
}

func statusWord(status string) string {
	if status == "never_seen" {
		return "never seen"
	}
	return status
}

func alertCount(n int) string {
	if n < 0 {
		return "?"
	}
	return strconv.Itoa(n)
}
