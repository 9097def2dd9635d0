package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/history"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
)

var errNoSample = &Error{Status: http.StatusServiceUnavailable, Code: "no_sample", Message: "no sample has been received from this host yet; try again in a few seconds"}

// liveCache keeps the encoded answers of the live endpoints for each host's latest snapshot only:
// they change when a sample arrives, not per request, and encoding them once is what lets /health
// serve thousands of requests a second.
type liveCache struct {
	mu    sync.Mutex
	hosts map[string]*hostAnswers
}

// hostAnswers are one host's encoded answers, all of the snapshot collected at at.
type hostAnswers struct {
	at     time.Time
	bodies map[string][]byte
}

// answers is host's entry for the snapshot collected at at, emptied when a newer one arrived;
// lc.mu is held.
func (lc *liveCache) answers(host string, at time.Time) *hostAnswers {
	if lc.hosts == nil {
		lc.hosts = map[string]*hostAnswers{}
	}
	a := lc.hosts[host]
	if a == nil {
		a = &hostAnswers{}
		lc.hosts[host] = a
	}
	if !a.at.Equal(at) {
		a.at, a.bodies = at, map[string][]byte{}
	}
	return a
}

// forget drops a removed host's answers.
func (lc *liveCache) forget(host string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	delete(lc.hosts, host)
}

// encoded returns build()'s JSON for snap, building it once per host, snapshot and key. An answer
// build marks as incomplete (keep false) is served but not kept, so the next request tries again.
func (s *Server) encoded(snap sample.Snapshot, key string, build func() (v any, keep bool)) ([]byte, error) {
	lc := &s.live
	lc.mu.Lock()
	if b, ok := lc.answers(snap.Host, snap.CollectedAt).bodies[key]; ok {
		lc.mu.Unlock()
		return b, nil
	}
	lc.mu.Unlock()
	v, keep := build()
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	lc.mu.Lock()
	if a := lc.hosts[snap.Host]; keep && a != nil && a.at.Equal(snap.CollectedAt) {
		a.bodies[key] = b
	}
	lc.mu.Unlock()
	return b, nil
}

// okEncoded answers like ok with data already encoded; it writes the envelope around the bytes
// instead of decoding and encoding them again.
func (s *Server) okEncoded(c echo.Context, data []byte) error {
	ts, _ := s.now().UTC().MarshalJSON()
	buf := make([]byte, 0, len(data)+80)
	buf = append(buf, `{"status":"success","data":`...)
	buf = append(buf, data...)
	buf = append(buf, `,"timestamp":`...)
	buf = append(buf, ts...)
	buf = append(buf, "}\n"...)
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, buf)
}

// hostParam is the host a request asks about: host=NAME, by default the hub's own. A host that is
// not enrolled is a 404 naming it. The hub's own host is known before the fleet's view has read
// it (the first second after a start, or a database away since): it has no sample yet.
func (s *Server) hostParam(c echo.Context) (fleet.Host, error) {
	name := c.QueryParam("host")
	if name == "" {
		name = s.host
	}
	return s.hostNamed(name)
}

func (s *Server) hostNamed(name string) (fleet.Host, error) {
	if h, ok := s.fleet.Host(name); ok {
		return h, nil
	}
	if fleet.NormalizeName(name) == fleet.NormalizeName(s.host) {
		return fleet.Host{Enrolled: fleet.Enrolled{Name: fleet.NormalizeName(s.host), Labels: fleet.Labels{}, Local: true}}, nil
	}
	return fleet.Host{}, errNoSuchHost(name)
}

// latest is the host a live endpoint answers for, with its latest sample: the one the hub last
// received (it never samples on request).
func (s *Server) latest(c echo.Context) (fleet.Host, error) {
	h, err := s.hostParam(c)
	if err != nil {
		return h, err
	}
	if h.Latest.IsZero() {
		return h, errNoSample
	}
	return h, nil
}

// serveLive answers a live endpoint from the cached encoding of the host's latest snapshot.
func (s *Server) serveLive(c echo.Context, key string, build func(fleet.Host) any) error {
	return s.serveLiveUnlessIncomplete(c, key, func(h fleet.Host) (any, bool) { return build(h), true })
}

// serveLiveUnlessIncomplete is serveLive for an answer that can come out incomplete, which is
// not cached.
func (s *Server) serveLiveUnlessIncomplete(c echo.Context, key string, build func(fleet.Host) (any, bool)) error {
	h, err := s.latest(c)
	if err != nil {
		return err
	}
	b, err := s.encoded(h.Latest, key, func() (any, bool) { return build(h) })
	if err != nil {
		return err
	}
	return s.okEncoded(c, b)
}

