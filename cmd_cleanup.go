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

var cleanupCommand = command{
	summary: "Delete resolved alerts, rollups, sessions and API tokens past retention, in batches (the scheduled cleanup job); raw samples go by whole days with `infradash partitions`.",
	usage:   "[--dry-run] [--vacuum] [--days N]",
	run:     cleanup,
}

func cleanup(ctx context.Context, env *environment, args []string) error {
	fs := flags(env, "cleanup")
	dryRun := fs.Bool("dry-run", false, "count what would be deleted; delete nothing")
	vacuum := fs.Bool("vacuum", false, "after deleting, VACUUM (ANALYZE) each table that lost rows, so PostgreSQL reuses the space (a table with nothing deleted is left alone)")
	days := fs.Int("days", 0, "keep revoked API tokens this many days (default RETENTION_DAYS); raw samples: infradash partitions --days")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	daysSet := given(fs, "days")
	if daysSet && (*days < 1 || *days > 36500) {
		return exitError{code: 2, err: fmt.Errorf("--days must be between 1 and 36500, not %d", *days)}
	}
	return withDatabase(ctx, env, func(cfg config.Config, _ *slog.Logger, pool *pgxpool.Pool) error {
		retention := jobs.RetentionFrom(cfg)
		if daysSet {
			retention.RawDays = *days
		}
		rep, err := jobs.Cleanup(ctx, pool, jobs.CleanupOptions{Retention: retention, DryRun: *dryRun, Vacuum: *vacuum, Now: time.Now()})
		verb := "deleted"
		if *dryRun {
			verb = "would delete"
		}
		for _, t := range rep.Tables {
			fmt.Fprintf(env.stdout, "%-24s %s %d rows\n", t.Table, verb, t.Rows)
		}
		if err != nil {
			return err
		}
		for _, t := range rep.Vacuumed {
			fmt.Fprintf(env.stdout, "%-24s vacuumed\n", t)
		}
		fmt.Fprintf(env.stdout, "cleanup: %s %d rows in all (resolved alerts kept %d days, rollups %d, revoked tokens %d; raw samples and health rows are dropped by the day with `infradash partitions`)\n",
			verb, rep.Total(), retention.AlertDays, retention.AggregateDays, retention.RawDays)
		return nil
	})
}
