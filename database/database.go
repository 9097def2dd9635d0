// Package database opens the PostgreSQL pool and applies the embedded goose migrations.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/infradash/infradash/schema"
)

// Open connects a pool and checks the server answers.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	// pgxpool's own default is max(4, CPUs), too few on a small VM for requests, the recorder
	// and the jobs together; a pool_max_conns in the URL is the operator's choice and wins.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 10
	}
	// Keep timestamps in UTC whatever the server's zone.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["application_name"] = "infradash"
	// The fleet's queries (the alerts window over every host, the rollups) cross PostgreSQL's
	// JIT cost thresholds and then spend most of their time compiling: 620 ms of the 2.1 s
	// alerts window of 1,000 hosts. None of ours runs long enough to win it back.
	// A jit= in the URL (pgx passes it on as a run-time parameter) is the operator's choice.
	if _, set := cfg.ConnConfig.RuntimeParams["jit"]; !set {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s: %w", redact(cfg), err)
	}
	return pool, nil
}

func redact(cfg *pgxpool.Config) string {
	return fmt.Sprintf("%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
}

// Migrator applies the embedded migrations through a pool.
type Migrator struct {
	provider *goose.Provider
	db       *sql.DB
}

// NewMigrator prepares goose over pool.
func NewMigrator(pool *pgxpool.Pool) (*Migrator, error) {
	// Replicas starting together would otherwise apply the same migration twice; the advisory
	// lock makes the others wait (retrying every second, for up to 5 minutes) and then find
	// nothing left to do.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	p, err := goose.NewProvider(goose.DialectPostgres, db, schema.FS, goose.WithSessionLocker(locker))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return &Migrator{provider: p, db: db}, nil
}

// Close releases the migrator's handle (not the pool).
func (m *Migrator) Close() error { return m.db.Close() }

// Up applies every pending migration and returns the versions applied.
func (m *Migrator) Up(ctx context.Context) ([]int64, error) {
	res, err := m.provider.Up(ctx)
	return versions(res), wrap("migrate up", err)
}

// Down undoes the latest migration.
func (m *Migrator) Down(ctx context.Context) ([]int64, error) {
	res, err := m.provider.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return nil, errors.New("migrate down: nothing to undo, the database has no migration applied")
	}
	var out []int64
	if res != nil {
		out = []int64{res.Source.Version}
	}
	return out, wrap("migrate down", err)
}

// DownTo undoes migrations down to version (0 undoes all).
func (m *Migrator) DownTo(ctx context.Context, version int64) ([]int64, error) {
	res, err := m.provider.DownTo(ctx, version)
	return versions(res), wrap("migrate down", err)
}

// Status writes one line per migration: version, state and when it was applied.
func (m *Migrator) Status(ctx context.Context, w io.Writer) error {
	st, err := m.provider.Status(ctx)
	if err != nil {
		return wrap("migrate status", err)
	}
	current, err := m.provider.GetDBVersion(ctx)
	if err != nil {
		return wrap("migrate status", err)
	}
	fmt.Fprintf(w, "current version: %d\n", current)
	// Columns as wide as their longest entry, whatever the migrations are called.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "version\tmigration\tstate\tapplied at")
	for _, s := range st {
		state, at := "pending", ""
		if s.State == goose.StateApplied {
			state, at = "applied", s.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%05d\t%s\t%s\t%s\n", s.Source.Version, s.Source.Path, state, at)
	}
	return tw.Flush()
}

func versions(res []*goose.MigrationResult) []int64 {
	var out []int64
	for _, r := range res {
		out = append(out, r.Source.Version)
	}
	return out
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
