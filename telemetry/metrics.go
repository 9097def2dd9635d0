// Package telemetry holds infradash's own instrumentation: the Prometheus registry behind
// /metrics and the optional error reporter (Sentry).
package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics owns the registry served at /metrics. Other packages add theirs with Register or
// Gauges; nothing registers into Prometheus's global default registry, so tests and several
// servers in one process never collide.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	handler  http.Handler
}

// New makes a registry with the Go runtime and process collectors and the HTTP metrics.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "infradash_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "infradash_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency,
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// Registry is the registry served at /metrics, for code that needs the client library's own API.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Register adds collectors (job runs, the sample queue, ...) to /metrics.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// ObserveRequest counts one answered request. route must be the route pattern (like
// /api/v1/alerts/:id/acknowledge), never the raw URL, or every distinct URL becomes a series.
func (m *Metrics) ObserveRequest(method, route string, status int, took time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(method, route).Observe(took.Seconds())
}

// Handler serves the registry in the Prometheus text format. Access control (METRICS_TOKEN)
// belongs to the route, so a refusal has the same shape as every other HTTP error.
func (m *Metrics) Handler() http.Handler { return m.handler }
