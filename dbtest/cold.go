package dbtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sys/unix"
)

// Cold takes the files of tables and their indexes out of the operating system's page cache, as
// weeks of other work would: what a retention job drops is a month old, not the day a benchmark
// has just written. A CHECKPOINT first writes their dirty pages, which could not be evicted. It
// skips the benchmark when the server is not this test binary's own (TEST_DATABASE_URL).
func Cold(tb testing.TB, pool *pgxpool.Pool, tables ...string) {
	tb.Helper()
	if serverDir == "" {
		tb.Skip("dbtest: Cold needs the private server's files; TEST_DATABASE_URL is set")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, baseURL) // CHECKPOINT needs a superuser
	if err != nil {
		tb.Fatalf("dbtest: connect as the server's owner: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CHECKPOINT"); err != nil {
		tb.Fatalf("dbtest: checkpoint: %v", err)
	}
	rows, err := pool.Query(ctx, `SELECT pg_relation_filepath(c.oid) FROM pg_class c
		WHERE c.oid = ANY($1::regclass[]) OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = ANY($1::regclass[]))`, tables)
	if err != nil {
		tb.Fatalf("dbtest: the tables' files: %v", err)
	}
	paths, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatalf("dbtest: the tables' files: %v", err)
	}
	for _, p := range paths {
		// The file, its further 1 GB segments (path.1, ...) and its free-space and visibility
		// maps (path_fsm, path_vm); not path* alone, which would take relation 163841's as well.
		name := filepath.Join(serverDir, p)
		files := []string{name}
		for _, pattern := range []string{name + ".*", name + "_*"} {
			more, _ := filepath.Glob(pattern)
			files = append(files, more...)
		}
		for _, name := range files {
			f, err := os.Open(name)
			if err != nil {
				tb.Fatalf("dbtest: %v", err)
			}
			err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
			f.Close()
			if err != nil {
				tb.Fatalf("dbtest: evict %s from the page cache: %v", name, err)
			}
		}
	}
}
