package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/infradash/infradash/devdb"
)

var psqlCommand = command{
	summary: "Run psql on the configured database: DATABASE_URL, or in development the private PostgreSQL (started if it is not running, and stopped afterwards unless serve still uses it). Arguments after -- go to psql.",
	usage:   "[-- PSQL_ARGUMENTS...]",
	run: func(ctx context.Context, env *environment, args []string) error {
		fs := flags(env, "psql")
		ours, theirs := args, []string(nil)
		if i := slices.Index(args, "--"); i >= 0 {
			ours, theirs = args[:i], args[i+1:]
		}
		if err := parse(env, fs, ours); err != nil && !errors.Is(err, errUsage) {
			return err
		}
		if len(ours) > 0 { // psql's own flags, given without the --
			fmt.Fprintf(env.stderr, "infradash psql: put psql's arguments after --, as in: infradash psql -- %s\n", strings.Join(ours, " "))
			return errUsage
		}
		cfg, err := loadConfig(env)
		if err != nil {
			return err
		}
		psql, err := devdb.Program("psql")
		if err != nil {
			return err
		}
		url := cfg.DatabaseURL
		if url == "" {
			log := newLogger(cfg, env.stderr)
			var srv *devdb.Server
			if srv, url, err = startPrivate(ctx, log); err != nil {
				return err
			}
			defer func() {
				if err := srv.Stop(); err != nil {
					log.Error("stop the private database", "err", err)
				}
			}()
		}
		// Not CommandContext: Ctrl-C belongs to psql (it cancels the query), and main, which
		// also sees it, must wait for psql rather than kill it.
		cmd := exec.Command(psql, append([]string{"--dbname", url}, theirs...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = env.stdin, env.stdout, env.stderr
		cmd.Env = os.Environ()
		err = cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return exitError{code: ee.ExitCode(), err: fmt.Errorf("psql exited with status %d", ee.ExitCode())}
		}
		return err
	},
}
