package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/dbtest"
)

func runCommand(t *testing.T, dbURL string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	vars := map[string]string{"DATABASE_URL": dbURL, "LOG_LEVEL": "error"}
	env := &environment{stdout: &out, stderr: &errOut, lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	code := run(context.Background(), env, args)
	return code, out.String() + errOut.String()
}

func TestCleanupCommandDryRunPrintsCountsAndDeletesNothing(t *testing.T) {
	url := dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// 40 rollups a day apart: 365 days of retention keep them all; 10 days keep 11.
	if _, err := pool.Exec(context.Background(), `INSERT INTO metric_aggregations (host, metric, metric_type, period, bucket_start, min_value, max_value, mean_value, p95_value, sample_count)
		SELECT 'web-1', 'cpu_percent', 'cpu', 'daily', now() - d * interval '10 day' + interval '1 hour', 1, 1, 1, 1, 1 FROM generate_series(0, 39) d`); err != nil {
		t.Fatal(err)
	}
	code, out := runCommand(t, url, "cleanup", "--dry-run")
	if code != 0 || !strings.Contains(out, "metric_aggregations      would delete 3 rows") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	var n int
	_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM metric_aggregations`).Scan(&n)
	if n != 40 {
		t.Fatalf("a dry run deleted rows: %d left of 40", n)
	}
	code, out = runCommand(t, url, "cleanup")
	if code != 0 || !strings.Contains(out, "metric_aggregations      deleted 3 rows") || strings.Contains(out, "system_metrics_history") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestAggregateCommandRefusesABadPeriod(t *testing.T) {
	code, out := runCommand(t, "", "aggregate", "--period", "weekly")
	if code != 2 || !strings.Contains(out, "--period must be 5min, hourly or daily") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestAlertsTestWithoutNotifierSaysWhatToSet(t *testing.T) {
	code, out := runCommand(t, "", "alerts", "--test")
	if code != 1 || !strings.Contains(out, "SLACK_WEBHOOK_URL") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestJobCommandsWorkOnAFreshDatabase(t *testing.T) {
	for _, args := range [][]string{
		{"cleanup", "--dry-run"},
		{"aggregate", "--hours", "2"},
		{"aggregate", "--period", "5min"},
		{"alerts", "--dry-run"},
		{"partitions", "--dry-run"},
		{"partitions"},
	} {
		// Each command on its own fresh database, as an operator running it first would have.
		code, out := runCommand(t, dbtest.EmptyURL(t), args...)
		if code != 0 {
			t.Errorf("%v on a fresh database: exit %d, output:\n%s", args, code, out)
		}
	}
}

func TestCompactCommandMovesOldSamplesIntoBlocksAndKeepsTheRecentOnes(t *testing.T) {
	url := dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// Two samples a minute for the last 5 hours: the three clock hours they began in that ended
	// two hours ago go into blocks, the rest stay rows; the view shows all of them.
	now := time.Now().UTC()
	dbtest.SeedHistory(t, pool, "web-1", now.Add(-5*time.Hour), 5*time.Hour, 30*time.Second)
	code, out := runCommand(t, url, "compact")
	if code != 0 || !strings.Contains(out, "compact: compacted ") || !strings.Contains(out, " into 3 blocks") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	var rows, shown, blocks int
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM system_metrics_history),
		(SELECT count(*) FROM system_samples), (SELECT count(*) FROM system_metrics_blocks)`).Scan(&rows, &shown, &blocks); err != nil {
		t.Fatal(err)
	}
	cut := now.Add(-2 * time.Hour).Truncate(time.Hour)
	if want := int(now.Sub(cut) / (30 * time.Second)); shown != 600 || blocks != 3 || rows < want-1 || rows > want+1 {
		t.Errorf("%d rows, %d blocks, %d samples shown; want about %d rows since %s, 3 blocks, 600 samples", rows, blocks, shown, want, cut)
	}
	if code, out := runCommand(t, url, "compact"); code != 0 || !strings.Contains(out, "compacted 0 samples") {
		t.Errorf("a second run: exit %d, output:\n%s", code, out)
	}
}
