package handlers

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/views"
)

// fleetDashboard is a dashboard whose hub also knows web-1 (up, busy), db-1 (down for ten
// minutes) and new-1 (enrolled, never seen).
func fleetDashboard(t *testing.T, who *Principal) *dashboard {
	t.Helper()
	d := newDashboard(t, who, nil)
	a := &apiServer{s: d.srv, pool: d.srv.pool}
	web, p := agentSample(t, "web-1", 97)
	web.System.Memory.UsedPercent = 40
	web.CollectedAt = time.Now().UTC()
	observe(t, d.srv, web, &p)
	d.srv.fleet.Enrol(enrolledWith("web-1", "env=prod", "role=web"))
	db, p := agentSample(t, "db-1", 10)
	db.CollectedAt = time.Now().UTC().Add(-10 * time.Minute)
	observeAt(t, d.srv, db, &p, db.CollectedAt)
	d.srv.fleet.Enrol(enrolledWith("db-1", "env=prod", "role=db"))
	a.enrol(t, "new-1", "env=dev")
	return d
}

func rowNames(doc *goquery.Document) []string {
	var names []string
	doc.Find(`[data-testid="hosts-table"] tbody tr`).Each(func(_ int, r *goquery.Selection) {
		names = append(names, r.Find(`[data-testid="host-link"]`).Text())
	})
	return names
}

func TestOverviewShowsEveryHost(t *testing.T) {
	d := fleetDashboard(t, viewer)
	doc, _ := d.doc("GET", "/observability", false)
	mustFind(t, doc, "observability", "tabs", "host-filters", "hosts", "host-counts", "hosts-table", "stale-notice")
	if got, want := rowNames(doc), []string{"db-1", d.snap.Host, "new-1", "web-1"}; !slices.Equal(got, sortedCopy(want)) {
		t.Errorf("rows %v, want every host by name %v", got, sortedCopy(want))
	}
	for id, want := range map[string]string{"count-hosts": "4 hosts", "count-up": "2 up", "count-down": "1 down", "count-never-seen": "1 never seen", "count-alerts": "0 open alerts"} {
		if got := strings.Join(strings.Fields(testid(doc, id).Text()), " "); got != want {
			t.Errorf("%s says %q, want %q", id, got, want)
		}
	}
	web := testid(doc, "host-row-web-1")
	if href, _ := web.Find(`[data-testid="host-link"]`).Attr("href"); href != "/observability/hosts/web-1" {
		t.Errorf("web-1 links to %q", href)
	}
	if got := web.Find(`[data-testid="host-cpu"]`).Text(); got != "97 %" {
		t.Errorf("web-1's CPU cell says %q", got)
	}
	// 97 % is over the default critical 95: its bar is red.
	if web.Find(`td.col-cpu rect.fill.critical`).Length() != 1 || web.Find(`td.col-memory rect.fill.healthy`).Length() != 1 {
		html, _ := web.Html()
		t.Errorf("web-1's bars are not coloured by its thresholds:\n%s", html)
	}
	if !strings.Contains(web.Text(), "env=prod") || !strings.Contains(web.Text(), "role=web") {
		t.Errorf("web-1's row lacks its labels: %q", web.Text())
	}
	db := testid(doc, "host-row-db-1")
	if st, _ := db.Attr("data-status"); st != "down" || !db.Find(`[data-testid="host-last-seen"]`).HasClass("critical") ||
		db.Find(`[data-testid="host-last-seen"]`).Text() != "10 min ago" {
		t.Errorf("db-1, silent for 10 minutes: status %q, last seen %q", st, db.Find(`[data-testid="host-last-seen"]`).Text())
	}
	if got := testid(doc, "host-row-new-1").Find(`[data-testid="host-last-seen"]`).Text(); got != "never" {
		t.Errorf("new-1's last seen: %q", got)
	}
	hosts := testid(doc, "hosts")
	if trig, _ := hosts.Attr("hx-trigger"); !strings.HasPrefix(trig, "every 5s") {
		t.Errorf("the table polls with %q, want every 5s", trig)
	}
	if n := doc.Find("[style]").Length() + doc.Find("script:not([src])").Length(); n != 0 {
		t.Errorf("%d inline styles or scripts", n)
	}
	// The label filter offers every label.
	var labels []string
	testid(doc, "filter-label").Find("option").Each(func(_ int, o *goquery.Selection) { labels = append(labels, o.AttrOr("value", "")) })
	if want := []string{"", "env=dev", "env=prod", "role=db", "role=web"}; !slices.Equal(labels, want) {
		t.Errorf("label choices %v, want %v", labels, want)
	}
}

