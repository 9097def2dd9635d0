package database_test

import (
	"context"
	"testing"
	"time"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/jobs"
)

// Undoing the blocks migration turns every block back into rows: all the samples are rows
// again, at the precision the blocks kept, and up again finds them where they were.
func TestSystemBlocksMigrationGoesBackToRows(t *testing.T) {
	ctx := context.Background()
	pool, m := migrator(t)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	dbtest.SeedHosts(t, pool, []string{"web-1", "web-2"}, at.Add(-3*time.Hour), 3*time.Hour, 30*time.Second)
	if _, err := pool.Exec(ctx, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent, filesystems, interfaces) VALUES
		('edge', $1, 1.0004, 2, '[["/data", "tank", "zfs", 9223372036854788153, 1, 2, 100, 1e-7]]', '[["eth0", 123456.5, 1e21, 120, 230, 0.2, 0]]')`,
		at.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Each sample as the view shows it: what down must keep.
	read := func(from string) map[string]string {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT host || ' ' || collected_at::text, (to_jsonb(s) - 'block_at' - 'host' - 'collected_at')::text FROM `+from+` AS s`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			out[k] = v
		}
		return out
	}
	rep, err := jobs.CompactSystem(ctx, pool, at.Add(24*time.Hour))
	if err != nil || rep.Samples != 2*360+1 {
		t.Fatalf("compacted %s (%v), want every sample", rep, err)
	}
	shown := read("system_samples")
	if len(shown) != 2*360+1 {
		t.Fatalf("the view shows %d samples, want %d", len(shown), 2*360+1)
	}
	if got := shown["edge "+at.Add(-2*time.Hour).Format("2006-01-02 15:04:05-07")]; got == "" {
		t.Fatalf("the edge sample is not shown: %v", len(shown))
	}

	if _, err := m.DownTo(ctx, migrationVersion(t, "_system_blocks.sql")-1); err != nil {
		t.Fatal(err)
	}
	rowsAfter := read("system_metrics_history")
	if len(rowsAfter) != len(shown) {
		t.Fatalf("%d rows after down, %d samples before", len(rowsAfter), len(shown))
	}
	for k, v := range shown {
		if rowsAfter[k] != v {
			t.Errorf("%s: down made\n%s\nof\n%s", k, rowsAfter[k], v)
		}
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if again := read("system_samples"); len(again) != len(shown) {
		t.Errorf("up again shows %d samples, want %d", len(again), len(shown))
	}
}
