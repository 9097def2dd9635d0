package main

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/jobs"
	"github.com/infradash/infradash/units"
)

var partitionsCommand = command{
	summary: "Keep the history's day partitions (the scheduled partitions job): create the next days', move stray samples out of the default partitions, drop the days past retention; then list them with rows and sizes.",
	usage:   "[--dry-run] [--days N]",
	run:     partitions,
}

func partitions(ctx context.Context, env *environment, args []string) error {
	fs := flags(env, "partitions")
	dryRun := fs.Bool("dry-run", false, "say what would be created and dropped, and list the partitions; change nothing")
	days := fs.Int("days", 0, "keep this many days of raw samples and health rows (default RETENTION_DAYS)")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	if *days < 0 || *days > 36500 {
		return exitError{code: 2, err: fmt.Errorf("--days must be between 1 and 36500, not %d", *days)}
	}
	return withDatabase(ctx, env, func(cfg config.Config, _ *slog.Logger, pool *pgxpool.Pool) error {
		retention := cfg.RetentionDays
		if *days > 0 {
			retention = *days
		}
		rep, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: retention, DryRun: *dryRun, Now: time.Now()})
		create, drop := "created", "dropped"
		if *dryRun {
			create, drop = "would create", "would drop"
		}
		for _, c := range rep.Created {
			fmt.Fprintf(env.stdout, "%s %s (%s moved in from the default partition)\n", create, c.Partition, rows(c.Rows))
		}
		for _, d := range rep.Dropped {
			fmt.Fprintf(env.stdout, "%s %s (%s, %s)\n", drop, d.Partition, rows(d.Rows), units.Format(float64(d.Bytes), units.Bytes))
		}
		if len(rep.Partitions) > 0 {
			fmt.Fprintln(env.stdout)
			tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "table\tpartition\tday\trows\tsize\t")
			for _, p := range rep.Partitions {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", p.Table, p.Name, p.Day(), rowCount(p.Rows), units.Format(float64(p.Bytes), units.Bytes))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(env.stdout, "(rows: PostgreSQL's estimate from the last ANALYZE, exact for the default partitions)")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "partitions: %s %d, %s %d (raw samples kept %d days)\n", create, len(rep.Created), drop, len(rep.Dropped), retention)
		return nil
	})
}

// rowCount writes an estimated row count, or "?" when PostgreSQL has none yet.
func rowCount(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

// rows writes "1 row", "12 rows" or "? rows".
func rows(n int64) string {
	if n == 1 {
		return "1 row"
	}
	return rowCount(n) + " rows"
}
