package handlers

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/queries"
)

// maxPoints bounds a history answer: more points than a chart has pixels help nobody.
const maxPoints = 1000

// historyMetric says where a series lives and in what unit.
type historyMetric struct {
	table string // system, process or health
	unit  string
}

var historyMetrics = map[string]historyMetric{
	"cpu_percent":                 {"system", "percent"},
	"memory_percent":              {"system", "percent"},
	"swap_percent":                {"system", "percent"},
	"disk_percent":                {"system", "percent"},
	"load1":                       {"system", "load"},
	"load5":                       {"system", "load"},
	"load15":                      {"system", "load"},
	"net_recv_bytes_per_second":   {"system", "bytes_per_second"},
	"net_sent_bytes_per_second":   {"system", "bytes_per_second"},
	"disk_read_bytes_per_second":  {"system", "bytes_per_second"},
	"disk_write_bytes_per_second": {"system", "bytes_per_second"},
	"process_cpu_percent":         {"process", "percent"},
	"process_rss_bytes":           {"process", "bytes"},
	"health_score":                {"health", "score"},
}

var historyRanges = map[string]time.Duration{
	"1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour,
	"30d": 30 * 24 * time.Hour, "90d": 90 * 24 * time.Hour, "1y": 365 * 24 * time.Hour,
}

// niceSteps are the default bucket widths; a default is the smallest giving at most ~720 points.
var niceSteps = []time.Duration{
	time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour,
}

func defaultStep(span time.Duration) time.Duration {
	for _, s := range niceSteps {
		if span/s <= 720 {
			return s
		}
	}
	return niceSteps[len(niceSteps)-1]
}

