package jobs

import (
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a job run, the outcome label of infradash_job_runs_total.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeTimeout = "timeout"
	OutcomePanic   = "panic"
	// OutcomeSkipped counts runs this replica did not make: it is not the leader, or the last
	// run was still going.
	OutcomeSkipped = "skipped"
)

// Metrics are the Prometheus series of the scheduled jobs. Register them with the registry that
// /metrics serves.
type Metrics struct {
	Runs        *prometheus.CounterVec
	Duration    *prometheus.HistogramVec
	LastSuccess *prometheus.GaugeVec
}

// NewMetrics makes the job series, unregistered.
func NewMetrics() *Metrics {
	return &Metrics{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "infradash_job_runs_total",
			Help: "Scheduled job runs by job and outcome (success, failure, timeout, panic, skipped).",
		}, []string{"job", "outcome"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "infradash_job_duration_seconds",
			Help:    "How long scheduled job runs took.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800},
		}, []string{"job"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "infradash_job_last_success_timestamp_seconds",
			Help: "Unix time of each job's last successful run on this replica.",
		}, []string{"job"}),
	}
}

// Register adds the series to reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.Runs, m.Duration, m.LastSuccess} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *Metrics) observe(job, outcome string, d time.Duration, end time.Time) {
	m.Runs.WithLabelValues(job, outcome).Inc()
	m.Duration.WithLabelValues(job).Observe(d.Seconds())
	if outcome == OutcomeSuccess {
		m.LastSuccess.WithLabelValues(job).Set(float64(end.Unix()))
	}
}

// monitor hears from gocron about the runs it skips (not the leader, or still running), which
// never reach our own wrapper.
type monitor struct{ m *Metrics }

func (mo monitor) IncrementJob(_ uuid.UUID, name string, _ []string, status gocron.JobStatus) {
	if status == gocron.Skip || status == gocron.SingletonRescheduled {
		mo.m.Runs.WithLabelValues(name, OutcomeSkipped).Inc()
	}
}

func (monitor) RecordJobTiming(time.Time, time.Time, uuid.UUID, string, []string) {}
