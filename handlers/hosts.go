package handlers

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/views"
)

// hostJSON is one host as GET /api/v1/hosts lists it: its status and the headline numbers of its
// latest sample (zero before the first one).
type hostJSON struct {
	Name               string        `json:"name"`
	Labels             fleet.Labels  `json:"labels"`
	Local              bool          `json:"local"`
	Status             string        `json:"status"`
	LastSeen           *time.Time    `json:"last_seen"`
	ClockOffsetSeconds float64       `json:"clock_offset_seconds"`
	AgentVersion       string        `json:"agent_version"`
	HealthScore        int           `json:"health_score"`
	HealthStatus       health.Status `json:"health_status"`
	CPUPercent         float64       `json:"cpu_percent"`
	MemoryPercent      float64       `json:"memory_percent"`
	DiskPercent        float64       `json:"disk_percent"`
	DiskMountpoint     string        `json:"disk_mountpoint"`
	LoadPerCore        float64       `json:"load_per_core"`
	NetworkRxBps       float64       `json:"network_rx_bps"`
	NetworkTxBps       float64       `json:"network_tx_bps"`
	UptimeSeconds      uint64        `json:"uptime_seconds"`
	OpenAlerts         *int          `json:"open_alerts"`
	CollectedAt        *time.Time    `json:"collected_at"`
}

// hostDetailJSON is GET /api/v1/hosts/{name}: the row plus the host's platform facts.
type hostDetailJSON struct {
	hostJSON
	Platform *sample.Platform `json:"platform"`
}

func toHostJSON(h fleet.Host, openAlerts map[string]int) hostJSON {
	j := hostJSON{Name: h.Name, Labels: h.Labels, Local: h.Local, Status: h.Status, ClockOffsetSeconds: h.ClockOffset.Seconds(),
		AgentVersion: h.AgentVersion, HealthScore: h.Health.Score, HealthStatus: h.Health.Status}
	if j.Labels == nil {
		j.Labels = fleet.Labels{}
	}
	if !h.LastSeen.IsZero() {
		t := h.LastSeen.UTC()
		j.LastSeen = &t
	}
	if openAlerts != nil {
		n := openAlerts[h.Name]
		j.OpenAlerts = &n
	}
	s := h.Latest
	if s.IsZero() {
		return j
	}
	at := s.CollectedAt.UTC()
	j.CollectedAt = &at
	j.CPUPercent, j.MemoryPercent = s.System.CPU.TotalPercent, s.System.Memory.UsedPercent
	j.DiskPercent, j.DiskMountpoint = fullestDisk(s)
	j.LoadPerCore = s.System.Load.PerCore1
	j.NetworkRxBps, j.NetworkTxBps = s.System.Network.RecvBytesPerSecond, s.System.Network.SentBytesPerSecond
	j.UptimeSeconds = s.System.UptimeSeconds
	return j
}

// fullestDisk is the filesystem with the highest use: the one an operator must look at first.
func fullestDisk(s sample.Snapshot) (float64, string) {
	most, mount := 0.0, ""
	for _, fs := range s.System.Filesystems {
		if mount == "" || fs.UsedPercent > most {
			most, mount = fs.UsedPercent, fs.Mountpoint
		}
	}
	return most, mount
}

// hostSorts are the orders GET /hosts and the overview offer (views.HostSorts names them in the
// overview's columns); each breaks ties by name.
var hostSorts = map[string]func(a, b hostJSON) int{
	"status": func(a, b hostJSON) int { return cmp.Compare(statusRank[a.Status], statusRank[b.Status]) },
	"name":   func(a, b hostJSON) int { return cmp.Compare(a.Name, b.Name) },
	"health": func(a, b hostJSON) int { return cmp.Compare(a.HealthScore, b.HealthScore) },
	"cpu":    func(a, b hostJSON) int { return cmp.Compare(b.CPUPercent, a.CPUPercent) },
	"memory": func(a, b hostJSON) int { return cmp.Compare(b.MemoryPercent, a.MemoryPercent) },
	"disk":   func(a, b hostJSON) int { return cmp.Compare(b.DiskPercent, a.DiskPercent) },
	"load":   func(a, b hostJSON) int { return cmp.Compare(b.LoadPerCore, a.LoadPerCore) },
	"network": func(a, b hostJSON) int {
		return cmp.Compare(b.NetworkRxBps+b.NetworkTxBps, a.NetworkRxBps+a.NetworkTxBps)
	},
	"uptime":    func(a, b hostJSON) int { return cmp.Compare(a.UptimeSeconds, b.UptimeSeconds) },
	"alerts":    func(a, b hostJSON) int { return cmp.Compare(deref(b.OpenAlerts), deref(a.OpenAlerts)) },
	"last_seen": func(a, b hostJSON) int { return cmp.Compare(seen(a), seen(b)) },
	"agent":     func(a, b hostJSON) int { return cmp.Compare(a.AgentVersion, b.AgentVersion) },
}

