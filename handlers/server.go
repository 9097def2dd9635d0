// Package handlers serves infradash over HTTP: the JSON API, the pages and the operational
// endpoints. Every route is declared in routes.go.
package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/history"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/store"
	"github.com/infradash/infradash/telemetry"
)

// Server holds what the handlers need; main wires it.
type Server struct {
	cfg     config.Config
	pool    *pgxpool.Pool
	q       *queries.Queries
	log     *slog.Logger
	host    string
	version string
	now     func() time.Time
	assets  *Assets
	metrics *telemetry.Metrics
	// reporter is nil unless SENTRY_DSN is set; its methods accept that.
	reporter *telemetry.Reporter

	users        *auth.Store
	sessions     *scs.SessionManager
	loginLimiter *rateLimiter
	// loginSlots bounds the logins checking a password at once (defaultLoginSlots).
	loginSlots chan struct{}
	authCache  *authCache
	// writeLimiter counts each user's changes to settings (limitWrites).
	writeLimiter *rateLimiter
	// unknownEmails counts failed logins per unknown email, so they slow down like an account's.
	unknownEmails *rateLimiter
	// sleep waits out a failed login's delay; tests replace it.
	sleep      func(ctx context.Context, d time.Duration) error
	thresholds health.Thresholds
	history    *history.Reader
	live       liveCache
	openapi    []byte // the OpenAPI document as JSON

	store         *store.Store
	fleet         *fleet.Fleet
	ingestMetrics *ingestMetrics

	// authenticate finds the principal of a request or returns errUnauthorized.
	authenticate func(c echo.Context) (*Principal, error)
}

// Deps are the Server's collaborators.
type Deps struct {
	Config  config.Config
	Pool    *pgxpool.Pool
	Logger  *slog.Logger
	Host    string // the hub's own host: what host= defaults to
	Version string
	Now     func() time.Time // defaults to time.Now
	// Sessions defaults to NewSessionManager(Config, Pool).
	Sessions *scs.SessionManager

	// Thresholds score health (HEALTH_* configuration) when the Server makes its own Store and
	// Fleet; otherwise each host's come from the Fleet.
	Thresholds health.Thresholds
	// Metrics is the registry behind /metrics; a fresh one when nil.
	Metrics *telemetry.Metrics
	// Reporter sends unexpected errors and panics to Sentry; nil reports nothing.
	Reporter *telemetry.Reporter
	// Store writes what agents send (POST /api/v1/ingest).
	Store *store.Store
	// Fleet is the live view of every host, the hub's own included: the live endpoints and pages
	// answer from it (they never sample on request). main runs its refresh loop; a view nobody
	// refreshes when nil (tests feed it with Observe).
	Fleet *fleet.Fleet
}

// Login attempts allowed per client address and minute, on /login and /api/v1/auth/login.
const loginAttemptsPerMinute = 10

// New builds a Server.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Metrics == nil {
		d.Metrics = telemetry.New()
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Sessions == nil {
		d.Sessions = NewSessionManager(d.Config, d.Pool)
	}
	s := &Server{
		cfg:     d.Config,
		pool:    d.Pool,
		q:       queries.New(d.Pool),
		log:     d.Logger,
		host:    d.Host,
		version: d.Version,
		now:     d.Now,
		assets:  NewAssets(),
		users: auth.NewStore(d.Pool, auth.Options{
			MaxFailures: d.Config.LoginMaxFailures, Lockout: d.Config.LoginLockout, Now: d.Now,
		}),
		sessions:      d.Sessions,
		loginLimiter:  newRateLimiter(loginAttemptsPerMinute, time.Minute, d.Now),
		loginSlots:    make(chan struct{}, defaultLoginSlots()),
		authCache:     newAuthCache(d.Now),
		writeLimiter:  newRateLimiter(writesPerMinute, time.Minute, d.Now),
		unknownEmails: newRateLimiter(0, orDuration(d.Config.LoginLockout, 15*time.Minute), d.Now),
		sleep:         sleepCtx,

		thresholds: d.Thresholds,
		history:    history.NewReader(d.Pool, history.Options{RetentionDays: d.Config.RetentionDays, Now: d.Now}),
		openapi:    mustOpenAPIJSON(),
		metrics:    d.Metrics,
		reporter:   d.Reporter,
	}
	s.authenticate = s.authenticateRequest
	if d.Store == nil {
		d.Store = store.New(d.Pool, store.Options{Thresholds: func(string) health.Thresholds { return d.Thresholds }, Logger: d.Logger})
	}
	s.store = d.Store
	if d.Fleet == nil {
		d.Fleet = fleet.New(fleet.Options{DB: d.Pool, DownAfter: d.Config.HostDownAfter, Logger: d.Logger,
			Thresholds: func(string) health.Thresholds { return d.Thresholds }})
	}
	s.fleet = d.Fleet
	s.ingestMetrics = newIngestMetrics()
	_ = s.metrics.Register(s.ingestMetrics.samples, s.ingestMetrics.requests)
	return s
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
