package history

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/infradash/infradash/queries"
)

// Options configure a Reader.
type Options struct {
	// RetentionDays is how long raw samples are kept (RETENTION_DAYS); older spans read the
	// rollups whatever their length. 0 or less: unknown, every raw sample is taken to be there.
	RetentionDays int
	// Now defaults to time.Now.
	Now func() time.Time
}

// Reader reads series from the history tables.
type Reader struct {
	q    *queries.Queries
	opts Options
}

// NewReader reads through db: the pool, or a transaction.
func NewReader(db queries.DBTX, o Options) *Reader {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Reader{q: queries.New(db), opts: o}
}

// Series is a series as read.
type Series struct {
	// Query is the query answered, its defaults filled in; Step is the width the points are
	// bucketed to, which is at least the rollups' when they are read.
	Query
	Unit string
	// Source says what the points come from: "raw", "5min", "hourly", "daily", or a rollup
	// stitched to the raw samples after it ("hourly+raw").
	Source string
	Points []Point
}

// Point is one bucket of a series.
type Point struct {
	At      time.Time // the bucket's start (UTC), never before the series' From
	Mean    float64
	Min     float64
	Max     float64
	Samples int32
}

// row has the shape every series query returns, so their rows convert to it directly.
type row struct {
	Bucket      time.Time
	MeanValue   float64
	MinValue    float64
	MaxValue    float64
	SampleCount int32
}

// Read reads a series: raw samples bucketed to the step for spans up to a day (five-minute
// rollups when the step is whole five minutes and they reach back to From), rollups (hourly up
// to a month, daily beyond) for longer ones and for anything older than RetentionDays (whose
// raw samples are gone), with raw samples filling in where the rollups do not reach yet (or do
// not exist at all). A query it refuses gives a *QueryError.
func (r *Reader) Read(ctx context.Context, q Query) (Series, error) {
	q, m, err := q.check()
	if err != nil {
		return Series{}, err
	}
	out := Series{Query: q, Unit: m.Unit, Source: "raw"}

	var rows []row
	rawFrom := q.From
	ru := rollupFor(q.To.Sub(q.From), q.Step)
	if (ru.period == "" || ru.partial) && q.From.Before(r.rawSince()) {
		ru = finestRollup()
	}
	if ru.period != "" {
		step := max(q.Step, ru.width)
		rows, rawFrom, err = r.rollupRows(ctx, q, ru, step)
		if err != nil {
			return Series{}, err
		}
		if len(rows) > 0 {
			out.Source = ru.period
			out.Step = step
		}
	}
	raw, err := r.rawRows(ctx, m, out.Query, rawFrom)
	if err != nil {
		return Series{}, err
	}
	if len(rows) > 0 && len(raw) > 0 {
		out.Source += "+raw"
	}
	rows = append(rows, raw...)
	out.Points = make([]Point, len(rows))
	for i, row := range rows {
		out.Points[i] = Point{At: row.Bucket.UTC(), Mean: row.MeanValue, Min: row.MinValue, Max: row.MaxValue, Samples: row.SampleCount}
	}
	// The first bucket may start before From; it holds nothing from before it.
	if len(out.Points) > 0 && out.Points[0].At.Before(q.From) {
		out.Points[0].At = q.From
	}
	return out, nil
}

// rawSince is the oldest time raw samples are kept for; zero when unknown.
func (r *Reader) rawSince() time.Time {
	if r.opts.RetentionDays <= 0 {
		return time.Time{}
	}
	return r.opts.Now().AddDate(0, 0, -r.opts.RetentionDays)
}

// rollupRows reads rollups up to the step bucket holding the end of the newest one, and returns
// from where raw samples must take over.
func (r *Reader) rollupRows(ctx context.Context, q Query, ru rollup, step time.Duration) ([]row, time.Time, error) {
	last, err := r.q.LatestRollupBucket(ctx, queries.LatestRollupBucketParams{
		Host: q.Host, Metric: q.Metric, Subject: q.Subject, Period: ru.period, FromAt: q.From, ToAt: q.To,
	})
	// pgx's ErrNoRows is also sql.ErrNoRows, which spares this package an import of pgx.
	if errors.Is(err, sql.ErrNoRows) {
		return nil, q.From, nil
	}
	if err != nil {
		return nil, q.From, err
	}
	if ru.partial {
		first, err := r.q.EarliestRollupBucket(ctx, queries.EarliestRollupBucketParams{
			Host: q.Host, Metric: q.Metric, Subject: q.Subject, Period: ru.period, FromAt: q.From, ToAt: q.To,
		})
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, q.From, err
		}
		if err != nil || !first.Before(q.From.Add(ru.width)) {
			return nil, q.From, nil // they start after From: all raw
		}
	}
	// Cutting at a step boundary keeps rollups and raw samples from sharing a bucket: raw samples
	// fill in the bucket the rollups end in, unless they are past retention, when the rollups
	// take it whole.
	end := last.Add(ru.width)
	cut := BinStart(end, step)
	if cut.Before(end) && cut.Before(r.rawSince()) {
		cut = cut.Add(step)
	}
	if !cut.After(q.From) {
		return nil, q.From, nil
	}
	rows, err := r.q.RollupSeries(ctx, queries.RollupSeriesParams{
		StepSeconds: step.Seconds(), Host: q.Host, Metric: q.Metric, Subject: q.Subject, Period: ru.period, FromAt: q.From, ToAt: cut,
	})
	return convertRows(rows, func(x queries.RollupSeriesRow) row { return row(x) }), cut, err
}

// rawRows reads the raw samples of q from from on, bucketed to q.Step.
func (r *Reader) rawRows(ctx context.Context, m Metric, q Query, from time.Time) ([]row, error) {
	if !from.Before(q.To) {
		return nil, nil
	}
	step := q.Step.Seconds()
	switch {
	case m.table == "process":
		rows, err := r.q.ProcessSeries(ctx, queries.ProcessSeriesParams{StepSeconds: step, Metric: q.Metric, Host: q.Host, FromAt: from, ToAt: q.To})
		return convertRows(rows, func(x queries.ProcessSeriesRow) row { return row(x) }), err
	case m.table == "health":
		rows, err := r.q.HealthSeries(ctx, queries.HealthSeriesParams{StepSeconds: step, Host: q.Host, FromAt: from, ToAt: q.To})
		return convertRows(rows, func(x queries.HealthSeriesRow) row { return row(x) }), err
	case m.Name == diskMetric:
		rows, err := r.q.FilesystemSeries(ctx, queries.FilesystemSeriesParams{StepSeconds: step, Subject: q.Subject, Host: q.Host, FromAt: from, ToAt: q.To})
		return convertRows(rows, func(x queries.FilesystemSeriesRow) row { return row(x) }), err
	}
	rows, err := r.q.SystemSeries(ctx, queries.SystemSeriesParams{StepSeconds: step, Metric: q.Metric, Host: q.Host, FromAt: from, ToAt: q.To})
	return convertRows(rows, func(x queries.SystemSeriesRow) row { return row(x) }), err
}

func convertRows[T any](rows []T, conv func(T) row) []row {
	out := make([]row, 0, len(rows))
	for _, r := range rows {
		out = append(out, conv(r))
	}
	return out
}