// statusRank orders hosts by status: the ones to look at first.
var statusRank = map[string]int{fleet.StatusDown: 0, fleet.StatusNeverSeen: 1, fleet.StatusUp: 2}

func deref(n *int) int {
	if n == nil {
		return 0
	}
	return *n
}

func seen(h hostJSON) int64 {
	if h.LastSeen == nil {
		return 0
	}
	return h.LastSeen.UnixNano()
}

// hostFilter is the filters and order of GET /hosts and the overview.
type hostFilter struct {
	labels map[string]string // all must match
	status string
	text   string // name contains, case-insensitive
	sort   string
	desc   bool
}

// sortNames lists the orders for an error message, in the overview's column order.
func sortNames() string {
	var names []string
	for _, s := range views.HostSorts {
		names = append(names, s.Key)
	}
	return strings.Join(names, ", ")
}

func parseHostFilter(c echo.Context) (hostFilter, error) {
	f := hostFilter{status: c.QueryParam("status"), text: strings.ToLower(strings.TrimSpace(c.QueryParam("q"))), sort: c.QueryParam("sort")}
	var err error
	if f.labels, err = parseLabels(c); err != nil {
		return f, err
	}
	switch f.status {
	case "", fleet.StatusUp, fleet.StatusDown, fleet.StatusNeverSeen:
	default:
		return f, errBadParam("status", "must be up, down or never_seen, not %q", f.status)
	}
	if strings.HasPrefix(f.sort, "-") {
		f.sort, f.desc = f.sort[1:], true
	}
	if f.sort == "" {
		f.sort = "name"
	}
	if _, ok := hostSorts[f.sort]; !ok {
		return f, errBadParam("sort", "must be one of %s (a leading - reverses), not %q", sortNames(), c.QueryParam("sort"))
	}
	return f, nil
}

// parseLabels reads the label= parameters (KEY=VALUE, repeated or joined with commas): every one
// must match.
func parseLabels(c echo.Context) (map[string]string, error) {
	labels := map[string]string{}
	for _, l := range c.QueryParams()["label"] {
		for _, part := range strings.Split(l, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			k, v, err := fleet.ParseLabel(part)
			if err != nil {
				return nil, errBadParam("label", "%v", err)
			}
			labels[k] = v
		}
	}
	return labels, nil
}

func hasLabels(have fleet.Labels, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func (f hostFilter) match(h hostJSON) bool {
	if f.status != "" && h.Status != f.status {
		return false
	}
	if f.text != "" && !strings.Contains(h.Name, f.text) {
		return false
	}
	return hasLabels(h.Labels, f.labels)
}

// fleetRow is one host with its JSON row.
type fleetRow struct {
	host *fleet.Host
	hostJSON
}

// fleetRows are every host of the fleet with its row, by name. The open-alert counts are one
// query; when the database is away they are null (alertsOK false) and the rest still answers (it
// is in memory).
func (s *Server) fleetRows(ctx context.Context) (rows []fleetRow, alertsOK bool) {
	var open map[string]int
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if counts, err := s.q.CountOpenAlertsByHost(ctx); err == nil {
		open = make(map[string]int, len(counts))
		for _, r := range counts {
			open[r.Host] = int(r.Open)
		}
	} else {
		s.log.Warn("hosts: open alert counts unavailable", "err", err)
	}
	hosts := s.fleet.Hosts()
	rows = make([]fleetRow, len(hosts))
	for i := range hosts {
		rows[i] = fleetRow{host: &hosts[i], hostJSON: toHostJSON(hosts[i], open)}
	}
	return rows, open != nil
}

// apply keeps the rows the filter matches, in its order.
func (f hostFilter) apply(rows []fleetRow) []*fleetRow {
	out := make([]*fleetRow, 0, len(rows))
	for i := range rows {
		if f.match(rows[i].hostJSON) {
			out = append(out, &rows[i])
		}
	}
	by := hostSorts[f.sort]
	slices.SortStableFunc(out, func(a, b *fleetRow) int {
		c := by(a.hostJSON, b.hostJSON)
		if f.desc {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.Name, b.Name))
	})
	return out
}

