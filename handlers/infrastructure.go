package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
)

var errNoSample = &Error{Status: http.StatusServiceUnavailable, Code: "no_sample", Message: "no sample has been collected yet; try again in a few seconds"}

// liveCache keeps the encoded answers of the live endpoints for the latest snapshot only: they
// change when a sample arrives, not per request, and encoding them once is what lets /health
// serve thousands of requests a second.
type liveCache struct {
	mu     sync.Mutex
	at     time.Time
	bodies map[string][]byte
}

// encoded returns build()'s JSON for snap, building it once per snapshot and key. An answer
// build marks as incomplete (keep false) is served but not kept, so the next request tries again.
func (s *Server) encoded(snap sample.Snapshot, key string, build func() (v any, keep bool)) ([]byte, error) {
	lc := &s.live
	lc.mu.Lock()
	if !lc.at.Equal(snap.CollectedAt) {
		lc.at, lc.bodies = snap.CollectedAt, map[string][]byte{}
	}
	if b, ok := lc.bodies[key]; ok {
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
	if keep && lc.at.Equal(snap.CollectedAt) {
		lc.bodies[key] = b
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

// latest is the snapshot the live endpoints answer from; they never sample on request.
func (s *Server) latest() (sample.Snapshot, error) {
	if s.samples == nil {
		return sample.Snapshot{}, errNoSample
	}
	snap, ok := s.samples.Latest()
	if !ok {
		return sample.Snapshot{}, errNoSample
	}
	return snap, nil
}

// serveLive answers a live endpoint from the cached encoding of the latest snapshot.
func (s *Server) serveLive(c echo.Context, key string, build func(sample.Snapshot) any) error {
	return s.serveLiveUnlessIncomplete(c, key, func(snap sample.Snapshot) (any, bool) { return build(snap), true })
}

// serveLiveUnlessIncomplete is serveLive for an answer that can come out incomplete, which is
// not cached.
func (s *Server) serveLiveUnlessIncomplete(c echo.Context, key string, build func(sample.Snapshot) (any, bool)) error {
	snap, err := s.latest()
	if err != nil {
		return err
	}
	b, err := s.encoded(snap, key, func() (any, bool) { return build(snap) })
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

func (s *Server) systemOf(snap sample.Snapshot) any {
	return systemData{Host: snap.Host, CollectedAt: snap.CollectedAt.UTC(), System: snap.System}
}

func (s *Server) processOf(snap sample.Snapshot) any {
	return processData{Host: snap.Host, CollectedAt: snap.CollectedAt.UTC(), Process: snap.Process, TopProcesses: snap.Top}
}

func (s *Server) healthOf(snap sample.Snapshot) any {
	return healthData{Host: snap.Host, Report: health.Evaluate(snap, s.thresholds)}
}

func (s *Server) platformOf(sample.Snapshot) any { return s.samples.Platform() }

func (s *Server) showSystem(c echo.Context) error  { return s.serveLive(c, "system", s.systemOf) }
func (s *Server) showProcess(c echo.Context) error { return s.serveLive(c, "process", s.processOf) }
func (s *Server) showHealth(c echo.Context) error  { return s.serveLive(c, "health", s.healthOf) }

// showPlatform answers even before the first sample: platform facts are read once at start.
func (s *Server) showPlatform(c echo.Context) error {
	if s.samples == nil {
		return errNoSample
	}
	return s.ok(c, s.samples.Platform())
}

// showSummary is the small answer to poll. Its open-alert count costs one query per sample,
// not one per request. The count is shared by every requester, so it is not bound to the
// request that happens to make it (a client hanging up would leave everyone without it), and a
// failed count is not kept.
func (s *Server) showSummary(c echo.Context) error {
	return s.serveLiveUnlessIncomplete(c, "summary", func(snap sample.Snapshot) (any, bool) {
		rep := health.Evaluate(snap, s.thresholds)
		sum := summaryData{
			Host: snap.Host, CollectedAt: snap.CollectedAt.UTC(), Score: rep.Score, Status: rep.Status,
			CPUPercent: snap.System.CPU.TotalPercent, MemoryPercent: snap.System.Memory.UsedPercent,
			SwapPercent: snap.System.Swap.UsedPercent, Load1: snap.System.Load.Load1,
			UptimeSeconds: snap.System.UptimeSeconds,
		}
		for _, fs := range snap.System.Filesystems {
			if fs.UsedPercent >= sum.DiskMaxPercent {
				sum.DiskMaxPercent, sum.DiskMaxMountpoint = fs.UsedPercent, fs.Mountpoint
			}
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), time.Second)
		defer cancel()
		n, err := s.q.CountOpenAlertsForHost(ctx, snap.Host)
		if err != nil {
			s.log.Warn("summary: open alert count unavailable", "err", err)
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
// (one indexed query); the rest is the cached encoding of the latest sample.
func (s *Server) showReport(c echo.Context) error {
	snap, err := s.latest()
	if err != nil {
		return err
	}
	rep := reportData{Host: snap.Host, CollectedAt: snap.CollectedAt.UTC()}
	parts := []struct {
		dst   *json.RawMessage
		key   string
		build func(sample.Snapshot) any
	}{
		{&rep.System, "system", s.systemOf},
		{&rep.Process, "process", s.processOf},
		{&rep.Platform, "platform", s.platformOf},
		{&rep.Health, "health", s.healthOf},
		{&rep.Trend, "trend", s.trendOf},
	}
	for _, p := range parts {
		b, err := s.encoded(snap, p.key, func() (any, bool) { return p.build(snap), true })
		if err != nil {
			return err
		}
		*p.dst = b
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if list, err := s.openAlertsOn(ctx, snap.Host); err == nil {
		rep.OpenAlerts = &list
	} else {
		s.log.Warn("report: open alerts unavailable", "err", err)
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

// trendOf is the last hour in per-minute means, from the collector's in-memory history.
func (s *Server) trendOf(snap sample.Snapshot) any {
	t := trendData{StepSeconds: 60, Points: []trendPoint{}}
	for _, r := range s.samples.Recent(snap.CollectedAt.Add(-time.Hour)) {
		at := r.CollectedAt.UTC().Truncate(time.Minute)
		if n := len(t.Points); n == 0 || !t.Points[n-1].At.Equal(at) {
			t.Points = append(t.Points, trendPoint{At: at})
		}
		p := &t.Points[len(t.Points)-1]
		p.CPUPercent += r.System.CPU.TotalPercent
		p.MemoryPercent += r.System.Memory.UsedPercent
		p.Samples++
	}
	for i := range t.Points {
		n := float64(t.Points[i].Samples)
		t.Points[i].CPUPercent /= n
		t.Points[i].MemoryPercent /= n
	}
	return t
}
