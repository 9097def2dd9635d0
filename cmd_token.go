package main

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/config"
)

var tokenCommand = command{
	summary: "Manage API tokens for scripts: create one (printed once, alone on stdout), revoke one by id " +
		"(refused by running servers at once), or list a user's tokens. Creating and revoking are in the audit log.",
	usage: "create --email EMAIL --name NAME [--ttl 720h] | revoke --id ID | list --email EMAIL",
	run:   runToken,
}

func runToken(ctx context.Context, env *environment, args []string) error {
	fs := flags(env, "token")
	email := fs.String("email", "", "create, list: the user the token acts for")
	name := fs.String("name", "", "create: what the token is for, e.g. ci-deploy")
	ttl := fs.Duration("ttl", 30*24*time.Hour, "create: how long the token is valid, as a duration (720h is 30 days; at most 8760h, a year)")
	id := fs.Int64("id", 0, "revoke: the token's id (see token list)")
	action, err := subcommand(env, fs, args, "create", "revoke", "list")
	if err != nil {
		return err
	}
	switch {
	case action != "revoke" && *email == "":
		fmt.Fprintf(env.stderr, "infradash token %s: --email is required\n", action)
		return errUsage
	case action == "create" && *name == "":
		fmt.Fprintln(env.stderr, "infradash token create: --name is required (say what the token is for)")
		return errUsage
	case action == "create" && (*ttl <= 0 || *ttl > auth.MaxTokenLifetime):
		fmt.Fprintf(env.stderr, "infradash token create: --ttl must be positive and at most 8760h (a year), not %s; "+
			"create a new token before the old one expires\n", *ttl)
		return errUsage
	case action == "revoke" && *id <= 0:
		fmt.Fprintln(env.stderr, "infradash token revoke: --id is required")
		return errUsage
	}
	return withDatabase(ctx, env, func(cfg config.Config, _ *slog.Logger, pool *pgxpool.Pool) error {
		store := newAuthStore(cfg, pool)
		switch action {
		case "create":
			u, err := store.UserByEmail(ctx, *email)
			if err != nil {
				return err
			}
			var token string
			var t auth.Token
			if err := changeAudited(ctx, env, pool, func(tx pgx.Tx) ([]audit.Entry, error) {
				var err error
				token, t, err = store.In(tx).CreateToken(ctx, u.ID, *name, *ttl)
				return []audit.Entry{audit.TokenCreated(t, u.Email)}, err
			}); err != nil {
				return err
			}
			fmt.Fprintf(env.stderr, "token %d for %s (%s), expires %s; it is shown only now:\n", t.ID, u.Email, u.Role, stamp(&t.ExpiresAt))
			fmt.Fprintln(env.stdout, token)
		case "revoke":
			if err := changeAudited(ctx, env, pool, func(tx pgx.Tx) ([]audit.Entry, error) {
				t, err := store.In(tx).RevokeToken(ctx, *id)
				return []audit.Entry{audit.TokenRevoked(t)}, err
			}); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "token %d revoked\n", *id)
		case "list":
			u, err := store.UserByEmail(ctx, *email)
			if err != nil {
				return err
			}
			tokens, err := store.Tokens(ctx, u.ID)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
			for _, t := range tokens {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, stamp(&t.CreatedAt), stamp(&t.ExpiresAt), stamp(t.LastUsedAt), stamp(t.RevokedAt))
			}
			return w.Flush()
		}
		return nil
	})
}
