package recorder_test

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/devdb"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/recorder"
	"github.com/infradash/infradash/sample"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// sample is a synthetic snapshot i seconds after base, with a recognisable CPU figure.
func snapAt(base time.Time, i int) sample.Snapshot {
	s := sample.Snapshot{CollectedAt: base.Add(time.Duration(i) * time.Second), Host: "test-host"}
	s.System.CPU.TotalPercent = float64(i % 100)
	s.System.CPU.LogicalCores = 2
	s.System.Memory.TotalBytes = 8 << 30
	s.System.Memory.UsedPercent = 40
	s.System.Filesystems = []sample.Filesystem{{Mountpoint: "/", TotalBytes: 100 << 30, UsedPercent: 50}}
	s.Process.PID = 42
	s.Process.RSSBytes = 30 << 20
	return s
}

func start(t *testing.T, pool *pgxpool.Pool) (*recorder.Recorder, func()) {
	t.Helper()
	r := recorder.New(pool, recorder.Options{Thresholds: health.DefaultThresholds(), MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	go r.Run(ctx, context.Background())
	stop := func() {
		cancel()
		<-r.Done()
	}
	t.Cleanup(stop)
	return r, stop
}

// waitStored waits until nothing is queued any more; the bound only keeps a broken test from
// hanging, it is not a speed requirement.
func waitStored(t *testing.T, r *recorder.Recorder) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for r.Queued() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d samples queued", r.Queued())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stored returns, per table, how many rows and how many distinct instants the host has.
func stored(t *testing.T, pool *pgxpool.Pool) map[string][2]int {
	t.Helper()
	out := map[string][2]int{}
	for _, table := range []string{"system_metrics_history", "process_metrics_history", "infrastructure_health"} {
		var rows, distinct int
		err := pool.QueryRow(context.Background(),
			"SELECT count(*), count(DISTINCT collected_at) FROM "+table+" WHERE host = 'test-host'").Scan(&rows, &distinct)
		if err != nil {
			t.Fatal(err)
		}
		out[table] = [2]int{rows, distinct}
	}
	return out
}

func assertStoredOnce(t *testing.T, pool *pgxpool.Pool, want int) {
	t.Helper()
	for table, got := range stored(t, pool) {
		if got[0] != want || got[1] != want {
			t.Errorf("%s: %d rows at %d distinct instants, want %d of each", table, got[0], got[1], want)
		}
	}
}

func TestEverySampleIsStoredOnceInAllThreeTables(t *testing.T) {
	pool := dbtest.Pool(t)
	r, _ := start(t, pool)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 250 { // more than one batch
		r.Record(snapAt(base, i))
	}
	// A retry after an ambiguous failure writes the same samples again.
	for i := range 10 {
		r.Record(snapAt(base, i))
	}
	waitStored(t, r)
	assertStoredOnce(t, pool, 250)
	if r.Written() != 260 || r.Dropped() != 0 {
		t.Errorf("written %d, dropped %d; want 260 and 0", r.Written(), r.Dropped())
	}

	var status string
	var score int
	var at time.Time
	err := pool.QueryRow(context.Background(),
		"SELECT status::text, score, collected_at FROM infrastructure_health WHERE host = 'test-host' ORDER BY collected_at LIMIT 1").Scan(&status, &score, &at)
	if err != nil {
		t.Fatal(err)
	}
	if status != "healthy" || score < 80 || !at.Equal(base) {
		t.Errorf("first health row: %s %d at %s; want healthy, 80+, at %s", status, score, at, base)
	}
}

func TestStoppingPostgreSQLFor30SecondsLosesNoSample(t *testing.T) {
	// Not t.TempDir: its parent folder is private, and the server must reach its own folder.
	tmp, err := os.MkdirTemp("", "infradash-recorder-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	// The server runs as the postgres user when tests run as root; it must reach its folder.
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "pg")
	ctx := context.Background()
	srv, err := devdb.Start(ctx, dir, devdb.Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() }) // registered after RemoveAll, so it runs before it
	if err := srv.CreateDatabase(ctx, "infradash"); err != nil {
		t.Fatal(err)
	}
	pool, err := database.Open(ctx, srv.URL("infradash"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	m, err := database.NewMigrator(pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	_ = m.Close()

	r, _ := start(t, pool)
	base := time.Now().UTC().Truncate(time.Second)
	n := 0
	feed := func(count int, every time.Duration) {
		for range count {
			r.Record(snapAt(base, n))
			n++
			time.Sleep(every)
		}
	}
	feed(5, 0)
	waitStored(t, r)

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	feed(30, time.Second) // one sample a second while PostgreSQL is down
	if r.Queued() == 0 {
		t.Fatal("samples taken while PostgreSQL was down were reported stored")
	}
	srv, err = devdb.Start(ctx, dir, devdb.Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	feed(5, 0)
	waitStored(t, r)
	assertStoredOnce(t, pool, n)
	if r.Dropped() != 0 {
		t.Errorf("dropped %d samples", r.Dropped())
	}
}

func TestAFullQueueDropsTheOldestSample(t *testing.T) {
	// No database at all: nothing can be written, so the queue is all there is.
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@/x?host=/nonexistent&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var log lines
	r := recorder.New(pool, recorder.Options{Capacity: 3, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 50 {
		r.Record(snapAt(base, i))
	}
	if r.Queued() != 3 || r.Dropped() != 47 {
		t.Errorf("queued %d, dropped %d; want 3 and 47", r.Queued(), r.Dropped())
	}
	if n := log.count("level=WARN"); n != 1 {
		t.Errorf("%d warnings for one outage's drops, want 1:\n%s", n, log.buf.String())
	}
	if got := recorder.CapacityFor(2*time.Hour, 5*time.Second); got != 1440 {
		t.Errorf("two hours at 5s: capacity %d, want 1440", got)
	}
}

// lines is a concurrency-safe log sink that counts lines containing a text.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) count(text string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), text)
}

func TestASampleTheDatabaseRefusesIsDroppedAndTheRestStored(t *testing.T) {
	pool := dbtest.Pool(t)
	var log lines
	r := recorder.New(pool, recorder.Options{
		Thresholds: health.DefaultThresholds(), MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second,
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	})
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	bad := snapAt(base, 0)
	bad.System.CPU.TotalPercent = math.NaN() // its health component cannot be encoded
	r.Record(bad)
	for i := 1; i <= 20; i++ {
		r.Record(snapAt(base, i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	go r.Run(ctx, context.Background())
	t.Cleanup(func() { cancel(); <-r.Done() })
	waitStored(t, r)

	assertStoredOnce(t, pool, 20)
	if r.Written() != 20 || r.Rejected() != 1 {
		t.Errorf("written %d, rejected %d; want 20 and 1", r.Written(), r.Rejected())
	}
	if n := log.count("level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines for one refused sample, want 1:\n%s", n, log.buf.String())
	}
}

func TestQueueDropsAreSummedUpOnceTheQueueDrains(t *testing.T) {
	pool := dbtest.Pool(t)
	var log lines
	r := recorder.New(pool, recorder.Options{Capacity: 3, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 { // recorded before the writer starts, as during an outage
		r.Record(snapAt(base, i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	go r.Run(ctx, context.Background())
	t.Cleanup(func() { cancel(); <-r.Done() })
	waitStored(t, r)
	assertStoredOnce(t, pool, 3)
	if log.count("level=WARN") != 2 || log.count("dropped=7") != 1 {
		t.Errorf("want the first drop and one summary of 7 dropped:\n%s", log.buf.String())
	}
}
