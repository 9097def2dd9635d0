package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/units"
)

// HistoryTables are the tables of a row per sample, partitioned by UTC day
// (schema/00013_partitioned_history.sql).
var HistoryTables = []string{"system_metrics_history", "process_metrics_history", "infrastructure_health"}

// PartitionedTables are all the tables kept in day partitions: the history tables and the blocks
// the system history is compacted into (schema/00017_system_blocks.sql), whose days retention
// drops with the others.
var PartitionedTables = append(slices.Clone(HistoryTables), "system_metrics_blocks")

// Defaults of PartitionOptions.
const (
	DefaultDaysAhead = 2
	// DefaultLockTimeout bounds how long creating or dropping a partition waits for its lock.
	// Dropping needs the table to itself for a moment and everybody else queues behind the wait,
	// so it gives up soon (the next run tries again) rather than stall the writes.
	DefaultLockTimeout = 5 * time.Second
)

// PartitionOptions control one partition maintenance.
type PartitionOptions struct {
	// RetentionDays (RETENTION_DAYS): a day partition whose whole day is older goes.
	RetentionDays int
	// DaysAhead is how many days after today get their partition in advance.
	DaysAhead   int
	DryRun      bool // say what would be created and dropped; change nothing
	LockTimeout time.Duration
	Now         time.Time
}

// Partition is one partition of a history table.
type Partition struct {
	Table, Name string
	Default     bool
	From, To    time.Time // the day it holds, [From, To) in UTC; zero for the default partition
	// Rows is PostgreSQL's estimate from the last ANALYZE (-1: not analyzed yet); exact for the
	// default partition, which should hold next to nothing.
	Rows  int64
	Bytes int64 // on disk, indexes included
}

// PartitionChange is a partition created or dropped, or that would be in a dry run.
type PartitionChange struct {
	Table, Partition string
	Day              time.Time // zero: the default partition
	// Rows: for a created partition, the rows moved into it from the default partition; for a
	// dropped one, the rows it held (estimated, as Partition.Rows).
	Rows  int64
	Bytes int64 // of a dropped partition
}

// PartitionReport is what a maintenance did (or would do) and the partitions after it.
type PartitionReport struct {
	DryRun     bool
	Created    []PartitionChange
	Dropped    []PartitionChange
	Partitions []Partition
}

func (r PartitionReport) String() string {
	var moved, rows, bytes int64
	for _, c := range r.Created {
		moved += c.Rows
	}
	for _, d := range r.Dropped {
		rows += max(d.Rows, 0)
		bytes += d.Bytes
	}
	verb := ""
	if r.DryRun {
		verb = "would have "
	}
	return fmt.Sprintf("%screated %d partitions (%d rows moved from the default partitions), %sdropped %d (about %d rows, %s)",
		verb, len(r.Created), moved, verb, len(r.Dropped), rows, units.Format(float64(bytes), units.Bytes))
}

// PartitionName is the name of table's partition for day: what history_partition creates.
func PartitionName(table string, day time.Time) string {
	return table + "_p" + day.UTC().Format("20060102")
}

// ListPartitions returns the partitions of the history tables, each table's days oldest first
// and its default partition last.
func ListPartitions(ctx context.Context, pool *pgxpool.Pool) ([]Partition, error) {
	q := queries.New(pool)
	rows, err := q.HistoryPartitions(ctx, PartitionedTables)
	if err != nil {
		return nil, fmt.Errorf("partitions: list: %w", err)
	}
	out := make([]Partition, 0, len(rows))
	for _, r := range rows {
		p := Partition{Table: r.TableName, Name: r.PartitionName, Default: r.IsDefault, Rows: r.EstimatedRows, Bytes: r.TotalBytes}
		if p.Default {
			days, err := q.DefaultPartitionDays(ctx, p.Table)
			if err != nil {
				return nil, fmt.Errorf("partitions: count the rows of %s: %w", p.Name, err)
			}
			p.Rows = 0
			for _, d := range days {
				p.Rows += d.Rows
			}
		} else {
			p.From, p.To = r.FromAt.UTC(), r.ToAt.UTC()
		}
		out = append(out, p)
	}
	return out, nil
}

