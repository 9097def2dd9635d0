package main

import (
	"context"
	"os"
	"os/user"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/audit"
)

// cliActor is who a command acts as in the audit log: "cli", the operating-system user who ran
// it, and the machine it ran on (anyone with DATABASE_URL can run one, from anywhere).
func cliActor(env *environment) audit.Actor {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	} else if v, ok := env.lookup("USER"); ok {
		name = v
	}
	if name == "" {
		name = "unknown"
	}
	host, _ := os.Hostname()
	return audit.Actor{Name: audit.ActorCLI, Via: audit.ViaCLI, OSUser: name, Address: host}
}

// changeAudited runs a command's change and the audit entries it returns in one transaction, so
// the change is never stored without them.
func changeAudited(ctx context.Context, env *environment, pool *pgxpool.Pool, change func(tx pgx.Tx) ([]audit.Entry, error)) error {
	actor := cliActor(env)
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		entries, err := change(tx)
		if err != nil {
			return err
		}
		for _, e := range entries {
			e.Actor, e.At = actor, time.Now()
			if _, err := audit.Record(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}
