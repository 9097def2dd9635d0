package handlers

import (
	"errors"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/history"
)

type historyPoint struct {
	At      time.Time `json:"at"`
	Mean    float64   `json:"mean"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples int32     `json:"samples"`
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

// parseHistory reads a history request's parameters; package history judges what they ask for.
func (s *Server) parseHistory(c echo.Context) (history.Query, error) {
	h, err := s.hostParam(c)
	if err != nil {
		return history.Query{}, err
	}
	q := history.Query{Host: h.Name, Metric: c.QueryParam("metric"), Subject: c.QueryParam("subject")}
	if _, q.Subject, err = history.LookupMetric(q.Metric, q.Subject); err != nil {
		return q, historyParamError(err)
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
		if q.From, err = time.Parse(time.RFC3339, fromS); err != nil {
			return q, errBadParam("from", "%q is not an RFC 3339 time like 2026-01-01T00:00:00Z", fromS)
		}
		q.To = now
		if toS != "" {
			if q.To, err = time.Parse(time.RFC3339, toS); err != nil {
				return q, errBadParam("to", "%q is not an RFC 3339 time like 2026-01-01T00:00:00Z", toS)
			}
		}
	default:
		r := history.Ranges()[0]
		if rng != "" {
			var ok bool
			if r, ok = history.LookupRange(rng); !ok {
				return q, errBadParam("range", "must be one of %s, not %q", strings.Join(history.Names(history.Ranges()), ", "), rng)
			}
		}
		q.From, q.To = now.Add(-r.Span), now
	}

	// The span is judged before the step is read, so a request gets the error it always got.
	if q, err = q.Check(); err != nil {
		return q, historyParamError(err)
	}
	if st := c.QueryParam("step"); st != "" {
		d, err := time.ParseDuration(st)
		if err != nil {
			return q, errBadParam("step", "%q is not a duration like 30s, 5m or 1h", st)
		}
		if err := history.CheckStep(q.To.Sub(q.From), d); err != nil {
			return q, historyParamError(err)
		}
		q.Step = d
	}
	return q, nil
}

// historyParamError answers a query package history refuses as a bad parameter, named as it
// names it; other errors pass through.
func historyParamError(err error) error {
	var qe *history.QueryError
	if errors.As(err, &qe) {
		return errBadParam(qe.Param, "%s", qe.Reason)
	}
	return err
}

// showHistory answers a time series as package history reads it.
func (s *Server) showHistory(c echo.Context) error {
	q, err := s.parseHistory(c)
	if err != nil {
		return err
	}
	series, err := s.history.Read(c.Request().Context(), q)
	if err != nil {
		return historyParamError(err)
	}
	out := historyData{
		Host: series.Host, Metric: series.Metric, Subject: series.Subject, Unit: series.Unit,
		From: series.From, To: series.To, StepSeconds: series.Step.Seconds(), Source: series.Source,
		Points: make([]historyPoint, len(series.Points)),
	}
	for i, p := range series.Points {
		out.Points[i] = historyPoint(p)
	}
	return s.ok(c, out)
}
