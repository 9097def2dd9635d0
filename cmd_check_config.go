package main

import (
	"context"
	"fmt"

	"github.com/infradash/infradash/devdb"
)

var checkConfigCommand = command{
	summary: "Validate the configuration as production start would, without starting anything; exits 2 when something is wrong.",
	run: func(ctx context.Context, env *environment, args []string) error {
		if err := parse(env, flags(env, "check-config"), args); err != nil {
			return err
		}
		cfg, err := loadConfig(env)
		if err != nil {
			return err
		}
		db := "DATABASE_URL"
		if cfg.DatabaseURL == "" {
			// Where serve would keep it; a machine that cannot run it yet (no postgres user)
			// is serve's error to report, not a configuration problem.
			db = "private development database under " + privateDataDir
			if dir, err := devdb.DataDir(privateDataDir); err == nil {
				db = "private development database in " + dir
			}
		}
		fmt.Fprintf(env.stdout, "configuration is valid: environment=%s, address=%s, database=%s, jobs=%t\n",
			cfg.Environment, cfg.HTTPAddr, db, cfg.JobsEnabled)
		for _, w := range cfg.Warnings() {
			fmt.Fprintln(env.stdout, "warning: "+w)
		}
		if cfg.SecretGenerated {
			fmt.Fprintln(env.stdout, "note: SECRET_KEY is unset; a random one is made at each start, so the keyed hashes of unknown emails in the login log change at each restart (sessions and API tokens do not depend on it)")
		}
		return nil
	},
}
