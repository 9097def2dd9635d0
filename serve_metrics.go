package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/telemetry"
)

// registerGauges exposes on /metrics what infradash already knows: the latest sample of every
// host (with a host label), the local agent's spool, and the open alerts. Values are read at
// scrape time.
func registerGauges(m *telemetry.Metrics, local *localAgent, view *fleet.Fleet, pool *pgxpool.Pool) error {
	// perHost reads one value of every host that has sent a sample.
	perHost := func(read func(fleet.Host) float64) func() []telemetry.Value {
		return func() []telemetry.Value {
			var out []telemetry.Value
			for _, h := range view.Hosts() {
				if h.Latest.IsZero() {
					continue
				}
				out = append(out, telemetry.Value{Labels: []string{h.Name}, Value: read(h)})
			}
			return out
		}
	}
	one := func(v float64) []telemetry.Value { return []telemetry.Value{{Value: v}} }
	q := queries.New(pool)
	host := []string{"host"}
	err := m.Counters(
		telemetry.Counter{Name: "infradash_samples_written_total", Help: "Samples of the hub's own host stored since start.",
			Read: func() []telemetry.Value { return one(float64(local.agent.Stats().Sent)) }},
		telemetry.Counter{Name: "infradash_samples_dropped_total", Help: "Samples of the hub's own host dropped unsaved because its spool (AGENT_SPOOL_MAX_BYTES) was full while the database was away.",
			Read: func() []telemetry.Value { return one(float64(local.spool.Stats().Dropped)) }},
		telemetry.Counter{Name: "infradash_samples_rejected_total", Help: "Samples of the hub's own host the store refused for good (an invalid value); each is logged.",
			Read: func() []telemetry.Value { return one(float64(local.agent.Stats().Rejected)) }},
	)
	if err != nil {
		return err
	}
	return m.Gauges(
		telemetry.Gauge{Name: "infradash_host_cpu_percent", Help: "CPU in use on the host, percent.", Labels: host,
			Read: perHost(func(h fleet.Host) float64 { return h.Latest.System.CPU.TotalPercent })},
		telemetry.Gauge{Name: "infradash_host_memory_used_percent", Help: "Memory in use on the host, percent.", Labels: host,
			Read: perHost(func(h fleet.Host) float64 { return h.Latest.System.Memory.UsedPercent })},
		telemetry.Gauge{Name: "infradash_host_swap_used_percent", Help: "Swap in use on the host, percent.", Labels: host,
			Read: perHost(func(h fleet.Host) float64 { return h.Latest.System.Swap.UsedPercent })},
		telemetry.Gauge{Name: "infradash_host_load1", Help: "One-minute load average of the host.", Labels: host,
			Read: perHost(func(h fleet.Host) float64 { return h.Latest.System.Load.Load1 })},
		telemetry.Gauge{Name: "infradash_host_filesystem_used_percent", Help: "Space in use per filesystem, percent.", Labels: []string{"host", "mountpoint"},
			Read: func() []telemetry.Value {
				var out []telemetry.Value
				for _, h := range view.Hosts() {
					for _, fs := range h.Latest.System.Filesystems {
						out = append(out, telemetry.Value{Labels: []string{h.Name, fs.Mountpoint}, Value: fs.UsedPercent})
					}
				}
				return out
			}},
		telemetry.Gauge{Name: "infradash_host_network_bytes_per_second", Help: "Network traffic of the host, bytes per second.", Labels: []string{"host", "direction"},
			Read: func() []telemetry.Value {
				var out []telemetry.Value
				for _, h := range view.Hosts() {
					if h.Latest.IsZero() {
						continue
					}
					n := h.Latest.System.Network
					out = append(out, telemetry.Value{Labels: []string{h.Name, "receive"}, Value: n.RecvBytesPerSecond},
						telemetry.Value{Labels: []string{h.Name, "transmit"}, Value: n.SentBytesPerSecond})
				}
				return out
			}},
		telemetry.Gauge{Name: "infradash_health_score", Help: "Health score of the host, 0-100.", Labels: host,
			Read: perHost(func(h fleet.Host) float64 { return float64(h.Health.Score) })},
		telemetry.Gauge{Name: "infradash_last_sample_timestamp_seconds", Help: "When the host's latest sample was taken (its agent's clock), Unix time.", Labels: host,
			Read: perHost(func(h fleet.Host) float64 { return float64(h.Latest.CollectedAt.UnixMilli()) / 1000 })},
		telemetry.Gauge{Name: "infradash_host_last_seen_age_seconds", Help: "Seconds since the host's agent last sent a batch (the hub's clock).", Labels: host,
			Read: func() []telemetry.Value {
				var out []telemetry.Value
				now := time.Now()
				for _, h := range view.Hosts() {
					if !h.LastSeen.IsZero() {
						out = append(out, telemetry.Value{Labels: []string{h.Name}, Value: now.Sub(h.LastSeen).Seconds()})
					}
				}
				return out
			}},
		telemetry.Gauge{Name: "infradash_hosts", Help: "Enrolled hosts by status: up, down or never_seen.", Labels: []string{"status"},
			Read: func() []telemetry.Value {
				counts := map[string]float64{fleet.StatusUp: 0, fleet.StatusDown: 0, fleet.StatusNeverSeen: 0}
				for _, h := range view.Hosts() {
					counts[h.Status]++
				}
				return []telemetry.Value{{Labels: []string{fleet.StatusUp}, Value: counts[fleet.StatusUp]},
					{Labels: []string{fleet.StatusDown}, Value: counts[fleet.StatusDown]},
					{Labels: []string{fleet.StatusNeverSeen}, Value: counts[fleet.StatusNeverSeen]}}
			}},
		telemetry.Gauge{Name: "infradash_local_spool_samples", Help: "Samples of the hub's own host waiting in its spool to be stored (grows while the database is unreachable).",
			Read: func() []telemetry.Value { return one(float64(local.spool.Stats().Records)) }},
		telemetry.Gauge{Name: "infradash_local_spool_bytes", Help: "Bytes the hub's own spool holds on disk.",
			Read: func() []telemetry.Value { return one(float64(local.spool.Stats().DiskBytes)) }},
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
