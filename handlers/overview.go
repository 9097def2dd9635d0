package handlers

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/views"
)

// overview reads the systems overview for the request's filter, order and page: the rows from
// the fleet's view in memory, the open-alert counts in one query.
func (s *Server) overview(c echo.Context) (views.Overview, error) {
	f, err := parseHostFilter(c)
	if err != nil {
		return views.Overview{}, err
	}
	page, err := intParam(c, "page", 1, 1, 1_000_000)
	if err != nil {
		return views.Overview{}, err
	}
	all, alertsOK := s.fleetRows(c.Request().Context())
	o := views.Overview{Now: s.now(), Counts: fleetCounts(all, alertsOK)}
	if alertsOK && o.Counts.OpenAlerts > 0 {
		o.Counts.Silenced = s.silencedCount(c.Request().Context())
	}
	o.Labels = rowLabels(all)
	o.ShownLabels = c.QueryParam("known_labels") // the polls', which the filter sends again when stale
	rows := f.apply(all)
	o.Matched = len(rows)
	o.Pages = max(1, (len(rows)+views.OverviewPageSize-1)/views.OverviewPageSize)
	page = min(page, o.Pages)
	o.Filter = views.HostFilter{Label: strings.TrimSpace(c.QueryParam("label")), Q: strings.TrimSpace(c.QueryParam("q")),
		Status: f.status, Sort: c.QueryParam("sort"), Page: page}
	rows = rows[(page-1)*views.OverviewPageSize : min(len(rows), page*views.OverviewPageSize)]
	o.Rows = make([]views.HostRow, len(rows))
	for i, r := range rows {
		o.Rows[i] = overviewRow(r)
	}
	return o, nil
}

// fleetCounts are the overview's counts over every host. Unhealthy counts the hosts up whose
// latest sample scores warning or critical (a host down is counted as down).
func fleetCounts(rows []fleetRow, alertsOK bool) views.FleetCounts {
	n := views.FleetCounts{Hosts: len(rows)}
	if !alertsOK {
		n.OpenAlerts = -1
	}
	for _, r := range rows {
		switch r.Status {
		case fleet.StatusUp:
			n.Up++
			if r.HealthStatus == health.Warning || r.HealthStatus == health.Critical {
				n.Unhealthy++
			}
		case fleet.StatusDown:
			n.Down++
		case fleet.StatusNeverSeen:
			n.NeverSeen++
		}
		if alertsOK {
			n.OpenAlerts += deref(r.OpenAlerts)
		}
	}
	return n
}

// overviewRow is one host's row; its bars are coloured by the host's own thresholds.
func overviewRow(r *fleetRow) views.HostRow {
	th := r.host.Thresholds
	row := views.HostRow{
		Name: r.Name, Labels: labelPairs(r.Labels), Status: r.Status, HasSample: r.CollectedAt != nil,
		HealthScore: r.HealthScore, HealthStatus: string(r.HealthStatus),
		CPUPercent: r.CPUPercent, CPUStatus: string(th.CPU.Classify(r.CPUPercent)),
		MemPercent: r.MemoryPercent, MemStatus: string(th.Memory.Classify(r.MemoryPercent)),
		DiskPercent: r.DiskPercent, DiskMount: r.DiskMountpoint, DiskStatus: string(th.Disk.Classify(r.DiskPercent)),
		LoadPerCore: r.LoadPerCore, LoadStatus: string(th.Load.Classify(r.LoadPerCore)),
		RxBps: r.NetworkRxBps, TxBps: r.NetworkTxBps, Uptime: time.Duration(r.UptimeSeconds) * time.Second,
		OpenAlerts: -1, LastSeen: r.host.LastSeen, AgentVersion: r.AgentVersion, ClockOffset: r.host.ClockOffset,
	}
	if r.OpenAlerts != nil {
		row.OpenAlerts = *r.OpenAlerts
	}
	if r.DiskMountpoint == "" {
		row.DiskStatus = string(health.Unknown)
	}
	return row
}

// labelPairs writes labels as key=value, sorted.
func labelPairs(l fleet.Labels) []string {
	out := make([]string, 0, len(l))
	for _, k := range slices.Sorted(maps.Keys(l)) {
		out = append(out, k+"="+l[k])
	}
	return out
}

// fleetLabels are every key=value any host carries, sorted: the choices of the label filters.
func fleetLabels(hosts []fleet.Host) []string {
	seen := map[string]bool{}
	for _, h := range hosts {
		addLabels(seen, h.Labels)
	}
	return slices.Sorted(maps.Keys(seen))
}

func rowLabels(rows []fleetRow) []string {
	seen := map[string]bool{}
	for _, r := range rows {
		addLabels(seen, r.Labels)
	}
	return slices.Sorted(maps.Keys(seen))
}

func addLabels(seen map[string]bool, l fleet.Labels) {
	for k, v := range l {
		seen[k+"="+v] = true
	}
}

// hostsWithLabels are the names of the hosts that carry every one of labels; never nil, so an
// empty result filters everything out rather than nothing.
func hostsWithLabels(hosts []fleet.Host, labels map[string]string) []string {
	out := []string{}
	for _, h := range hosts {
		if hasLabels(h.Labels, labels) {
			out = append(out, h.Name)
		}
	}
	return out
}

// silencedCount is how many open alerts a silence holds back (0 when none is in force, or the
// alerts cannot be read).
func (s *Server) silencedCount(ctx context.Context) int {
	silences := s.activeSilences(ctx)
	if len(silences) == 0 {
		return 0
	}
	open, err := s.q.OpenAlerts(ctx)
	if err != nil {
		return 0
	}
	n := 0
	for _, a := range open {
		if s.silencedUntil(silences, a.Host, string(a.Metric)) != nil {
			n++
		}
	}
	return n
}
