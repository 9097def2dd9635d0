package alerts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/alerts"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/notify"
	thresholdrules "github.com/infradash/infradash/rules"
)

func level(v float64) *float64 { return &v }

// addRule stores a checked rule.
func (f *fixture) addRule(in thresholdrules.Input) thresholdrules.Rule {
	f.t.Helper()
	r, err := thresholdrules.Check(in, thresholdrules.Limits{Hysteresis: 5})
	if err != nil {
		f.t.Fatal(err)
	}
	if r, err = thresholdrules.Create(context.Background(), f.pool, r, f.now); err != nil {
		f.t.Fatal(err)
	}
	return r
}

// withResolver makes the fixture's evaluator judge by the stored rules, over the fixture's
// thresholds, sending through ns and the extra channels.
func (f *fixture) withResolver(ns []*notify.Notifier, extra ...notify.Channel) {
	res := thresholdrules.NewResolver(f.pool, f.rules.Thresholds, nil)
	f.eval = alerts.New(alerts.Deps{DB: f.pool, Rules: f.rules, Resolver: res, Notifiers: ns, BaseURL: "https://dash.example.com",
		Now: func() time.Time { return f.now }, Channels: func(context.Context) ([]notify.Channel, error) { return extra, nil }})
}

// A rule that lowers the CPU warning of one host opens an alert for that host only, at the
// rule's threshold, at the next evaluation; deleting it returns the environment's.
func TestAHostRuleAppliesAtTheNextEvaluationToThatHostOnly(t *testing.T) {
	h := newHook(t)
	f := newFixture(t)
	f.withResolver([]*notify.Notifier{slack(h)})
	f.fill("web-1", 60, 20, "")
	f.fill("web-2", 60, 20, "")
	if rep := f.run(); len(rep.Changes) != 0 {
		t.Fatalf("60 %% is below the built-in 80 %%: %+v", rep.Changes)
	}
	r := f.addRule(thresholdrules.Input{Metric: "cpu", Host: "web-1", Warning: level(50), Critical: level(90)})
	f.now = f.now.Add(time.Minute)
	f.fill("web-1", 60, 20, "")
	f.fill("web-2", 60, 20, "")
	f.run()
	as := f.alerts()
	if len(as) != 1 || as[0].Host != "web-1" || as[0].Threshold != 50 {
		t.Fatalf("one alert, for web-1, at the rule's 50 %%, got %+v", as)
	}
	if msgs := h.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "threshold 50 %") {
		t.Fatalf("the notice names the rule's threshold: %q", msgs)
	}
	if _, err := thresholdrules.Delete(context.Background(), f.pool, r.ID); err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 5; i++ {
		f.now = t0.Add(time.Duration(i) * time.Minute)
		f.fill("web-1", 60, 20, "")
		f.run()
	}
	if a := f.alerts()[0]; a.ResolvedAt == nil {
		t.Fatalf("back to the environment's 80 %%, 60 %% resolves the alert: %+v", a)
	}
}

// Swap, the load per core and the hottest temperature sensor are judged like CPU.
func TestSwapLoadAndTemperatureAreJudged(t *testing.T) {
	f := newFixture(t)
	f.withResolver(nil)
	_, err := f.pool.Exec(context.Background(),
		`INSERT INTO system_metrics_history (host, collected_at, cpu_percent, memory_percent, swap_total_bytes, swap_percent,
		                                     load1, cpu_per_core_percent, temperatures)
		 SELECT 'db-1', $1::timestamptz - i * interval '5 seconds', 10, 10, 1000, 90, 8, '{1,1}',
		        '[{"sensor":"cpu","celsius":97},{"sensor":"nvme","celsius":40}]'
		 FROM generate_series(0, 11) AS i`, f.now)
	if err != nil {
		t.Fatal(err)
	}
	f.run()
	got := map[string]string{}
	for _, a := range f.alerts() {
		got[string(a.Metric)] = string(a.Severity) + " at " + strings.TrimRight(strings.TrimRight(strings.Split(a.Message, " at ")[1], ")"), " ")
	}
	want := map[string]string{"swap": "warning", "load": "critical", "temperature": "critical"}
	for m, sev := range want {
		if !strings.HasPrefix(got[m], sev) {
			t.Errorf("%s: want %s, got %q (all: %v)", m, sev, got[m], got)
		}
	}
	if !strings.Contains(got["temperature"], "97 °C") || !strings.Contains(got["load"], "4.00") {
		t.Errorf("values are written in their units: %v", got)
	}
}

// A channel hears of what it is for: its minimum severity and its host; the step back and the
// end of an alert reach every channel that was told of it.
func TestChannelsHearWhatTheyAreFor(t *testing.T) {
	crit, web1, web2 := newHook(t), newHook(t), newHook(t)
	f := newFixture(t)
	ch := func(key string, h *hook, sev health.Status, host string) notify.Channel {
		return notify.Channel{Key: key, Name: key, Notifier: notify.NewWebhook(h.srv.URL, notify.Options{Backoff: time.Millisecond}),
			MinSeverity: sev, Host: host}
	}
	f.withResolver(nil, ch("channel:1", crit, health.Critical, ""), ch("channel:2", web1, health.Warning, "web-1"),
		ch("channel:3", web2, health.Warning, "web-2"))
	events := func(h *hook) string {
		var out []string
		for _, m := range h.messages() {
			out = append(out, strings.Split(strings.Split(m, `"event":"`)[1], `"`)[0])
		}
		return strings.Join(out, ",")
	}
	f.runWithCPU(0, 85)             // opened, warning
	f.runWithCPU(time.Minute, 97)   // escalated
	f.runWithCPU(2*time.Minute, 85) // de-escalated
	f.runWithCPU(3*time.Minute, 10) // resolved
	if got := events(web1); got != "opened,escalated,deescalated,resolved" {
		t.Errorf("web-1's channel hears everything of web-1: %s", got)
	}
	if got := events(crit); got != "escalated,deescalated,resolved" {
		t.Errorf("the critical channel hears from the escalation on, and the end: %s", got)
	}
	if got := events(web2); got != "" {
		t.Errorf("web-2's channel hears nothing of web-1: %s", got)
	}
}

// A silence holds a notice back, the alert still opens; when the silence ends the notice goes
// out once.
func TestASilenceHoldsTheNoticeUntilItEnds(t *testing.T) {
	h := newHook(t)
	f := newFixture(t)
	f.withResolver([]*notify.Notifier{slack(h)})
	end := t0.Add(3 * time.Minute)
	s, err := thresholdrules.CheckSilence(thresholdrules.SilenceInput{Host: "web-1", Labels: fleet.Labels{}, Metric: "cpu", EndsAt: &end, Comment: "deploy"}, "ops@example.com", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := thresholdrules.CreateSilence(context.Background(), f.pool, s, t0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if rep := f.runWithCPU(time.Duration(i)*time.Minute, 90); rep.Silenced != 1 {
			t.Fatalf("run %d: the notice is held by the silence: %+v", i, rep)
		}
	}
	if len(h.messages()) != 0 || len(f.alerts()) != 1 || f.alerts()[0].ResolvedAt != nil {
		t.Fatalf("the alert is open, nothing is sent: %q %+v", h.messages(), f.alerts())
	}
	f.runWithCPU(3*time.Minute, 90)
	f.runWithCPU(4*time.Minute, 90)
	if msgs := h.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "WARNING") {
		t.Fatalf("the end of the silence releases the notice once: %q", msgs)
	}
}
