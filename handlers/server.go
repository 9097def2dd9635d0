// Package handlers serves infradash over HTTP: the JSON API, the pages and the operational
// endpoints. Every route is declared in routes.go.
package handlers

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/channels"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/history"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/rules"
	"github.com/infradash/infradash/store"
	"github.com/infradash/infradash/telemetry"
)

// Options are the settings the handlers read; main takes them from the configuration.
type Options struct {
	// Production turns on the production rules: Secure cookies, HSTS, no API docs page.
	Production bool
	// BaseURL is this site's public origin: links in notifications and the start lines of agents,
	// and the origin the cross-site check trusts.
	BaseURL         string
	CollectInterval time.Duration
	CORSOrigins     []string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies  []*net.IPNet
	SessionLifetime time.Duration
	// SecretKey keys the HMAC that stands for an unknown email in the login log, and seals the
	// notification channels' URLs unless SecretGenerated (made up at start: development).
	SecretKey       string
	SecretGenerated bool
	// AlertHysteresis is ALERT_HYSTERESIS, which an alert rule's percentage warning must exceed.
	AlertHysteresis float64
	// BuiltinChannels are the environment's channels (SLACK_WEBHOOK_URL, ALERT_WEBHOOK_URL) as
	// /settings/channels lists them, their URLs masked.
	BuiltinChannels []BuiltinChannel
	// MetricsToken, when set, is required as a bearer token on /metrics.
	MetricsToken     string
	HostDownAfter    time.Duration
	RetentionDays    int
	LoginMaxFailures int
	LoginLockout     time.Duration
}

// Server holds what the handlers need; main wires it.
type Server struct {
	cfg     Options
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
	notifiers    []*notify.Notifier
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
	rules         *rules.Resolver
	channels      *channels.Store
	ingestMetrics *ingestMetrics

	// authenticate finds the principal of a request or returns errUnauthorized.
	authenticate func(c echo.Context) (*Principal, error)
}

// Deps are the Server's collaborators.
type Deps struct {
	Options Options
	Pool    *pgxpool.Pool
	Logger  *slog.Logger
	Host    string // the hub's own host: what host= defaults to
	Version string
	Now     func() time.Time // defaults to time.Now
	// Sessions defaults to NewSessionManager(Options, Pool).
	Sessions *scs.SessionManager
	// Users are the accounts; a store with Options' lock-out rules when nil.
	Users *auth.Store
	// Notifiers are the built-in notifiers (SLACK_WEBHOOK_URL, ALERT_WEBHOOK_URL) the test
	// alert goes through.
	Notifiers []*notify.Notifier

	// Thresholds score health (HEALTH_* configuration) when the Server makes its own Store and
	// Fleet; otherwise each host's come from the Fleet.
	Thresholds health.Thresholds
	// Metrics is the registry behind /metrics; a fresh one when nil.
	Metrics *telemetry.Metrics
	// Reporter sends unexpected errors and panics to Sentry; nil reports nothing.
	Reporter *telemetry.Reporter
	// Store writes what agents send (POST /api/v1/ingest).
	Store *store.Store
	// Rules resolves each host's thresholds (the environment's under the alert rules); one over
	// Thresholds and Pool when nil. The settings pages refresh it after a change.
	Rules *rules.Resolver
	// Channels keeps the notification channels; one sealing with SECRET_KEY when nil.
	Channels *channels.Store
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
		d.Sessions = NewSessionManager(d.Options, d.Pool)
	}
	if d.Users == nil {
		d.Users = auth.NewStore(d.Pool, auth.Options{MaxFailures: d.Options.LoginMaxFailures, Lockout: d.Options.LoginLockout, Now: d.Now})
	}
	s := &Server{
		cfg:           d.Options,
		pool:          d.Pool,
		q:             queries.New(d.Pool),
		log:           d.Logger,
		host:          d.Host,
		version:       d.Version,
		now:           d.Now,
		assets:        NewAssets(),
		users:         d.Users,
		notifiers:     d.Notifiers,
		sessions:      d.Sessions,
		loginLimiter:  newRateLimiter(loginAttemptsPerMinute, time.Minute, d.Now),
		loginSlots:    make(chan struct{}, defaultLoginSlots()),
		authCache:     newAuthCache(d.Now),
		writeLimiter:  newRateLimiter(writesPerMinute, time.Minute, d.Now),
		unknownEmails: newRateLimiter(0, orDuration(d.Options.LoginLockout, 15*time.Minute), d.Now),
		sleep:         sleepCtx,

		thresholds: d.Thresholds,
		history:    history.NewReader(d.Pool, history.Options{RetentionDays: d.Options.RetentionDays, Now: d.Now}),
		openapi:    mustOpenAPIJSON(),
		metrics:    d.Metrics,
		reporter:   d.Reporter,
	}
	s.authenticate = s.authenticateRequest
	if d.Rules == nil {
		builtin := d.Thresholds
		if builtin.Equal(health.Thresholds{}) {
			builtin = health.DefaultThresholds()
		}
		builtin.DownAfter = d.Options.HostDownAfter
		d.Rules = rules.NewResolver(d.Pool, builtin, d.Logger)
	}
	s.rules = d.Rules
	if d.Channels == nil {
		var box *channels.Box
		if !d.Options.SecretGenerated && d.Options.SecretKey != "" {
			box, _ = channels.NewBox(d.Options.SecretKey)
		}
		d.Channels = channels.NewStore(d.Pool, box, notify.Options{})
	}
	s.channels = d.Channels
	if d.Fleet == nil {
		d.Fleet = fleet.New(fleet.Options{DB: d.Pool, DownAfter: d.Options.HostDownAfter, Logger: d.Logger, Thresholds: d.Rules.Thresholds})
	}
	s.fleet = d.Fleet
	if d.Store == nil {
		d.Store = store.New(d.Pool, store.Options{Thresholds: d.Fleet.Thresholds, Logger: d.Logger})
	}
	s.store = d.Store
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