type systemData struct {
	Host        string    `json:"host"`
	CollectedAt time.Time `json:"collected_at"`
	sample.System
}

type processData struct {
	Host         string              `json:"host"`
	CollectedAt  time.Time           `json:"collected_at"`
	Process      sample.Process      `json:"process"`
	TopProcesses sample.TopProcesses `json:"top_processes"`
}

type healthData struct {
	Host string `json:"host"`
	health.Report
}

type summaryData struct {
	Host              string        `json:"host"`
	CollectedAt       time.Time     `json:"collected_at"`
	Score             int           `json:"score"`
	Status            health.Status `json:"status"`
	CPUPercent        float64       `json:"cpu_percent"`
	MemoryPercent     float64       `json:"memory_percent"`
	SwapPercent       float64       `json:"swap_percent"`
	DiskMaxPercent    float64       `json:"disk_max_percent"`
	DiskMaxMountpoint string        `json:"disk_max_mountpoint"`
	Load1             float64       `json:"load1"`
	UptimeSeconds     uint64        `json:"uptime_seconds"`
	// OpenAlerts is null when the database cannot be reached.
	OpenAlerts *int `json:"open_alerts"`
}

func systemOf(h fleet.Host) any {
	return systemData{Host: h.Name, CollectedAt: h.Latest.CollectedAt.UTC(), System: h.Latest.System}
}

func processOf(h fleet.Host) any {
	return processData{Host: h.Name, CollectedAt: h.Latest.CollectedAt.UTC(), Process: h.Latest.Process, TopProcesses: h.Latest.Top}
}

// healthOf is the host's health as the fleet scored it, with the thresholds the hub applies to it.
func healthOf(h fleet.Host) any { return healthData{Host: h.Name, Report: h.Health} }

func (s *Server) showSystem(c echo.Context) error  { return s.serveLive(c, "system", systemOf) }
func (s *Server) showProcess(c echo.Context) error { return s.serveLive(c, "process", processOf) }
func (s *Server) showHealth(c echo.Context) error  { return s.serveLive(c, "health", healthOf) }

// showPlatform answers as soon as the host's agent has said what it runs on, which it does with
// its first batch.
func (s *Server) showPlatform(c echo.Context) error {
	h, err := s.hostParam(c)
	if err != nil {
		return err
	}
	if h.Platform == (sample.Platform{}) {
		return errNoPlatform
	}
	return s.ok(c, h.Platform)
}

var errNoPlatform = &Error{Status: http.StatusServiceUnavailable, Code: "no_sample", Message: "this host's agent has not sent its platform facts yet; try again in a few seconds"}

// showSummary is the small answer to poll. Its open-alert count costs one query per host and
// sample, not one per request. The count is shared by every requester, so it is not bound to the
// request that happens to make it (a client hanging up would leave everyone without it), and a
// failed count is not kept.
func (s *Server) showSummary(c echo.Context) error {
	return s.serveLiveUnlessIncomplete(c, "summary", func(h fleet.Host) (any, bool) {
		snap := h.Latest
		sum := summaryData{
			Host: h.Name, CollectedAt: snap.CollectedAt.UTC(), Score: h.Health.Score, Status: h.Health.Status,
			CPUPercent: snap.System.CPU.TotalPercent, MemoryPercent: snap.System.Memory.UsedPercent,
			SwapPercent: snap.System.Swap.UsedPercent, Load1: snap.System.Load.Load1,
			UptimeSeconds: snap.System.UptimeSeconds,
		}
		sum.DiskMaxPercent, sum.DiskMaxMountpoint = fullestDisk(snap)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), time.Second)
		defer cancel()
		n, err := s.q.CountOpenAlertsForHost(ctx, h.Name)
		if err != nil {
			s.log.Warn("summary: open alert count unavailable", "host", h.Name, "err", err)
			return sum, false
		}
		open := int(n)
		sum.OpenAlerts = &open
		return sum, true
	})
}

type alertList struct {
	Alerts []alertJSON `json:"alerts"`
	Total  int64       `json:"total"`
}

type trendPoint struct {
	At            time.Time `json:"at"`
	CPUPercent    float64   `json:"cpu_percent"`
	MemoryPercent float64   `json:"memory_percent"`
	Samples       int       `json:"samples"`
}

type trendData struct {
	StepSeconds int          `json:"step_seconds"`
	Points      []trendPoint `json:"points"`
}

