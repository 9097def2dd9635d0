package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/history"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/views"
)

// alertListLimit bounds each list of the Alerts tab; older alerts stay reachable by the API.
const alertListLimit = 50

// chartReaders bounds the history queries one chart request runs at once, leaving most of the
// pool (database.Open: 10 connections) to other requests.
const chartReaders = 3

// live sets the headers of every dashboard answer: live data is never cached, and the page and
// its fragment share a URL, so caches must tell them apart.
func noStore(c echo.Context) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "HX-Request")
}

// showObservabilityPage is /observability?tab=infrastructure|alerts: the systems overview (with
// its filters: label, q, status, sort, page), or, while the hub knows one host only, that host's
// page as /observability/hosts/{name} shows it. Asked by htmx (HX-Request), it answers with the
// polled fragment alone, so one URL serves page and poll.
func (s *Server) showObservabilityPage(c echo.Context) error {
	noStore(c)
	tab := c.QueryParam("tab")
	switch tab {
	case "", views.TabInfrastructure:
		tab = views.TabInfrastructure
	case views.TabAlerts:
		return s.showAlertsTab(c)
	default:
		return errBadParam("tab", "must be %s or %s", views.TabInfrastructure, views.TabAlerts)
	}
	if s.fleet.Len() <= 1 {
		h, err := s.hostNamed(s.onlyHost())
		if err != nil {
			return err
		}
		return s.serveHostPage(c, h, false)
	}
	o, err := s.overview(c)
	if err != nil {
		return err
	}
	if isHTMX(c) {
		return s.render(c, http.StatusOK, views.HostsFragment(o))
	}
	d := views.Dashboard{Page: s.page(c, "Hosts"), Overview: &o}
	d.Tab = tab
	return s.render(c, http.StatusOK, views.Observability(d))
}

// onlyHost is the host /observability shows while there is no fleet to overview: the one the
// fleet knows, or the hub's own before it knows any.
func (s *Server) onlyHost() string {
	if hosts := s.fleet.Hosts(); len(hosts) == 1 {
		return hosts[0].Name
	}
	return s.host
}

// showHostPage is /observability/hosts/{name}[?range=6h]: today's Infrastructure tab for any
// host; to htmx, its live fragment.
func (s *Server) showHostPage(c echo.Context) error {
	noStore(c)
	h, err := s.hostNamed(c.Param("name"))
	if err != nil {
		return err
	}
	return s.serveHostPage(c, h, true)
}

func (s *Server) serveHostPage(c echo.Context, h fleet.Host, own bool) error {
	ctx := c.Request().Context()
	live := s.liveView(ctx, h, principal(c).IsAdmin())
	if isHTMX(c) {
		return s.render(c, http.StatusOK, views.LiveFragment(live))
	}
	page := views.PathObservability
	if own {
		page = views.HostURL(h.Name)
	}
	charts, err := s.chartsOrNote(ctx, c.QueryParam("range"), h, page)
	if err != nil {
		return err
	}
	d := views.Dashboard{Page: s.page(c, h.Name)}
	d.Tab = views.TabInfrastructure
	d.Infrastructure = &views.Infrastructure{
		Host:     views.HostHeader{Name: h.Name, Labels: labelPairs(h.Labels), Status: h.Status, Fleet: s.fleet.Len() > 1},
		Live:     live,
		Platform: h.Platform,
		Charts:   charts,
	}
	return s.render(c, http.StatusOK, views.Observability(d))
}

func isHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// showAlertsTab is /observability?tab=alerts[&host=NAME][&label=KEY=VALUE].
func (s *Server) showAlertsTab(c echo.Context) error {
	f := views.AlertFilter{Host: c.QueryParam("host"), Label: strings.TrimSpace(c.QueryParam("label"))}
	labels, err := parseLabels(c)
	if err != nil {
		return err
	}
	list, err := s.alertList(c.Request().Context(), principal(c).IsAdmin(), f, labels)
	if err != nil {
		return err
	}
	d := views.Dashboard{Page: s.page(c, "Alerts"), Alerts: &list}
	d.Tab = views.TabAlerts
	return s.render(c, http.StatusOK, views.Observability(d))
}

// showLiveFragment is the 5-second poll of a host's page (host=, default the hub's own): its
// latest snapshot, its health and its open alerts.
func (s *Server) showLiveFragment(c echo.Context) error {
	noStore(c)
	h, err := s.hostParam(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.LiveFragment(s.liveView(c.Request().Context(), h, principal(c).IsAdmin())))
}

