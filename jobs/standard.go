package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/alerts"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/rules"
)

// Job names; also the job label of the metrics.
const (
	JobAlerts              = "alerts"
	JobAggregateFiveMinute = "aggregate-5min"
	JobAggregateHourly     = "aggregate-hourly"
	JobAggregateDaily      = "aggregate-daily"
	JobCleanup             = "cleanup"
	JobPartitions          = "partitions"
	JobCompact             = "compact"
)

// How far back each scheduled rollup looks: the origin's cron lines (--hours 2, --period daily
// --hours 48), so a missed run is made good by the next; three five-minute buckets, with
// Aggregate starting where the newest of them ends when that is further back.
const (
	FiveMinuteLookback = 15 * time.Minute
	HourlyLookback     = 2 * time.Hour
	DailyLookback      = 48 * time.Hour
)

// Deps are what the standard jobs work with.
type Deps struct {
	Pool   *pgxpool.Pool
	Config config.Config
	// Resolver gives each host's thresholds (alert rules); nil judges all by the configuration's.
	Resolver *rules.Resolver
	// Notifiers are the built-in channels; Channels, when set, reads the others at each run.
	Notifiers []*notify.Notifier
	Channels  func(context.Context) ([]notify.Channel, error)
	Logger    *slog.Logger
	Now       func() time.Time
}

// RetentionFrom takes the retention periods out of the configuration.
func RetentionFrom(cfg config.Config) Retention {
	return Retention{RawDays: cfg.RetentionDays, AlertDays: cfg.AlertRetentionDays, AggregateDays: cfg.AggregateRetentionDays}
}

// Standard returns infradash's seven maintenance jobs on the configured schedules.
func Standard(d Deps) []Job {
	if d.Now == nil {
		d.Now = time.Now
	}
	cfg := d.Config
	evaluator := alerts.New(alerts.Deps{DB: d.Pool, Rules: alerts.RulesFrom(cfg), Resolver: d.Resolver, Notifiers: d.Notifiers, Channels: d.Channels,
		BaseURL: cfg.BaseURL, Now: d.Now, Logger: d.Logger})
	return []Job{
		{Name: JobAlerts, Schedule: cfg.AlertsSchedule, Timeout: 5 * time.Minute,
			Run: func(ctx context.Context) (string, error) {
				rep, err := evaluator.Run(ctx, false)
				return rep.String(), err
			}},
		// A long catch-up is done an hour at a time, each kept: a run cut short resumes.
		{Name: JobAggregateFiveMinute, Schedule: cfg.AggregateFiveMinuteSchedule, Timeout: 15 * time.Minute,
			Run: func(ctx context.Context) (string, error) {
				rep, err := Aggregate(ctx, d.Pool, FiveMinute, FiveMinuteLookback, d.Now())
				return rep.String(), err
			}},
		{Name: JobAggregateHourly, Schedule: cfg.AggregateHourlySchedule, Timeout: 15 * time.Minute,
			Run: func(ctx context.Context) (string, error) {
				rep, err := Aggregate(ctx, d.Pool, Hourly, HourlyLookback, d.Now())
				return rep.String(), err
			}},
		{Name: JobAggregateDaily, Schedule: cfg.AggregateDailySchedule, Timeout: 30 * time.Minute,
			Run: func(ctx context.Context) (string, error) {
				rep, err := Aggregate(ctx, d.Pool, Daily, DailyLookback, d.Now())
				return rep.String(), err
			}},
		{Name: JobCleanup, Schedule: cfg.CleanupSchedule, Timeout: time.Hour,
			Run: func(ctx context.Context) (string, error) {
				rep, err := Cleanup(ctx, d.Pool, CleanupOptions{Retention: RetentionFrom(cfg), Vacuum: true, Now: d.Now()})
				return rep.String(), err
			}},
		// Moving a backlog out of the default partition is the slow part; creating and dropping
		// take milliseconds.
		{Name: JobPartitions, Schedule: cfg.PartitionsSchedule, Timeout: 30 * time.Minute,
			Run: func(ctx context.Context) (string, error) {
				rep, err := MaintainPartitions(ctx, d.Pool, PartitionOptions{RetentionDays: cfg.RetentionDays, Now: d.Now()})
				return rep.String(), err
			}},
		// An hour of 1,000 hosts takes about a minute; a backlog (the first run after an upgrade
		// holds up to RETENTION_DAYS of rows) goes on at the next run from where this one stopped.
		{Name: JobCompact, Schedule: cfg.CompactSchedule, Timeout: 50 * time.Minute,
			Run: func(ctx context.Context) (string, error) {
				rep, err := CompactSystem(ctx, d.Pool, d.Now())
				return rep.String(), err
			}},
	}
}
