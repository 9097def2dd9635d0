package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/handlers"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/store"
	"github.com/infradash/infradash/telemetry"
)

// Shutdown budget: requests under way get httpStopTimeout, then stopping the local agent and
// finishing a running job get backgroundStopTimeout together, then error reporting gets
// reporterFlushTimeout: 25 s at most, inside systemd's TimeoutStopSec and compose's
// stop_grace_period (35 s).
const (
	httpStopTimeout       = 10 * time.Second
	backgroundStopTimeout = 10 * time.Second
	reporterFlushTimeout  = 5 * time.Second
)

var serveCommand = command{
	summary: "Migrate the database, start collecting, run the scheduled jobs and serve the dashboard and API (the default command). Stops gracefully on SIGINT or SIGTERM.",
	run:     serve,
}

func serve(ctx context.Context, env *environment, args []string) error {
	if err := parse(env, flags(env, "serve"), args); err != nil {
		return err
	}
	return connect(ctx, env, true, env.stdout, func(cfg config.Config, log *slog.Logger, pool *pgxpool.Pool) error {
		return runServer(ctx, env, cfg, log, pool)
	})
}

// runServer serves until ctx ends, then shuts down in order.
func runServer(ctx context.Context, env *environment, cfg config.Config, log *slog.Logger, pool *pgxpool.Pool) error {
	ver, _, _ := buildInfo()
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	if cfg.SecretGenerated {
		log.Warn("SECRET_KEY is unset: using a random key for this run only; the login log's hashes of unknown emails will not match across restarts")
	}

	users := newAuthStore(cfg, pool)
	if err := bootstrapAdmin(ctx, cfg, users, env.stdout, log); err != nil {
		return err
	}
	reporter, err := telemetry.NewReporter(telemetry.ReporterOptions{DSN: cfg.SentryDSN, Environment: cfg.Environment, Release: ver})
	if err != nil {
		return err
	}
	if reporter != nil {
		log.Info("reporting errors and panics to Sentry")
		defer reporter.Flush(reporterFlushTimeout)
	}
	metrics := telemetry.New()

	if err := fleet.NewRegistry(pool, nil).EnsureLocal(ctx, cfg.Host); err != nil {
		return err
	}
	// One resolver of thresholds for the fleet's view, the stored health rows, the pages and the
	// alerts: the environment's levels under the alert rules.
	resolver, err := newResolver(ctx, cfg, pool, log)
	if err != nil {
		return err
	}
	chans := newChannelStore(ctx, cfg, pool, log)
	view := fleet.New(fleet.Options{DB: pool, DownAfter: cfg.HostDownAfter, Thresholds: resolver.Thresholds, Logger: log})
	st := store.New(pool, store.Options{Thresholds: view.Thresholds, Observe: view.Observe, Logger: log})
	col := collector.New(collector.Options{Host: cfg.Host, Interval: cfg.CollectInterval, Version: ver, Logger: log})
	local, err := newLocalAgent(cfg, col, st, view, ver, log)
	if err != nil {
		return err
	}
	if err := registerGauges(metrics, local, view, pool); err != nil {
		return err
	}
	// The built-in notifiers, built once: the jobs send through them and the test alert too.
	notifiers := notify.FromURLs(cfg.SlackWebhookURL, cfg.AlertWebhookURL, notify.Options{})
	sched, err := startJobs(cfg, pool, notifiers, log, metrics.Registry(), reporter, resolver, chans)
	if err != nil {
		return err
	}
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		local.run(bgCtx)
	}()
	viewed := make(chan struct{})
	go func() {
		defer close(viewed)
		view.Run(bgCtx)
	}()
	resolved := make(chan struct{})
	go func() {
		defer close(resolved)
		resolver.Run(bgCtx)
	}()
	// However serve ends (signal, HTTP server failure), and after the HTTP server has stopped:
	// the local agent stops (what it has not stored stays in its spool for the next start) while
	// the jobs finish, within backgroundStopTimeout, before the database closes.
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), backgroundStopTimeout)
		defer cancel()
		jobsStopped := make(chan struct{})
		go func() {
			defer close(jobsStopped)
			stopJobs(stopCtx, sched, log)
		}()
		stopBackground()
		<-collected
		<-viewed
		<-resolved
		if err := local.close(); err != nil {
			log.Error("close the spool", "err", err)
		}
		<-jobsStopped
		log.Info("stopped")
	}()

	opts := handlerOptions(cfg)
	srv := handlers.New(handlers.Deps{
		Options: opts, Pool: pool, Logger: log, Host: cfg.Host, Version: ver, Store: st, Fleet: view,
		Thresholds: cfg.Thresholds, Rules: resolver, Channels: chans, Sessions: handlers.NewSessionManager(opts, pool), Users: users,
		Notifiers: notifiers,
		Metrics:   metrics, Reporter: reporter,
	})
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	srv.Routes(e)

	var cert *certificate
	if cfg.TLSCertFile != "" {
		if cert, err = loadCertificate(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return err
		}
	}
	reloadOnHangup(ctx, cert, log)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	httpServer := &http.Server{
		Handler:           handlers.HeadAsGet(e),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	// Starting up hashes two passwords (argon2id, 19 MiB each: the admin's and the one unknown
	// emails are checked against) and parses the migrations: 55 MB of garbage that an idle
	// server, allocating little, would otherwise keep mapped for minutes before the next GC.
	debug.FreeOSMemory()
	served := make(chan error, 1)
	scheme := "http"
	if cert != nil {
		scheme = "https"
		httpServer.TLSConfig = cert.config()
		go func() { served <- httpServer.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- httpServer.Serve(ln) }()
	}
	log.Info("infradash serving", "url", scheme+"://"+ln.Addr().String(), "version", ver, "environment", cfg.Environment)

	select {
	case err := <-served:
		return fmt.Errorf("HTTP server: %w", err)
	case <-ctx.Done():
	}
	// Stop taking requests first and let those under way finish; background work and the
	// database go after (deferred above), so no request sees them disappear.
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), httpStopTimeout)
	defer cancel()
	if err := httpServer.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("HTTP shutdown", "err", err)
	}
	return nil
}

// handlerOptions are the settings the HTTP handlers read.
func handlerOptions(cfg config.Config) handlers.Options {
	return handlers.Options{
		Production: cfg.Production(), BaseURL: cfg.BaseURL, CollectInterval: cfg.CollectInterval,
		CORSOrigins: cfg.CORSOrigins, TrustedProxies: cfg.TrustedProxies, SessionLifetime: cfg.SessionLifetime,
		SecretKey: cfg.SecretKey, SecretGenerated: cfg.SecretGenerated, AlertHysteresis: cfg.AlertHysteresis,
		BuiltinChannels: handlers.BuiltinChannelsOf(cfg.SlackWebhookURL, cfg.AlertWebhookURL), MetricsToken: cfg.MetricsToken, HostDownAfter: cfg.HostDownAfter,
		RetentionDays: cfg.RetentionDays, LoginMaxFailures: cfg.LoginMaxFailures, LoginLockout: cfg.LoginLockout,
	}
}
