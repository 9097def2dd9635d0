// Package handlers serves infradash over HTTP: the JSON API, the pages and the operational
// endpoints. Every route is declared in routes.go.
package handlers

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/static"
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
	// collector answers the live pages from its latest snapshot; it never samples on request.
	collector *collector.Collector

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
	// Collector is the running sampler whose latest snapshot the live pages show.
	Collector *collector.Collector
}

// New builds a Server.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:       d.Config,
		pool:      d.Pool,
		q:         queries.New(d.Pool),
		log:       d.Logger,
		host:      d.Host,
		version:   d.Version,
		now:       d.Now,
		assets:    static.NewAssets(),
		collector: d.Collector,
		authenticate: func(echo.Context) (*Principal, error) {
			return nil, errUnauthorized
		},
	}
}
