package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/infradash/infradash/queries"
)

// Rollup periods.
const (
	FiveMinute = "5min"
	Hourly     = "hourly"
	Daily      = "daily"
)

// FiveMinuteKeep is how long five-minute rollups are kept: the 24 h charts read them, and the
// hourly ones serve anything longer. Each five-minute run trims what is older.
const FiveMinuteKeep = 48 * time.Hour

// A period's buckets, and how a run works through them.
type period struct {
	width time.Duration
	// chunk is the most one statement rolls up: a long backlog goes in several, each committed,
	// so a run cut short by its timeout has kept what it did.
	chunk time.Duration
	// keep, when set, is the period's own retention, and a run also starts where the newest
	// bucket ends (at most keep back), because its lookback is short: a hub down longer than
	// it would leave a gap. Only the five-minute period has one (its queries name it); hourly
	// and daily rollups keep AGGREGATE_RETENTION_DAYS.
	keep time.Duration
	// lookback is how far back the scheduled run looks (standard.go), `infradash aggregate`'s
	// default.
	lookback time.Duration
}

var periods = map[string]period{
	FiveMinute: {width: 5 * time.Minute, chunk: time.Hour, keep: FiveMinuteKeep, lookback: FiveMinuteLookback},
	Hourly:     {width: time.Hour, chunk: 6 * time.Hour, lookback: HourlyLookback},
	Daily:      {width: 24 * time.Hour, chunk: 48 * time.Hour, lookback: DailyLookback},
}

// Lookback is how far back a period's scheduled run looks; false for no such period.
func Lookback(period string) (time.Duration, bool) {
	p, ok := periods[period]
	return p.lookback, ok
}

// AggregateReport says what one rollup covered and wrote.
type AggregateReport struct {
	Period      string
	From, Until time.Time
	Rows        int64 // buckets inserted or changed; 0 when a re-run found nothing new
	Trimmed     int64 // five-minute buckets past FiveMinuteKeep deleted
}

func (r AggregateReport) String() string {
	s := fmt.Sprintf("%s rollups from %s to %s: %d rows written", r.Period,
		r.From.Format(time.RFC3339), r.Until.Format(time.RFC3339), r.Rows)
	if r.Trimmed > 0 {
		s += fmt.Sprintf(", %d past %s deleted", r.Trimmed, FiveMinuteKeep)
	}
	return s
}

// Aggregate rolls the raw samples of the last lookback up into period buckets (min, max, mean,
// p95, count per host and series). Only complete buckets are written: the first one is taken
// whole and the current one is left to the run after it ends, because readers trust a rollup
// bucket as final and read raw samples only after it. Running it twice writes nothing the second
// time.
//
// It also starts as far back as samples arrived late (rollup_backlog: an agent's spool after an
// outage, stored after the last run had looked past them), and five-minute runs where the newest
// five-minute bucket ends.
func Aggregate(ctx context.Context, db queries.DBTX, name string, lookback time.Duration, now time.Time) (AggregateReport, error) {
	p, ok := periods[name]
	if !ok {
		return AggregateReport{}, fmt.Errorf("aggregate: period must be %s, %s or %s, not %q", FiveMinute, Hourly, Daily, name)
	}
	if lookback <= 0 {
		return AggregateReport{}, fmt.Errorf("aggregate: the lookback must be positive, not %s", lookback)
	}
	now = now.UTC()
	// time.Truncate counts from the zero time, which is UTC midnight: for widths that divide a
	// day, the buckets match date_bin's from the epoch.
	until := now.Truncate(p.width)
	rep := AggregateReport{Period: name, From: until.Add(-lookback).Truncate(p.width), Until: until}
	q := queries.New(db)

	claimed, err := q.ClaimRollupBacklog(ctx, name)
	if err != nil {
		return rep, fmt.Errorf("aggregate %s: claim the late samples: %w", name, err)
	}
	if claimed != nil && claimed.Before(rep.From) {
		rep.From = claimed.UTC().Truncate(p.width)
	}
	if p.keep > 0 {
		last, err := q.LatestFiveMinuteRollup(ctx)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			rep.From = until.Add(-p.keep) // the first run fills what the period keeps
		case err != nil:
			return rep, fmt.Errorf("aggregate %s: the newest bucket: %w", name, err)
		case last.Before(rep.From):
			rep.From = last.UTC()
		}
		rep.From = later(rep.From, until.Add(-p.keep))
	}

	for start := rep.From; start.Before(until); {
		end := start.Add(p.chunk)
		if end.After(until) {
			end = until
		}
		n, err := aggregateSpan(ctx, q, name, p.width, start, end, now)
		rep.Rows += n
		if err != nil {
			return rep, err
		}
		if claimed != nil {
			if err := q.AdvanceRollupBacklog(ctx, queries.AdvanceRollupBacklogParams{Period: name, Done: end}); err != nil {
				return rep, fmt.Errorf("aggregate %s: record progress: %w", name, err)
			}
		}
		start = end
	}
	if claimed != nil {
		if err := q.ClearRollupBacklog(ctx, name); err != nil {
			return rep, fmt.Errorf("aggregate %s: clear the late samples' mark: %w", name, err)
		}
	}
	if p.keep > 0 {
		if rep.Trimmed, err = q.DeleteFiveMinuteRollupsBefore(ctx, until.Add(-p.keep)); err != nil {
			return rep, fmt.Errorf("aggregate %s: trim past %s: %w", name, p.keep, err)
		}
	}
	return rep, nil
}

// aggregateSpan rolls [from, until) up, one statement per history table.
func aggregateSpan(ctx context.Context, q *queries.Queries, name string, width time.Duration, from, until, now time.Time) (int64, error) {
	secs := width.Seconds()
	var rows int64
	for _, rollup := range []struct {
		series string
		run    func() (int64, error)
	}{
		{"system", func() (int64, error) {
			return q.AggregateSystemMetrics(ctx, queries.AggregateSystemMetricsParams{Period: name, BucketSeconds: secs, Now: now, FromTime: from, Until: until})
		}},
		{"process", func() (int64, error) {
			return q.AggregateProcessMetrics(ctx, queries.AggregateProcessMetricsParams{Period: name, BucketSeconds: secs, Now: now, FromTime: from, Until: until})
		}},
		{"health", func() (int64, error) {
			return q.AggregateHealthMetrics(ctx, queries.AggregateHealthMetricsParams{Period: name, BucketSeconds: secs, Now: now, FromTime: from, Until: until})
		}},
	} {
		n, err := rollup.run()
		if err != nil {
			return rows, fmt.Errorf("aggregate %s %s metrics: %w", name, rollup.series, err)
		}
		rows += n
	}
	return rows, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
