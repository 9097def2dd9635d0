package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/recorder"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/telemetry"
)

// registerGauges exposes on /metrics what infradash already knows: the latest sample of its
// host, the recorder's queue and totals, and the open alerts. Values are read at scrape time.
func registerGauges(m *telemetry.Metrics, col *collector.Collector, rec *recorder.Recorder, pool *pgxpool.Pool, t health.Thresholds) error {
	latest := func(read func(sample.Snapshot) []telemetry.Value) func() []telemetry.Value {
		return func() []telemetry.Value {
			s, ok := col.Latest()
			if !ok {
				return nil
			}
			return read(s)
		}
	}
	one := func(v float64) []telemetry.Value { return []telemetry.Value{{Value: v}} }
	q := queries.New(pool)
	err := m.Counters(
		telemetry.Counter{Name: "infradash_samples_written_total", Help: "Samples stored since start.",
			Read: func() []telemetry.Value { return one(float64(rec.Written())) }},
		telemetry.Counter{Name: "infradash_samples_dropped_total", Help: "Samples dropped because the queue was full while the database was away.",
			Read: func() []telemetry.Value { return one(float64(rec.Dropped())) }},
		telemetry.Counter{Name: "infradash_samples_rejected_total", Help: "Samples dropped because the database refused them (an invalid value); each is logged.",
			Read: func() []telemetry.Value { return one(float64(rec.Rejected())) }},
	)
	if err != nil {
		return err
	}
	return m.Gauges(
		telemetry.Gauge{Name: "infradash_host_cpu_percent", Help: "CPU in use on the host, percent.",
			Read: latest(func(s sample.Snapshot) []telemetry.Value { return one(s.System.CPU.TotalPercent) })},
		telemetry.Gauge{Name: "infradash_host_memory_used_percent", Help: "Memory in use on the host, percent.",
			Read: latest(func(s sample.Snapshot) []telemetry.Value { return one(s.System.Memory.UsedPercent) })},
		telemetry.Gauge{Name: "infradash_host_swap_used_percent", Help: "Swap in use on the host, percent.",
			Read: latest(func(s sample.Snapshot) []telemetry.Value { return one(s.System.Swap.UsedPercent) })},
		telemetry.Gauge{Name: "infradash_host_load1", Help: "One-minute load average of the host.",
			Read: latest(func(s sample.Snapshot) []telemetry.Value { return one(s.System.Load.Load1) })},
		telemetry.Gauge{Name: "infradash_host_filesystem_used_percent", Help: "Space in use per filesystem, percent.", Labels: []string{"mountpoint"},
			Read: latest(func(s sample.Snapshot) []telemetry.Value {
				out := make([]telemetry.Value, 0, len(s.System.Filesystems))
				for _, fs := range s.System.Filesystems {
					out = append(out, telemetry.Value{Labels: []string{fs.Mountpoint}, Value: fs.UsedPercent})
				}
				return out
			})},
		telemetry.Gauge{Name: "infradash_host_network_bytes_per_second", Help: "Network traffic of the host, bytes per second.", Labels: []string{"direction"},
			Read: latest(func(s sample.Snapshot) []telemetry.Value {
				return []telemetry.Value{{Labels: []string{"receive"}, Value: s.System.Network.RecvBytesPerSecond}, {Labels: []string{"transmit"}, Value: s.System.Network.SentBytesPerSecond}}
			})},
		telemetry.Gauge{Name: "infradash_health_score", Help: "Health score of the host, 0-100.",
			Read: latest(func(s sample.Snapshot) []telemetry.Value { return one(float64(health.Evaluate(s, t).Score)) })},
		telemetry.Gauge{Name: "infradash_last_sample_timestamp_seconds", Help: "When the latest sample was taken, Unix time.",
			Read: latest(func(s sample.Snapshot) []telemetry.Value { return one(float64(s.CollectedAt.UnixMilli()) / 1000) })},
		telemetry.Gauge{Name: "infradash_samples_queued", Help: "Samples waiting in memory to be stored (grows while the database is unreachable).",
			Read: func() []telemetry.Value { return one(float64(rec.Queued())) }},
		telemetry.Gauge{Name: "infradash_alerts_open", Help: "Open alerts by severity.", Labels: []string{"severity"},
			Read: func() []telemetry.Value {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				rows, err := q.CountOpenAlertsBySeverity(ctx)
				if err != nil {
					return nil
				}
				out := []telemetry.Value{{Labels: []string{"warning"}}, {Labels: []string{"critical"}}}
				for _, r := range rows {
					for i := range out {
						if out[i].Labels[0] == string(r.Severity) {
							out[i].Value = float64(r.Open)
						}
					}
				}
				return out
			}},
	)
}
