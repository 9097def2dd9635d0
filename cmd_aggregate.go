package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/jobs"
)

var aggregateCommand = command{
	summary: "Roll the last hours of samples up into hourly or daily min, max, mean, p95 and count (the scheduled aggregation jobs); re-running changes nothing.",
	usage:   "[--hours N] [--period hourly|daily]",
	run:     aggregate,
}

func aggregate(ctx context.Context, env *environment, args []string) error {
	fs := flags(env, "aggregate")
	hours := fs.Int("hours", 0, fmt.Sprintf("roll up the buckets of the last N hours, the current partial one included (default %d hourly, %d daily)", jobs.HourlyLookbackHours, jobs.DailyLookbackHours))
	period := fs.String("period", jobs.Hourly, "bucket size: hourly or daily")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	switch *period {
	case jobs.Hourly, jobs.Daily:
	default:
		return exitError{code: 2, err: fmt.Errorf("--period must be hourly or daily, not %q", *period)}
	}
	if !given(fs, "hours") {
		*hours = jobs.HourlyLookbackHours
		if *period == jobs.Daily {
			*hours = jobs.DailyLookbackHours
		}
	}
	if *hours < 1 || *hours > 24*366 {
		return exitError{code: 2, err: fmt.Errorf("--hours must be between 1 and %d, not %d", 24*366, *hours)}
	}
	return withDatabase(ctx, env, func(_ config.Config, _ *slog.Logger, pool *pgxpool.Pool) error {
		rep, err := jobs.Aggregate(ctx, pool, *period, *hours, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "aggregate: %s\n", rep)
		return nil
	})
}
