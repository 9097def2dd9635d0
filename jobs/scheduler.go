// Package jobs runs infradash's maintenance: alert evaluation, hourly and daily rollups and
// retention cleanup, on cron schedules in UTC, on one elected replica. The command line runs the
// same job functions (Aggregate, Cleanup, and the alerts package's Evaluator).
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// Job is one named, scheduled piece of maintenance.
type Job struct {
	Name     string
	Schedule string        // five-field cron, UTC
	Timeout  time.Duration // a run is cancelled after this long
	// Run does the work and returns a one-line summary for the log.
	Run func(ctx context.Context) (string, error)
}

// Options configure a Scheduler.
type Options struct {
	Logger  *slog.Logger
	Metrics *Metrics // default: fresh, unregistered series
	// Elector picks the replica that runs the jobs; nil runs them here unconditionally.
	Elector interface {
		IsLeader(context.Context) error
	}
	// StopTimeout bounds how long Shutdown waits for a running job; default 30 s.
	StopTimeout time.Duration
	Now         func() time.Time
	// Reporter hears of every run that failed, timed out or panicked (telemetry.Reporter sends
	// them to Sentry); nil reports nothing beyond the log and the metrics.
	Reporter Reporter
}

// Reporter is told about the runs that went wrong.
type Reporter interface {
	JobError(job string, err error)
	// JobPanic is called while the panic is being recovered, so a stack taken there is the
	// panic's own.
	JobPanic(job string, v any)
}

type noReporter struct{}

func (noReporter) JobError(string, error) {}
func (noReporter) JobPanic(string, any)   {}

// Scheduler runs Jobs on their schedules.
type Scheduler struct {
	s       gocron.Scheduler
	byName  map[string]gocron.Job
	log     *slog.Logger
	metrics *Metrics
	elector *Elector
	now     func() time.Time
	report  Reporter
}

// NewScheduler schedules jobs; nothing runs before Start.
func NewScheduler(jobs []Job, o Options) (*Scheduler, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Reporter == nil {
		o.Reporter = noReporter{}
	}
	opts := []gocron.SchedulerOption{
		gocron.WithLocation(time.UTC),
		gocron.WithStopTimeout(o.StopTimeout),
		gocron.WithMonitor(monitor{o.Metrics}),
	}
	if o.Elector != nil {
		opts = append(opts, gocron.WithDistributedElector(o.Elector))
	}
	gs, err := gocron.NewScheduler(opts...)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	s := &Scheduler{s: gs, byName: map[string]gocron.Job{}, log: o.Logger, metrics: o.Metrics, now: o.Now, report: o.Reporter}
	s.elector, _ = o.Elector.(*Elector)
	for _, j := range jobs {
		gj, err := gs.NewJob(
			gocron.CronJob(j.Schedule, false),
			gocron.NewTask(s.wrap(j)),
			gocron.WithName(j.Name),
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
		)
		if err != nil {
			_ = gs.Shutdown()
			return nil, fmt.Errorf("jobs: schedule %s (%q): %w", j.Name, j.Schedule, err)
		}
		s.byName[j.Name] = gj
	}
	return s, nil
}

// Start begins running the jobs on their schedules.
func (s *Scheduler) Start() { s.s.Start() }

// RunNow runs the named job at once (still only on the leader).
func (s *Scheduler) RunNow(name string) error {
	j, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("jobs: no job named %q", name)
	}
	return j.RunNow()
}

// Shutdown stops scheduling, waits for a running job up to the stop timeout (or ctx), then
// gives up the leadership.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	err := s.s.ShutdownWithContext(ctx)
	if s.elector != nil {
		err = errors.Join(err, s.elector.Close(context.WithoutCancel(ctx)))
	}
	return err
}

// errPanic is a job's panic turned into an error.
type errPanic struct {
	value any
	stack []byte
}

func (e errPanic) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// wrap gives a job its timeout, panic recovery, log line and metrics.
func (s *Scheduler) wrap(j Job) func(ctx context.Context) {
	return func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, j.Timeout)
		defer cancel()
		start := s.now()
		summary, err := runRecovering(ctx, j.Run, func(v any) { s.report.JobPanic(j.Name, v) })
		end := s.now()
		outcome := OutcomeSuccess
		var p errPanic
		switch {
		case err == nil:
			s.log.Info("job done", "job", j.Name, "duration", end.Sub(start).Round(time.Millisecond), "summary", summary)
		case errors.As(err, &p):
			outcome = OutcomePanic
			s.log.Error("job panicked", "job", j.Name, "panic", fmt.Sprint(p.value), "stack", string(p.stack))
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			outcome = OutcomeTimeout
			s.log.Error("job timed out", "job", j.Name, "timeout", j.Timeout, "err", err)
			s.report.JobError(j.Name, fmt.Errorf("job %s timed out after %s: %w", j.Name, j.Timeout, err))
		default:
			outcome = OutcomeFailure
			s.log.Error("job failed", "job", j.Name, "duration", end.Sub(start).Round(time.Millisecond), "err", err)
			s.report.JobError(j.Name, fmt.Errorf("job %s: %w", j.Name, err))
		}
		s.metrics.observe(j.Name, outcome, end.Sub(start), end)
	}
}

// runRecovering runs run, turning a panic into an errPanic after telling onPanic about it.
func runRecovering(ctx context.Context, run func(context.Context) (string, error), onPanic func(any)) (summary string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errPanic{value: r, stack: debug.Stack()}
			onPanic(r)
		}
	}()
	return run(ctx)
}
