package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Value is one reading of a gauge or counter; Labels line up with its label names.
type Value struct {
	Labels []string
	Value  float64
}

// Gauge is a gauge whose values are read at scrape time, for numbers another part of the
// program already keeps (the collector's latest sample, a queue's length): /metrics then shows
// exactly what the dashboard shows, and nothing is copied on every sample.
type Gauge struct {
	Name   string
	Help   string
	Labels []string
	// Read returns the current values; none (for instance before the first sample) means the
	// gauge is absent from this scrape rather than a misleading zero.
	Read func() []Value
}

// Counter is a counter whose values are read at scrape time, like Gauge: for a total another
// part of the program already counts (samples stored, dropped, rejected). Read must return
// totals since the process started that never go down; the name ends in _total.
type Counter struct {
	Name   string
	Help   string
	Labels []string
	Read   func() []Value
}

// Gauges registers read-at-scrape-time gauges.
func (m *Metrics) Gauges(gs ...Gauge) error {
	c := &readCollector{}
	for _, g := range gs {
		c.add(prometheus.GaugeValue, g.Name, g.Help, g.Labels, g.Read)
	}
	return m.reg.Register(c)
}

// Counters registers read-at-scrape-time counters.
func (m *Metrics) Counters(cs ...Counter) error {
	c := &readCollector{}
	for _, k := range cs {
		c.add(prometheus.CounterValue, k.Name, k.Help, k.Labels, k.Read)
	}
	return m.reg.Register(c)
}

// readCollector serves metrics whose values are read from their source at each scrape.
type readCollector struct {
	metrics []readMetric
}

type readMetric struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	read func() []Value
}

func (c *readCollector) add(kind prometheus.ValueType, name, help string, labels []string, read func() []Value) {
	c.metrics = append(c.metrics, readMetric{desc: prometheus.NewDesc(name, help, labels, nil), kind: kind, read: read})
}

func (c *readCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *readCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.metrics {
		for _, v := range m.read() {
			pm, err := prometheus.NewConstMetric(m.desc, m.kind, v.Value, v.Labels...)
			if err != nil {
				pm = prometheus.NewInvalidMetric(m.desc, err)
			}
			ch <- pm
		}
	}
}
