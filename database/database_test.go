package database_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/schema"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestDuplicateSampleRefused(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	insert := `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent) VALUES ($1, $2, $3, 50)`
	if _, err := pool.Exec(ctx, insert, "web-1", at, 10.0); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(ctx, insert, "web-1", at, 20.0)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("a second sample for the same host and time must be refused, got %v", err)
	}
	// Another host at the same instant is a different sample.
	if _, err := pool.Exec(ctx, insert, "web-2", at, 20.0); err != nil {
		t.Fatalf("same time, other host: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM system_metrics_history`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("want 2 rows, got %d (%v)", n, err)
	}
}

func TestOneOpenAlertPerSubject(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	insert := `INSERT INTO infrastructure_alerts (host, metric, subject, severity, value, threshold, started_at, updated_at)
	           VALUES ('web-1', 'disk', $1, 'warning', 90, 85, now(), now())`
	if _, err := pool.Exec(ctx, insert, "/"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, insert, "/"); err == nil {
		t.Fatal("a second open alert for the same host, metric and subject must be refused")
	}
	if _, err := pool.Exec(ctx, insert, "/home"); err != nil {
		t.Fatalf("another filesystem may have its own alert: %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE infrastructure_alerts SET resolved_at = now() WHERE subject = '/'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, insert, "/"); err != nil {
		t.Fatalf("after resolving, a new alert may open: %v", err)
	}
}

func schemaDump(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'goose_db_version'
		UNION ALL SELECT 'index ' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'goose_db_version'
		UNION ALL SELECT 'type ' || t.typname || ' ' || e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		b.WriteString(s + "\n")
	}
	return b.String()
}

