package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/store"
)

// grouper holds a store's only committer inside a transaction, so that the batches written
// meanwhile queue up and go in together as one group when it lets go.
type grouper struct {
	t     *testing.T
	pool  *pgxpool.Pool
	store *store.Store
	reg   *fleet.Registry
	lock  pgx.Tx
	held  chan error
}

func newGrouper(t *testing.T, pool *pgxpool.Pool) *grouper {
	t.Helper()
	g := &grouper{t: t, pool: pool, reg: fleet.NewRegistry(pool, func() time.Time { return base })}
	g.store = store.New(pool, store.Options{Committers: 1})
	return g
}

func (g *grouper) enrol(name string) store.Writer {
	g.t.Helper()
	_, token, err := g.reg.Add(context.Background(), name, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	return store.Writer{TokenHash: fleet.HashToken(token)}
}

// hold makes the committer wait: a batch of its own host, whose live-state row another
// transaction has locked.
func (g *grouper) hold() {
	g.t.Helper()
	w := g.enrol("blocker")
	if _, err := g.store.Write(context.Background(), w, batch(0, 1), base.Add(time.Minute)); err != nil {
		g.t.Fatal(err)
	}
	tx, err := g.pool.Begin(context.Background())
	if err != nil {
		g.t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), `SELECT 1 FROM host_state s JOIN hosts h ON h.id = s.host_id WHERE h.name = 'blocker' FOR UPDATE`); err != nil {
		g.t.Fatal(err)
	}
	g.lock, g.held = tx, make(chan error, 1)
	go func() {
		_, err := g.store.Write(context.Background(), w, batch(1, 1), base.Add(time.Minute))
		g.held <- err
	}()
	// The committer has taken the blocker's batch once its statement waits for the lock.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := g.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			g.t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatal("not within 30 s: the committer waiting for the locked row")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor waits until n batches wait behind the held committer.
func (g *grouper) waitFor(n int) {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for g.store.Stats().Waiting != n {
		if time.Now().After(deadline) {
			g.t.Fatalf("not within 30 s: %d batches waiting (%+v)", n, g.store.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// release lets the committer go and returns the blocker's own write's error.
func (g *grouper) release() error {
	g.t.Helper()
	_ = g.lock.Rollback(context.Background())
	return <-g.held
}

type written struct {
	res store.Result
	err error
}

// writeAll starts the writes at once and returns a function waiting for their results.
func (g *grouper) writeAll(ws []store.Writer, bs []sample.Batch) func() []written {
	out := make([]written, len(ws))
	var wg sync.WaitGroup
	for i := range ws {
		wg.Go(func() {
			res, err := g.store.Write(context.Background(), ws[i], bs[i], base.Add(time.Minute))
			out[i] = written{res, err}
		})
	}
	return func() []written { wg.Wait(); return out }
}

func TestTwoRequestsOfOneHostInOneGroupStoreTheSampleOnce(t *testing.T) {
	pool := dbtest.Pool(t)
	g := newGrouper(t, pool)
	web := g.enrol("web-1")
	g.hold()
	// The agent sent a batch, timed out and sent it again while the first was still waiting.
	wait := g.writeAll([]store.Writer{web, web}, []sample.Batch{batch(0, 2), batch(0, 2)})
	g.waitFor(2)
	before := g.store.Stats().Groups
	if err := g.release(); err != nil {
		t.Fatal(err)
	}
	res := wait()
	for _, r := range res {
		if r.err != nil {
			t.Fatalf("write: %v", r.err)
		}
	}
	if groups := g.store.Stats().Groups - before; groups != 1 {
		t.Errorf("%d transactions after the lock went, want one for both requests", groups)
	}
	a, b := res[0].res, res[1].res
	if a.Accepted+b.Accepted != 2 || a.Duplicates+b.Duplicates != 2 || !(a.Accepted == 2 || b.Accepted == 2) {
		t.Errorf("results %+v and %+v: want one request to have stored both samples and the other to have two duplicates", a, b)
	}
	f := &fixture{pool: pool}
	if got := f.count(t, "web-1"); got != [3]int{2, 2, 2} {
		t.Errorf("rows: %v, want each sample once in each table", got)
	}
}

func TestABatchTheDatabaseRefusesFailsOnlyItselfInItsGroup(t *testing.T) {
	pool := dbtest.Pool(t)
	if _, err := pool.Exec(context.Background(), `ALTER TABLE system_metrics_history ADD CONSTRAINT test_no_42 CHECK (cpu_percent <> 42)`); err != nil {
		t.Fatal(err)
	}
	g := newGrouper(t, pool)
	web, db, gone := g.enrol("web-1"), g.enrol("db-1"), store.Writer{TokenHash: fleet.HashToken(fleet.NewToken())}
	g.hold()
	bad := batch(0, 3)
	bad.Samples[1].System.CPU.TotalPercent = 42
	wait := g.writeAll([]store.Writer{web, db, gone}, []sample.Batch{bad, batch(0, 2), batch(0, 1)})
	g.waitFor(3)
	if err := g.release(); err != nil {
		t.Fatal(err)
	}
	res := wait()
	if r := res[0]; r.err != nil || r.res.Accepted != 2 || len(r.res.Rejected) != 1 || r.res.Rejected[0].Index != 1 ||
		!strings.Contains(r.res.Rejected[0].Error, "the database refused it") {
		t.Errorf("web-1's batch: %+v, %v; want samples 0 and 2 stored and 1 rejected by the database", r.res, r.err)
	}
	if r := res[1]; r.err != nil || r.res.Accepted != 2 || len(r.res.Rejected) != 0 {
		t.Errorf("db-1's batch, in the same group: %+v, %v; want both samples stored", r.res, r.err)
	}
	if r := res[2]; !errors.Is(r.err, store.ErrUnknownHost) {
		t.Errorf("a batch with an unknown token: %v, want ErrUnknownHost", r.err)
	}
	f := &fixture{pool: pool}
	if got := f.count(t, "web-1"); got != [3]int{2, 2, 2} {
		t.Errorf("web-1's rows: %v, want 2 in each table", got)
	}
	if got := f.count(t, "db-1"); got != [3]int{2, 2, 2} {
		t.Errorf("db-1's rows: %v, want 2 in each table", got)
	}
}

// The store remembers which host a token is, but a rotated token is refused at once all the same:
// the write checks it against the hosts table (which any replica may have changed).
func TestARotatedTokenIsRefusedAtOnceThoughTheStoreKnowsIt(t *testing.T) {
	f := setup(t)
	old := store.Writer{TokenHash: fleet.HashToken(f.token)}
	if _, err := f.store.Write(context.Background(), old, batch(0, 1), base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, token, err := fleet.NewRegistry(f.pool, nil).Rotate(context.Background(), "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Write(context.Background(), old, batch(1, 1), base.Add(time.Minute)); !errors.Is(err, store.ErrUnknownHost) {
		t.Errorf("write with the rotated token: %v, want ErrUnknownHost", err)
	}
	res, err := f.store.Write(context.Background(), store.Writer{TokenHash: fleet.HashToken(token)}, batch(2, 1), base.Add(time.Minute))
	if err != nil || res.Accepted != 1 {
		t.Errorf("write with the new token: %+v, %v", res, err)
	}
	if got := f.count(t, "web-1"); got != [3]int{2, 2, 2} {
		t.Errorf("rows: %v, want the samples of the valid tokens only (2 in each table)", got)
	}
	if _, err := fleet.NewRegistry(f.pool, nil).Remove(context.Background(), "web-1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Write(context.Background(), store.Writer{TokenHash: fleet.HashToken(token)}, batch(3, 1), base.Add(time.Minute)); !errors.Is(err, store.ErrUnknownHost) {
		t.Errorf("write for a removed host: %v, want ErrUnknownHost", err)
	}
}

// PostgreSQL stopped while a group is being written and others wait: every one of them fails
// as an outage (the hub answers 503 and the agents keep their samples), none is stored, and
// the store works again once the database is back.
func TestTheDatabaseStoppedMidGroupFailsEveryBatchAsAnOutage(t *testing.T) {
	srv := dbtest.PrivateServer(t)
	pool, err := database.Open(context.Background(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	g := newGrouper(t, pool)
	hosts := []store.Writer{g.enrol("web-1"), g.enrol("web-2"), g.enrol("web-3")}
	g.hold()
	wait := g.writeAll(hosts, []sample.Batch{batch(0, 1), batch(0, 1), batch(0, 1)})
	g.waitFor(3)
	srv.Stop()
	_ = g.lock.Rollback(context.Background()) // its connection is gone; give it back to the pool
	if err := <-g.held; !database.Unreachable(err) {
		t.Errorf("the batch being written when PostgreSQL stopped: %v, want an outage", err)
	}
	for i, r := range wait() {
		if !database.Unreachable(r.err) {
			t.Errorf("waiting batch %d: %+v, %v; want an outage", i, r.res, r.err)
		}
	}
	srv.Start()
	f := &fixture{pool: pool}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := g.store.Write(context.Background(), hosts[0], batch(1, 1), base.Add(time.Minute))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still fail 30 s after PostgreSQL came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := f.count(t, "web-1"); got != [3]int{1, 1, 1} {
		t.Errorf("web-1's rows: %v, want only the sample written after the outage", got)
	}
	if got := f.count(t, "web-2"); got != [3]int{} {
		t.Errorf("web-2's rows: %v, want none: its write failed", got)
	}
}