// showChartFragment is a host's chart section for a range, swapped in by the range selector and
// by its own refresh.
func (s *Server) showChartFragment(c echo.Context) error {
	noStore(c)
	h, err := s.hostParam(c)
	if err != nil {
		return err
	}
	page := views.HostURL(h.Name)
	if s.fleet.Len() <= 1 {
		page = views.PathObservability
	}
	charts, err := s.chartsOrNote(c.Request().Context(), c.QueryParam("range"), h, page)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.ChartSection(charts))
}

// showHostsFragment is the overview's 5-second poll: the counts and the table.
func (s *Server) showHostsFragment(c echo.Context) error {
	noStore(c)
	o, err := s.overview(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.HostsFragment(o))
}

// acknowledgeAlertFromPage is the Alerts tab's button: htmx gets the updated row; a plain form
// post (no JavaScript) goes back to the tab.
func (s *Server) acknowledgeAlertFromPage(c echo.Context) error {
	row, err := s.acknowledge(c)
	if err != nil {
		return err
	}
	if c.Request().Header.Get("HX-Request") != "true" {
		return c.Redirect(http.StatusSeeOther, views.PathObservability+"?tab="+views.TabAlerts)
	}
	list := alertViews([]queries.GetAlertWithAcknowledgerRow{row})
	s.markSilenced(c.Request().Context(), list)
	return s.render(c, http.StatusOK, views.AlertRow(list[0], true))
}

// testAlertFromPage is the Alerts tab's "send test alert" button (admins).
func (s *Server) testAlertFromPage(c echo.Context) error {
	results, err := s.sendTestAlert(c.Request().Context())
	var e *Error
	if errors.As(err, &e) {
		return s.render(c, http.StatusOK, views.TestAlertResult(nil, e.Message))
	}
	if err != nil {
		return err
	}
	if c.Request().Header.Get("HX-Request") != "true" {
		return c.Redirect(http.StatusSeeOther, views.PathObservability+"?tab="+views.TabAlerts)
	}
	return s.render(c, http.StatusOK, views.TestAlertResult(results, ""))
}

