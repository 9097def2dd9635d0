package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Value is one reading of a gauge; Labels line up with the gauge's label names.
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

// Gauges registers read-at-scrape-time gauges.
func (m *Metrics) Gauges(gs ...Gauge) error {
	c := &gaugeCollector{gauges: gs}
	for _, g := range gs {
		c.descs = append(c.descs, prometheus.NewDesc(g.Name, g.Help, g.Labels, nil))
	}
	return m.reg.Register(c)
}

type gaugeCollector struct {
	gauges []Gauge
	descs  []*prometheus.Desc
}

func (c *gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	for i, g := range c.gauges {
		for _, v := range g.Read() {
			m, err := prometheus.NewConstMetric(c.descs[i], prometheus.GaugeValue, v.Value, v.Labels...)
			if err != nil {
				m = prometheus.NewInvalidMetric(c.descs[i], err)
			}
			ch <- m
		}
	}
}
