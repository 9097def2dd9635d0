package main

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/infradash/infradash/channels"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/jobs"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/rules"
	"github.com/infradash/infradash/telemetry"
)

// startJobs starts the scheduled jobs unless JOBS_ENABLED=false (then nil, and cron runs the
// commands instead). Their series are registered with reg, the registry /metrics serves, and
// their failures and panics go to rep (Sentry) as well as to the log.
func startJobs(cfg config.Config, pool *pgxpool.Pool, notifiers []*notify.Notifier, log *slog.Logger, reg prometheus.Registerer,
	rep *telemetry.Reporter, resolver *rules.Resolver, chans *channels.Store) (*jobs.Scheduler, error) {
	if !cfg.JobsEnabled {
		log.Info("scheduled jobs are off (JOBS_ENABLED=false); run cleanup, alerts, aggregate and partitions from cron")
		return nil, nil
	}
	metrics := jobs.NewMetrics()
	if err := metrics.Register(reg); err != nil {
		return nil, err
	}
	log = log.With("component", "jobs")
	sched, err := jobs.NewScheduler(
		jobs.Standard(jobs.Deps{Pool: pool, Config: cfg, Logger: log, Notifiers: notifiers, Resolver: resolver, Channels: chans.Load}),
		jobs.Options{Logger: log, Metrics: metrics, Elector: jobs.NewElector(pool, log), Reporter: rep},
	)
	if err != nil {
		return nil, err
	}
	sched.Start()
	log.Info("scheduled jobs started", "alerts", cfg.AlertsSchedule, "aggregate_5min", cfg.AggregateFiveMinuteSchedule,
		"aggregate_hourly", cfg.AggregateHourlySchedule, "aggregate_daily", cfg.AggregateDailySchedule,
		"cleanup", cfg.CleanupSchedule, "partitions", cfg.PartitionsSchedule, "compact", cfg.CompactSchedule)
	// Today's partitions now rather than at the next scheduled run: until then every sample
	// would land in the default partitions, to be moved out again (only the leader runs it).
	if err := sched.RunNow(jobs.JobPartitions); err != nil {
		log.Error("start the partition maintenance", "err", err)
	}
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

// newResolver is the thresholds of every host: the environment's HEALTH_* levels and
// HOST_DOWN_AFTER under the alert rules, read once now so the first samples are judged by them.
func newResolver(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, log *slog.Logger) (*rules.Resolver, error) {
	builtin := cfg.Thresholds
	builtin.DownAfter = cfg.HostDownAfter
	r := rules.NewResolver(pool, builtin, log)
	if err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// newChannelStore keeps the notification channels, their URLs sealed under SECRET_KEY. A key made
// up at start (SECRET_KEY unset in development) would seal URLs that no later start could read,
// so then none is sealed: new channels are refused, and the stored ones are unreadable (they
// send nothing, and say so) until SECRET_KEY is set to the key they were stored under.
func newChannelStore(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, log *slog.Logger) *channels.Store {
	var box *channels.Box
	if !cfg.SecretGenerated {
		var err error
		if box, err = channels.NewBox(cfg.SecretKey); err != nil {
			log.Error("notification channels: no key to seal their URLs", "err", err)
		}
	}
	st := channels.NewStore(pool, box, notify.Options{})
	if list, err := st.List(ctx, pool); err == nil {
		unreadable := 0
		for _, c := range list {
			if c.Unreadable {
				unreadable++
			}
		}
		if unreadable > 0 {
			log.Warn("notification channels whose URL does not decrypt with this SECRET_KEY send nothing until SECRET_KEY is the one they were saved under, or their URL is entered again in /settings/channels",
				"channels", unreadable)
		}
	}
	return st
}
