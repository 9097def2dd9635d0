package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/joho/godotenv"

	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/devdb"
	"github.com/infradash/infradash/telemetry"
)

// Stamped at build time with -ldflags "-X main.version=... -X main.commit=... -X main.buildDate=...".
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

// privateDataDir holds the development database, relative to the working directory.
const privateDataDir = ".data/postgres"

// privateDatabase is the database name on the private server.
const privateDatabase = "infradash"

func buildInfo() (ver, rev, date string) {
	ver, rev, date = version, commit, buildDate
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && rev == "":
				rev = s.Value
			case s.Key == "vcs.time" && date == "":
				date = s.Value
			}
		}
	}
	return ver, rev, date
}

// lookupWithDotenv finds a variable in the environment, then in .env when there is one.
func lookupWithDotenv(env *environment) (config.LookupFunc, error) {
	dotenv, err := godotenv.Read(".env")
	if os.IsNotExist(err) {
		return env.lookup, nil
	}
	if err != nil {
		return nil, fmt.Errorf(".env: %w", err)
	}
	return func(k string) (string, bool) {
		if v, ok := env.lookup(k); ok {
			return v, true
		}
		v, ok := dotenv[k]
		return v, ok
	}, nil
}

// loadConfig reads .env (when present; the environment wins) and validates the configuration.
func loadConfig(env *environment) (config.Config, error) {
	lookup, err := lookupWithDotenv(env)
	if err != nil {
		return config.Config{}, err
	}
	cfg, err := config.Load(lookup)
	var problems config.Problems
	if err != nil && !errors.As(err, &problems) {
		return cfg, err
	}
	// The DSN's grammar belongs to the Sentry client, so it is checked here, where main wires
	// telemetry, rather than in config.
	if err := telemetry.CheckDSN(cfg.SentryDSN); err != nil {
		problems = append(problems, "SENTRY_DSN: "+err.Error())
	}
	if len(problems) > 0 {
		return cfg, exitError{code: 2, err: fmt.Errorf("configuration is not valid:\n  %s", joinLines(problems))}
	}
	return cfg, nil
}

func joinLines(p config.Problems) string {
	s := ""
	for i, line := range p {
		if i > 0 {
			s += "\n  "
		}
		s += line
	}
	return s
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	return logger(cfg.LogLevel, cfg.LogFormat, w)
}

// logger writes at level (LOG_LEVEL) in format (LOG_FORMAT: text or json).
func logger(levelName, format string, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(levelName))
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openDatabase connects to DATABASE_URL or, in development without it, to a private server
// started from the system's PostgreSQL binaries (or found running). The returned stop function
// closes the pool and stops the private server unless another infradash process still uses it.
// announce, when not nil, is told where the private server is and how to reach it.
func openDatabase(ctx context.Context, cfg config.Config, log *slog.Logger, announce io.Writer) (*pgxpool.Pool, func(), error) {
	url := cfg.DatabaseURL
	var srv *devdb.Server
	if url == "" {
		var err error
		if srv, url, err = startPrivate(ctx, log); err != nil {
			return nil, nil, err
		}
		if announce != nil {
			fmt.Fprintf(announce, "Private PostgreSQL in %s (kept for the next run; stopped with this one; by hand: %s)\n", srv.Dir, srv.StopCommand())
			fmt.Fprintf(announce, "Database: %s  (psql on it: bin/infradash psql)\n", url)
		}
	}
	pool, err := database.Open(ctx, url)
	if err != nil {
		_ = srv.Stop()
		return nil, nil, err
	}
	stop := func() {
		pool.Close()
		if err := srv.Stop(); err != nil {
			log.Error("stop the private database", "err", err)
		}
	}
	return pool, stop, nil
}

// startPrivate starts, or finds running, the development PostgreSQL of this working folder
// (devdb.DataDir says where its data is) and returns it with its database's URL.
func startPrivate(ctx context.Context, log *slog.Logger) (*devdb.Server, string, error) {
	dir, err := devdb.DataDir(privateDataDir)
	if err != nil {
		return nil, "", err
	}
	srv, err := devdb.Start(ctx, dir, devdb.Options{Logger: log})
	if err != nil {
		return nil, "", err
	}
	if err := srv.CreateDatabase(ctx, privateDatabase); err != nil {
		_ = srv.Stop()
		return nil, "", err
	}
	return srv, srv.URL(privateDatabase), nil
}

// withDatabase loads the configuration, opens the database, applies pending migrations when
// MIGRATE_ON_START is on (so every command works on a fresh database, as serve does) and runs fn
// with them; the database is closed when fn returns.
func withDatabase(ctx context.Context, env *environment, fn func(config.Config, *slog.Logger, *pgxpool.Pool) error) error {
	return connect(ctx, env, true, nil, fn)
}

// connect is withDatabase with the migration left to the caller when migrate is false, and
// the private server's whereabouts told to announce (serve's standard output) when it is set.
func connect(ctx context.Context, env *environment, migrate bool, announce io.Writer, fn func(config.Config, *slog.Logger, *pgxpool.Pool) error) error {
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.stderr)
	pool, stop, err := openDatabase(ctx, cfg, log, announce)
	if err != nil {
		return err
	}
	defer stop()
	if migrate && cfg.MigrateOnStart {
		if err := migrateUp(ctx, pool, log); err != nil {
			return err
		}
	}
	return fn(cfg, log, pool)
}

// migrateUp applies pending migrations and logs what it did.
func migrateUp(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	m, err := database.NewMigrator(pool)
	if err != nil {
		return err
	}
	defer m.Close()
	applied, err := m.Up(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "versions", applied)
	}
	return nil
}
