package jobs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/jobs"
	"github.com/infradash/infradash/telemetry"
	"github.com/infradash/infradash/telemetrytest"
)

// explode is a job body that panics, named so its frame can be found in the report.
func explode(context.Context) (string, error) {
	var m map[string]int
	m["boom"]++
	return "", nil
}

// Jobs run outside any request, so only the scheduler can report them: a failure, a timeout
// and a panic each reach Sentry once, tagged with the job, the panic with its own stack.
func TestJobFailuresAndPanicsAreReported(t *testing.T) {
	tr := &telemetrytest.Transport{}
	rep, err := telemetry.NewReporter(telemetry.ReporterOptions{DSN: telemetrytest.DSN, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	metrics := jobs.NewMetrics()
	never := "0 0 1 1 *"
	sched, err := jobs.NewScheduler([]jobs.Job{
		{Name: "fails", Schedule: never, Timeout: time.Minute,
			Run: func(context.Context) (string, error) { return "", errors.New("database exploded") }},
		{Name: "hangs", Schedule: never, Timeout: time.Millisecond,
			Run: func(ctx context.Context) (string, error) { <-ctx.Done(); return "", ctx.Err() }},
		{Name: "panics", Schedule: never, Timeout: time.Minute, Run: explode},
		{Name: "works", Schedule: never, Timeout: time.Minute,
			Run: func(context.Context) (string, error) { return "fine", nil }},
	}, jobs.Options{Metrics: metrics, Reporter: rep})
	if err != nil {
		t.Fatal(err)
	}
	sched.Start()
	t.Cleanup(func() { _ = sched.Shutdown(context.Background()) })
	// One job at a time, so the events arrive in order.
	r := &replica{sched: sched, metrics: metrics}
	for _, run := range []struct{ job, outcome string }{
		{"works", jobs.OutcomeSuccess}, {"fails", jobs.OutcomeFailure}, {"hangs", jobs.OutcomeTimeout}, {"panics", jobs.OutcomePanic},
	} {
		if err := sched.RunNow(run.job); err != nil {
			t.Fatal(err)
		}
		r.waitFor(t, run.job, run.outcome, 1)
	}
	events := tr.WaitFor(t, 3)
	if len(events) != 3 {
		t.Fatalf("want one event per run that went wrong (3), got %d", len(events))
	}
	for i, want := range []struct{ job, text string }{
		{"fails", "database exploded"}, {"hangs", "timed out"}, {"panics", "assignment to entry in nil map"},
	} {
		e := events[i]
		if e.Tags["job"] != want.job || !strings.Contains(telemetrytest.Text(e), want.text) {
			t.Errorf("event %d: job %q, %q; want job %q saying %q", i, e.Tags["job"], telemetrytest.Text(e), want.job, want.text)
		}
	}
	frames := telemetrytest.Functions(events[2])
	if !slices.ContainsFunc(frames, func(f string) bool { return strings.HasSuffix(f, ".explode") }) {
		t.Errorf("the panic's stack should hold the panicking function, got %v", frames)
	}
}