// MaintainPartitions keeps the day partitions of the history tables: it creates today's and the
// next DaysAhead days', and the partition of any day the default partition holds samples for
// (moving them in), then drops every day partition entirely past RetentionDays, which is the
// retention of raw samples and health rows. Each partition is created or dropped in a
// transaction of its own; one that fails (a lock not granted in time, say) does not stop the
// others, and the next run tries it again.
func MaintainPartitions(ctx context.Context, pool *pgxpool.Pool, o PartitionOptions) (PartitionReport, error) {
	if o.RetentionDays < 1 {
		return PartitionReport{}, fmt.Errorf("partitions: retention must be at least 1 day, not %d", o.RetentionDays)
	}
	if o.DaysAhead <= 0 {
		o.DaysAhead = DefaultDaysAhead
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	now := o.Now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	cutoff := now.AddDate(0, 0, -o.RetentionDays)
	rep := PartitionReport{DryRun: o.DryRun}

	parts, err := ListPartitions(ctx, pool)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, table := range PartitionedTables {
		have := map[string]bool{} // by day, 2006-01-02, and "default"
		for _, p := range parts {
			if p.Table == table {
				have[p.Day()] = true
			}
		}
		waiting := map[string]int64{}
		if !have["default"] {
			// Without it a sample for a day with no partition would be refused.
			c := PartitionChange{Table: table, Partition: table + "_default"}
			if err := o.create(ctx, pool, &c); err != nil {
				errs = append(errs, err)
			} else {
				rep.Created = append(rep.Created, c)
			}
		} else {
			days, err := queries.New(pool).DefaultPartitionDays(ctx, table)
			if err != nil {
				errs = append(errs, fmt.Errorf("partitions: days in %s_default: %w", table, err))
			}
			for _, d := range days {
				waiting[d.Day.Time.Format(time.DateOnly)] = d.Rows
			}
		}
		want := []string{}
		for i := 0; i <= o.DaysAhead; i++ {
			want = append(want, today.AddDate(0, 0, i).Format(time.DateOnly))
		}
		for day := range waiting {
			want = append(want, day)
		}
		slices.Sort(want)
		for _, d := range slices.Compact(want) {
			if have[d] {
				continue
			}
			day, _ := time.Parse(time.DateOnly, d)
			c := PartitionChange{Table: table, Partition: PartitionName(table, day), Day: day, Rows: waiting[d]}
			if err := o.create(ctx, pool, &c); err != nil {
				errs = append(errs, err)
				continue
			}
			rep.Created = append(rep.Created, c)
			if o.DryRun {
				parts = append(parts, Partition{Table: table, Name: c.Partition, From: day, To: day.AddDate(0, 0, 1), Rows: c.Rows})
			}
		}
	}
	// Then what is past retention, samples that came in late for such a day included.
	if o.DryRun {
		slices.SortFunc(parts, func(a, b Partition) int { return strings.Compare(a.Name, b.Name) })
	} else if parts, err = ListPartitions(ctx, pool); err != nil {
		return rep, errors.Join(append(errs, err)...)
	}
	drops := make([][]PartitionChange, len(PartitionedTables))
	for i, table := range PartitionedTables {
		var drop []PartitionChange
		for _, p := range parts {
			if p.Table == table && !p.Default && !p.To.After(cutoff) {
				drop = append(drop, PartitionChange{Table: table, Partition: p.Name, Day: p.From, Rows: p.Rows, Bytes: p.Bytes})
			}
		}
		// A drop interrupted between its two transactions left its day detached: finish it (only
		// past retention, so that a day someone detached to keep is never taken).
		left, err := queries.New(pool).DetachedHistoryPartitions(ctx, table)
		if err != nil {
			errs = append(errs, fmt.Errorf("partitions: detached partitions of %s: %w", table, err))
		}
		for _, l := range left {
			day, err := time.Parse("20060102", strings.TrimPrefix(l.PartitionName, table+"_p"))
			if err == nil && !day.AddDate(0, 0, 1).After(cutoff) {
				drop = append(drop, PartitionChange{Table: table, Partition: l.PartitionName, Day: day, Rows: -1, Bytes: l.TotalBytes})
			}
		}
		drops[i] = drop
	}
	// The tables' days go side by side: the time of a drop is the kernel evicting the files' cached
	// pages and freeing their blocks at its commit, in the one backend that commits it: a second or
	// more for a large day still in the page cache (docs/scaling.md, Retention).
	dropped, failed := make([][]PartitionChange, len(drops)), make([][]error, len(drops))
	var wg sync.WaitGroup
	for i, drop := range drops {
		wg.Go(func() {
			for _, c := range drop {
				if err := o.drop(ctx, pool, c); err != nil {
					failed[i] = append(failed[i], err)
					continue
				}
				dropped[i] = append(dropped[i], c)
			}
		})
	}
	wg.Wait()
	rep.Dropped = slices.Concat(dropped...)
	errs = append(errs, slices.Concat(failed...)...)
	if rep.Partitions, err = ListPartitions(ctx, pool); err != nil {
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

// create creates c's partition (the default one when c.Day is zero) and sets c.Rows to the rows
// moved into it.
func (o PartitionOptions) create(ctx context.Context, pool *pgxpool.Pool, c *PartitionChange) error {
	if o.DryRun {
		return nil
	}
	day := pgtype.Date{Time: c.Day, Valid: !c.Day.IsZero()}
	err := o.ddl(ctx, pool, func(q *queries.Queries) error {
		moved, err := q.CreateHistoryPartition(ctx, queries.CreateHistoryPartitionParams{TableName: c.Table, Day: day})
		c.Rows = max(moved, 0) // -1: another run created it meanwhile
		return err
	})
	if err != nil {
		return fmt.Errorf("partitions: create %s: %w", c.Partition, err)
	}
	return nil
}

// drop detaches c's partition, which takes the table's lock for milliseconds, then drops it in a
// second transaction, whose commit deletes the files (seconds for a large day) holding no lock
// anybody else waits for.
func (o PartitionOptions) drop(ctx context.Context, pool *pgxpool.Pool, c PartitionChange) error {
	if o.DryRun {
		return nil
	}
	err := o.ddl(ctx, pool, func(q *queries.Queries) error {
		_, err := q.DetachHistoryPartition(ctx, queries.DetachHistoryPartitionParams{TableName: c.Table, PartitionName: c.Partition})
		return err
	})
	if err == nil {
		err = o.ddl(ctx, pool, func(q *queries.Queries) error {
			_, err := q.DropDetachedHistoryPartition(ctx, queries.DropDetachedHistoryPartitionParams{TableName: c.Table, PartitionName: c.Partition})
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("partitions: drop %s: %w", c.Partition, err)
	}
	return nil
}

// ddl runs fn in a transaction whose locks are waited for at most LockTimeout.
func (o PartitionOptions) ddl(ctx context.Context, pool *pgxpool.Pool, fn func(*queries.Queries) error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := queries.New(tx)
		if err := q.SetLocalLockTimeout(ctx, fmt.Sprintf("%dms", o.LockTimeout.Milliseconds())); err != nil {
			return err
		}
		return fn(q)
	})
}

// Day is how a partition's day is written for people: 2026-12-01, or "default".
func (p Partition) Day() string {
	if p.Default {
		return "default"
	}
	return p.From.Format(time.DateOnly)
}
