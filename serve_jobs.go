package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/jobs"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/telemetry"
)

// startJobs starts the scheduled jobs unless JOBS_ENABLED=false (then nil, and cron runs the
// commands instead). Their series are registered with reg, the registry /metrics serves, and
// their failures and panics go to rep (Sentry) as well as to the log.
func startJobs(cfg config.Config, pool *pgxpool.Pool, notifiers []*notify.Notifier, log *slog.Logger, reg prometheus.Registerer, rep *telemetry.Reporter) (*jobs.Scheduler, error) {
	if !cfg.JobsEnabled {
		log.Info("scheduled jobs are off (JOBS_ENABLED=false); run cleanup, alerts and aggregate from cron")
		return nil, nil
	}
	metrics := jobs.NewMetrics()
	if err := metrics.Register(reg); err != nil {
		return nil, err
	}
	log = log.With("component", "jobs")
	sched, err := jobs.NewScheduler(
		jobs.Standard(jobs.Deps{Pool: pool, Config: cfg, Logger: log, Notifiers: notifiers}),
		jobs.Options{Logger: log, Metrics: metrics, Elector: jobs.NewElector(pool, log), Reporter: rep},
	)
	if err != nil {
		return nil, err
	}
	sched.Start()
	log.Info("scheduled jobs started", "alerts", cfg.AlertsSchedule, "aggregate_hourly", cfg.AggregateHourlySchedule,
		"aggregate_daily", cfg.AggregateDailySchedule, "cleanup", cfg.CleanupSchedule)
	return sched, nil
}

// stopJobs lets a running job finish (within a bound) and gives up the leadership.
func stopJobs(ctx context.Context, sched *jobs.Scheduler, log *slog.Logger) {
	if sched == nil {
		return
	}
	if err := sched.Shutdown(ctx); err != nil {
		log.Error("stop the scheduled jobs", "err", err)
	}
}
