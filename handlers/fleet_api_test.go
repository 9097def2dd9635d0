package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/store"
)

// agentSample is one real sample of this machine, renamed to host and given cpu: what an agent on
// another host would send.
func agentSample(t testing.TB, host string, cpu float64) (sample.Snapshot, sample.Platform) {
	t.Helper()
	col := collector.New(collector.Options{Host: host, Version: "1.2.3"})
	s := col.Collect(context.Background())
	s.Host = host
	s.System.CPU.TotalPercent = cpu
	return s, col.Platform()
}

// observeAt is observe for a batch that arrived at receivedAt (by the hub's clock).
func observeAt(t testing.TB, srv *Server, snap sample.Snapshot, p *sample.Platform, receivedAt time.Time) {
	t.Helper()
	if err := srv.q.EnsureLocalHost(context.Background(), queries.EnsureLocalHostParams{Name: snap.Host, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	srv.fleet.Observe(store.Observation{Host: snap.Host, ReceivedAt: receivedAt.UTC(), Latest: snap, AgentVersion: "test", Platform: p})
}

// Every infrastructure endpoint answers for any host the hub knows (host=), from that host's
// latest sample and rows; an unknown host is a 404 naming it; the answers are as documented.
func TestEveryInfrastructureEndpointAnswersForAnyHost(t *testing.T) {
	a := newAPIServer(t, nil)
	a.collect(t)
	web, platform := agentSample(t, "web-1", 42)
	web.CollectedAt = time.Now().UTC().Add(-time.Second)
	dbtest.Recorder(t, a.pool)(web)
	observe(t, a.s, web, &platform)
	a.s.fleet.Enrol(enrolledWith("web-1", "env=prod"))

	type hosted struct {
		Host     string `json:"host"`
		Hostname string `json:"hostname"`
		CPU      struct {
			TotalPercent float64 `json:"total_percent"`
		} `json:"cpu"`
		CPUPercent float64         `json:"cpu_percent"`
		OpenAlerts json.RawMessage `json:"open_alerts"`
		Trend      *struct {
			Points []trendPoint `json:"points"`
		} `json:"trend"`
	}
	for _, name := range []string{"system", "process", "platform", "summary", "health", "report", "history?metric=cpu_percent"} {
		sep := "?"
		if strings.Contains(name, "?") {
			sep = "&"
		}
		code, env := a.get(t, infraPath+name+sep+"host=web-1")
		var got hosted
		env.decode(t, &got)
		if code != http.StatusOK {
			t.Errorf("GET %s for web-1: %d %+v", name, code, env.Error)
			continue
		}
		switch name {
		case "platform":
			if got.Hostname != "web-1" {
				t.Errorf("platform of web-1 names %q", got.Hostname)
			}
		default:
			if got.Host != "web-1" {
				t.Errorf("GET %s?host=web-1 answered for %q", name, got.Host)
			}
		}
		if name == "system" && got.CPU.TotalPercent != 42 {
			t.Errorf("web-1's CPU is %v, want its sample's 42", got.CPU.TotalPercent)
		}
		if name == "summary" && (got.CPUPercent != 42 || string(got.OpenAlerts) != "0") {
			t.Errorf("web-1's summary: %+v", got)
		}
		if name == "report" && (got.Trend == nil || len(got.Trend.Points) != 1 || got.Trend.Points[0].CPUPercent != 42) {
			t.Errorf("web-1's trend, from its one stored row: %+v", got.Trend)
		}
		// The hub's own host is still the default, and different.
		_, env = a.get(t, infraPath+name)
		var own hosted
		env.decode(t, &own)
		if own.Host == "web-1" || own.Hostname == "web-1" {
			t.Errorf("GET %s without host= answered for web-1", name)
		}
		code, env = a.get(t, infraPath+name+sep+"host=nope")
		if code != http.StatusNotFound || env.Error == nil || env.Error.Code != "host_not_found" || !strings.Contains(env.Error.Message, `"nope"`) {
			t.Errorf("GET %s?host=nope: %d %+v, want 404 host_not_found naming it", name, code, env.Error)
		}
	}

	// The summary counts the open alerts of its own host only.
	for _, al := range []struct {
		host   string
		metric queries.Metrictype
	}{{"web-1", queries.MetrictypeCpu}, {a.s.host, queries.MetrictypeCpu}, {a.s.host, queries.MetrictypeMemory}} {
		if _, err := a.s.q.OpenAlert(context.Background(), queries.OpenAlertParams{Host: al.host, Metric: al.metric,
			Severity: queries.HealthstatusWarning, Value: 90, Threshold: 85, Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	a.s.live = liveCache{}
	_, env := a.get(t, infraPath+"summary?host=web-1")
	var sum summaryData
	env.decode(t, &sum)
	if sum.OpenAlerts == nil || *sum.OpenAlerts != 1 {
		t.Errorf("web-1's summary counts %v open alerts, want its 1", sum.OpenAlerts)
	}
}

// GET .../alerts?label=KEY=VALUE lists the alerts of the hosts with that label.
func TestAlertsFilterByLabel(t *testing.T) {
	a := newAPIServer(t, nil)
	a.enrol(t, "web-1", "env=prod", "role=web")
	a.enrol(t, "db-1", "env=prod", "role=db")
	a.enrol(t, "dev-1", "env=dev")
	for _, h := range []string{"web-1", "db-1", "dev-1"} {
		if _, err := a.s.q.OpenAlert(context.Background(), queries.OpenAlertParams{Host: h, Metric: queries.MetrictypeCpu,
			Severity: queries.HealthstatusCritical, Value: 97, Threshold: 95, Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	for query, want := range map[string]string{
		"label=env=prod": "db-1,web-1", "label=env=prod,role=web": "web-1", "label=env=prod&label=role=db": "db-1",
		"label=env=nowhere": "", "label=env=prod&host=dev-1": "", "host=dev-1": "dev-1", "": "db-1,dev-1,web-1",
	} {
		code, env := a.get(t, infraPath+"alerts?"+query)
		var page struct {
			Alerts []alertJSON `json:"alerts"`
			Total  int         `json:"total"`
		}
		env.decode(t, &page)
		var hosts []string
		for _, al := range page.Alerts {
			hosts = append(hosts, al.Host)
		}
		slices.Sort(hosts)
		if code != http.StatusOK || strings.Join(hosts, ",") != want || page.Total != len(hosts) {
			t.Errorf("alerts?%s: %d, hosts %v (total %d), want %q", query, code, hosts, page.Total, want)
		}
	}
	if code, env := a.get(t, infraPath+"alerts?label=novalue"); code != http.StatusBadRequest || !strings.HasPrefix(env.Error.Message, "label:") {
		t.Errorf("label=novalue: %d %+v, want 400 naming label", code, env.Error)
	}
}
