package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/queries"
)

// DefaultBatchSize is how many rows one DELETE removes at most.
const DefaultBatchSize = 10000

// Retention says how long each kind of row is kept.
type Retention struct {
	// RawDays is how long raw samples and health rows are kept: MaintainPartitions drops their
	// day partitions past it. Cleanup keeps revoked API tokens as long, for the record.
	RawDays       int
	AlertDays     int // resolved alerts, the audit log, and silences that ended
	AggregateDays int // rollups
	// Expired sessions and tokens go at once.
}

// CleanupOptions control one cleanup.
type CleanupOptions struct {
	Retention Retention
	DryRun    bool // count, delete nothing
	Vacuum    bool // VACUUM (ANALYZE) each table rows were deleted from
	BatchSize int  // default DefaultBatchSize
	Now       time.Time
}

// TableCount is how many rows of one table are (or would be) deleted.
type TableCount struct {
	Table string
	Rows  int64
}

// CleanupReport is what a cleanup did, table by table.
type CleanupReport struct {
	DryRun   bool
	Tables   []TableCount
	Vacuumed []string
}

// Total is the number of rows across all tables.
func (r CleanupReport) Total() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

func (r CleanupReport) String() string {
	parts := make([]string, 0, len(r.Tables))
	for _, t := range r.Tables {
		parts = append(parts, fmt.Sprintf("%s=%d", t.Table, t.Rows))
	}
	verb := "deleted"
	if r.DryRun {
		verb = "would delete"
	}
	s := fmt.Sprintf("%s %d rows: %s", verb, r.Total(), strings.Join(parts, " "))
	if len(r.Vacuumed) > 0 {
		s += "; vacuumed " + strings.Join(r.Vacuumed, " ")
	}
	return s
}

// cleanupTarget is one table's retention rule. The table names here are the allow-list VACUUM
// may be run on.
type cleanupTarget struct {
	table  string
	count  func(ctx context.Context, q *queries.Queries) (int64, error)
	delete func(ctx context.Context, q *queries.Queries, batch int32) (int64, error)
}

func cleanupTargets(o CleanupOptions) []cleanupTarget {
	now := o.Now.UTC()
	days := func(n int) time.Time { return now.AddDate(0, 0, -n) }
	raw, alerts, aggs := days(o.Retention.RawDays), days(o.Retention.AlertDays), days(o.Retention.AggregateDays)
	tokens := queries.CountDeadTokensParams{ExpiredBefore: now, RevokedBefore: raw}
	// A week without a failure is longer than the longest LOGIN_LOCKOUT: nothing left to count.
	failures := now.Add(-7 * 24 * time.Hour)
	return []cleanupTarget{
		{"infrastructure_alerts",
			func(ctx context.Context, q *queries.Queries) (int64, error) {
				return q.CountOldResolvedAlerts(ctx, alerts)
			},
			func(ctx context.Context, q *queries.Queries, b int32) (int64, error) {
				return q.DeleteOldResolvedAlerts(ctx, queries.DeleteOldResolvedAlertsParams{Before: alerts, BatchSize: b})
			}},
		{"metric_aggregations",
			func(ctx context.Context, q *queries.Queries) (int64, error) { return q.CountOldAggregations(ctx, aggs) },
			func(ctx context.Context, q *queries.Queries, b int32) (int64, error) {
				return q.DeleteOldAggregations(ctx, queries.DeleteOldAggregationsParams{Before: aggs, BatchSize: b})
			}},
		{"sessions",
			func(ctx context.Context, q *queries.Queries) (int64, error) { return q.CountExpiredSessions(ctx, now) },
			func(ctx context.Context, q *queries.Queries, b int32) (int64, error) {
				return q.DeleteExpiredSessions(ctx, queries.DeleteExpiredSessionsParams{Before: now, BatchSize: b})
			}},
		{"api_tokens",
			func(ctx context.Context, q *queries.Queries) (int64, error) { return q.CountDeadTokens(ctx, tokens) },
			func(ctx context.Context, q *queries.Queries, b int32) (int64, error) {
				return q.DeleteDeadTokens(ctx, queries.DeleteDeadTokensParams{ExpiredBefore: now, RevokedBefore: raw, BatchSize: b})
			}},
		{"audit_log",
			func(ctx context.Context, q *queries.Queries) (int64, error) {
				return q.CountOldAuditEntries(ctx, alerts)
			},
			func(ctx context.Context, q *queries.Queries, b int32) (int64, error) {
				return q.DeleteOldAuditEntries(ctx, queries.DeleteOldAuditEntriesParams{Before: alerts, BatchSize: b})
			}},
		{"silences",
			func(ctx context.Context, q *queries.Queries) (int64, error) { return q.CountOldSilences(ctx, alerts) },
			func(ctx context.Context, q *queries.Queries, b int32) (int64, error) {
				return q.DeleteOldSilences(ctx, queries.DeleteOldSilencesParams{Before: alerts, BatchSize: b})
			}},
		{"login_failures",
			func(ctx context.Context, q *queries.Queries) (int64, error) {
				return q.CountStaleLoginFailures(ctx, failures)
			},
			func(ctx context.Context, q *queries.Queries, b int32) (int64, error) {
				return q.DeleteStaleLoginFailures(ctx, queries.DeleteStaleLoginFailuresParams{Before: failures, BatchSize: b})
			}},
	}
}

// Cleanup deletes what is past retention, in batches so that no statement holds its locks for
// long, and reports the rows per table. The raw history is not its business: MaintainPartitions
// drops whole days of it, which takes milliseconds and leaves no dead rows behind. Each batch commits on its own: an interrupted cleanup
// keeps what it did and the next one goes on.
func Cleanup(ctx context.Context, pool *pgxpool.Pool, o CleanupOptions) (CleanupReport, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	q := queries.New(pool)
	rep := CleanupReport{DryRun: o.DryRun}
	for _, t := range cleanupTargets(o) {
		tc := TableCount{Table: t.table}
		if o.DryRun {
			n, err := t.count(ctx, q)
			if err != nil {
				return rep, fmt.Errorf("cleanup: count %s: %w", t.table, err)
			}
			tc.Rows = n
		} else {
			for {
				n, err := t.delete(ctx, q, int32(o.BatchSize))
				if err != nil {
					rep.Tables = append(rep.Tables, tc)
					return rep, fmt.Errorf("cleanup: delete from %s: %w", t.table, err)
				}
				tc.Rows += n
				if n < int64(o.BatchSize) {
					break
				}
			}
		}
		rep.Tables = append(rep.Tables, tc)
	}
	if o.Vacuum && !o.DryRun {
		for _, tc := range rep.Tables {
			if tc.Rows == 0 {
				continue
			}
			// VACUUM cannot run in a transaction or take a parameter, so it is the one statement
			// built here; the name comes from cleanupTargets, never from input.
			if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{tc.Table}.Sanitize()); err != nil {
				return rep, fmt.Errorf("cleanup: vacuum %s: %w", tc.Table, err)
			}
			rep.Vacuumed = append(rep.Vacuumed, tc.Table)
		}
	}
	return rep, nil
}