func sortedCopy(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func TestOverviewFiltersAndSorts(t *testing.T) {
	d := fleetDashboard(t, viewer)
	for query, want := range map[string][]string{
		"label=env=prod":            {"db-1", "web-1"},
		"label=role=web":            {"web-1"},
		"q=DB":                      {"db-1"},
		"status=down":               {"db-1"},
		"status=never_seen":         {"new-1"},
		"sort=-name&label=env=prod": {"web-1", "db-1"},
		"sort=cpu&label=env=prod":   {"web-1", "db-1"},
		"sort=-cpu&label=env=prod":  {"db-1", "web-1"},
		"sort=status&q=-1":          {"db-1", "new-1", "web-1"},
	} {
		doc, _ := d.doc("GET", "/observability?"+query, false)
		if got := rowNames(doc); !slices.Equal(got, want) {
			t.Errorf("?%s: rows %v, want %v", query, got, want)
		}
		// The poll keeps the filter; the counts stay the fleet's.
		hx, _ := testid(doc, "hosts").Attr("hx-get")
		u, _ := url.Parse(hx)
		for k, v := range mustQuery(t, query) {
			if u.Query().Get(k) != v[0] {
				t.Errorf("?%s: the poll %s loses %s", query, hx, k)
			}
		}
		if got := strings.Fields(testid(doc, "count-hosts").Text())[0]; got != "4" {
			t.Errorf("?%s: count of hosts %s, want all 4", query, got)
		}
		// The same rows in the polled fragment.
		frag, _ := d.doc("GET", hx, true)
		if doc.Find("header.top").Length() == 0 || frag.Find("header.top").Length() != 0 {
			t.Errorf("?%s: page and fragment mixed up", query)
		}
		if got := rowNames(frag); !slices.Equal(got, want) {
			t.Errorf("fragment %s: rows %v, want %v", hx, got, want)
		}
	}
	if doc, _ := d.doc("GET", "/observability?q=nothing-like-it", false); testid(doc, "no-hosts").Length() != 1 {
		t.Error("a filter matching nothing says nothing")
	}
	// Every column header sorts; the sorted one says so, and its link reverses it.
	doc, _ := d.doc("GET", "/observability?sort=cpu", false)
	for _, s := range views.HostSorts {
		if testid(doc, "sort-"+s.Key).Length() != 1 {
			t.Errorf("no sort link for %s", s.Key)
		}
		if _, ok := hostSorts[s.Key]; !ok {
			t.Errorf("the overview offers sort %s, GET /hosts does not know it", s.Key)
		}
	}
	if len(views.HostSorts) != len(hostSorts) {
		t.Errorf("the overview offers %d sorts, GET /hosts %d", len(views.HostSorts), len(hostSorts))
	}
	th := testid(doc, "sort-cpu").Parent()
	if sort, _ := th.Attr("aria-sort"); sort != "descending" {
		t.Errorf("sorted by CPU, busiest first: aria-sort %q", sort)
	}
	if href, _ := testid(doc, "sort-cpu").Attr("href"); href != "/observability?sort=-cpu" {
		t.Errorf("the sorted column's link %q, want the reverse", href)
	}
	if rec := d.do("GET", "/observability?sort=colour", false); rec.Code != 400 || !strings.Contains(rec.Body.String(), "sort:") {
		t.Errorf("sort=colour: %d, want 400 naming sort", rec.Code)
	}
}

// The label filter is outside the polled table; a poll sends it again only when the hosts' labels
// are no longer those it offers, keeping the label chosen.
func TestOverviewPollOffersNewLabels(t *testing.T) {
	d := fleetDashboard(t, viewer)
	doc, _ := d.doc("GET", "/observability?label=role=web", false)
	hx, _ := testid(doc, "hosts").Attr("hx-get")
	frag, _ := d.doc("GET", hx, true)
	if n := frag.Find(`[hx-swap-oob]`).Length(); n != 0 {
		t.Errorf("a poll with the labels unchanged sends %d out-of-band elements, want none", n)
	}

	d.srv.fleet.Enrol(enrolledWith("cache-1", "role=cache"))
	frag, _ = d.doc("GET", hx, true)
	sel := frag.Find(`select[data-testid="filter-label"][hx-swap-oob="true"]`)
	if sel.Length() != 1 {
		t.Fatalf("after cache-1 was enrolled with role=cache, the poll sends no label filter")
	}
	var offered []string
	sel.Find("option").Each(func(_ int, o *goquery.Selection) { offered = append(offered, o.AttrOr("value", "?")) })
	if want := []string{"", "env=dev", "env=prod", "role=cache", "role=db", "role=web"}; !slices.Equal(offered, want) {
		t.Errorf("the label filter offers %q, want %q", offered, want)
	}
	if got := sel.Find("option[selected]").AttrOr("value", ""); got != "role=web" {
		t.Errorf("the label filter sent again selects %q, want the applied role=web", got)
	}
	// The fragment polls with the new labels from then on: no more filters sent.
	next, _ := frag.Find(`[data-testid="hosts"]`).Attr("hx-get")
	if again, _ := d.doc("GET", next, true); again.Find(`[hx-swap-oob]`).Length() != 0 {
		t.Errorf("the poll after %s sends the label filter again", next)
	}
}

func mustQuery(t *testing.T, q string) url.Values {
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// With more than 100 hosts the overview pages, so its poll stays small.
func TestOverviewPages(t *testing.T) {
	d := newDashboard(t, viewer, nil)
	a := &apiServer{s: d.srv, pool: d.srv.pool}
	for i := range 150 {
		a.enrol(t, "h-"+itoa(int64(1000+i)))
	}
	doc, _ := d.doc("GET", "/observability", false)
	if n := len(rowNames(doc)); n != views.OverviewPageSize {
		t.Errorf("page 1 shows %d hosts, want %d", n, views.OverviewPageSize)
	}
	next, _ := testid(doc, "next-page").Attr("href")
	doc, _ = d.doc("GET", next, false)
	if n := len(rowNames(doc)); n != 151-views.OverviewPageSize {
		t.Errorf("page 2 (%s) shows %d hosts, want the other %d", next, n, 151-views.OverviewPageSize)
	}
}

func TestHostPageShowsThatHost(t *testing.T) {
	d := fleetDashboard(t, viewer)
	doc, _ := d.doc("GET", "/observability/hosts/web-1", false)
	mustFind(t, doc, "all-hosts", "health-score", "card-cpu", "card-memory", "top-cpu", "open-alerts", "platform", "charts", "stale-notice")
	if got := strings.TrimSpace(testid(doc, "host-name").Text()); !strings.HasPrefix(got, "web-1") {
		t.Errorf("the page is titled %q", got)
	}
	if got := testid(doc, "cpu-percent").Text(); got != "97 %" {
		t.Errorf("web-1's CPU card says %q", got)
	}
	if got := testid(doc, "platform-hostname").Text(); got != "web-1" {
		t.Errorf("web-1's platform names %q", got)
	}
	live, _ := testid(doc, "live").Attr("hx-get")
	charts, _ := testid(doc, "charts").Attr("hx-get")
	if !strings.Contains(live, "host=web-1") || !strings.Contains(charts, "host=web-1") {
		t.Errorf("web-1's page polls %q and %q", live, charts)
	}
	if trig, _ := testid(doc, "charts").Attr("hx-trigger"); !strings.HasPrefix(trig, "every 60s") {
		t.Errorf("the charts refresh with %q, want every 60s", trig)
	}
	if href, _ := testid(doc, "range-6h").Attr("href"); href != "/observability/hosts/web-1?range=6h" {
		t.Errorf("a range link goes to %q", href)
	}
	// Its poll and its charts answer for web-1.
	frag, _ := d.doc("GET", live, true)
	if got := testid(frag, "cpu-percent").Text(); got != "97 %" || frag.Find("header.top").Length() != 0 {
		t.Errorf("web-1's live fragment: CPU %q", got)
	}
	frag, _ = d.doc("GET", "/observability/hosts/web-1", true)
	mustFind(t, frag, "live")
	frag, _ = d.doc("GET", charts, true)
	if frag.Find("figure.chart").Length() != 5 {
		t.Error("web-1's chart fragment lacks its charts")
	}
	// A host down says so on its page; an unknown host is a 404 page naming it.
	doc, _ = d.doc("GET", "/observability/hosts/db-1", false)
	if _, hidden := testid(doc, "stale-notice").Attr("hidden"); hidden {
		t.Error("db-1, silent for 10 minutes, shows no stale notice")
	}
	rec := d.do("GET", "/observability/hosts/nope", false)
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "nope") {
		t.Errorf("/observability/hosts/nope: %d", rec.Code)
	}
	if rec := d.do("GET", "/observability/fragments/live?host=nope", true); rec.Code != 404 {
		t.Errorf("live fragment of an unknown host: %d", rec.Code)
	}
}

// With one host known, /observability is that host's page, as before the fleet.
func TestOneHostShowsItsPageDirectly(t *testing.T) {
	d := newDashboard(t, viewer, nil)
	doc, _ := d.doc("GET", "/observability", false)
	mustFind(t, doc, "health-score", "card-cpu")
	if testid(doc, "hosts").Length() != 0 || testid(doc, "all-hosts").Length() != 0 {
		t.Error("a single host gets an overview")
	}
	if href, _ := testid(doc, "range-6h").Attr("href"); href != "/observability?range=6h" {
		t.Errorf("a range link goes to %q", href)
	}
}

func TestAlertsTabNamesAndFiltersHosts(t *testing.T) {
	d := fleetDashboard(t, viewer)
	ids := map[string]int64{}
	for _, h := range []string{"web-1", "db-1", d.snap.Host} {
		id, err := d.q.OpenAlert(context.Background(), queries.OpenAlertParams{Host: h, Metric: queries.MetrictypeCpu,
			Severity: queries.HealthstatusCritical, Value: 97, Threshold: 95, Now: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		ids[h] = id
	}
	shown := func(doc *goquery.Document) []string {
		var hosts []string
		testid(doc, "alerts-open").Find(`[data-testid="alert-host"]`).Each(func(_ int, s *goquery.Selection) { hosts = append(hosts, s.Text()) })
		slices.Sort(hosts)
		return hosts
	}
	doc, _ := d.doc("GET", "/observability?tab=alerts", false)
	if got := shown(doc); !slices.Equal(got, sortedCopy([]string{"web-1", "db-1", d.snap.Host})) {
		t.Errorf("alerts of %v", got)
	}
	if href, _ := testid(doc, "alert-"+itoa(ids["web-1"])).Find(`[data-testid="alert-host"] a`).Attr("href"); href != "/observability/hosts/web-1" {
		t.Errorf("the host column links to %q", href)
	}
	mustFind(t, doc, "alert-filters", "alert-filter-host", "alert-filter-label")
	for query, want := range map[string][]string{"host=web-1": {"web-1"}, "label=env=prod": {"db-1", "web-1"}, "label=env=dev": nil} {
		doc, _ := d.doc("GET", "/observability?tab=alerts&"+query, false)
		if got := shown(doc); !slices.Equal(got, want) {
			t.Errorf("?%s: alerts of %v, want %v", query, got, want)
		}
	}
	// A host's page links to its own alerts.
	doc, _ = d.doc("GET", "/observability/hosts/web-1", false)
	if href, _ := testid(doc, "open-alerts").Find("a").Attr("href"); href != "/observability?host=web-1&tab=alerts" {
		t.Errorf("web-1's open alerts link to %q", href)
	}
}
