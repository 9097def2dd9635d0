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

var compactCommand = command{
	summary: "Move the system samples of every hour that ended two hours ago into one block per host and hour (the scheduled compact job): about 150 bytes a sample instead of 1,000, values to 1/1000 of their unit; re-running changes nothing.",
	usage:   "",
	run:     compact,
}

func compact(ctx context.Context, env *environment, args []string) error {
	fs := flags(env, "compact")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	return withDatabase(ctx, env, func(_ config.Config, _ *slog.Logger, pool *pgxpool.Pool) error {
		rep, err := jobs.CompactSystem(ctx, pool, time.Now())
		for _, p := range rep.Tidied {
			fmt.Fprintf(env.stdout, "tidied %s (vacuumed and reindexed)\n", p)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "compact: %s\n", rep)
		return nil
	})
}
