package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/store"
)

// PathIngest is where agents post their batches.
const PathIngest = "/api/v1/ingest"

// ingestRetryAfter is what a hub without its database tells agents to wait: they keep the
// samples in their spool meanwhile.
const ingestRetryAfter = 10

var (
	errAgentTokenOnly = &Error{Status: http.StatusForbidden, Code: "agent_token_required",
		Message: "only an agent token (idh_…, from `infradash host add`) may send samples; user tokens may not"}
	errAgentTokenRefused = &Error{Status: http.StatusUnauthorized, Code: "agent_token_refused",
		Message: "this agent token is not valid: the host was removed or its token rotated (`infradash host rotate NAME` prints a new one)"}
	errBatchTooLarge = &Error{Status: http.StatusRequestEntityTooLarge, Code: "batch_too_large",
		Message: "the request body is larger than " + strconv.Itoa(sample.MaxBodyBytes>>20) + " MiB; send at most " +
			strconv.Itoa(sample.MaxBatchSamples) + " samples per request"}
	errAgentMayNotRead = &Error{Status: http.StatusForbidden, Code: "agent_token",
		Message: "an agent token may only send samples (POST /api/v1/ingest); use a user's token to read"}
)

// ingestMetrics count what agents send, for /metrics.
type ingestMetrics struct {
	samples  *prometheus.CounterVec
	requests *prometheus.CounterVec
}

func newIngestMetrics() *ingestMetrics {
	return &ingestMetrics{
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "infradash_ingest_samples_total",
			Help: "Samples received from agents, by result: stored, duplicate (sent again, stored once) or rejected (never stored)."}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "infradash_ingest_requests_total",
			Help: "Ingest requests by outcome: ok, or the reason they were refused."}, []string{"outcome"}),
	}
}

type ingestAnswer struct {
	Host               string           `json:"host"`
	Accepted           int              `json:"accepted"`
	Duplicates         int              `json:"duplicates"`
	Rejected           []store.Rejected `json:"rejected"`
	ClockOffsetSeconds float64          `json:"clock_offset_seconds"`
	DryRun             bool             `json:"dry_run"`
}

// ingest is POST /api/v1/ingest: a batch of one host's samples from its agent. The host comes
// from the token, never from the body. It answers 2xx only after the batch is committed, and 503
// with Retry-After while PostgreSQL is away, so the agent keeps the samples in its spool.
func (s *Server) ingest(c echo.Context) (err error) {
	outcome := "ok"
	defer func() {
		var e *Error
		switch {
		case err == nil:
		case errors.As(err, &e):
			outcome = e.Code
		case database.Unavailable(err):
			outcome = "database_unavailable"
		default:
			outcome = "error"
		}
		s.ingestMetrics.requests.WithLabelValues(outcome).Inc()
	}()
	token, ok := bearerToken(c.Request())
	if !ok {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="ingest"`)
		return errUnauthorized
	}
	if !strings.HasPrefix(token, fleet.TokenPrefix) {
		return errAgentTokenOnly
	}
	b, err := sample.DecodeBatch(c.Request().Body, c.Request().Header.Get(echo.HeaderContentEncoding))
	var problem *sample.Problem
	switch {
	case err == nil:
	case isBodyTooLarge(err):
		return errBatchTooLarge
	case errors.Is(err, sample.ErrTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "batch_too_large",
			Message: err.Error() + "; send at most " + strconv.Itoa(sample.MaxBatchSamples) + " samples per request"}
	case errors.Is(err, sample.ErrVersion):
		return &Error{Status: http.StatusBadRequest, Code: "unsupported_version", Message: err.Error()}
	case errors.As(err, &problem):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_batch", Message: problem.Error()}
	default:
		return err
	}
	ctx := c.Request().Context()
	hash := fleet.HashToken(token)
	now := s.now().UTC()
	if c.QueryParam("dry_run") == "true" {
		host, err := s.store.HostForToken(ctx, hash)
		if err != nil {
			return s.ingestError(c, err)
		}
		ans := ingestAnswer{Host: host, Rejected: []store.Rejected{}, DryRun: true}
		if !b.SentAt.IsZero() {
			ans.ClockOffsetSeconds = b.SentAt.Sub(now).Seconds()
		}
		return s.ok(c, ans)
	}
	res, err := s.store.Write(ctx, store.Writer{TokenHash: hash}, b, now)
	if err != nil {
		return s.ingestError(c, err)
	}
	s.ingestMetrics.samples.WithLabelValues("stored").Add(float64(res.Accepted))
	s.ingestMetrics.samples.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	s.ingestMetrics.samples.WithLabelValues("rejected").Add(float64(len(res.Rejected)))
	if res.Rejected == nil {
		res.Rejected = []store.Rejected{}
	}
	return s.ok(c, ingestAnswer{Host: res.Host, Accepted: res.Accepted, Duplicates: res.Duplicates, Rejected: res.Rejected,
		ClockOffsetSeconds: res.ClockOffset.Seconds()})
}

func (s *Server) ingestError(c echo.Context, err error) error {
	switch {
	case errors.Is(err, store.ErrUnknownHost):
		return errAgentTokenRefused
	case database.Unreachable(err):
		c.Response().Header().Set("Retry-After", strconv.Itoa(ingestRetryAfter))
		return &Error{Status: http.StatusServiceUnavailable, Code: "database_unavailable",
			Message: "the hub cannot reach its database; nothing was stored: keep the samples and send them again"}
	case errors.Is(err, store.ErrBusy):
		c.Response().Header().Set("Retry-After", strconv.Itoa(ingestRetryAfter))
		return &Error{Status: http.StatusServiceUnavailable, Code: "hub_busy",
			Message: "the hub has more batches waiting for its database than it holds; nothing was stored: send them again"}
	case database.Refusing(err):
		// A read-only or full database refuses every sample alike: not the batch's fault, and
		// not one to reject sample by sample, or the agent would drop what it must keep.
		s.log.Warn("ingest: the database refuses writes", "reason", database.RefusalReason(err))
		c.Response().Header().Set("Retry-After", strconv.Itoa(ingestRetryAfter))
		return &Error{Status: http.StatusServiceUnavailable, Code: "database_unavailable",
			Message: "the hub's database refuses writes (" + database.RefusalReason(err) + "); nothing was stored: keep the samples and send them again"}
	}
	return err
}
