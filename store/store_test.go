package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/jobs"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var base = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// snap is a plausible sample i intervals of 5 s after base.
func snap(i int) sample.Snapshot {
	s := sample.Snapshot{CollectedAt: base.Add(time.Duration(i) * 5 * time.Second), Host: "what-the-body-claims"}
	s.System.CPU.TotalPercent = float64(10 + i%50)
	s.System.CPU.PerCorePercent = []float64{float64(i % 100), 12.5}
	s.System.CPU.LogicalCores = 2
	s.System.Memory.TotalBytes = 8 << 30
	s.System.Memory.UsedPercent = 40
	s.System.Filesystems = []sample.Filesystem{{Mountpoint: "/", TotalBytes: 100 << 30, UsedPercent: 50}}
	s.Process.PID = 42
	s.Process.RSSBytes = 30 << 20
	return s
}

func batch(from, n int) sample.Batch {
	b := sample.Batch{Version: sample.WireVersion, Agent: sample.Agent{Version: "1.2.3"}, SentAt: base.Add(time.Duration(from+n) * 5 * time.Second)}
	for i := from; i < from+n; i++ {
		b.Samples = append(b.Samples, snap(i))
	}
	return b
}

type fixture struct {
	pool  *pgxpool.Pool
	store *store.Store
	token string
	seen  []store.Observation
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{pool: dbtest.Pool(t)}
	_, token, err := fleet.NewRegistry(f.pool, func() time.Time { return base }).Add(context.Background(), "Web-1", fleet.Labels{"env": "prod"})
	if err != nil {
		t.Fatal(err)
	}
	f.token = token
	f.store = store.New(f.pool, store.Options{Observe: func(o store.Observation) { f.seen = append(f.seen, o) }})
	return f
}

func (f *fixture) write(t *testing.T, b sample.Batch, now time.Time) store.Result {
	t.Helper()
	res, err := f.store.Write(context.Background(), store.Writer{TokenHash: fleet.HashToken(f.token)}, b, now)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	return res
}

