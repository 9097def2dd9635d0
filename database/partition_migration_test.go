package database_test

import (
	"context"
	"database/sql"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/schema"
)

var historyTables = []string{"system_metrics_history", "process_metrics_history", "infrastructure_health"}

// partitioning opens a database with no migration applied, migrated up to just before the
// migration that partitions the history (found by its name, so renumbering it breaks nothing),
// and returns goose and that migration's version.
func partitioning(tb testing.TB) (*pgxpool.Pool, *goose.Provider, int64) {
	tb.Helper()
	files, err := fs.Glob(schema.FS, "*_partitioned_history.sql")
	if err != nil || len(files) != 1 {
		tb.Fatalf("the partitioning migration: %v %v", files, err)
	}
	version, err := strconv.ParseInt(strings.SplitN(files[0], "_", 2)[0], 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	pool, err := database.Open(context.Background(), dbtest.EmptyURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	db := stdlib.OpenDBFromPool(pool)
	tb.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, schema.FS)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), version-1); err != nil {
		tb.Fatal(err)
	}
	return pool, p, version
}

// contents is each history table's row count and a checksum over every column of every row
// but id (which the partitioned tables do not have), in key order.
func contents(tb testing.TB, pool *pgxpool.Pool) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, table := range historyTables {
		var n int64
		var sum sql.NullString
		if err := pool.QueryRow(context.Background(), `SELECT count(*), md5(string_agg(md5((to_jsonb(t) - 'id')::text), '' ORDER BY t.host, t.collected_at)) FROM `+table+` t`).Scan(&n, &sum); err != nil {
			tb.Fatal(err)
		}
		out[table] = strconv.FormatInt(n, 10) + " rows, " + sum.String
	}
	return out
}

func relkinds(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	var s string
	if err := pool.QueryRow(context.Background(), `SELECT string_agg(relname || '=' || relkind::text, ' ' ORDER BY relname) FROM pg_class WHERE relname = ANY($1)`, historyTables).Scan(&s); err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestPartitioningMigrationKeepsEveryRowUpAndDown(t *testing.T) {
	ctx := context.Background()
	pool, p, version := partitioning(t)
	// Three and a half days of minute samples from two hosts, starting and ending mid-day.
	from := time.Date(2026, 2, 26, 19, 30, 0, 0, time.UTC)
	dbtest.SeedHistory(t, pool, "web-1", from, 84*time.Hour, time.Minute)
	dbtest.SeedHistory(t, pool, "web-2", from.Add(12*time.Hour), 24*time.Hour, time.Minute)
	before := contents(t, pool)

	if _, err := p.UpTo(ctx, version); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, pool); !equal(got, before) {
		t.Fatalf("up changed the history:\nbefore %v\nafter  %v", before, got)
	}
	if got, want := relkinds(t, pool), "infrastructure_health=p process_metrics_history=p system_metrics_history=p"; got != want {
		t.Fatalf("after up the history tables are %s, want partitioned (%s)", got, want)
	}
	for _, table := range historyTables {
		var parts string
		var inDefault int
		if err := pool.QueryRow(ctx, `SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = $1::regclass`, table).Scan(&parts); err != nil {
			t.Fatal(err)
		}
		want := strings.Join([]string{table + "_default", table + "_p20260226", table + "_p20260227", table + "_p20260228", table + "_p20260301", table + "_p20260302"}, " ")
		if parts != want {
			t.Errorf("%s: partitions %s, want one a day with rows and the default: %s", table, parts, want)
		}
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table+`_default`).Scan(&inDefault); err != nil || inDefault != 0 {
			t.Errorf("%s: %d rows left in the default partition (%v)", table, inDefault, err)
		}
	}
	// A sample for a day without partition, in the default partition, goes down with the others.
	if _, err := pool.Exec(ctx, `INSERT INTO infrastructure_health (host, collected_at, score, status) VALUES ('web-3', '2026-04-01T00:00:00Z', 1, 'warning')`); err != nil {
		t.Fatal(err)
	}
	before = contents(t, pool)

	if _, err := p.DownTo(ctx, version-1); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, pool); !equal(got, before) {
		t.Fatalf("down changed the history:\nbefore %v\nafter  %v", before, got)
	}
	if got, want := relkinds(t, pool), "infrastructure_health=r process_metrics_history=r system_metrics_history=r"; got != want {
		t.Fatalf("after down the history tables are %s, want plain tables (%s)", got, want)
	}
	// The old layout writes as it did: ids from its identity column.
	if _, err := pool.Exec(ctx, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent) VALUES ('web-3', now(), 1, 1)`); err != nil {
		t.Fatal(err)
	}
	var maxID, n int64
	if err := pool.QueryRow(ctx, `SELECT max(id), count(*) FROM system_metrics_history`).Scan(&maxID, &n); err != nil || maxID != n {
		t.Errorf("after down the ids run 1 to %d for %d rows (%v)", maxID, n, err)
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// BenchmarkPartitioningMigration times the migration of an installation holding 30 days of
// 5-second samples of one host (518,400 rows in each history table), up and then down, and
// checks that both keep every row.
func BenchmarkPartitioningMigration(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		pool, p, version := partitioning(b)
		dbtest.SeedHistory(b, pool, "web-1", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), 30*24*time.Hour, 5*time.Second)
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
			b.Fatal(err)
		}
		before := contents(b, pool)
		b.StartTimer()
		start := time.Now()
		if _, err := p.UpTo(ctx, version); err != nil {
			b.Fatal(err)
		}
		up := time.Since(start)
		b.StopTimer()
		if got := contents(b, pool); !equal(got, before) {
			b.Fatalf("up changed the history:\nbefore %v\nafter  %v", before, got)
		}
		b.StartTimer()
		start = time.Now()
		if _, err := p.DownTo(ctx, version-1); err != nil {
			b.Fatal(err)
		}
		down := time.Since(start)
		b.StopTimer()
		if got := contents(b, pool); !equal(got, before) {
			b.Fatalf("down changed the history:\nbefore %v\nafter  %v", before, got)
		}
		b.ReportMetric(up.Seconds(), "up-s")
		b.ReportMetric(down.Seconds(), "down-s")
		b.StartTimer()
	}
}
