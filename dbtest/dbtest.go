// Package dbtest gives each test its own freshly migrated PostgreSQL database on a real server.
//
// A test binary uses the server named by TEST_DATABASE_URL when set; otherwise Main starts a
// private, throwaway server (package devdb) for the binary's lifetime. pgtestdb migrates a
// template database once and copies it for each test in milliseconds.
package dbtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver pgtestdb opens
	"github.com/peterldowns/pgtestdb"
	"github.com/pressly/goose/v3"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/devdb"
	"github.com/infradash/infradash/schema"
)

var (
	baseURL string
	// serverDir is the data folder of the server Run started; empty with TEST_DATABASE_URL.
	serverDir string
)

// Main runs a package's tests with a PostgreSQL server available. Use it as
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the exit, for a TestMain with cleanup of its own after the tests; it
// returns the exit code.
func Run(m *testing.M) int {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		baseURL = u
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "infradash-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbtest:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	// The server runs as the postgres user when tests run as root; it must reach its folder.
	_ = os.Chmod(tmp, 0o755)
	srv, err := devdb.Start(context.Background(), filepath.Join(tmp, "pg"), devdb.Options{Fast: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbtest:", err)
		return 1
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "dbtest:", err)
		}
	}()
	baseURL, serverDir = srv.URL("postgres"), srv.Dir
	return m.Run()
}

// URL returns the connection string of a new, migrated database for this test only; it is
// dropped when the test ends.
func URL(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, migrator{})
}

// EmptyURL returns the connection string of a new database with no migration applied, as an
// operator's fresh database is; it is dropped when the test ends.
func EmptyURL(tb testing.TB) string {
	tb.Helper()
	return newDatabase(tb, pgtestdb.NoopMigrator{})
}

func newDatabase(tb testing.TB, m pgtestdb.Migrator) string {
	tb.Helper()
	if baseURL == "" {
		tb.Fatal("dbtest: no server; call dbtest.Main from TestMain")
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		tb.Fatalf("dbtest: TEST_DATABASE_URL: %v", err)
	}
	pw, _ := u.User.Password()
	conf := pgtestdb.Config{
		DriverName: "pgx",
		User:       u.User.Username(),
		Password:   pw,
		Host:       u.Hostname(),
		Port:       u.Port(),
		Database:   filepath.Base(u.Path),
		Options:    u.RawQuery,
		// Our own code under test may hold connections at the end of a test (a collector
		// writing); they must not stop the database from being dropped.
		ForceTerminateConnections: true,
	}
	if conf.Host == "" {
		conf.Host = "localhost" // the socket folder comes in Options as host=
	}
	if conf.Port == "" {
		conf.Port = "5432"
	}
	return pgtestdb.Custom(tb, conf, m).URL()
}

// Pool returns a pool on a new, migrated database for this test only, connected as the hub
// connects (database.Open), so tests and benchmarks see the hub's session settings.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := database.Open(context.Background(), URL(tb))
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// migrator applies the embedded goose migrations to pgtestdb's template database.
type migrator struct{}

func (migrator) Hash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(schema.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(schema.FS, path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func (migrator) Migrate(ctx context.Context, db *sql.DB, _ pgtestdb.Config) error {
	p, err := goose.NewProvider(goose.DialectPostgres, db, schema.FS)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}