// count is how many rows each history table holds for host.
func (f *fixture) count(t *testing.T, host string) [3]int {
	t.Helper()
	var out [3]int
	for i, table := range []string{"system_metrics_history", "process_metrics_history", "infrastructure_health"} {
		if err := f.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table+" WHERE host = $1", host).Scan(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestABatchIsStoredOnceUnderTheTokensHost(t *testing.T) {
	f := setup(t)
	now := base.Add(time.Minute)
	res := f.write(t, batch(0, 3), now)
	if res.Host != "web-1" || res.Accepted != 3 || res.Duplicates != 0 || len(res.Rejected) != 0 {
		t.Fatalf("first write: %+v", res)
	}
	if got := f.count(t, "web-1"); got != [3]int{3, 3, 3} {
		t.Errorf("rows under the token's host: %v, want 3 in each table", got)
	}
	if got := f.count(t, "what-the-body-claims"); got != [3]int{} {
		t.Errorf("rows under the host the body named: %v, want none", got)
	}
	// An agent that never got the answer sends the batch again, and one more sample.
	res = f.write(t, batch(0, 4), now)
	if res.Accepted != 1 || res.Duplicates != 3 {
		t.Errorf("re-sent batch: accepted %d, duplicates %d; want 1 and 3", res.Accepted, res.Duplicates)
	}
	if got := f.count(t, "web-1"); got != [3]int{4, 4, 4} {
		t.Errorf("after the re-send: %v, want 4 in each table", got)
	}
	var perCore []float64
	if err := f.pool.QueryRow(context.Background(),
		"SELECT cpu_per_core_percent FROM system_metrics_history WHERE host = 'web-1' AND collected_at = $1", snap(3).CollectedAt).Scan(&perCore); err != nil {
		t.Fatal(err)
	}
	if len(perCore) != 2 || perCore[0] != 3 || perCore[1] != 12.5 {
		t.Errorf("per-core percentages stored as %v, want [3 12.5]", perCore)
	}
}

func TestAnUnknownTokenStoresNothing(t *testing.T) {
	f := setup(t)
	_, err := f.store.Write(context.Background(), store.Writer{TokenHash: fleet.HashToken(fleet.NewToken())}, batch(0, 2), base)
	if !errors.Is(err, store.ErrUnknownHost) {
		t.Fatalf("unknown token: %v, want ErrUnknownHost", err)
	}
	if got := f.count(t, "web-1"); got != [3]int{} {
		t.Errorf("rows stored for an unknown token: %v", got)
	}
}

func TestBadSamplesAreRejectedAndTheRestStored(t *testing.T) {
	f := setup(t)
	b := batch(0, 4)
	now := base.Add(20 * time.Second)
	b.SentAt = now.Add(10 * time.Minute) // the agent's clock runs 10 minutes ahead
	b.Samples[1].CollectedAt = now.Add(10 * time.Minute)
	b.Samples[2].System.Filesystems[0].Mountpoint = "/mnt/a\x00b"
	res := f.write(t, b, now)
	if res.Accepted != 2 || len(res.Rejected) != 2 {
		t.Fatalf("result %+v, want 2 accepted and 2 rejected", res)
	}
	future, nul := res.Rejected[0], res.Rejected[1]
	if future.Index != 1 || future.Field != "samples[1].collected_at" || !strings.Contains(future.Error, "off by +600 s") {
		t.Errorf("future sample: %+v; want it refused naming the clock offset", future)
	}
	if nul.Index != 2 || nul.Field != "samples[2].system.filesystems[0].mountpoint" || !strings.Contains(nul.Error, "NUL") {
		t.Errorf("NUL in a mountpoint: %+v", nul)
	}
	if got := f.count(t, "web-1"); got != [3]int{2, 2, 2} {
		t.Errorf("rows: %v, want the 2 good samples in each table", got)
	}
	if res.ClockOffset != 10*time.Minute {
		t.Errorf("clock offset %s, want 10m", res.ClockOffset)
	}
}

func TestASampleTheDatabaseRefusesIsRejectedAndTheRestStored(t *testing.T) {
	f := setup(t)
	// A constraint the checks in Go do not know stands for any value the database refuses.
	if _, err := f.pool.Exec(context.Background(), `ALTER TABLE system_metrics_history ADD CONSTRAINT test_no_42 CHECK (cpu_percent <> 42)`); err != nil {
		t.Fatal(err)
	}
	b := batch(0, 3)
	b.Samples[1].System.CPU.TotalPercent = 42
	res := f.write(t, b, base.Add(time.Minute))
	if res.Accepted != 2 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 || !strings.Contains(res.Rejected[0].Error, "the database refused it") {
		t.Fatalf("result %+v, want samples 0 and 2 stored and 1 rejected by the database", res)
	}
	if got := f.count(t, "web-1"); got != [3]int{2, 2, 2} {
		t.Errorf("rows: %v, want 2 in each table", got)
	}
}

func TestTheNewestSampleIsTheHostsLiveState(t *testing.T) {
	f := setup(t)
	now := base.Add(time.Minute)
	f.write(t, batch(5, 2), now)
	// An older batch arriving late (resent after an outage) must not replace the newer sample.
	f.write(t, batch(0, 2), now.Add(time.Second))
	var latestAt, receivedAt time.Time
	var offset float64
	var version string
	err := f.pool.QueryRow(context.Background(), `SELECT s.latest_at, s.received_at, s.clock_offset_seconds, s.agent_version
		FROM host_state s JOIN hosts h ON h.id = s.host_id WHERE h.name = 'web-1'`).Scan(&latestAt, &receivedAt, &offset, &version)
	if err != nil {
		t.Fatal(err)
	}
	if !latestAt.Equal(snap(6).CollectedAt) || !receivedAt.Equal(now.Add(time.Second)) || version != "1.2.3" {
		t.Errorf("host_state: latest_at %s (want %s), received_at %s (want %s), agent %q",
			latestAt, snap(6).CollectedAt, receivedAt, now.Add(time.Second), version)
	}
	if len(f.seen) != 2 || f.seen[0].Host != "web-1" || !f.seen[0].Latest.CollectedAt.Equal(snap(6).CollectedAt) {
		t.Errorf("observations %+v", f.seen)
	}
}

func TestTheHubsOwnHostWritesByName(t *testing.T) {
	f := setup(t)
	reg := fleet.NewRegistry(f.pool, nil)
	if err := reg.EnsureLocal(context.Background(), "hub"); err != nil {
		t.Fatal(err)
	}
	res, err := f.store.Write(context.Background(), store.Writer{Host: "hub"}, batch(0, 2), base.Add(time.Minute))
	if err != nil || res.Accepted != 2 || res.Host != "hub" {
		t.Fatalf("local write: %+v, %v", res, err)
	}
	if _, _, err := reg.Rotate(context.Background(), "hub"); !errors.Is(err, fleet.ErrLocalHost) {
		t.Errorf("rotating the hub's own host: %v, want ErrLocalHost", err)
	}
}

// Samples arriving more than store.LateAfter after they were taken (an agent's spool after an
// outage) mark where the rollups' next runs start; samples on time, re-sent ones and a later
// part of the same spool do not move the mark.
func TestLateSamplesMarkWhereTheRollupsStart(t *testing.T) {
	f := setup(t)
	marks := func() map[string]*time.Time {
		t.Helper()
		rows, err := f.pool.Query(context.Background(), "SELECT period, since FROM rollup_backlog")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]*time.Time{}
		for rows.Next() {
			var p string
			var since *time.Time
			if err := rows.Scan(&p, &since); err != nil {
				t.Fatal(err)
			}
			out[p] = since
		}
		return out
	}
	f.write(t, batch(0, 3), base.Add(time.Minute))
	for p, since := range marks() {
		if since != nil {
			t.Errorf("samples on time marked %s at %s", p, since)
		}
	}
	// An hour of spool, in two batches, oldest first.
	now := base.Add(time.Hour)
	f.write(t, batch(3, 360), now)
	f.write(t, batch(363, 300), now)
	got := marks()
	if len(got) != 3 {
		t.Fatalf("marks for %d periods, want 3", len(got))
	}
	for p, since := range got {
		if since == nil || !since.Equal(snap(3).CollectedAt) {
			t.Errorf("%s marked at %v, want the oldest late sample's %s", p, since, snap(3).CollectedAt)
		}
	}
	// A re-sent batch stores nothing new and marks nothing.
	if _, err := f.pool.Exec(context.Background(), "UPDATE rollup_backlog SET since = NULL"); err != nil {
		t.Fatal(err)
	}
	f.write(t, batch(3, 360), now)
	for p, since := range marks() {
		if since != nil {
			t.Errorf("a re-sent batch marked %s at %s", p, since)
		}
	}
}

// A health row keeps the components that were not healthy (why the score fell), not every one.
func TestAHealthRowKeepsTheComponentsThatWereNotHealthy(t *testing.T) {
	f := setup(t)
	b := batch(0, 2)
	b.Samples[1].System.CPU.TotalPercent = 99 // past the built-in critical level
	f.write(t, b, base.Add(time.Minute))
	for i, want := range [][]string{{}, {"cpu:critical"}} {
		var score int
		var got []string
		if err := f.pool.QueryRow(context.Background(), `
SELECT h.score, coalesce(array_agg((c->>'name') || ':' || (c->>'status')) FILTER (WHERE c IS NOT NULL), '{}')
FROM infrastructure_health h LEFT JOIN LATERAL jsonb_array_elements(h.components) AS c ON true
WHERE h.host = 'web-1' AND h.collected_at = $1 GROUP BY h.score`, b.Samples[i].CollectedAt).Scan(&score, &got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("sample %d (score %d) stored the components %v, want %v", i, score, got, want)
		}
	}
}

// A sample sent again after its hour was compacted into a block is a duplicate, as one among
// rows is: the history holds it once.
func TestASampleSentAgainAfterItsHourWasCompactedIsADuplicate(t *testing.T) {
	f := setup(t)
	f.write(t, batch(0, 3), base.Add(time.Minute))
	if rep, err := jobs.CompactSystem(context.Background(), f.pool, base.Add(4*time.Hour)); err != nil || rep.Samples != 3 {
		t.Fatalf("compact: %s, %v; want the 3 samples in a block", rep, err)
	}
	res := f.write(t, batch(0, 4), base.Add(4*time.Hour))
	if res.Accepted != 1 || res.Duplicates != 3 {
		t.Errorf("re-sent batch: accepted %d, duplicates %d; want 1 and 3", res.Accepted, res.Duplicates)
	}
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM system_samples WHERE host = 'web-1'`).Scan(&n); err != nil || n != 4 {
		t.Errorf("the history holds %d samples of web-1 (%v), want 4", n, err)
	}
}
