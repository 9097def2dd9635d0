package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/queries"
)

// CompactAfter is how long after its hour ended a system sample stays a row of its own: the
// five-minute and hourly rollups look back 15 minutes and 2 hours, and the blocks, which keep
// values to 1/1000 (schema/00017_system_blocks.sql), get only what they are done with.
const CompactAfter = 2 * time.Hour

// CompactReport is what one compaction did.
type CompactReport struct {
	Hours   int   // clock hours compacted
	Samples int64 // rows moved into blocks (or dropped as already there)
	Blocks  int64
	// Tidied are the raw day partitions emptied by the compaction and given back their space.
	Tidied []string
	Left   int // hours left for the next run, when this one stopped before its time was up
}

func (r CompactReport) String() string {
	s := fmt.Sprintf("compacted %d samples of %d hours into %d blocks; %d emptied day partitions tidied",
		r.Samples, r.Hours, r.Blocks, len(r.Tidied))
	if r.Left > 0 {
		s += fmt.Sprintf("; stopped before the timeout with at most %d hours left for the next run", r.Left)
	}
	return s
}

// CompactSystem moves the system samples of every clock hour (UTC) that ended CompactAfter
// before now into blocks, a row per host and hour (schema/00017_system_blocks.sql), one hour per
// statement, oldest first, skipping the hours with nothing to move. Each raw day partition it
// empties gets its space back as soon as its last hour is done (tidy): its deleted rows and
// indexes would otherwise stay on disk until retention drops the day. A run whose context is
// about to end (the job's timeout) stops between two hours and says how many are left: a
// backlog, the first run after the upgrade, goes on at the next run from where this one stopped.
func CompactSystem(ctx context.Context, pool *pgxpool.Pool, now time.Time) (CompactReport, error) {
	var rep CompactReport
	q := queries.New(pool)
	until := now.UTC().Add(-CompactAfter).Truncate(time.Hour)
	var errs []error
	var moved time.Time // the day rows were last moved out of, until it is tidied
	tidyDay := func() {
		if moved.IsZero() {
			return
		}
		if name, err := tidy(ctx, pool, moved); err != nil {
			errs = append(errs, err)
		} else if name != "" {
			rep.Tidied = append(rep.Tidied, name)
		}
		moved = time.Time{}
	}
	var after time.Time
	for {
		next, err := q.NextRawSystemSample(ctx, queries.NextRawSystemSampleParams{After: after, Until: until})
		if errors.Is(err, pgx.ErrNoRows) {
			break
		}
		if err != nil {
			return rep, errors.Join(append(errs, fmt.Errorf("compact: find the next sample: %w", err))...)
		}
		from := next.UTC().Truncate(time.Hour)
		if day := from.Truncate(24 * time.Hour); !moved.IsZero() && !day.Equal(moved) {
			tidyDay() // the loop is past that day: all of it is done
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < compactMargin {
			rep.Left = int(until.Sub(from) / time.Hour)
			break
		}
		res, err := q.CompactSystemHour(ctx, queries.CompactSystemHourParams{FromTime: from, Until: from.Add(time.Hour)})
		if err != nil {
			return rep, errors.Join(append(errs, fmt.Errorf("compact: the hour from %s: %w", from.Format(time.RFC3339), err))...)
		}
		after = from.Add(time.Hour)
		if res.Moved == 0 {
			continue
		}
		rep.Samples += res.Moved
		rep.Blocks += res.Blocks
		rep.Hours++
		if day := from.Truncate(24 * time.Hour); !day.AddDate(0, 0, 1).After(until) {
			moved = day // wholly before until: emptied once the loop leaves it
		}
	}
	if rep.Left == 0 {
		tidyDay()
	}
	return rep, errors.Join(errs...)
}

// compactMargin is how much of its time a compaction leaves when it stops early: an hour of
// 25,000 hosts takes about 19 minutes, and the margin is for the usual fleet's minute.
const compactMargin = 2 * time.Minute

// tidy rebuilds the indexes of day's raw partition, which the compaction emptied, with REINDEX
// CONCURRENTLY (no writer waits for it), then VACUUMs it, which truncates its heap of dead rows;
// and returns its name, or "" when the day has no partition (its rows were in the default one).
func tidy(ctx context.Context, pool *pgxpool.Pool, day time.Time) (string, error) {
	part := PartitionName("system_metrics_history", day)
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", part).Scan(&exists); err != nil || !exists {
		return "", err
	}
	name := pgx.Identifier{part}.Sanitize()
	for _, stmt := range []string{"REINDEX TABLE CONCURRENTLY " + name, "VACUUM (ANALYZE) " + name} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return "", fmt.Errorf("compact: tidy %s: %w", part, err)
		}
	}
	return part, nil
}
