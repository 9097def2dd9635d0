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
}

func (r CompactReport) String() string {
	return fmt.Sprintf("compacted %d samples of %d hours into %d blocks; %d emptied day partitions tidied",
		r.Samples, r.Hours, r.Blocks, len(r.Tidied))
}

// CompactSystem moves the system samples of every clock hour (UTC) that ended CompactAfter
// before now into blocks, a row per host and hour (schema/00017_system_blocks.sql), one hour per
// statement, oldest first: a run cut short keeps what it did and the next goes on. Then it gives
// back the space of each raw day partition it emptied, whose deleted rows and indexes would
// otherwise stay on disk until retention drops the day.
func CompactSystem(ctx context.Context, pool *pgxpool.Pool, now time.Time) (CompactReport, error) {
	var rep CompactReport
	q := queries.New(pool)
	until := now.UTC().Add(-CompactAfter).Truncate(time.Hour)
	oldest, err := q.OldestRawSystemSample(ctx, until)
	if errors.Is(err, pgx.ErrNoRows) {
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("compact: find the oldest sample: %w", err)
	}
	var emptied []time.Time // days wholly before until that rows were moved out of
	for from := oldest.UTC().Truncate(time.Hour); from.Before(until); from = from.Add(time.Hour) {
		res, err := q.CompactSystemHour(ctx, queries.CompactSystemHourParams{FromTime: from, Until: from.Add(time.Hour)})
		if err != nil {
			return rep, fmt.Errorf("compact: the hour from %s: %w", from.Format(time.RFC3339), err)
		}
		if res.Moved == 0 {
			continue
		}
		rep.Samples += res.Moved
		rep.Blocks += res.Blocks
		rep.Hours++
		day := from.Truncate(24 * time.Hour)
		if !day.AddDate(0, 0, 1).After(until) && (len(emptied) == 0 || !emptied[len(emptied)-1].Equal(day)) {
			emptied = append(emptied, day)
		}
	}
	var errs []error
	for _, day := range emptied {
		name, err := tidy(ctx, pool, day)
		if err != nil {
			errs = append(errs, err)
		} else if name != "" {
			rep.Tidied = append(rep.Tidied, name)
		}
	}
	return rep, errors.Join(errs...)
}

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