// liveView reads what a host's polled fragment shows. It never samples: the host's latest
// snapshot is the one the hub last received. The snapshot is in memory, so when the open alerts
// cannot be read the numbers are shown anyway, with a note in place of the alerts (as showReport
// does).
func (s *Server) liveView(ctx context.Context, h fleet.Host, admin bool) views.Live {
	l := views.Live{
		Host:       h.Name,
		CanSilence: admin,
		Snapshot:   h.Latest,
		Health:     h.Health,
		Interval:   s.cfg.CollectInterval,
		Now:        s.now(),
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rows, err := s.q.ListAlerts(ctx, queries.ListAlertsParams{Status: "open", Host: h.Name, RowLimit: alertListLimit})
	if err != nil {
		s.log.Warn("live view: open alerts unavailable", "host", h.Name, "err", err)
		l.AlertsUnavailable = true
		return l
	}
	l.OpenAlerts = alertViews(rows)
	s.markSilenced(ctx, l.OpenAlerts)
	return l
}

// alertList is the Alerts tab: every host's alerts, or those of the host or the label the filter
// names (labels is the filter's label, parsed).
func (s *Server) alertList(ctx context.Context, admin bool, f views.AlertFilter, labels map[string]string) (views.AlertList, error) {
	hosts := s.fleet.Hosts()
	p := queries.ListAlertsParams{Status: "open", Host: f.Host, RowLimit: alertListLimit}
	if len(labels) > 0 {
		p.Hosts = hostsWithLabels(hosts, labels)
	}
	open, err := s.q.ListAlerts(ctx, p)
	if err != nil {
		return views.AlertList{}, fmt.Errorf("open alerts: %w", err)
	}
	p.Status = "resolved"
	recent, err := s.q.ListAlerts(ctx, p)
	if err != nil {
		return views.AlertList{}, fmt.Errorf("resolved alerts: %w", err)
	}
	list := views.AlertList{Open: alertViews(open), Recent: alertViews(recent), CanAcknowledge: admin, Filter: f, Labels: fleetLabels(hosts)}
	s.markSilenced(ctx, list.Open)
	for _, h := range hosts {
		list.Hosts = append(list.Hosts, h.Name)
	}
	return list, nil
}

func alertViews[R queries.ListAlertsRow | queries.GetAlertWithAcknowledgerRow](rows []R) []views.Alert {
	out := make([]views.Alert, len(rows))
	for i, r := range rows {
		row := queries.ListAlertsRow(r)
		a := row.InfrastructureAlert
		out[i] = views.Alert{
			ID: a.ID, Host: a.Host, Metric: string(a.Metric), Subject: a.Subject, Severity: string(a.Severity), Value: a.Value,
			Threshold: a.Threshold, Message: a.Message, StartedAt: a.StartedAt, ResolvedAt: a.ResolvedAt,
			AcknowledgedAt: a.AcknowledgedAt, AcknowledgedBy: row.AcknowledgedByEmail.String,
		}
	}
	return out
}

// chartsOrNote reads a host's charts for the page at path page; with the database out of reach it
// answers the section with a note instead, so the live numbers of the page still show when an
// operator needs them most.
func (s *Server) chartsOrNote(ctx context.Context, rng string, h fleet.Host, page string) (views.Charts, error) {
	charts, err := s.charts(ctx, rng, h)
	charts.Host, charts.Page = h.Name, page
	if err != nil && database.Unreachable(err) {
		s.log.Warn("history unavailable: the database cannot be reached", "err", err)
		charts.Unavailable = "History is unavailable: the database cannot be reached. The live numbers above are current."
		charts.Charts = nil
		return charts, nil
	}
	return charts, err
}

// charts reads a host's five history charts for a range ("" is 1h), from its own rows, with its
// thresholds. Disks get one line per filesystem the latest snapshot knows.
func (s *Server) charts(ctx context.Context, rng string, h fleet.Host) (views.Charts, error) {
	offered := history.ChartRanges()
	r := offered[0]
	if rng != "" {
		var ok bool
		if r, ok = history.LookupRange(rng); !ok || r.ChartStep == 0 {
			return views.Charts{}, errBadParam("range", "must be one of %v", history.Names(offered))
		}
	}
	to := s.now().UTC()
	from := to.Add(-r.Span)
	type line struct{ name, metric, subject string }
	th := h.Thresholds
	specs := []struct {
		id, title string
		unit      views.Unit
		th        *health.Level // nil: no threshold lines
		lines     []line
	}{
		{"cpu", "CPU", views.UnitPercent, &th.CPU, []line{{"cpu", "cpu_percent", ""}}},
		{"memory", "Memory", views.UnitPercent, &th.Memory, []line{{"memory", "memory_percent", ""}}},
		{"disk", "Disk", views.UnitPercent, &th.Disk, nil},
		{"network", "Network", views.UnitBytesPerSec, nil, []line{{"received", "net_recv_bytes_per_second", ""}, {"sent", "net_sent_bytes_per_second", ""}}},
		// The load thresholds are per core; the chart shows the host's load.
		{"load", "Load", views.UnitLoad, nil, []line{{"load1", "load1", ""}}},
	}
	for _, fs := range h.Latest.System.Filesystems {
		specs[2].lines = append(specs[2].lines, line{fs.Mountpoint, "disk_percent", fs.Mountpoint})
	}
	out := views.Charts{Range: r.Name, Ranges: history.Names(offered)}
	// Each line is one query scanning the whole span (a day of raw samples for 24h); reading
	// them side by side lets PostgreSQL use every core, so the section arrives in the time of
	// the slowest few lines rather than of all seven in a row.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(chartReaders)
	for _, sp := range specs {
		ch := views.Chart{ID: sp.id, Title: sp.title, Unit: sp.unit, Thresholds: sp.th, From: from, To: to}
		ch.Series = make([]views.Series, len(sp.lines))
		for i, l := range sp.lines {
			g.Go(func() error {
				pts, err := s.series(gctx, history.Query{Host: h.Name, Metric: l.metric, Subject: l.subject, From: from, To: to, Step: r.ChartStep})
				ch.Series[i] = views.Series{Name: l.name, Points: pts}
				return err
			})
		}
		out.Charts = append(out.Charts, ch)
	}
	return out, g.Wait()
}

// series reads one chart line through the same code as the history API.
func (s *Server) series(ctx context.Context, q history.Query) ([]views.Point, error) {
	series, err := s.history.Read(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", q.Metric, err)
	}
	pts := make([]views.Point, len(series.Points))
	for i, p := range series.Points {
		pts[i] = views.Point{At: p.At, Value: p.Mean}
	}
	return pts, nil
}
