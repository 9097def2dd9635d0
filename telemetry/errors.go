package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/getsentry/sentry-go"
)

// Reporter sends unexpected errors and panics to Sentry. A nil *Reporter (SENTRY_DSN unset)
// reports nothing, so callers never check.
type Reporter struct {
	client *sentry.Client
}

// ReporterOptions configure NewReporter.
type ReporterOptions struct {
	DSN         string
	Environment string
	Release     string
	// Transport replaces the HTTP transport to Sentry; tests use it to see what would be sent.
	Transport sentry.Transport
}

// CheckDSN reports why dsn is not a usable Sentry DSN, or nil (also for an empty one, which
// turns reporting off). Configuration checks call it so that check-config refuses what serve
// would refuse, before anything starts.
func CheckDSN(dsn string) error {
	if dsn == "" {
		return nil
	}
	if _, err := sentry.NewDsn(dsn); err != nil {
		return fmt.Errorf("is not a Sentry DSN like https://PUBLIC_KEY@HOST/PROJECT_ID (%s)",
			strings.TrimPrefix(err.Error(), "[Sentry] DsnParseError: "))
	}
	return nil
}

// NewReporter returns a Reporter for opts.DSN, or nil when the DSN is empty.
func NewReporter(opts ReporterOptions) (*Reporter, error) {
	if opts.DSN == "" {
		return nil, nil
	}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:              opts.DSN,
		Environment:      opts.Environment,
		Release:          "infradash@" + opts.Release,
		AttachStacktrace: true,
		SendDefaultPII:   false,
		BeforeSend:       func(e *sentry.Event, _ *sentry.EventHint) *sentry.Event { return Scrub(e) },
		Transport:        opts.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("SENTRY_DSN: %w", err)
	}
	return &Reporter{client: client}, nil
}

func (r *Reporter) hub(req *http.Request) *sentry.Hub {
	scope := sentry.NewScope()
	if req != nil {
		scope.SetRequest(req)
	}
	return sentry.NewHub(r.client, scope)
}

// Error reports an error that became a 500 (or happened outside a request when req is nil).
func (r *Reporter) Error(req *http.Request, err error) {
	if r == nil {
		return
	}
	r.hub(req).CaptureException(err)
}

// Panic reports a recovered panic value with the stack where it happened.
func (r *Reporter) Panic(req *http.Request, v any) {
	if r == nil {
		return
	}
	ctx := context.Background()
	if req != nil {
		ctx = req.Context()
	}
	r.hub(req).RecoverWithContext(ctx, v)
}

// jobHub is a hub whose events say which scheduled job they come from.
func (r *Reporter) jobHub(job string) *sentry.Hub {
	scope := sentry.NewScope()
	scope.SetTag("job", job)
	scope.SetTag("component", "jobs")
	return sentry.NewHub(r.client, scope)
}

// JobError reports a scheduled job's run that failed or timed out.
func (r *Reporter) JobError(job string, err error) {
	if r == nil {
		return
	}
	r.jobHub(job).CaptureException(err)
}

// JobPanic reports a scheduled job's panic. Call it from the deferred function that recovered
// it: the stack attached is the one at the call, which there still holds the panicking frames.
func (r *Reporter) JobPanic(job string, v any) {
	if r == nil {
		return
	}
	r.jobHub(job).RecoverWithContext(context.Background(), v)
}

// Flush waits up to timeout for queued reports to leave; call it before the process exits.
func (r *Reporter) Flush(timeout time.Duration) {
	if r == nil {
		return
	}
	r.client.Flush(timeout)
}

// sensitive matches names of fields whose values must never leave the process.
var sensitive = regexp.MustCompile(`(?i)pass|token|secret|auth|cookie|session|api[-_]?key|dsn`)

const redacted = "[redacted]"

// Scrub removes what must not reach Sentry: request bodies, cookies, credentials in headers,
// and any query parameter, tag, context or breadcrumb field named like a secret.
func Scrub(e *sentry.Event) *sentry.Event {
	if e == nil {
		return nil
	}
	if req := e.Request; req != nil {
		req.Data = ""
		req.Cookies = ""
		req.Env = nil
		for k := range req.Headers {
			if sensitive.MatchString(k) {
				delete(req.Headers, k)
			}
		}
		req.QueryString = scrubQuery(req.QueryString)
	}
	e.User = sentry.User{ID: e.User.ID}
	for k := range e.Tags {
		if sensitive.MatchString(k) {
			e.Tags[k] = redacted
		}
	}
	for _, c := range e.Contexts {
		scrubMap(c)
	}
	for _, b := range e.Breadcrumbs {
		scrubMap(b.Data)
	}
	return e
}

func scrubMap(m map[string]any) {
	for k, v := range m {
		if sensitive.MatchString(k) {
			m[k] = redacted
			continue
		}
		if inner, ok := v.(map[string]any); ok {
			scrubMap(inner)
		}
	}
}

// scrubQuery redacts sensitive parameters while keeping the rest readable. It works on the raw
// string so an unparsable query is still cleaned rather than passed through.
func scrubQuery(q string) string {
	if q == "" {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if sensitive.MatchString(name) {
			parts[i] = name + "=" + redacted
		}
	}
	return strings.Join(parts, "&")
}
