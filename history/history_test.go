package history

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRangesOfferTheAPIAndTheDashboardOneTable(t *testing.T) {
	if got, want := Names(Ranges()), []string{"1h", "6h", "24h", "7d", "30d", "90d", "1y"}; !slices.Equal(got, want) {
		t.Errorf("API ranges %v, want %v", got, want)
	}
	if got, want := Names(ChartRanges()), []string{"1h", "6h", "24h", "7d", "30d"}; !slices.Equal(got, want) {
		t.Errorf("dashboard ranges %v, want %v", got, want)
	}
	rollup := map[string]string{"1h": "", "6h": "", "24h": "5min", "7d": "hourly", "30d": "hourly", "90d": "daily", "1y": "daily"}
	for _, r := range Ranges() {
		if r.Rollup() != rollup[r.Name] {
			t.Errorf("%s reads %q, want %q", r.Name, r.Rollup(), rollup[r.Name])
		}
		if n := r.Span / DefaultStep(r.Span); n > 720 {
			t.Errorf("%s: %d points at the default step", r.Name, n)
		}
	}
	// Every chart gets about 360 points whatever its span (the 24 h one the 288 five-minute
	// rollups of a day), on a step the series accept.
	for _, r := range ChartRanges() {
		if n := r.Span / r.ChartStep; n < 288 || n > 400 {
			t.Errorf("%s chart: %d points at %s, want about 360", r.Name, n, r.ChartStep)
		}
		if err := CheckStep(r.Span, r.ChartStep); err != nil {
			t.Errorf("%s chart: %v", r.Name, err)
		}
	}
	if _, ok := LookupRange("2w"); ok {
		t.Error("2w is not a range")
	}
	// Ranges hands out a copy: a caller cannot change the table.
	Ranges()[0].Span = 0
	if r, _ := LookupRange("1h"); r.Span != time.Hour {
		t.Errorf("the table changed through Ranges: 1h spans %s", r.Span)
	}
}

func TestSpansReadRawSamplesUpToADayHourlyRollupsUpToAMonthDailyBeyond(t *testing.T) {
	for span, want := range map[time.Duration]string{
		time.Minute:                   "",
		24 * time.Hour:                "",
		24*time.Hour + time.Second:    "hourly",
		31 * 24 * time.Hour:           "hourly", // a calendar month asked by from/to
		31*24*time.Hour + time.Second: "daily",
		10 * 365 * 24 * time.Hour:     "daily",
	} {
		if got := rollupFor(span, time.Second).period; got != want {
			t.Errorf("%s reads %q, want %q", span, got, want)
		}
	}
	// Up to a day, a step of whole five minutes reads the five-minute rollups; any other, raw
	// samples. Longer spans read the hourly or daily rollups whatever the step.
	for _, c := range []struct {
		span, step time.Duration
		want       string
	}{
		{24 * time.Hour, 5 * time.Minute, "5min"},
		{time.Hour, 15 * time.Minute, "5min"},
		{24 * time.Hour, 4 * time.Minute, ""},
		{6 * time.Hour, time.Minute, ""},
		{7 * 24 * time.Hour, 5 * time.Minute, "hourly"},
	} {
		if got := rollupFor(c.span, c.step).period; got != c.want {
			t.Errorf("%s in steps of %s reads %q, want %q", c.span, c.step, got, c.want)
		}
	}
	if r := finestRollup(); r.period != "hourly" || r.width != time.Hour {
		t.Errorf("past retention reads %q of %s, want the hourly rollups", r.period, r.width)
	}
}

func TestDefaultStepIsTheSmallestNiceStepUnder720Points(t *testing.T) {
	for span, want := range map[time.Duration]time.Duration{
		10 * time.Minute:           time.Second,
		time.Hour:                  5 * time.Second,
		7 * 24 * time.Hour:         15 * time.Minute,
		365 * 24 * time.Hour:       24 * time.Hour,
		100 * 365 * 24 * time.Hour: 7 * 24 * time.Hour, // the widest, however many points
	} {
		if got := DefaultStep(span); got != want {
			t.Errorf("DefaultStep(%s) = %s, want %s", span, got, want)
		}
	}
}

func TestBinStartCountsFromTheEpoch(t *testing.T) {
	at := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	// 7 h does not divide a day: counted from year 1 (time.Truncate) the bucket differs.
	b := BinStart(at, 7*time.Hour)
	if b.UnixNano()%int64(7*time.Hour) != 0 || b.After(at) || at.Sub(b) >= 7*time.Hour {
		t.Errorf("BinStart(%v, 7h) = %v, not the epoch-aligned bucket holding it", at, b)
	}
	if b.Equal(at.Truncate(7 * time.Hour)) {
		t.Errorf("BinStart(%v, 7h) = %v, as time.Truncate counts from year 1", at, b)
	}
	before := time.Date(1969, 12, 31, 23, 59, 59, 500_000_000, time.UTC)
	if got, want := BinStart(before, time.Second), time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC); !got.Equal(want) {
		t.Errorf("before the epoch: %v, want %v", got, want)
	}
}

func TestCheckNamesTheFieldAtFaultAndFillsInDefaults(t *testing.T) {
	to := time.Date(2026, 3, 10, 12, 30, 0, 0, time.FixedZone("CET", 3600))
	from := to.Add(-time.Hour)
	q, err := Query{Host: "web-1", Metric: "disk_percent", From: from, To: to}.Check()
	if err != nil {
		t.Fatal(err)
	}
	if q.Subject != "/" || q.Step != 5*time.Second || q.From.Location() != time.UTC || !q.To.Equal(to) || q.Host != "web-1" {
		t.Errorf("checked query %+v; want subject /, a 5s step, UTC times, the host kept", q)
	}
	for field, bad := range map[string]Query{
		"metric":  {Metric: "banana", From: from, To: to},
		"subject": {Metric: "cpu_percent", Subject: "/", From: from, To: to},
		"from":    {Metric: "cpu_percent", From: to, To: from},
		"step":    {Metric: "cpu_percent", From: from, To: to, Step: time.Second}, // 3,600 points
	} {
		_, err := bad.Check()
		var qe *QueryError
		if !errors.As(err, &qe) || qe.Param != field {
			t.Errorf("%+v: %v; want a QueryError naming %s", bad, err, field)
		}
	}
	if _, err := (Query{Metric: "cpu_percent", From: from, To: to, Step: -time.Second}).Check(); err == nil {
		t.Error("a negative step passed")
	}
}