// hostRows are the fleet's hosts as JSON rows, filtered and sorted.
func (s *Server) hostRows(ctx context.Context, f hostFilter) []hostJSON {
	all, _ := s.fleetRows(ctx)
	rows := f.apply(all)
	out := make([]hostJSON, len(rows))
	for i, r := range rows {
		out[i] = r.hostJSON
	}
	return out
}

// listHosts is GET /api/v1/hosts?label=env=prod&status=down&q=web&sort=cpu.
func (s *Server) listHosts(c echo.Context) error {
	f, err := parseHostFilter(c)
	if err != nil {
		return err
	}
	return s.ok(c, map[string]any{"items": s.hostRows(c.Request().Context(), f)})
}

// errNoSuchHost names the host that is not enrolled.
func errNoSuchHost(name string) *Error {
	return &Error{Status: http.StatusNotFound, Code: "host_not_found", Message: "no host named " + quote(name) + " is enrolled (infradash host list shows them)"}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// showHost is GET /api/v1/hosts/{name}.
func (s *Server) showHost(c echo.Context) error {
	h, ok := s.fleet.Host(c.Param("name"))
	if !ok {
		return errNoSuchHost(c.Param("name"))
	}
	var open map[string]int
	if n, err := s.q.CountOpenAlertsForHost(c.Request().Context(), h.Name); err == nil {
		open = map[string]int{h.Name: int(n)}
	}
	d := hostDetailJSON{hostJSON: toHostJSON(h, open)}
	if h.Platform != (sample.Platform{}) {
		p := h.Platform
		d.Platform = &p
	}
	return s.ok(c, d)
}

type enrolRequest struct {
	Name   string       `json:"name"`
	Labels fleet.Labels `json:"labels"`
}

// enrolledJSON answers enrolment and rotation: the token is shown this once.
type enrolledJSON struct {
	Name   string       `json:"name"`
	Labels fleet.Labels `json:"labels"`
	Token  string       `json:"token"`
}

// enrolHost is POST /api/v1/hosts {"name", "labels"} (admins): the new host's agent token, once.
func (s *Server) enrolHost(c echo.Context) error {
	var req enrolRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	h, token, err := s.enrol(c, req.Name, req.Labels)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, envelope{Status: "success", Data: enrolledJSON{Name: h.Name, Labels: h.Labels, Token: token}, Timestamp: s.now().UTC()})
}

// The page and the API change hosts through the functions below (fleet.Registry's rules, as the
// `host` command), each with its audit entry in the same transaction, and show the change in
// this replica's live view at once (the others see it within fleet.PollInterval).

// enrol enrols a host and returns its agent token, the only copy.
func (s *Server) enrol(c echo.Context, name string, labels fleet.Labels) (fleet.Enrolled, string, error) {
	var h fleet.Enrolled
	var token string
	err := s.inTx(c.Request().Context(), func(tx pgx.Tx) error {
		var err error
		if h, token, err = fleet.NewRegistry(tx, s.now).Add(c.Request().Context(), name, labels); err != nil {
			return err
		}
		return s.record(c, tx, audit.HostEnrolled(h))
	})
	if err != nil {
		return h, "", s.hostError(err, name)
	}
	s.fleet.Enrol(h)
	return h, token, nil
}

