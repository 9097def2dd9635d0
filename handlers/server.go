// Package handlers serves infradash over HTTP: the JSON API, the pages and the operational
// endpoints. Every route is declared in routes.go.
package handlers

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/static"
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
	assets  *static.Assets
	metrics *telemetry.Metrics
	// reporter is nil unless SENTRY_DSN is set; its methods accept that.
	reporter *telemetry.Reporter

	// authenticate finds the principal of a request or returns errUnauthorized.
	authenticate func(c echo.Context) (*Principal, error)
}

// Deps are the Server's collaborators.
type Deps struct {
	Config  config.Config
	Pool    *pgxpool.Pool
	Logger  *slog.Logger
	Host    string // the host this process samples
	Version string
	Now     func() time.Time // defaults to time.Now
	// Metrics is the registry behind /metrics; a fresh one when nil.
	Metrics *telemetry.Metrics
	// Reporter sends unexpected errors and panics to Sentry; nil reports nothing.
	Reporter *telemetry.Reporter
}

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
	return &Server{
		cfg:      d.Config,
		pool:     d.Pool,
		q:        queries.New(d.Pool),
		log:      d.Logger,
		host:     d.Host,
		version:  d.Version,
		now:      d.Now,
		assets:   static.NewAssets(),
		metrics:  d.Metrics,
		reporter: d.Reporter,
		authenticate: func(echo.Context) (*Principal, error) {
			return nil, errUnauthorized
		},
	}
}
