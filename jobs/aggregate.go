package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/infradash/infradash/queries"
)

// Rollup periods.
const (
	Hourly = "hourly"
	Daily  = "daily"
)

// AggregateReport says what one rollup covered and wrote.
type AggregateReport struct {
	Period      string
	From, Until time.Time
	Rows        int64 // buckets inserted or changed; 0 when a re-run found nothing new
}

func (r AggregateReport) String() string {
	return fmt.Sprintf("%s rollups from %s to %s: %d rows written", r.Period,
		r.From.Format(time.RFC3339), r.Until.Format(time.RFC3339), r.Rows)
}

// Aggregate rolls the raw samples of the last `hours` hours up into period buckets (min, max,
// mean, p95, count per host and series). Only complete buckets are written: the first one is taken
// whole and the current one is left to the run after it ends, because readers trust a rollup
// bucket as final and read raw samples only after it. Running it twice writes nothing the second
// time.
func Aggregate(ctx context.Context, db queries.DBTX, period string, hours int, now time.Time) (AggregateReport, error) {
	size := time.Hour
	switch period {
	case Hourly:
	case Daily:
		size = 24 * time.Hour
	default:
		return AggregateReport{}, fmt.Errorf("aggregate: period must be %s or %s, not %q", Hourly, Daily, period)
	}
	if hours < 1 {
		return AggregateReport{}, fmt.Errorf("aggregate: hours must be at least 1, not %d", hours)
	}
	now = now.UTC()
	// time.Truncate counts from the zero time, which is UTC midnight: hours and days match date_bin's.
	until := now.Truncate(size)
	rep := AggregateReport{Period: period, From: until.Add(-time.Duration(hours) * time.Hour).Truncate(size), Until: until}
	q := queries.New(db)
	for _, rollup := range []struct {
		series string
		run    func(context.Context, queries.AggregateSystemMetricsParams) (int64, error)
	}{
		{"system", q.AggregateSystemMetrics},
		{"process", func(ctx context.Context, p queries.AggregateSystemMetricsParams) (int64, error) {
			return q.AggregateProcessMetrics(ctx, queries.AggregateProcessMetricsParams(p))
		}},
		{"health", func(ctx context.Context, p queries.AggregateSystemMetricsParams) (int64, error) {
			return q.AggregateHealthMetrics(ctx, queries.AggregateHealthMetricsParams(p))
		}},
	} {
		n, err := rollup.run(ctx, queries.AggregateSystemMetricsParams{Period: period, Now: now, FromTime: rep.From, Until: rep.Until})
		if err != nil {
			return rep, fmt.Errorf("aggregate %s %s metrics: %w", period, rollup.series, err)
		}
		rep.Rows += n
	}
	return rep, nil
}
