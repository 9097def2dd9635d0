package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/history"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
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

// showObservabilityPage is /observability?tab=infrastructure|alerts[&range=6h]. Asked by htmx
// (HX-Request), it answers with the live fragment alone, so one URL serves page and poll.
func (s *Server) showObservabilityPage(c echo.Context) error {
	noStore(c)
	ctx := c.Request().Context()
	tab := c.QueryParam("tab")
	switch tab {
	case "", views.TabInfrastructure:
		tab = views.TabInfrastructure
	case views.TabAlerts:
	default:
		return errBadParam("tab", "must be %s or %s", views.TabInfrastructure, views.TabAlerts)
	}
	if c.Request().Header.Get("HX-Request") == "true" && tab == views.TabInfrastructure {
		return s.showLiveFragment(c)
	}
	d := views.Dashboard{Page: s.page(c, "Infrastructure")}
	d.Tab = tab
	if tab == views.TabAlerts {
		d.Title = "Alerts"
		list, err := s.alertList(ctx, principal(c).IsAdmin())
		if err != nil {
			return err
		}
		d.Alerts = &list
		return s.render(c, http.StatusOK, views.Observability(d))
	}
	live := s.liveView(ctx)
	charts, err := s.chartsOrNote(ctx, c.QueryParam("range"), live.Snapshot)
	if err != nil {
		return err
	}
	d.Infrastructure = &views.Infrastructure{Live: live, Platform: s.platform(), Charts: charts}
	return s.render(c, http.StatusOK, views.Observability(d))
}

// showLiveFragment is the 5-second poll: the latest snapshot, its health and the open alerts.
func (s *Server) showLiveFragment(c echo.Context) error {
	noStore(c)
	return s.render(c, http.StatusOK, views.LiveFragment(s.liveView(c.Request().Context())))
}

// showChartFragment is the chart section for another range, swapped in by the range selector.
func (s *Server) showChartFragment(c echo.Context) error {
	noStore(c)
	ctx := c.Request().Context()
	snap := s.latestSnapshot()
	charts, err := s.chartsOrNote(ctx, c.QueryParam("range"), snap)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.ChartSection(charts))
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
	return s.render(c, http.StatusOK, views.AlertRow(alertViews([]queries.GetAlertWithAcknowledgerRow{row})[0], true))
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

// liveView reads what the polled fragment shows. It never samples: the collector's latest snapshot
// is at most one interval old. The snapshot is in memory, so when the open alerts cannot be read
// the numbers are shown anyway, with a note in place of the alerts (as showReport does).
func (s *Server) liveView(ctx context.Context) views.Live {
	snap := s.latestSnapshot()
	l := views.Live{
		Snapshot: snap,
		Health:   health.Evaluate(snap, s.thresholds),
		Interval: s.cfg.CollectInterval,
		Now:      s.now(),
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rows, err := s.q.ListAlerts(ctx, queries.ListAlertsParams{Status: "open", Host: s.host, RowLimit: alertListLimit})
	if err != nil {
		s.log.Warn("live view: open alerts unavailable", "err", err)
		l.AlertsUnavailable = true
		return l
	}
	l.OpenAlerts = alertViews(rows)
	return l
}

func (s *Server) alertList(ctx context.Context, admin bool) (views.AlertList, error) {
	open, err := s.q.ListAlerts(ctx, queries.ListAlertsParams{Status: "open", RowLimit: alertListLimit})
	if err != nil {
		return views.AlertList{}, fmt.Errorf("open alerts: %w", err)
	}
	recent, err := s.q.ListAlerts(ctx, queries.ListAlertsParams{Status: "resolved", RowLimit: alertListLimit})
	if err != nil {
		return views.AlertList{}, fmt.Errorf("resolved alerts: %w", err)
	}
	return views.AlertList{Open: alertViews(open), Recent: alertViews(recent), CanAcknowledge: admin}, nil
}

func alertViews[R queries.ListAlertsRow | queries.GetAlertWithAcknowledgerRow](rows []R) []views.Alert {
	out := make([]views.Alert, len(rows))
	for i, r := range rows {
		row := queries.ListAlertsRow(r)
		a := row.InfrastructureAlert
		out[i] = views.Alert{
			ID: a.ID, Metric: string(a.Metric), Subject: a.Subject, Severity: string(a.Severity), Value: a.Value,
			Threshold: a.Threshold, Message: a.Message, StartedAt: a.StartedAt, ResolvedAt: a.ResolvedAt,
			AcknowledgedAt: a.AcknowledgedAt, AcknowledgedBy: row.AcknowledgedByEmail.String,
		}
	}
	return out
}

// charts reads the five history charts for a range ("" is 1h). Disks get one line per
// filesystem the latest snapshot knows.
// chartsOrNote reads the charts; with the database out of reach it answers the section with a
// note instead, so the live numbers of the page still show when an operator needs them most.
func (s *Server) chartsOrNote(ctx context.Context, rng string, snap sample.Snapshot) (views.Charts, error) {
	charts, err := s.charts(ctx, rng, snap)
	if err != nil && database.Unreachable(err) {
		s.log.Warn("history unavailable: the database cannot be reached", "err", err)
		charts.Unavailable = "History is unavailable: the database cannot be reached. The live numbers above are current."
		charts.Charts = nil
		return charts, nil
	}
	return charts, err
}

func (s *Server) charts(ctx context.Context, rng string, snap sample.Snapshot) (views.Charts, error) {
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
	th := s.thresholds
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
	for _, fs := range snap.System.Filesystems {
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
				pts, err := s.series(gctx, history.Query{Host: s.host, Metric: l.metric, Subject: l.subject, From: from, To: to, Step: r.ChartStep})
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

// latestSnapshot is the collector's newest sample; zero (shown as "no data yet") before the
// first one or in a server wired without a collector.
func (s *Server) latestSnapshot() sample.Snapshot {
	if s.samples == nil {
		return sample.Snapshot{}
	}
	snap, _ := s.samples.Latest()
	return snap
}

func (s *Server) platform() sample.Platform {
	if s.samples == nil {
		return sample.Platform{}
	}
	return s.samples.Platform()
}
