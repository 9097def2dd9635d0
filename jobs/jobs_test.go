package jobs_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/jobs"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var t0 = time.Date(2026, 3, 2, 10, 17, 0, 0, time.UTC)

func exec(tb testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	tb.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

type aggRow struct {
	host, metric, subject, period string
	bucket                        time.Time
	min, max, mean, p95           float64
	count                         int64
}

func rollups(tb testing.TB, pool *pgxpool.Pool) map[string]aggRow {
	tb.Helper()
	rows, err := pool.Query(context.Background(), `SELECT host, metric, subject, period, bucket_start, min_value, max_value, mean_value, p95_value, sample_count FROM metric_aggregations`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]aggRow{}
	for rows.Next() {
		var r aggRow
		if err := rows.Scan(&r.host, &r.metric, &r.subject, &r.period, &r.bucket, &r.min, &r.max, &r.mean, &r.p95, &r.count); err != nil {
			tb.Fatal(err)
		}
		out[fmt.Sprintf("%s|%s|%s|%s|%s", r.host, r.metric, r.subject, r.period, r.bucket.UTC().Format(time.RFC3339))] = r
	}
	return out
}

func TestAggregateIsIdempotentAndMatchesTheRawRows(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	dbtest.SeedHistory(t, pool, "web-1", t0.Add(-3*time.Hour), 3*time.Hour, 5*time.Second)
	dbtest.SeedHistory(t, pool, "web-2", t0.Add(-90*time.Minute), 90*time.Minute, 5*time.Second)

	rep, err := jobs.Aggregate(ctx, pool, jobs.Hourly, 2*time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	first := rollups(t, pool)
	if rep.Rows == 0 || int64(len(first)) != rep.Rows {
		t.Fatalf("the report should count the rows written: %d reported, %d stored", rep.Rows, len(first))
	}
	// --hours 2 at 10:17 covers the whole 08:00 and 09:00 buckets; the 10:00 one is still filling,
	// and readers trust a rollup as final, so it waits for the run after 11:00.
	if !rep.From.Equal(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)) || !rep.Until.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("whole buckets only: from %s until %s, want 08:00 to 10:00", rep.From, rep.Until)
	}
	// 10 host-wide series, 2 filesystems, 2 process series and the health score; buckets 08:00 and 09:00 on each host.
	if want := (10 + 2 + 2 + 1) * 2 * 2; len(first) != want {
		t.Fatalf("want %d rollup rows, got %d", want, len(first))
	}

	again, err := jobs.Aggregate(ctx, pool, jobs.Hourly, 2*time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	second := rollups(t, pool)
	if again.Rows != 0 || len(second) != len(first) {
		t.Fatalf("a second run should change nothing: %d rows written, %d vs %d stored", again.Rows, len(second), len(first))
	}
	for k, r := range first {
		if second[k] != r {
			t.Fatalf("%s changed on re-run: %+v -> %+v", k, r, second[k])
		}
	}

	// The same numbers straight from the raw rows.
	check := func(key, sql string) {
		t.Helper()
		var want aggRow
		if err := pool.QueryRow(ctx, sql).Scan(&want.min, &want.max, &want.mean, &want.p95, &want.count); err != nil {
			t.Fatal(err)
		}
		got, ok := first[key]
		if !ok {
			t.Fatalf("no rollup %s", key)
		}
		if got.count != want.count || got.min != want.min || got.max != want.max ||
			abs(got.mean-want.mean) > 1e-9 || abs(got.p95-want.p95) > 1e-9 {
			t.Fatalf("%s: rollup %+v, raw %+v", key, got, want)
		}
	}
	check("web-1|cpu_percent||hourly|2026-03-02T09:00:00Z", `
SELECT min(cpu_percent), max(cpu_percent), avg(cpu_percent), percentile_cont(0.95) WITHIN GROUP (ORDER BY cpu_percent), count(*)
FROM system_metrics_history WHERE host = 'web-1' AND collected_at >= '2026-03-02T09:00:00Z' AND collected_at < '2026-03-02T10:00:00Z'`)
	check("web-1|disk_percent|/|hourly|2026-03-02T09:00:00Z", `
SELECT min(v), max(v), avg(v), percentile_cont(0.95) WITHIN GROUP (ORDER BY v), count(*)
FROM system_metrics_history, jsonb_array_elements(filesystems) fs, LATERAL (SELECT (fs->>6)::float8) x(v)
WHERE host = 'web-1' AND fs->>0 = '/' AND collected_at >= '2026-03-02T09:00:00Z' AND collected_at < '2026-03-02T10:00:00Z'`)
	check("web-2|process_rss_bytes||hourly|2026-03-02T09:00:00Z", `
SELECT min(rss_bytes)::float8, max(rss_bytes)::float8, avg(rss_bytes)::float8, percentile_cont(0.95) WITHIN GROUP (ORDER BY rss_bytes), count(*)
FROM process_metrics_history WHERE host = 'web-2' AND collected_at >= '2026-03-02T09:00:00Z' AND collected_at < '2026-03-02T10:00:00Z'`)

	// The 10:00 bucket is written whole by the first run after it ends.
	dbtest.SeedHistory(t, pool, "web-1", t0, 10*time.Minute, 5*time.Second)
	if _, ok := rollups(t, pool)["web-1|cpu_percent||hourly|2026-03-02T10:00:00Z"]; ok {
		t.Fatal("the 10:00 bucket was rolled up before it ended")
	}
	later, err := jobs.Aggregate(ctx, pool, jobs.Hourly, 2*time.Hour, time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if got := rollups(t, pool)["web-1|cpu_percent||hourly|2026-03-02T10:00:00Z"].count; later.Rows == 0 || got != (27*60)/5 {
		t.Fatalf("the 10:00 bucket should hold its 27 minutes of samples, has %d", got)
	}

	// The daily run at 03:00 leaves today alone and rolls up yesterday whole.
	daily, err := jobs.Aggregate(ctx, pool, jobs.Daily, 48*time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rollups(t, pool)["web-1|cpu_percent||daily|2026-03-02T00:00:00Z"]; daily.Rows != 0 || ok {
		t.Fatalf("the daily run rolled up the day still going on (%d rows)", daily.Rows)
	}
	if _, err := jobs.Aggregate(ctx, pool, jobs.Daily, 48*time.Hour, time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if r := rollups(t, pool)["web-1|cpu_percent||daily|2026-03-02T00:00:00Z"]; r.count != (3*3600+10*60)/5 {
		t.Fatalf("the daily bucket should hold every sample of the day, has %d", r.count)
	}
}

func TestAggregateRejectsBadArguments(t *testing.T) {
	pool := dbtest.Pool(t)
	if _, err := jobs.Aggregate(context.Background(), pool, "weekly", 2*time.Hour, t0); err == nil {
		t.Fatal("period weekly should be refused")
	}
	if _, err := jobs.Aggregate(context.Background(), pool, jobs.Hourly, 0, t0); err == nil {
		t.Fatal("hours 0 should be refused")
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func count(tb testing.TB, pool *pgxpool.Pool, table string) int64 {
	tb.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestCleanupDeletesOnlyWhatIsPastRetention(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	day := 24 * time.Hour
	// 40 days of hourly samples and health scores: their retention is the partitions' business
	// (TestPartitionRetention...), so cleanup leaves them alone.
	dbtest.SeedHistory(t, pool, "web-1", t0.Add(-40*day), 40*day, time.Hour)
	exec(t, pool, `INSERT INTO users (email, password_hash, role) VALUES ('a@example.com', 'x', 'admin')`)
	exec(t, pool, `INSERT INTO api_tokens (user_id, token_hash, expires_at, revoked_at) VALUES
		(1, 'a', $1::timestamptz - interval '1 day', NULL),    -- expired
		(1, 'b', $1::timestamptz + interval '90 days', $1::timestamptz - interval '31 days'), -- revoked long ago
		(1, 'c', $1::timestamptz + interval '90 days', $1::timestamptz - interval '1 day'),   -- revoked recently: kept
		(1, 'd', $1::timestamptz + interval '90 days', NULL)`, t0) // live
	exec(t, pool, `INSERT INTO login_failures (user_id, address, failed_attempts, locked_until, last_failed_at) VALUES
		(1, '198.51.100.1', 9, $1::timestamptz - interval '8 days' + interval '15 minutes', $1::timestamptz - interval '8 days'),
		(1, '198.51.100.2', 5, $1::timestamptz + interval '6 days', $1::timestamptz - interval '1 day')`, t0) // still locked: kept
	exec(t, pool, `INSERT INTO sessions (token, data, expiry) VALUES ('old', '', $1::timestamptz - interval '1 minute'), ('live', '', $1::timestamptz + interval '1 hour')`, t0)
	exec(t, pool, `INSERT INTO infrastructure_alerts (host, metric, severity, value, threshold, started_at, updated_at, resolved_at) VALUES
		('web-1', 'cpu', 'warning', 90, 80, $1::timestamptz - interval '100 days', $1, $1::timestamptz - interval '91 days'),
		('web-1', 'memory', 'warning', 90, 80, $1::timestamptz - interval '100 days', $1, $1::timestamptz - interval '89 days'),
		('web-1', 'disk', 'warning', 90, 80, $1::timestamptz - interval '200 days', $1, NULL)`, t0)
	exec(t, pool, `INSERT INTO audit_log (at, actor, via, action) VALUES
		($1::timestamptz - interval '91 days', 'cli', 'cli', 'user.create'),
		($1::timestamptz - interval '89 days', 'cli', 'cli', 'user.create')`, t0) // ALERT_RETENTION_DAYS: one past it
	exec(t, pool, `INSERT INTO silences (host, starts_at, ends_at, created_by, created_at) VALUES
		('web-1', $1::timestamptz - interval '92 days', $1::timestamptz - interval '91 days', 'cli', $1::timestamptz - interval '92 days'),
		('web-1', $1::timestamptz - interval '90 days', $1::timestamptz - interval '89 days', 'cli', $1::timestamptz - interval '90 days')`, t0)
	exec(t, pool, `INSERT INTO metric_aggregations (host, metric, metric_type, period, bucket_start, min_value, max_value, mean_value, p95_value, sample_count)
		SELECT 'web-1', 'cpu_percent', 'cpu', 'daily', $1::timestamptz - d * interval '1 day', 1, 1, 1, 1, 1 FROM generate_series(1, 400) d`, t0)

	opts := jobs.CleanupOptions{Retention: jobs.Retention{RawDays: 30, AlertDays: 90, AggregateDays: 365}, Now: t0, BatchSize: 100}
	want := map[string]int64{
		"infrastructure_alerts": 1, "metric_aggregations": 35, "sessions": 1, "api_tokens": 2,
		"login_failures": 1, "audit_log": 1, "silences": 1,
	}
	before := map[string]int64{}
	for table := range want {
		before[table] = count(t, pool, table)
	}

	dry := opts
	dry.DryRun = true
	rep, err := jobs.Cleanup(ctx, pool, dry)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range rep.Tables {
		if tc.Rows != want[tc.Table] {
			t.Errorf("dry run: %s would delete %d, want %d", tc.Table, tc.Rows, want[tc.Table])
		}
		if n := count(t, pool, tc.Table); n != before[tc.Table] {
			t.Errorf("dry run deleted from %s: %d -> %d rows", tc.Table, before[tc.Table], n)
		}
	}
	if len(rep.Tables) != len(want) {
		t.Fatalf("the report should list every table, got %+v", rep.Tables)
	}

	opts.Vacuum = true
	rep, err = jobs.Cleanup(ctx, pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range rep.Tables {
		if tc.Rows != want[tc.Table] {
			t.Errorf("%s: deleted %d, want %d", tc.Table, tc.Rows, want[tc.Table])
		}
		if n := count(t, pool, tc.Table); n != before[tc.Table]-want[tc.Table] {
			t.Errorf("%s: %d rows left, want %d", tc.Table, n, before[tc.Table]-want[tc.Table])
		}
	}
	if len(rep.Vacuumed) != len(want) {
		t.Errorf("every table rows left should be vacuumed, got %v", rep.Vacuumed)
	}
	for _, table := range jobs.HistoryTables {
		if n := count(t, pool, table); n != 40*24 {
			t.Errorf("cleanup deleted from %s: %d rows left of %d", table, n, 40*24)
		}
	}
	var tokens []string
	rows, _ := pool.Query(ctx, `SELECT token_hash::text FROM api_tokens ORDER BY id`)
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		tokens = append(tokens, s)
	}
	if fmt.Sprint(tokens) != `[\x63 \x64]` {
		t.Errorf("the recently revoked and the live token should stay, got %v", tokens)
	}
}

// replica is one infradash process's scheduler on the shared database.
type replica struct {
	sched   *jobs.Scheduler
	metrics *jobs.Metrics
	elector *jobs.Elector
}

func newReplica(t *testing.T, url string, runs *atomic.Int32, extra ...jobs.Job) *replica {
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r := &replica{metrics: jobs.NewMetrics(), elector: jobs.NewElector(pool, nil)}
	js := append([]jobs.Job{{Name: "probe", Schedule: "0 0 1 1 *", Timeout: time.Minute,
		Run: func(context.Context) (string, error) { runs.Add(1); return "", nil }}}, extra...)
	r.sched, err = jobs.NewScheduler(js, jobs.Options{Metrics: r.metrics, Elector: r.elector})
	if err != nil {
		t.Fatal(err)
	}
	r.sched.Start()
	t.Cleanup(func() { _ = r.sched.Shutdown(context.Background()) })
	return r
}

func (r *replica) runs(t *testing.T, job, outcome string) float64 {
	var m dto.Metric
	if err := r.metrics.Runs.WithLabelValues(job, outcome).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// waitFor polls until the job has the outcome n times; it never asserts how long that takes.
func (r *replica) waitFor(t *testing.T, job, outcome string, n float64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for r.runs(t, job, outcome) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %v %s runs", job, n, outcome)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTwoReplicasRunEachJobOnce(t *testing.T) {
	url := dbtest.URL(t)
	var runs atomic.Int32
	a := newReplica(t, url, &runs)
	b := newReplica(t, url, &runs)

	if err := a.sched.RunNow("probe"); err != nil {
		t.Fatal(err)
	}
	a.waitFor(t, "probe", jobs.OutcomeSuccess, 1)
	if err := b.sched.RunNow("probe"); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "probe", jobs.OutcomeSkipped, 1)
	if n := runs.Load(); n != 1 {
		t.Fatalf("two replicas ran the job %d times, want once", n)
	}

	// The leader stops: the other takes over at its next run.
	if err := a.sched.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.sched.RunNow("probe"); err != nil {
		t.Fatal(err)
	}
	b.waitFor(t, "probe", jobs.OutcomeSuccess, 1)
	if n := runs.Load(); n != 2 {
		t.Fatalf("after the leader stopped, the job ran %d times in all, want 2", n)
	}
}

func TestLeadershipMovesWhenTheLeaderConnectionDies(t *testing.T) {
	url := dbtest.URL(t)
	ctx := context.Background()
	pools := make([]*pgxpool.Pool, 3)
	for i := range pools {
		p, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		pools[i] = p
	}
	a, b := jobs.NewElector(pools[0], nil), jobs.NewElector(pools[1], nil)
	defer a.Close(ctx)
	defer b.Close(ctx)
	if err := a.IsLeader(ctx); err != nil {
		t.Fatalf("the first to ask should lead: %v", err)
	}
	if err := b.IsLeader(ctx); err != jobs.ErrNotLeader {
		t.Fatalf("the second should follow, got %v", err)
	}
	// The database drops the leader's session (a network cut, a restart of its backend).
	// With a timeout, pg_terminate_backend waits for the backend to exit, which is when its
	// advisory lock is released; without one it only signals.
	exec(t, pools[2], `SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()`)
	if err := b.IsLeader(ctx); err != nil {
		t.Fatalf("the follower should take over once the leader's session is gone: %v", err)
	}
	if err := a.IsLeader(ctx); err != jobs.ErrNotLeader {
		t.Fatalf("the old leader should notice it lost the lock, got %v", err)
	}
}

func TestAPanickingJobIsCountedAndOthersGoOn(t *testing.T) {
	var runs atomic.Int32
	r := newReplica(t, dbtest.URL(t), &runs, jobs.Job{Name: "boom", Schedule: "0 0 1 1 *", Timeout: time.Minute,
		Run: func(context.Context) (string, error) { panic("kaboom") }})
	if err := r.sched.RunNow("boom"); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "boom", jobs.OutcomePanic, 1)
	if err := r.sched.RunNow("probe"); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "probe", jobs.OutcomeSuccess, 1)
	if err := r.sched.RunNow("boom"); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, "boom", jobs.OutcomePanic, 2)
}
