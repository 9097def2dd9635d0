package telemetry

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches h like Prometheus would and parses the text format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	return parse(t, rec.Body)
}

func parse(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("not Prometheus text: %v", err)
	}
	return fams
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestRequestsAreCountedByRoute(t *testing.T) {
	m := New()
	m.ObserveRequest("GET", "/api/v1/alerts/:id", 200, 3*time.Millisecond)
	m.ObserveRequest("GET", "/api/v1/alerts/:id", 200, 5*time.Millisecond)
	m.ObserveRequest("POST", "/api/v1/auth/login", 401, time.Millisecond)

	fams := scrape(t, m.Handler())
	counts := map[string]float64{}
	for _, s := range fams["infradash_http_requests_total"].GetMetric() {
		counts[label(s, "method")+" "+label(s, "route")+" "+label(s, "status")] = s.GetCounter().GetValue()
	}
	if counts["GET /api/v1/alerts/:id 200"] != 2 || counts["POST /api/v1/auth/login 401"] != 1 {
		t.Errorf("request counts: %v", counts)
	}
	h := fams["infradash_http_request_duration_seconds"]
	if h == nil || h.GetMetric()[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("latency histogram missing or empty: %v", h)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("%s missing: the Go and process collectors must be registered", name)
		}
	}
}

func TestGaugesReadTheirSourceAtScrapeTime(t *testing.T) {
	m := New()
	// A fake of the collector's latest sample: nothing until the first sample arrives.
	var latest map[string]float64
	err := m.Gauges(
		Gauge{Name: "infradash_host_cpu_percent", Help: "CPU busy.", Read: func() []Value {
			if latest == nil {
				return nil
			}
			return []Value{{Value: latest["cpu"]}}
		}},
		Gauge{Name: "infradash_host_disk_used_percent", Help: "Disk used.", Labels: []string{"mountpoint"}, Read: func() []Value {
			if latest == nil {
				return nil
			}
			return []Value{{Labels: []string{"/"}, Value: latest["/"]}, {Labels: []string{"/home"}, Value: latest["/home"]}}
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if fams := scrape(t, m.Handler()); fams["infradash_host_cpu_percent"] != nil {
		t.Errorf("before the first sample the gauge must be absent, not zero")
	}

	latest = map[string]float64{"cpu": 42.5, "/": 70, "/home": 12}
	fams := scrape(t, m.Handler())
	if got := fams["infradash_host_cpu_percent"].GetMetric()[0].GetGauge().GetValue(); got != 42.5 {
		t.Errorf("cpu gauge = %v, want 42.5", got)
	}
	disks := map[string]float64{}
	for _, s := range fams["infradash_host_disk_used_percent"].GetMetric() {
		disks[label(s, "mountpoint")] = s.GetGauge().GetValue()
	}
	if disks["/"] != 70 || disks["/home"] != 12 {
		t.Errorf("disk gauges = %v", disks)
	}

	latest["cpu"] = 10
	if got := scrape(t, m.Handler())["infradash_host_cpu_percent"].GetMetric()[0].GetGauge().GetValue(); got != 10 {
		t.Errorf("a later scrape must read the new value, got %v", got)
	}
}

func TestRegisterRefusesADuplicate(t *testing.T) {
	m := New()
	g := Gauge{Name: "infradash_queue_length", Help: "x", Read: func() []Value { return nil }}
	if err := m.Gauges(g); err != nil {
		t.Fatal(err)
	}
	if err := m.Gauges(g); err == nil {
		t.Error("registering the same metric name twice must fail, not silently shadow")
	}
}

func TestCountersAreCountersReadAtScrapeTime(t *testing.T) {
	m := New()
	var written float64
	if err := m.Counters(Counter{Name: "infradash_samples_written_total", Help: "Samples stored.",
		Read: func() []Value { return []Value{{Value: written}} }}); err != nil {
		t.Fatal(err)
	}
	written = 7
	f := scrape(t, m.Handler())["infradash_samples_written_total"]
	if f.GetType() != dto.MetricType_COUNTER || f.GetMetric()[0].GetCounter().GetValue() != 7 {
		t.Fatalf("want a counter at 7, got %v", f)
	}
	written = 9
	if got := scrape(t, m.Handler())["infradash_samples_written_total"].GetMetric()[0].GetCounter().GetValue(); got != 9 {
		t.Errorf("a later scrape must read the new total, got %v", got)
	}
}
