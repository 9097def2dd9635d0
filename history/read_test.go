package history

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/infradash/infradash/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The hub reads any host's history: the host of a query is the only one read.
func TestReadReadsTheHostAskedFor(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	pool := dbtest.Pool(t)
	dbtest.SeedHistory(t, pool, "web-1", now.Add(-time.Hour), time.Hour, time.Minute)
	dbtest.SeedHistory(t, pool, "web-2", now.Add(-30*time.Minute), 30*time.Minute, time.Minute)
	r := NewReader(pool, Options{Now: func() time.Time { return now }})
	for host, want := range map[string]int32{"web-1": 60, "web-2": 30, "nobody": 0} {
		s, err := r.Read(context.Background(), Query{Host: host, Metric: "cpu_percent", From: now.Add(-time.Hour), To: now, Step: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		total := int32(0)
		for _, p := range s.Points {
			total += p.Samples
		}
		if total != want || s.Host != host || s.Source != "raw" || s.Unit != "percent" {
			t.Errorf("%s: %d samples from %q in %s, host %q; want %d raw samples", host, total, s.Source, s.Unit, s.Host, want)
		}
	}
}

// Past retention the raw samples are gone: even an hour reads the hourly rollups, and the rollups
// take their last bucket whole instead of leaving it to raw samples that no longer exist.
func TestReadPastRetentionReadsRollupsWhateverTheSpan(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	pool := dbtest.Pool(t)
	hour := now.AddDate(0, 0, -60).Truncate(time.Hour)
	for i := range 2 {
		if _, err := pool.Exec(context.Background(), `INSERT INTO metric_aggregations
			(host, metric, metric_type, period, bucket_start, min_value, max_value, mean_value, p95_value, sample_count)
			VALUES ('old', 'cpu_percent', 'cpu', 'hourly', $1, 10, 30, 20, 28, 720)`, hour.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	q := Query{Host: "old", Metric: "cpu_percent", From: hour, To: hour.Add(90 * time.Minute), Step: time.Minute}
	s, err := NewReader(pool, Options{RetentionDays: 30, Now: func() time.Time { return now }}).Read(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != "hourly" || s.Step != time.Hour || len(s.Points) != 2 || s.Points[1].Samples != 720 {
		t.Errorf("90 minutes 60 days ago: %d points from %q at %s; want 2 hourly rollups", len(s.Points), s.Source, s.Step)
	}
	// Without a retention every raw sample is taken to be there: nothing to read.
	s, err = NewReader(pool, Options{Now: func() time.Time { return now }}).Read(context.Background(), q)
	if err != nil || s.Source != "raw" || len(s.Points) != 0 {
		t.Errorf("without retention: %d points from %q, %v; want no raw samples", len(s.Points), s.Source, err)
	}
}

func TestReadRefusesABadQueryBeforeTheDatabase(t *testing.T) {
	r := NewReader(nil, Options{}) // no database: a refused query must never reach one
	_, err := r.Read(context.Background(), Query{Host: "web-1", Metric: "banana", From: time.Unix(0, 0), To: time.Unix(3600, 0)})
	var qe *QueryError
	if !errors.As(err, &qe) || qe.Param != "metric" {
		t.Errorf("unknown metric: %v, want a QueryError naming metric", err)
	}
}
