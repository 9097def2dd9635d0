package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/jobs"
	"github.com/infradash/infradash/queries"
)

// systemRows reads the system history as JSON objects keyed "host collected_at", from the rows
// (table system_metrics_history) or rows and blocks alike (the view system_samples).
func systemRows(t *testing.T, pool *pgxpool.Pool, from string) map[string]map[string]any {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT (to_jsonb(s) - 'block_at')::text FROM `+from+` AS s`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]map[string]any{}
	for rows.Next() {
		var text string
		if err := rows.Scan(&text); err != nil {
			t.Fatal(err)
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(text), &r); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339Nano, r["collected_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprint(r["host"], " ", at.UTC().Format(time.RFC3339Nano))] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// positionalOrder is each list's order of values (store/rows.go), to compare a row written as
// objects before migration 00016 with the positional row its block gives back.
var positionalOrder = map[string][]string{
	"filesystems":  {"mountpoint", "device", "fstype", "total_bytes", "used_bytes", "free_bytes", "used_percent", "inodes_used_percent"},
	"interfaces":   {"name", "recv_bytes_per_second", "sent_bytes_per_second", "recv_packets_per_second", "sent_packets_per_second", "recv_errors_per_second", "sent_errors_per_second"},
	"temperatures": {"sensor", "celsius"},
}

// sameSample says how the sample got back from a block differs from the row it was, beyond
// what the blocks' precision allows: 1/1000 of the unit (half of it, rounded), byte rates to the
// byte per second.
func sameSample(was, got map[string]any) []string {
	var diffs []string
	var cmp func(path string, a, b any, tol float64)
	cmp = func(path string, a, b any, tol float64) {
		switch a := a.(type) {
		case float64:
			bf, ok := b.(float64)
			if !ok || math.Abs(a-bf) > tol {
				diffs = append(diffs, fmt.Sprintf("%s: %v, was %v", path, b, a))
			}
		case []any:
			bl, ok := b.([]any)
			if !ok || len(bl) != len(a) {
				diffs = append(diffs, fmt.Sprintf("%s: %v, was %v", path, b, a))
				return
			}
			for i := range a {
				cmp(fmt.Sprintf("%s[%d]", path, i), a[i], bl[i], tol)
			}
		default:
			if fmt.Sprint(a) != fmt.Sprint(b) {
				diffs = append(diffs, fmt.Sprintf("%s: %v, was %v", path, b, a))
			}
		}
	}
	const milli = 0.0005 + 1e-9
	for k, v := range was {
		switch k {
		case "filesystems", "interfaces", "temperatures":
			wl, gl := v.([]any), got[k].([]any)
			if len(wl) != len(gl) {
				diffs = append(diffs, fmt.Sprintf("%s: %d entries, was %d", k, len(gl), len(wl)))
				continue
			}
			for i, w := range wl {
				if obj, ok := w.(map[string]any); ok {
					row := make([]any, len(positionalOrder[k]))
					for j, name := range positionalOrder[k] {
						row[j] = obj[name]
					}
					w = row
				}
				for j, x := range w.([]any) {
					tol := milli
					if k == "interfaces" && (j == 1 || j == 2) {
						tol = 0.5
					}
					cmp(fmt.Sprintf("%s[%d][%d]", k, i, j), x, gl[i].([]any)[j], tol)
				}
			}
		default:
			tol := milli
			if strings.HasSuffix(k, "bytes_per_second") {
				tol = 0.5
			}
			cmp(k, v, got[k], tol)
		}
	}
	return diffs
}

func TestCompactionKeepsEverySampleAndWhatReadersSee(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	q := queries.New(pool)
	// Yesterday from 04:00 to now (10:17), every 20 s, on three hosts of a typical server's shape,
	// in the partitions of their days.
	hosts := []string{"web-1", "web-2", "db-1"}
	from := t0.Add(-30*time.Hour - 17*time.Minute)
	dbtest.SeedHosts(t, pool, hosts, from, t0.Sub(from), 20*time.Second)
	if _, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 30, Now: t0}); err != nil {
		t.Fatal(err)
	}
	// A row written as objects before migration 00016, one whose CPU is NaN and one whose disk
	// rate 1/1000 cannot hold in a bigint: the first is compacted, the others stay rows.
	exec(t, pool, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent, filesystems, interfaces, temperatures)
		VALUES ('old-1', $1, 12.3456, 40, '[{"mountpoint": "/", "device": "/dev/vda1", "fstype": "ext4", "total_bytes": 1000, "used_bytes": 500, "used_percent": 50.00049}]',
		        '[{"name": "eth0", "recv_bytes_per_second": 1234.56, "sent_bytes_per_second": 99.4}]', '[{"sensor": "cpu", "celsius": 51.0004}]')`,
		t0.Add(-5*time.Hour))
	exec(t, pool, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent) VALUES ('odd-1', $1, 'NaN', 1)`, t0.Add(-5*time.Hour))
	exec(t, pool, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent, disk_read_bytes_per_second) VALUES ('odd-1', $1, 1, 1, 1e19)`,
		t0.Add(-5*time.Hour+time.Second))
	before := systemRows(t, pool, "system_metrics_history")
	if _, err := jobs.Aggregate(ctx, pool, jobs.Hourly, 31*time.Hour, t0); err != nil {
		t.Fatal(err)
	}
	rollupsBefore := rollups(t, pool)
	seriesArgs := queries.SystemSeriesParams{StepSeconds: 3600, Metric: "cpu_percent", Host: "web-2", FromAt: from, ToAt: t0}
	seriesBefore, err := q.SystemSeries(ctx, seriesArgs)
	if err != nil {
		t.Fatal(err)
	}
	window := queries.AlertWindowMeansParams{Since: t0.Add(-6 * time.Hour), Until: t0.Add(-5 * time.Hour)}
	meansBefore, err := q.AlertWindowMeans(ctx, window)
	if err != nil {
		t.Fatal(err)
	}

	// A run with less than two minutes left of its time stops before its first hour, and says
	// how many hours it leaves for the next run.
	short, cancel := context.WithTimeout(ctx, time.Minute)
	rep, err := jobs.CompactSystem(short, pool, t0)
	cancel()
	if err != nil || rep.Samples != 0 || rep.Left != 28 {
		t.Errorf("a run about to time out: %s, %v; want nothing moved and 28 hours left", rep, err)
	}

	rep, err = jobs.CompactSystem(ctx, pool, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Up to 08:00: 28 hours (04:00 yesterday to 08:00 today) of the three hosts, 180 samples an
	// hour each, and old-1's sample.
	if want := int64(3*28*180 + 1); rep.Samples != want || rep.Blocks != 3*28+1 || rep.Hours != 28 {
		t.Errorf("compacted %s; want %d samples of 28 hours into %d blocks", rep, want, 3*28+1)
	}
	if fmt.Sprint(rep.Tidied) != "[system_metrics_history_p20260301]" {
		t.Errorf("tidied %v, want yesterday's emptied partition", rep.Tidied)
	}
	var yesterday int64
	if err := pool.QueryRow(ctx, `SELECT pg_total_relation_size('system_metrics_history_p20260301')`).Scan(&yesterday); err != nil {
		t.Fatal(err)
	}
	if yesterday > 64<<10 {
		t.Errorf("yesterday's emptied partition still takes %d bytes", yesterday)
	}
	if n := count(t, pool, "system_metrics_history"); n != int64(3*(2*180+17*3)+2) {
		t.Errorf("%d rows left, want the last 2 h 17 min of the three hosts and odd-1's two", n)
	}

	after := systemRows(t, pool, "system_samples")
	if len(after) != len(before) {
		t.Errorf("%d samples after the compaction, %d before", len(after), len(before))
	}
	for key, was := range before {
		got, ok := after[key]
		if !ok {
			t.Errorf("%s: lost", key)
			continue
		}
		if diffs := sameSample(was, got); len(diffs) > 0 {
			t.Errorf("%s differs: %s", key, strings.Join(diffs, "; "))
		}
	}

	// What the readers make of it: the rollups over compacted hours, a chart's series and the
	// alerts' window means.
	exec(t, pool, "TRUNCATE metric_aggregations")
	if _, err := jobs.Aggregate(ctx, pool, jobs.Hourly, 31*time.Hour, t0); err != nil {
		t.Fatal(err)
	}
	rollupsAfter := rollups(t, pool)
	if len(rollupsAfter) != len(rollupsBefore) {
		t.Errorf("%d rollups from blocks, %d from rows", len(rollupsAfter), len(rollupsBefore))
	}
	for k, was := range rollupsBefore {
		got := rollupsAfter[k]
		if got.count != was.count || math.Abs(got.mean-was.mean) > 0.001 || math.Abs(got.p95-was.p95) > 0.001 ||
			math.Abs(got.min-was.min) > 0.001 || math.Abs(got.max-was.max) > 0.001 {
			t.Errorf("rollup %s: %+v from blocks, %+v from rows", k, got, was)
		}
	}
	seriesAfter, err := q.SystemSeries(ctx, seriesArgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(seriesAfter) != len(seriesBefore) || len(seriesBefore) != 31 {
		t.Fatalf("%d points from blocks, %d from rows, want 31", len(seriesAfter), len(seriesBefore))
	}
	for i, was := range seriesBefore {
		if got := seriesAfter[i]; got.SampleCount != was.SampleCount || math.Abs(got.MeanValue-was.MeanValue) > 0.001 {
			t.Errorf("point %d: %+v from blocks, %+v from rows", i, got, was)
		}
	}
	meansAfter, err := q.AlertWindowMeans(ctx, window)
	if err != nil {
		t.Fatal(err)
	}
	if len(meansAfter) != len(meansBefore) || len(meansBefore) < 3*7 {
		t.Fatalf("%d alert means from blocks, %d from rows", len(meansAfter), len(meansBefore))
	}
	for i, was := range meansBefore {
		if got := meansAfter[i]; got.Samples != was.Samples || got.Subject != was.Subject || math.Abs(got.MeanValue-was.MeanValue) > 0.001 {
			t.Errorf("alert mean %d: %+v from blocks, %+v from rows", i, got, was)
		}
	}

	// Readiness finds a host's last sample in its blocks when it has no rows left.
	if at, err := q.LatestSampleAt(ctx, "old-1"); err != nil || !at.Equal(t0.Add(-5*time.Hour)) {
		t.Errorf("old-1's latest sample: %s, %v; want %s", at, err, t0.Add(-5*time.Hour))
	}

	again, err := jobs.CompactSystem(ctx, pool, t0)
	if err != nil || again.Samples != 0 || len(again.Tidied) != 0 {
		t.Errorf("a second run: %s, %v; want nothing done", again, err)
	}

	// A sample an agent delivers late for a compacted hour gets a block of its own; one sent
	// again for an instant a block holds is dropped, as the unique key drops it for rows.
	late := t0.Add(-20 * time.Hour).Add(7 * time.Second)
	exec(t, pool, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent) VALUES ('web-1', $1, 77, 1)`, late)
	var dup time.Time
	if err := pool.QueryRow(ctx, `SELECT sample_at[3] FROM system_metrics_blocks WHERE host = 'web-1' ORDER BY collected_at LIMIT 1`).Scan(&dup); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent) VALUES ('web-1', $1, 99.5, 1)`, dup)
	rep, err = jobs.CompactSystem(ctx, pool, t0)
	if err != nil || rep.Samples != 2 || rep.Blocks != 1 {
		t.Fatalf("compacting a late sample and a repeated one: %s, %v; want 2 samples into 1 block", rep, err)
	}
	final := systemRows(t, pool, "system_samples")
	if len(final) != len(before)+1 {
		t.Errorf("%d samples, want %d: the late one added, the repeated one not", len(final), len(before)+1)
	}
	key := func(at time.Time) string { return "web-1 " + at.UTC().Format(time.RFC3339Nano) }
	if got := final[key(late)]["cpu_percent"]; got != 77.0 {
		t.Errorf("the late sample's CPU: %v, want 77", got)
	}
	if got, was := final[key(dup)]["cpu_percent"], before[key(dup)]["cpu_percent"]; got != was {
		t.Errorf("the sample sent again replaced the stored one: CPU %v, was %v", got, was)
	}

	// Removing a host with --purge counts and deletes its samples in blocks too.
	purged, err := q.PurgeHostHistory(ctx, "web-2")
	if err != nil {
		t.Fatal(err)
	}
	web2 := 0
	for k := range before {
		if strings.HasPrefix(k, "web-2 ") {
			web2++
		}
	}
	if purged[0].TableName != "system_metrics_history" || purged[0].Rows != int64(web2) {
		t.Errorf("purge: %+v, want %d system samples", purged[0], web2)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM system_metrics_blocks WHERE host = 'web-2'`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d blocks of the purged host left (%v)", left, err)
	}
}

// Blocks live in day partitions like the rows: retention drops their days with the others, and
// a block for a day without its partition is kept in the default one until the maintenance
// moves it.
func TestRetentionDropsCompactedDays(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	// 40 days of hourly samples, all in the default partitions, compacted into the blocks'
	// default partition, then kept in their days and dropped past a 30-day retention.
	dbtest.SeedHistory(t, pool, "web-1", t0.Add(-40*24*time.Hour), 40*24*time.Hour, time.Hour)
	if _, err := jobs.CompactSystem(ctx, pool, t0); err != nil {
		t.Fatal(err)
	}
	inDefault := count(t, pool, "system_metrics_blocks_default")
	if inDefault != 40*24-2 {
		t.Errorf("%d blocks in the default partition, want %d", inDefault, 40*24-2)
	}
	cutoff := t0.AddDate(0, 0, -30)
	young := func() (n int64) {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM system_samples WHERE collected_at >= $1 AND block_at >= $2`,
			cutoff, cutoff.Add(-time.Hour)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	kept := young()
	rep, err := jobs.MaintainPartitions(ctx, pool, jobs.PartitionOptions{RetentionDays: 30, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	blockDays := 0
	for _, d := range rep.Dropped {
		if strings.HasPrefix(d.Partition, "system_metrics_blocks_p") {
			blockDays++
		}
	}
	if blockDays != 10 {
		t.Errorf("dropped %v; want the blocks' 10 days past retention among them", names(rep.Dropped))
	}
	if n := count(t, pool, "system_metrics_blocks_default"); n != 0 {
		t.Errorf("%d blocks still in the default partition", n)
	}
	if n := young(); n != kept {
		t.Errorf("%d samples younger than the retention left of %d", n, kept)
	}
	var oldest time.Time
	if err := pool.QueryRow(ctx, `SELECT min(collected_at) FROM system_samples`).Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	if !oldest.After(cutoff.Truncate(24 * time.Hour)) {
		t.Errorf("the oldest sample left is from %s, past retention", oldest)
	}
}
