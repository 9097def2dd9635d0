package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/database"
)

var migrateCommand = command{
	summary: "Apply every pending migration (up), undo the latest one (down) or list them with the current version (status). " +
		"down deletes what that migration created: undoing 00001 drops every table and all data, so take a backup first (docs/deployment.md).",
	usage: "up|down|status",
	run: func(ctx context.Context, env *environment, args []string) error {
		fs := flags(env, "migrate")
		if err := parse(env, fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fs.Usage()
			return errUsage
		}
		action := fs.Arg(0)
		if action != "up" && action != "down" && action != "status" {
			fmt.Fprintf(env.stderr, "infradash migrate: unknown action %q (want up, down or status)\n", action)
			return errUsage
		}
		// No automatic migration first: this command is the operator's explicit control.
		return connect(ctx, env, false, nil, func(_ config.Config, _ *slog.Logger, pool *pgxpool.Pool) error {
			m, err := database.NewMigrator(pool)
			if err != nil {
				return err
			}
			defer m.Close()
			switch action {
			case "up":
				applied, err := m.Up(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.stdout, "applied %d migration(s) %v\n", len(applied), applied)
			case "down":
				undone, err := m.Down(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.stdout, "undid migration %v\n", undone)
			case "status":
				return m.Status(ctx, env.stdout)
			}
			return nil
		})
	},
}
