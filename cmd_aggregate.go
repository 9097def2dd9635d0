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
	summary: "Roll the last hours of samples up into five-minute, hourly or daily min, max, mean, p95 and count (the scheduled aggregation jobs); re-running changes nothing.",
	usage:   "[--hours N] [--period 5min|hourly|daily]",
	run:     aggregate,
}

func aggregate(ctx context.Context, env *environment, args []string) error {
	fs := flags(env, "aggregate")
	hours := fs.Int("hours", 0, "roll up the buckets of the last N hours, the current partial one included (default: as the scheduled job, 15 minutes for 5min, 2 hours hourly, 48 daily)")
	period := fs.String("period", jobs.Hourly, "bucket size: 5min, hourly or daily")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	lookback, ok := jobs.Lookback(*period)
	if !ok {
		return exitError{code: 2, err: fmt.Errorf("--period must be 5min, hourly or daily, not %q", *period)}
	}
	if given(fs, "hours") {
		if *hours < 1 || *hours > 24*366 {
			return exitError{code: 2, err: fmt.Errorf("--hours must be between 1 and %d, not %d", 24*366, *hours)}
		}
		lookback = time.Duration(*hours) * time.Hour
	}
	return withDatabase(ctx, env, func(_ config.Config, _ *slog.Logger, pool *pgxpool.Pool) error {
		rep, err := jobs.Aggregate(ctx, pool, *period, lookback, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "aggregate: %s\n", rep)
		return nil
	})
}