func TestMigrateDownUpKeepsSchema(t *testing.T) {
	ctx := context.Background()
	pool, err := database.Open(ctx, dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	before := schemaDump(t, pool)
	for _, want := range []string{
		"column system_metrics_history.collected_at timestamp with time zone",
		"index idx_system_collected_at", "index idx_process_collected_at", "index idx_infra_health_collected_at",
		"index idx_alerts_open", "index idx_alerts_resolved_at", "index idx_aggregations_bucket_start",
		// The timestamps the alert job and the token cleanup filter on.
		"index idx_alerts_last_notified_at", "index idx_alerts_pending", "index idx_tokens_revoked_at",
		"type healthstatus critical", "type metrictype cpu",
	} {
		if !strings.Contains(before, want) {
			t.Errorf("schema lacks %q", want)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent) VALUES ('h', now(), 1, 2)`); err != nil {
		t.Fatal(err)
	}
	m, err := database.NewMigrator(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.DownTo(ctx, 0); err != nil {
		t.Fatalf("down on a populated database: %v", err)
	}
	if left := schemaDump(t, pool); left != "" {
		t.Fatalf("down left objects behind:\n%s", left)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if after := schemaDump(t, pool); after != before {
		t.Fatalf("down then up changed the schema:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	var buf bytes.Buffer
	if err := m.Status(ctx, &buf); err != nil || !strings.Contains(buf.String(), "00001") || !strings.Contains(buf.String(), "applied") {
		t.Fatalf("status: %v\n%s", err, buf.String())
	}
}

func TestReplicasMigratingTogetherBothSucceed(t *testing.T) {
	ctx := context.Background()
	url := dbtest.EmptyURL(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			pool, err := database.Open(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			defer pool.Close()
			m, err := database.NewMigrator(pool)
			if err != nil {
				errs <- err
				return
			}
			defer m.Close()
			_, err = m.Up(ctx)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("a replica's migration failed: %v", err)
		}
	}
	pool, err := database.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	files, err := fs.Glob(schema.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&n); err != nil || n != len(files) {
		t.Fatalf("want each of the %d migrations recorded once, got %d rows (%v)", len(files), n, err)
	}
}

func TestPoolMaxConnsFromTheURLIsKept(t *testing.T) {
	ctx := context.Background()
	url := dbtest.URL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for give, want := range map[string]int32{url: 10, url + sep + "pool_max_conns=3": 3} {
		pool, err := database.Open(ctx, give)
		if err != nil {
			t.Fatal(err)
		}
		if got := pool.Config().MaxConns; got != want {
			t.Errorf("%s: MaxConns %d, want %d", give, got, want)
		}
		pool.Close()
	}
}

// migrationVersion is the number of the migration whose file name ends in suffix, so a test of
// one migration survives its renumbering.
func migrationVersion(t *testing.T, suffix string) int64 {
	t.Helper()
	files, err := fs.Glob(schema.FS, "*"+suffix)
	if err != nil || len(files) != 1 {
		t.Fatalf("want one migration *%s, got %v (%v)", suffix, files, err)
	}
	v, err := strconv.ParseInt(strings.SplitN(files[0], "_", 2)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The alerts resolved before the resolution column existed get theirs from the message they
// kept; the down part turns a pending de-escalation, which older code cannot send, into a
// reminder.
func TestAlertResolutionMigration(t *testing.T) {
	ctx := context.Background()
	pool, m := migrator(t)
	v := migrationVersion(t, "_alert_resolution.sql")
	if _, err := m.DownTo(ctx, v-1); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO infrastructure_alerts (host, metric, subject, severity, value, threshold, message, started_at, updated_at, resolved_at) VALUES
		('h', 'disk', '/mnt', 'critical', 97, 95, 'Resolved (no data): disk /mnt on h stopped reporting; last value 97 %', now(), now(), now()),
		('h', 'cpu', '', 'warning', 10, 80, 'Resolved: cpu on h is back to 10 %', now(), now(), now()),
		('h', 'memory', '', 'warning', 90, 85, 'WARNING: memory on h at 90 % (threshold 85 %)', now(), now(), NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	rows, err := pool.Query(ctx, `SELECT metric::text, coalesce(resolution, 'open') FROM infrastructure_alerts`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var metric, resolution string
		if err := rows.Scan(&metric, &resolution); err != nil {
			t.Fatal(err)
		}
		got[metric] = resolution
	}
	if got["disk"] != "no_data" || got["cpu"] != "recovered" || got["memory"] != "open" {
		t.Fatalf("resolutions after the migration: %v", got)
	}
	if _, err := pool.Exec(ctx, `UPDATE infrastructure_alerts SET pending_notification = 'deescalated' WHERE metric = 'memory'`); err != nil {
		t.Fatalf("a de-escalation notice should be storable: %v", err)
	}
	if _, err := m.DownTo(ctx, v-1); err != nil {
		t.Fatalf("down with a pending de-escalation: %v", err)
	}
	var pending string
	if err := pool.QueryRow(ctx, `SELECT pending_notification FROM infrastructure_alerts WHERE metric = 'memory'`).Scan(&pending); err != nil || pending != "reminder" {
		t.Fatalf("after down the pending notice is %q (%v), want reminder", pending, err)
	}
}

// A read-only database (a real one: the session's default made read-only) and a full disk are
// refusals an operator fixes, not the statement's fault: Unavailable, with a reason to log.
func TestRefusingTellsReadOnlyAndDiskFullFromBadStatements(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET SESSION default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	_, readOnly := conn.Exec(ctx, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent) VALUES ('web-1', now(), 1, 1)`)
	_, _ = conn.Exec(ctx, `RESET default_transaction_read_only`)
	_, badStatement := pool.Exec(ctx, `INSERT INTO system_metrics_history (host) VALUES ('web-1')`)
	for _, tc := range []struct {
		name   string
		err    error
		refuse string
	}{
		{"read-only", readOnly, "read-only"},
		{"disk full", &pgconn.PgError{Code: "53100", Message: `could not extend file "base/16384/16385": No space left on device`}, "disk is full"},
		{"too many connections", &pgconn.PgError{Code: "53300"}, "max_connections"},
		{"a NOT NULL violation", badStatement, ""},
		{"no error", nil, ""},
	} {
		reason := database.RefusalReason(tc.err)
		if tc.refuse == "" && (reason != "" || database.Unavailable(tc.err)) || tc.refuse != "" && (!strings.Contains(reason, tc.refuse) || !database.Unavailable(tc.err)) {
			t.Errorf("%s (%v): reason %q, Unavailable %v; want a reason naming %q", tc.name, tc.err, reason, database.Unavailable(tc.err), tc.refuse)
		}
	}
}

// Going back before the positional rows gives the version before its objects again, every value
// kept; rows already objects stay as they were.
func TestPositionalDetailMigrationGoesBackToObjects(t *testing.T) {
	ctx := context.Background()
	pool, m := migrator(t)
	if _, err := pool.Exec(ctx, `INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent, filesystems, interfaces, temperatures) VALUES
		('new', '2026-12-01T10:00:00Z', 1, 2,
		 '[["/", "/dev/vda", "ext4", 270553174016, 17492168704, 80301125632, 17.8868794867469, 3.665870428085327], ["/data", "tank", "zfs", 9223372036854788153, 1, 2, 100, 1e-7]]',
		 '[["eth0", 123456.5, 1e21, 120, 230, 0.2, 0]]', '[["cpu", 45.5], ["nvme", -3]]'),
		('old', '2026-12-01T10:00:00Z', 1, 2, '[{"mountpoint": "/", "used_percent": 40}]', '[]', '[{"sensor": "cpu", "celsius": 50}]')`); err != nil {
		t.Fatal(err)
	}
	read := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		rows, err := pool.Query(ctx, `SELECT host, filesystems::text || ' ' || interfaces::text || ' ' || temperatures::text FROM system_metrics_history`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var host, v string
			if err := rows.Scan(&host, &v); err != nil {
				t.Fatal(err)
			}
			out[host] = v
		}
		return out
	}
	before := read()
	if _, err := m.DownTo(ctx, migrationVersion(t, "_positional_detail.sql")-1); err != nil {
		t.Fatal(err)
	}
	var want string
	if err := pool.QueryRow(ctx, `SELECT '[{"mountpoint": "/", "device": "/dev/vda", "fstype": "ext4", "total_bytes": 270553174016, "used_bytes": 17492168704,
			"free_bytes": 80301125632, "used_percent": 17.8868794867469, "inodes_used_percent": 3.665870428085327},
		{"mountpoint": "/data", "device": "tank", "fstype": "zfs", "total_bytes": 9223372036854788153, "used_bytes": 1, "free_bytes": 2,
			"used_percent": 100, "inodes_used_percent": 1e-7}]'::jsonb::text || ' ' ||
		'[{"name": "eth0", "recv_bytes_per_second": 123456.5, "sent_bytes_per_second": 1e21, "recv_packets_per_second": 120,
			"sent_packets_per_second": 230, "recv_errors_per_second": 0.2, "sent_errors_per_second": 0}]'::jsonb::text || ' ' ||
		'[{"sensor": "cpu", "celsius": 45.5}, {"sensor": "nvme", "celsius": -3}]'::jsonb::text`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	after := read()
	if after["new"] != want {
		t.Errorf("after down the positional rows read\n%s\nwant\n%s", after["new"], want)
	}
	if after["old"] != before["old"] {
		t.Errorf("down changed a row that held objects: %s -> %s", before["old"], after["old"])
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if again := read(); again["new"] != want || again["old"] != before["old"] {
		t.Errorf("up again changed the rows: %v", again)
	}
}

// migrator opens a new migrated test database and its migrator, both closed when the test ends.
func migrator(t *testing.T) (*pgxpool.Pool, *database.Migrator) {
	t.Helper()
	pool, err := database.Open(context.Background(), dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	m, err := database.NewMigrator(pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return pool, m
}
