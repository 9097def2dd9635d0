package jobs_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/jobs"
	"github.com/infradash/infradash/queries"
)

// oneSample is the smallest sample each history table takes, written the way every writer of
// queries/history.sql writes: a second copy of a sample does nothing.
var oneSample = map[string]string{
	"system_metrics_history": `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent)
		VALUES ($1, $2, $3, 50) ON CONFLICT (host, collected_at) DO NOTHING`,
	"process_metrics_history": `INSERT INTO process_metrics_history (host, collected_at, pid, cpu_percent, rss_bytes)
		VALUES ($1, $2, 42, $3, 1000) ON CONFLICT (host, collected_at) DO NOTHING`,
	"infrastructure_health": `INSERT INTO infrastructure_health (host, collected_at, score, status)
		VALUES ($1, $2, $3, 'healthy') ON CONFLICT (host, collected_at) DO NOTHING`,
}

// where says which partition holds host's sample at `at`, and the value it was stored with.
func where(t *testing.T, pool *pgxpool.Pool, table, host string, at time.Time) (string, float64) {
	t.Helper()
	value := map[string]string{"system_metrics_history": "cpu_percent", "process_metrics_history": "cpu_percent", "infrastructure_health": "score"}[table]
	var part string
	var v float64
	err := pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT tableoid::regclass::text, %s::float8 FROM %s WHERE host = $1 AND collected_at = $2`, value, table), host, at).Scan(&part, &v)
	if err != nil {
		t.Fatalf("%s: the sample of %s at %s: %v", table, host, at, err)
	}
	return part, v
}

func insertSample(t *testing.T, pool *pgxpool.Pool, table, host string, at time.Time, value float64) int64 {
	t.Helper()
	tag, err := pool.Exec(context.Background(), oneSample[table], host, at, value)
	if err != nil {
		t.Fatalf("%s: insert: %v", table, err)
	}
	return tag.RowsAffected()
}

func names(cs []jobs.PartitionChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Partition)
	}
	return out
}

func TestASampleForADayWithoutPartitionIsKeptAndMovedIntoItsDay(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	yesterday := t0.Add(-26 * time.Hour) // 2026-03-01 08:17, a day the fresh database has no partition for
	for table := range oneSample {
		if n := insertSample(t, pool, table, "web-1", yesterday, 7); n != 1 {
			t.Fatalf("%s: a sample for a day without partition was not stored", table)
		}
		if part, _ := where(t, pool, table, "web-1", yesterday); part != table+"_default" {
			t.Fatalf("%s: the sample landed in %s, want the default partition", table, part)
		}
		if n := insertSample(t, pool, table, "web-1", yesterday, 8); n != 0 {
			t.Fatalf("%s: a second copy of a sample in the default partition was stored", table)
		}
	}

	rep, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 30, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	for table := range oneSample {
		for _, day := range []string{"20260301", "20260302", "20260303", "20260304"} {
			if !slices.Contains(names(rep.Created), table+"_p"+day) {
				t.Errorf("%s: no partition created for %s (yesterday's sample, today and two days ahead): %v", table, day, names(rep.Created))
			}
		}
		part, v := where(t, pool, table, "web-1", yesterday)
		if part != table+"_p20260301" || v != 7 {
			t.Errorf("%s: after the maintenance the sample is in %s with value %v, want %s_p20260301 with 7", table, part, v, table)
		}
		if n := insertSample(t, pool, table, "web-1", yesterday, 9); n != 0 {
			t.Errorf("%s: a second copy of a sample in its day partition was stored", table)
		}
		if n := insertSample(t, pool, table, "web-1", t0, 1); n != 1 {
			t.Fatalf("%s: today's sample was not stored", table)
		}
		if part, _ := where(t, pool, table, "web-1", t0); part != table+"_p20260302" {
			t.Errorf("%s: today's sample landed in %s, want today's partition", table, part)
		}
	}
	for _, c := range rep.Created {
		if want := int64(0); c.Day.Format("2006-01-02") == "2026-03-01" {
			want = 1
			if c.Rows != want {
				t.Errorf("%s: %d rows moved from the default partition, want %d", c.Partition, c.Rows, want)
			}
		}
	}
	if len(rep.Dropped) != 0 {
		t.Errorf("nothing is past retention, yet %v were dropped", names(rep.Dropped))
	}

	again, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 30, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Created)+len(again.Dropped) != 0 {
		t.Errorf("a second run should change nothing: created %v, dropped %v", names(again.Created), names(again.Dropped))
	}
}

func TestPartitionRetentionDropsWholeDaysPastRetentionAndNothingYounger(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	day := 24 * time.Hour
	// 40 days of hourly samples, 2026-01-21 11:00 to 2026-03-02 10:00, all in the default
	// partitions to begin with. 30 days before t0 is 2026-01-31 10:17: the days up to
	// 2026-01-30 are entirely past retention, 2026-01-31 is not.
	dbtest.SeedHistory(t, pool, "web-1", t0.Add(-40*day), 40*day, time.Hour)
	cutoff := t0.AddDate(0, 0, -30)
	oldestKept := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	countSince := func(table string, since time.Time) int64 {
		var n int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE collected_at >= $1", since).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	young, kept := map[string]int64{}, map[string]int64{}
	for _, table := range jobs.HistoryTables {
		young[table], kept[table] = countSince(table, cutoff), countSince(table, oldestKept)
	}

	opts := jobs.PartitionOptions{RetentionDays: 30, Now: t0}
	dry := opts
	dry.DryRun = true
	plan, err := jobs.MaintainPartitions(ctx, pool, dry)
	if err != nil {
		t.Fatal(err)
	}
	// The blocks of the system history get today's and the next two days' partitions.
	if len(plan.Dropped) != 3*10 || len(plan.Created) != 3*(41+2)+3 {
		t.Errorf("dry run: would create %d and drop %d partitions, want %d and %d", len(plan.Created), len(plan.Dropped), 3*43+3, 3*10)
	}
	for _, table := range jobs.HistoryTables {
		if n := count(t, pool, table+"_default"); n != 40*24 {
			t.Errorf("the dry run changed %s: %d rows left in the default partition of %d", table, n, 40*24)
		}
	}

	rep, err := jobs.MaintainPartitions(ctx, pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(names(rep.Dropped)) != fmt.Sprint(names(plan.Dropped)) || fmt.Sprint(names(rep.Created)) != fmt.Sprint(names(plan.Created)) {
		t.Errorf("the run did not do what the dry run said:\ncreated %v\nplanned %v\ndropped %v\nplanned %v",
			names(rep.Created), names(plan.Created), names(rep.Dropped), names(plan.Dropped))
	}
	for _, table := range jobs.HistoryTables {
		if n := countSince(table, cutoff); n != young[table] {
			t.Errorf("%s: %d samples younger than the retention left of %d", table, n, young[table])
		}
		if n := countSince(table, oldestKept); n != kept[table] {
			t.Errorf("%s: %d samples left since %s of %d: the day the retention ends in must stay whole", table, n, oldestKept, kept[table])
		}
		if n := count(t, pool, table); n != kept[table] {
			t.Errorf("%s: %d rows in all, want only the %d since %s", table, n, kept[table], oldestKept)
		}
		if n := count(t, pool, table+"_default"); n != 0 {
			t.Errorf("%s: %d rows still in the default partition", table, n)
		}
	}
	var days []string
	for _, p := range rep.Partitions {
		if p.Table == "infrastructure_health" {
			days = append(days, p.Day())
		}
	}
	if len(days) != 34 || days[0] != "2026-01-31" || days[32] != "2026-03-04" || days[33] != "default" {
		t.Errorf("partitions after the run: %v; want 2026-01-31 to 2026-03-04 and the default", days)
	}
	for _, d := range rep.Dropped {
		if d.Rows < 0 || d.Bytes <= 0 {
			t.Errorf("%s: dropped %d rows and %d bytes; the report should say how much went", d.Partition, d.Rows, d.Bytes)
		}
	}

	// A day later 2026-01-31 is past retention in turn, and 2026-03-05 is two days ahead.
	next, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 30, Now: t0.Add(day)})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(names(next.Created), names(next.Dropped)); got != fmt.Sprint(
		[]string{"system_metrics_history_p20260305", "process_metrics_history_p20260305", "infrastructure_health_p20260305", "system_metrics_blocks_p20260305"},
		[]string{"system_metrics_history_p20260131", "process_metrics_history_p20260131", "infrastructure_health_p20260131"}) {
		t.Errorf("the next day: created and dropped %s", got)
	}
}

// A drop is two transactions (detach, then drop); one interrupted in between leaves the day
// detached, and the next run drops it.
func TestAnInterruptedDropIsFinishedByTheNextRun(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	old := t0.AddDate(0, 0, -40)
	insertSample(t, pool, "infrastructure_health", "web-1", old, 1)
	if _, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 60, Now: t0}); err != nil {
		t.Fatal(err)
	}
	part := jobs.PartitionName("infrastructure_health", old)
	q := queries.New(pool)
	if ok, err := q.DetachHistoryPartition(ctx, queries.DetachHistoryPartitionParams{TableName: "infrastructure_health", PartitionName: part}); err != nil || !ok {
		t.Fatalf("detach %s: %v %v", part, ok, err)
	}
	// Not past a 60-day retention: a detached day is left alone.
	rep, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 60, Now: t0})
	if err != nil || len(rep.Dropped) != 0 {
		t.Fatalf("dropped %v (%v), want nothing within retention", names(rep.Dropped), err)
	}
	rep, err = jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 30, Now: t0})
	if err != nil || fmt.Sprint(names(rep.Dropped)) != "["+part+"]" {
		t.Fatalf("dropped %v (%v), want the detached %s", names(rep.Dropped), err, part)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = $1`, part).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%s is still there (%v)", part, err)
	}
	// The default partition is never detached.
	if _, err := q.DetachHistoryPartition(ctx, queries.DetachHistoryPartitionParams{TableName: "infrastructure_health", PartitionName: "infrastructure_health_default"}); err == nil {
		t.Fatal("the default partition was detached")
	}
}

func TestMaintainPartitionsRefusesNoRetention(t *testing.T) {
	pool := dbtest.Pool(t)
	if _, err := jobs.MaintainPartitions(context.Background(), pool, jobs.PartitionOptions{Now: t0}); err == nil {
		t.Fatal("a retention of 0 days would drop today's partition; it must be refused")
	}
}