type historyPoint struct {
	At      time.Time `json:"at"`
	Mean    float64   `json:"mean"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples int32     `json:"samples"`
}

// seriesRow has the shape every series query returns, so their rows convert to it directly.
type seriesRow struct {
	Bucket      time.Time
	MeanValue   float64
	MinValue    float64
	MaxValue    float64
	SampleCount int32
}

type historyData struct {
	Host        string         `json:"host"`
	Metric      string         `json:"metric"`
	Subject     string         `json:"subject"`
	Unit        string         `json:"unit"`
	From        time.Time      `json:"from"`
	To          time.Time      `json:"to"`
	StepSeconds float64        `json:"step_seconds"`
	Source      string         `json:"source"`
	Points      []historyPoint `json:"points"`
}

// historyQuery is a validated history request.
type historyQuery struct {
	host, metric, subject string
	def                   historyMetric
	from, to              time.Time
	step                  time.Duration
}

func (s *Server) parseHistory(c echo.Context) (historyQuery, error) {
	q := historyQuery{host: c.QueryParam("host"), metric: c.QueryParam("metric"), subject: c.QueryParam("subject")}
	if q.host == "" {
		q.host = s.host
	}
	var ok bool
	if q.def, ok = historyMetrics[q.metric]; !ok {
		names := make([]string, 0, len(historyMetrics))
		for n := range historyMetrics {
			names = append(names, n)
		}
		sort.Strings(names)
		if q.metric == "" {
			return q, errBadParam("metric", "is required; one of %s", strings.Join(names, ", "))
		}
		return q, errBadParam("metric", "unknown metric %q; one of %s", q.metric, strings.Join(names, ", "))
	}
	switch {
	case q.metric == "disk_percent" && q.subject == "":
		q.subject = "/"
	case q.metric != "disk_percent" && q.subject != "":
		return q, errBadParam("subject", "only disk_percent takes a subject (a mountpoint)")
	}

	rng, fromS, toS := c.QueryParam("range"), c.QueryParam("from"), c.QueryParam("to")
	now := s.now().UTC()
	switch {
	case rng != "" && (fromS != "" || toS != ""):
		return q, errBadParam("range", "give either range or from/to, not both")
	case fromS != "" || toS != "":
		if fromS == "" {
			return q, errBadParam("from", "is required with to (RFC 3339, e.g. 2026-01-01T00:00:00Z)")
		}
		var err error
		if q.from, err = time.Parse(time.RFC3339, fromS); err != nil {
			return q, errBadParam("from", "%q is not an RFC 3339 time like 2026-01-01T00:00:00Z", fromS)
		}
		q.to = now
		if toS != "" {
			if q.to, err = time.Parse(time.RFC3339, toS); err != nil {
				return q, errBadParam("to", "%q is not an RFC 3339 time like 2026-01-01T00:00:00Z", toS)
			}
		}
		if !q.from.Before(q.to) {
			return q, errBadParam("from", "must be before to")
		}
		q.from, q.to = q.from.UTC(), q.to.UTC()
	default:
		if rng == "" {
			rng = "1h"
		}
		d, ok := historyRanges[rng]
		if !ok {
			return q, errBadParam("range", "must be one of 1h, 6h, 24h, 7d, 30d, 90d, 1y, not %q", rng)
		}
		q.from, q.to = now.Add(-d), now
	}

	span := q.to.Sub(q.from)
	q.step = defaultStep(span)
	if st := c.QueryParam("step"); st != "" {
		d, err := time.ParseDuration(st)
		switch {
		case err != nil:
			return q, errBadParam("step", "%q is not a duration like 30s, 5m or 1h", st)
		case d < time.Second:
			return q, errBadParam("step", "must be at least 1s")
		case span/d > maxPoints:
			return q, errBadParam("step", "%s over %s gives more than %d points; use at least %s",
				d, span, maxPoints, (span/maxPoints).Round(time.Second)+time.Second)
		}
		q.step = d
	}
	return q, nil
}

// showHistory answers a time series: raw samples bucketed to step for ranges up to a day,
// rollups (hourly up to ~a month, daily beyond) for longer ones, with raw samples filling in
// where the rollups do not reach yet (or do not exist at all).
func (s *Server) showHistory(c echo.Context) error {
	q, err := s.parseHistory(c)
	if err != nil {
		return err
	}
	out := historyData{
		Host: q.host, Metric: q.metric, Subject: q.subject, Unit: q.def.unit,
		From: q.from, To: q.to, StepSeconds: q.step.Seconds(),
	}
	rows, source, step, err := s.readSeries(c.Request().Context(), q)
	if err != nil {
		return err
	}
	out.Source, out.StepSeconds = source, step.Seconds()
	out.Points = make([]historyPoint, 0, len(rows))
	for _, r := range rows {
		out.Points = append(out.Points, historyPoint{At: r.Bucket.UTC(), Mean: r.MeanValue, Min: r.MinValue, Max: r.MaxValue, Samples: r.SampleCount})
	}
	return s.ok(c, out)
}

// readSeries reads a series as showHistory and the dashboard's charts show it: raw samples for
// spans up to a day, rollups beyond (and for anything older than RETENTION_DAYS, whose raw samples
// are gone), and raw samples where the rollups do not reach yet. It returns the source ("raw",
// "hourly", "hourly+raw", ...) and the step the rows are bucketed to.
func (s *Server) readSeries(ctx context.Context, q historyQuery) ([]seriesRow, string, time.Duration, error) {
	source := "raw"
	var rows []seriesRow
	rawFrom := q.from
	period, width := rollupPeriod(q.to.Sub(q.from))
	if period == "" && q.from.Before(s.rawSince()) {
		period, width = "hourly", time.Hour
	}
	if period != "" {
		step := max(q.step, width)
		var err error
		rows, rawFrom, err = s.rollupSeries(ctx, q, period, width, step)
		if err != nil {
			return nil, "", 0, err
		}
		if len(rows) > 0 {
			source = period
			q.step = step
		}
	}
	raw, err := s.rawSeries(ctx, q, rawFrom)
	if err != nil {
		return nil, "", 0, err
	}
	if len(rows) > 0 && len(raw) > 0 {
		source += "+raw"
	}
	rows = append(rows, raw...)
	// The first bucket may start before from; it holds nothing from before it.
	if len(rows) > 0 && rows[0].Bucket.Before(q.from) {
		rows[0].Bucket = q.from
	}
	return rows, source, q.step, nil
}

// rawSince is the oldest time raw samples are kept for (RETENTION_DAYS); zero when unknown.
func (s *Server) rawSince() time.Time {
	if s.cfg.RetentionDays <= 0 {
		return time.Time{}
	}
	return s.now().AddDate(0, 0, -s.cfg.RetentionDays)
}

// binStart is the start of the step bucket holding t, counted from the Unix epoch as the series
// queries' date_bin(step, t, 'epoch') counts (time.Truncate counts from year 1, which differs for
// steps that do not divide a day).
func binStart(t time.Time, step time.Duration) time.Time {
	r := time.Duration(t.UnixNano() % int64(step))
	if r < 0 {
		r += step
	}
	return t.Add(-r)
}

// rollupPeriod is the rollup a span reads, and its bucket width; "" means raw samples.
func rollupPeriod(span time.Duration) (string, time.Duration) {
	switch {
	case span <= 24*time.Hour:
		return "", 0
	case span <= 31*24*time.Hour:
		return "hourly", time.Hour
	}
	return "daily", 24 * time.Hour
}

// rollupSeries reads rollups up to the step bucket holding the end of the newest one, and
// returns from where raw samples must take over.
func (s *Server) rollupSeries(ctx context.Context, q historyQuery, period string, width, step time.Duration) ([]seriesRow, time.Time, error) {
	last, err := s.q.LatestRollupBucket(ctx, queries.LatestRollupBucketParams{
		Host: q.host, Metric: q.metric, Subject: q.subject, Period: period, FromAt: q.from, ToAt: q.to,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, q.from, nil
	}
	if err != nil {
		return nil, q.from, err
	}
	// Cutting at a step boundary keeps rollups and raw samples from sharing a bucket: raw samples
	// fill in the bucket the rollups end in, unless they are past retention, when the rollups
	// take it whole.
	end := last.Add(width)
	cut := binStart(end, step)
	if cut.Before(end) && cut.Before(s.rawSince()) {
		cut = cut.Add(step)
	}
	if !cut.After(q.from) {
		return nil, q.from, nil
	}
	rows, err := s.q.RollupSeries(ctx, queries.RollupSeriesParams{
		StepSeconds: step.Seconds(), Host: q.host, Metric: q.metric, Subject: q.subject, Period: period, FromAt: q.from, ToAt: cut,
	})
	return convertRows(rows, func(r queries.RollupSeriesRow) seriesRow { return seriesRow(r) }), cut, err
}

func (s *Server) rawSeries(ctx context.Context, q historyQuery, from time.Time) ([]seriesRow, error) {
	if !from.Before(q.to) {
		return nil, nil
	}
	step := q.step.Seconds()
	switch q.def.table {
	case "process":
		rows, err := s.q.ProcessSeries(ctx, queries.ProcessSeriesParams{StepSeconds: step, Metric: q.metric, Host: q.host, FromAt: from, ToAt: q.to})
		return convertRows(rows, func(r queries.ProcessSeriesRow) seriesRow { return seriesRow(r) }), err
	case "health":
		rows, err := s.q.HealthSeries(ctx, queries.HealthSeriesParams{StepSeconds: step, Host: q.host, FromAt: from, ToAt: q.to})
		return convertRows(rows, func(r queries.HealthSeriesRow) seriesRow { return seriesRow(r) }), err
	}
	if q.metric == "disk_percent" {
		rows, err := s.q.FilesystemSeries(ctx, queries.FilesystemSeriesParams{StepSeconds: step, Subject: q.subject, Host: q.host, FromAt: from, ToAt: q.to})
		return convertRows(rows, func(r queries.FilesystemSeriesRow) seriesRow { return seriesRow(r) }), err
	}
	rows, err := s.q.SystemSeries(ctx, queries.SystemSeriesParams{StepSeconds: step, Metric: q.metric, Host: q.host, FromAt: from, ToAt: q.to})
	return convertRows(rows, func(r queries.SystemSeriesRow) seriesRow { return seriesRow(r) }), err
}

func convertRows[T any](rows []T, conv func(T) seriesRow) []seriesRow {
	out := make([]seriesRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, conv(r))
	}
	return out
}