// rotate gives a host a new agent token; the old one is refused from the commit on.
func (s *Server) rotate(c echo.Context, name string) (fleet.Enrolled, string, error) {
	var h fleet.Enrolled
	var token string
	err := s.inTx(c.Request().Context(), func(tx pgx.Tx) error {
		var err error
		if h, token, err = fleet.NewRegistry(tx, s.now).Rotate(c.Request().Context(), name); err != nil {
			return err
		}
		return s.record(c, tx, audit.HostRotated(h))
	})
	return h, token, s.hostError(err, name)
}

// relabel replaces a host's labels.
func (s *Server) relabel(c echo.Context, name string, labels fleet.Labels) (fleet.Enrolled, error) {
	var h fleet.Enrolled
	err := s.inTx(c.Request().Context(), func(tx pgx.Tx) error {
		reg := fleet.NewRegistry(tx, s.now)
		before, err := reg.Get(c.Request().Context(), name)
		if err != nil {
			return err
		}
		if h, err = reg.SetLabels(c.Request().Context(), name, labels); err != nil {
			return err
		}
		return s.record(c, tx, audit.HostLabelsChanged(before, h))
	})
	if err != nil {
		return h, s.hostError(err, name)
	}
	s.fleet.Enrol(h)
	return h, nil
}

// remove removes a host: its token is refused, its open alerts close; purge also deletes its
// history.
func (s *Server) remove(c echo.Context, name string, purge bool) (fleet.Removed, error) {
	var r fleet.Removed
	err := s.inTx(c.Request().Context(), func(tx pgx.Tx) error {
		var err error
		if r, err = fleet.NewRegistry(tx, s.now).Remove(c.Request().Context(), name, purge); err != nil {
			return err
		}
		return s.record(c, tx, audit.HostRemoved(r))
	})
	if err != nil {
		return r, s.hostError(err, name)
	}
	s.fleet.Forget(r.Name)
	s.live.forget(r.Name)
	return r, nil
}

// rotateHostToken is POST /api/v1/hosts/{name}/token (admins): a new token; the old one is refused.
func (s *Server) rotateHostToken(c echo.Context) error {
	h, token, err := s.rotate(c, c.Param("name"))
	if err != nil {
		return err
	}
	return s.ok(c, enrolledJSON{Name: h.Name, Labels: h.Labels, Token: token})
}

type hostChangeRequest struct {
	Labels *fleet.Labels `json:"labels"`
}

// updateHost is PATCH /api/v1/hosts/{name} {"labels"} (admins): the host's labels are replaced
// by these ({} removes them all).
func (s *Server) updateHost(c echo.Context) error {
	var req hostChangeRequest
	if err := decodeStrictJSON(c, &req, "labels"); err != nil {
		return err
	}
	if req.Labels == nil {
		return errBadParam("labels", "is required: the host's new labels, an object like {\"env\": \"prod\"} ({} for none)")
	}
	if _, err := s.relabel(c, c.Param("name"), *req.Labels); err != nil {
		return err
	}
	return s.showHost(c)
}

// removeHost is DELETE /api/v1/hosts/{name}[?purge=true] (admins).
func (s *Server) removeHost(c echo.Context) error {
	purge := false
	switch c.QueryParam("purge") {
	case "", "false":
	case "true":
		purge = true
	default:
		return errBadParam("purge", "must be true or false, not %q", c.QueryParam("purge"))
	}
	r, err := s.remove(c, c.Param("name"), purge)
	if err != nil {
		return err
	}
	return s.ok(c, r)
}

// hostError turns enrolment errors into answers naming what is wrong.
func (s *Server) hostError(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fleet.ErrNoSuchHost):
		return errNoSuchHost(name)
	case errors.Is(err, fleet.ErrHostExists):
		return &Error{Status: http.StatusConflict, Code: "host_exists", Message: err.Error()}
	case errors.Is(err, fleet.ErrLocalHost):
		return &Error{Status: http.StatusConflict, Code: "local_host", Message: err.Error()}
	case errors.Is(err, sample.ErrInvalidHostName):
		return errBadParam("name", "%v", err)
	case errors.Is(err, fleet.ErrInvalidLabels):
		return errBadParam("labels", "%v", err)
	}
	return err
}
