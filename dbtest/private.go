package dbtest

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/peterldowns/pgtestdb"

	"github.com/infradash/infradash/devdb"
)

// Private is a PostgreSQL server of one test's own, with one migrated database, that the test
// may stop and start again: a real outage, not a pool told to fail.
type Private struct {
	tb  testing.TB
	dir string
	srv *devdb.Server
}

// PrivateServer starts a throwaway server for this test; it is stopped and removed when the
// test ends.
func PrivateServer(tb testing.TB) *Private {
	tb.Helper()
	// Not t.TempDir: its parent folder is private, and the server (the postgres user when tests
	// run as root) must reach its own folder.
	tmp, err := os.MkdirTemp("", "infradash-private-")
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	p := &Private{tb: tb, dir: filepath.Join(tmp, "pg")}
	p.Start()
	tb.Cleanup(func() { _ = p.srv.Stop() }) // registered after RemoveAll, so it runs before it
	ctx := context.Background()
	if err := p.srv.CreateDatabase(ctx, "infradash"); err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	db, err := sql.Open("pgx", p.URL())
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	defer db.Close()
	if err := (migrator{}).Migrate(ctx, db, pgtestdb.Config{}); err != nil {
		tb.Fatalf("dbtest: migrate the private server: %v", err)
	}
	return p
}

// URL is the connection string of the server's database.
func (p *Private) URL() string { return p.srv.URL("infradash") }

// Stop stops the server (fast shutdown: open connections are cut, as in a crash or a restart).
func (p *Private) Stop() {
	p.tb.Helper()
	if err := p.srv.Stop(); err != nil {
		p.tb.Fatalf("dbtest: stop the private server: %v", err)
	}
}

// Start starts the server again, with the data it had.
func (p *Private) Start() {
	p.tb.Helper()
	srv, err := devdb.Start(context.Background(), p.dir, devdb.Options{Fast: true})
	if err != nil {
		p.tb.Fatalf("dbtest: start the private server: %v", err)
	}
	p.srv = srv
}
