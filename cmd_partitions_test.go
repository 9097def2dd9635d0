package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/dbtest"
)

func TestPartitionsCommandSaysWhatItWouldDoThenDoesItAndLists(t *testing.T) {
	url := dbtest.URL(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// Three health rows, all in the default partition of a fresh database: one past the 30 days
	// of retention, one yesterday, one today.
	now := time.Now().UTC()
	old, yesterday := now.AddDate(0, 0, -40), now.AddDate(0, 0, -1)
	if _, err := pool.Exec(ctx, `INSERT INTO infrastructure_health (host, collected_at, score, status)
		VALUES ('web-1', $1, 90, 'healthy'), ('web-1', $2, 90, 'healthy'), ('web-1', $3, 90, 'healthy')`, old, yesterday, now); err != nil {
		t.Fatal(err)
	}
	part := func(at time.Time) string { return "infrastructure_health_p" + at.Format("20060102") }
	line := func(out string, parts ...string) bool {
		return regexp.MustCompile(`(?m)^` + strings.Join(parts, `\s+`) + `\s`).MatchString(out)
	}

	code, out := runCommand(t, url, "partitions", "--dry-run")
	for _, want := range []string{
		"would create " + part(old) + " (1 row moved in from the default partition)",
		"would create " + part(yesterday) + " (1 row moved in from the default partition)",
		"would create " + part(now.AddDate(0, 0, 2)) + " (0 rows moved in from the default partition)",
		"would drop " + part(old) + " (1 row,",
		"partitions: would create 14, would drop 1 (raw samples kept 30 days)", // 3 for each table, and 2 days with health rows
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("dry run: exit %d, want %q in the output:\n%s", code, want, out)
		}
	}
	if !line(out, "table", "partition", "day", "rows", "size") || !line(out, "infrastructure_health", "infrastructure_health_default", "default", "3", `[0-9.]+ kB`) {
		t.Fatalf("dry run: the list should show the three rows waiting in the default partition:\n%s", out)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM infrastructure_health_default`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("the dry run changed the partitions: %d rows left in the default (%v)", n, err)
	}

	code, out = runCommand(t, url, "partitions")
	if code != 0 || !strings.Contains(out, "created "+part(yesterday)+" (1 row moved in from the default partition)") ||
		!strings.Contains(out, "dropped "+part(old)+" (1 row,") || !strings.Contains(out, "partitions: created 14, dropped 1") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	for _, want := range [][]string{
		{"infrastructure_health", part(yesterday), yesterday.Format(time.DateOnly), "1", `[0-9.]+ kB`},
		{"infrastructure_health", part(now), now.Format(time.DateOnly)},
		{"system_metrics_history", "system_metrics_history_p" + now.AddDate(0, 0, 2).Format("20060102"), now.AddDate(0, 0, 2).Format(time.DateOnly)},
		{"infrastructure_health", "infrastructure_health_default", "default", "0"},
	} {
		if !line(out, want...) {
			t.Errorf("the list lacks the line %q:\n%s", strings.Join(want, " "), out)
		}
	}
	if line(out, "infrastructure_health", part(old)) {
		t.Errorf("the partition past retention is still listed:\n%s", out)
	}

	code, out = runCommand(t, url, "partitions", "--days", "0x")
	if code != 2 || !strings.Contains(out, "--days") {
		t.Errorf("a bad --days: exit %d, output:\n%s", code, out)
	}
}