type reportData struct {
	Host        string          `json:"host"`
	CollectedAt time.Time       `json:"collected_at"`
	System      json.RawMessage `json:"system"`
	Process     json.RawMessage `json:"process"`
	Platform    json.RawMessage `json:"platform"`
	Health      json.RawMessage `json:"health"`
	Trend       json.RawMessage `json:"trend"`
	// OpenAlerts is null when the database cannot be reached; the rest still answers.
	OpenAlerts *alertList `json:"open_alerts"`
}

// showReport is everything live in one answer. Only the open alerts are read per request
// (one indexed query); the rest is the cached encoding of the host's latest sample.
func (s *Server) showReport(c echo.Context) error {
	h, err := s.latest(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rep := reportData{Host: h.Name, CollectedAt: h.Latest.CollectedAt.UTC()}
	parts := []struct {
		dst   *json.RawMessage
		key   string
		build func() (any, bool)
	}{
		{&rep.System, "system", func() (any, bool) { return systemOf(h), true }},
		{&rep.Process, "process", func() (any, bool) { return processOf(h), true }},
		// Kept once the agent has sent its platform facts; until then the next request looks again.
		{&rep.Platform, "platform", func() (any, bool) { return h.Platform, h.Platform != (sample.Platform{}) }},
		{&rep.Health, "health", func() (any, bool) { return healthOf(h), true }},
		{&rep.Trend, "trend", func() (any, bool) { return s.trendOf(ctx, h.Latest) }},
	}
	for _, p := range parts {
		b, err := s.encoded(h.Latest, p.key, p.build)
		if err != nil {
			return err
		}
		*p.dst = b
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if list, err := s.openAlertsOn(ctx, h.Name); err == nil {
		rep.OpenAlerts = &list
	} else {
		s.log.Warn("report: open alerts unavailable", "host", h.Name, "err", err)
	}
	return s.ok(c, rep)
}

// reportAlertLimit bounds the report's list; total still counts them all.
const reportAlertLimit = 500

// openAlertsOn is host's open alerts, newest first, as GET /alerts?status=open&host= shows them.
func (s *Server) openAlertsOn(ctx context.Context, host string) (alertList, error) {
	rows, err := s.q.ListAlerts(ctx, queries.ListAlertsParams{Status: "open", Host: host, RowLimit: reportAlertLimit})
	if err != nil {
		return alertList{}, err
	}
	list := alertList{Alerts: make([]alertJSON, 0, len(rows)), Total: int64(len(rows))}
	for _, r := range rows {
		list.Alerts = append(list.Alerts, toAlertJSON(r.InfrastructureAlert, textPtr(r.AcknowledgedByEmail)))
	}
	s.markSilencedJSON(ctx, list.Alerts)
	if len(rows) == reportAlertLimit {
		list.Total, err = s.q.CountAlerts(ctx, queries.CountAlertsParams{Status: "open", Host: host})
	}
	return list, err
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// trendOf is the hour before snap in per-minute means of CPU and memory, read from the host's
// stored rows (the same reader as the history API). Read once per host and sample; with the
// database away it is empty and not kept, so the next request reads it again.
func (s *Server) trendOf(ctx context.Context, snap sample.Snapshot) (any, bool) {
	t := trendData{StepSeconds: int(trendStep / time.Second), Points: []trendPoint{}}
	// The stored rows keep microseconds: the end, which is exclusive, is the microsecond after snap.
	to := snap.CollectedAt.UTC().Truncate(time.Microsecond).Add(time.Microsecond)
	from := to.Add(-time.Hour).Truncate(trendStep)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	var series [2]history.Series
	for i, metric := range []string{"cpu_percent", "memory_percent"} {
		var err error
		series[i], err = s.history.Read(ctx, history.Query{Host: snap.Host, Metric: metric, From: from, To: to, Step: trendStep})
		if err != nil {
			s.log.Warn("report: trend unavailable", "host", snap.Host, "err", err)
			return t, false
		}
	}
	// Both series are bucketed alike from the same rows; memory is matched by time all the same.
	mem := make(map[time.Time]float64, len(series[1].Points))
	for _, p := range series[1].Points {
		mem[p.At] = p.Mean
	}
	for _, p := range series[0].Points {
		t.Points = append(t.Points, trendPoint{At: p.At.UTC(), CPUPercent: p.Mean, MemoryPercent: mem[p.At], Samples: int(p.Samples)})
	}
	return t, true
}

// trendStep is the report trend's bucket.
const trendStep = time.Minute
