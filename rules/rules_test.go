package rules_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/rules"
	"github.com/infradash/infradash/sample"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func f(v float64) *float64 { return &v }

func rule(id int64, metric, mount, host string, labels fleet.Labels, w, c float64) rules.Rule {
	r := rules.Rule{ID: id, Metric: metric, Mount: mount, Host: host, Labels: labels, Critical: c, Enabled: true}
	if metric != rules.MetricHostDown {
		r.Warning = f(w)
	}
	return r
}

// The most specific rule wins, value by value: a host's own over a label rule over a rule for
// every host over the environment; each value says where it came from.
func TestTheMostSpecificRuleWins(t *testing.T) {
	builtin := health.DefaultThresholds()
	builtin.DownAfter = time.Minute
	set := []rules.Rule{
		rule(1, rules.MetricCPU, "", "", nil, 70, 90),
		rule(2, rules.MetricCPU, "", "", fleet.Labels{"env": "prod"}, 60, 85),
		rule(3, rules.MetricCPU, "", "web-1", nil, 50, 80),
		rule(4, rules.MetricMemory, "", "", fleet.Labels{"env": "prod"}, 75, 90),
		rule(5, rules.MetricHostDown, "", "web-1", nil, 0, 300),
	}
	cases := []struct {
		host           string
		labels         map[string]string
		cpu, memory    health.Level
		cpuFrom, memOf string
		downAfter      time.Duration
	}{
		{"web-1", map[string]string{"env": "prod"}, health.Level{Warning: 50, Critical: 80}, health.Level{Warning: 75, Critical: 90}, rules.ScopeHost, rules.ScopeLabel, 5 * time.Minute},
		{"web-2", map[string]string{"env": "prod"}, health.Level{Warning: 60, Critical: 85}, health.Level{Warning: 75, Critical: 90}, rules.ScopeLabel, rules.ScopeLabel, time.Minute},
		{"db-1", map[string]string{"env": "dev"}, health.Level{Warning: 70, Critical: 90}, builtin.Memory, rules.ScopeAll, rules.ScopeBuiltin, time.Minute},
	}
	for _, c := range cases {
		eff := rules.Resolve(builtin, set, c.host, c.labels)
		if eff.Thresholds.CPU != c.cpu || eff.Sources[rules.MetricCPU].Scope != c.cpuFrom {
			t.Errorf("%s: cpu %+v from %+v, want %+v from %s", c.host, eff.Thresholds.CPU, eff.Sources[rules.MetricCPU], c.cpu, c.cpuFrom)
		}
		if eff.Thresholds.Memory != c.memory || eff.Sources[rules.MetricMemory].Scope != c.memOf {
			t.Errorf("%s: memory %+v from %+v, want %+v from %s", c.host, eff.Thresholds.Memory, eff.Sources[rules.MetricMemory], c.memory, c.memOf)
		}
		if eff.Thresholds.DownAfter != c.downAfter {
			t.Errorf("%s: down after %s, want %s", c.host, eff.Thresholds.DownAfter, c.downAfter)
		}
		if eff.Thresholds.Disk != builtin.Disk || eff.Sources[rules.MetricDisk].Text != "built-in (environment)" {
			t.Errorf("%s: no disk rule, so the environment's: %+v %+v", c.host, eff.Thresholds.Disk, eff.Sources[rules.MetricDisk])
		}
	}
}

// A disabled rule is as if it were not there; deleting the override returns to the environment.
func TestADisabledRuleAppliesNowhere(t *testing.T) {
	r := rule(1, rules.MetricCPU, "", "web-1", nil, 10, 20)
	r.Enabled = false
	eff := rules.Resolve(health.DefaultThresholds(), []rules.Rule{r}, "web-1", nil)
	if eff.Thresholds.CPU != health.DefaultThresholds().CPU || eff.Sources[rules.MetricCPU].Scope != rules.ScopeBuiltin {
		t.Fatalf("a disabled rule must not apply: %+v", eff)
	}
}

// Of two label rules that match, the one with more labels is more specific; between equals the
// older one, whatever order they are read in.
func TestLabelRulesTieBreak(t *testing.T) {
	a := rule(7, rules.MetricCPU, "", "", fleet.Labels{"env": "prod"}, 60, 85)
	b := rule(3, rules.MetricCPU, "", "", fleet.Labels{"env": "prod", "role": "db"}, 40, 85)
	c := rule(9, rules.MetricCPU, "", "", fleet.Labels{"role": "db"}, 30, 85)
	labels := map[string]string{"env": "prod", "role": "db"}
	for _, order := range [][]rules.Rule{{a, b, c}, {c, b, a}} {
		if got := rules.Resolve(health.DefaultThresholds(), order, "x", labels).Sources[rules.MetricCPU].RuleID; got != 3 {
			t.Fatalf("the rule with the most labels should win, got rule %d", got)
		}
	}
	for _, order := range [][]rules.Rule{{a, c}, {c, a}} {
		if got := rules.Resolve(health.DefaultThresholds(), order, "x", labels).Sources[rules.MetricCPU].RuleID; got != 7 {
			t.Fatalf("between equals the older rule should win, got rule %d", got)
		}
	}
}

// A rule for one filesystem beats a rule for every filesystem of the same scope, and loses to a
// more specific scope's rule for every filesystem.
func TestDiskRulesPerFilesystem(t *testing.T) {
	set := []rules.Rule{
		rule(1, rules.MetricDisk, "/data", "", nil, 60, 70),
		rule(2, rules.MetricDisk, "", "", fleet.Labels{"env": "prod"}, 90, 98),
		rule(3, rules.MetricDisk, "/backup", "", fleet.Labels{"env": "prod"}, 97, 99),
	}
	eff := rules.Resolve(health.DefaultThresholds(), set, "web-1", map[string]string{"env": "prod"})
	th := eff.Thresholds
	if th.DiskFor("/") != (health.Level{Warning: 90, Critical: 98}) {
		t.Errorf("/ should take the label rule for every disk: %+v", th.DiskFor("/"))
	}
	if th.DiskFor("/data") != (health.Level{Warning: 90, Critical: 98}) {
		t.Errorf("/data: the label rule for every disk is more specific than the all-hosts /data rule: %+v", th.DiskFor("/data"))
	}
	if th.DiskFor("/backup") != (health.Level{Warning: 97, Critical: 99}) || eff.Sources["disk:/backup"].RuleID != 3 {
		t.Errorf("/backup should take its own label rule: %+v %+v", th.DiskFor("/backup"), eff.Sources)
	}
	dev := rules.Resolve(health.DefaultThresholds(), set, "dev-1", nil).Thresholds
	if dev.DiskFor("/data") != (health.Level{Warning: 60, Critical: 70}) || dev.DiskFor("/") != health.DefaultThresholds().Disk {
		t.Errorf("dev-1: /data its rule, / the environment: %+v %+v", dev.DiskFor("/data"), dev.DiskFor("/"))
	}
	r := health.Evaluate(diskSnapshot(map[string]float64{"/data": 75, "/": 75}), dev)
	statuses := map[string]health.Status{}
	for _, c := range r.Components {
		statuses[c.Name] = c.Status
	}
	if statuses["disk:/data"] != health.Critical || statuses["disk:/"] != health.Healthy {
		t.Errorf("the health score should judge each filesystem by its own level: %v", statuses)
	}
}

func TestCheckNamesTheField(t *testing.T) {
	lim := rules.Limits{Hysteresis: 5, MinHostDownAfter: 15 * time.Second}
	cases := []struct {
		in    rules.Input
		field string
	}{
		{rules.Input{Metric: "gpu", Warning: f(1), Critical: f(2)}, "metric"},
		{rules.Input{Metric: "cpu", Critical: f(2)}, "warning"},
		{rules.Input{Metric: "cpu", Warning: f(2)}, "critical"},
		{rules.Input{Metric: "cpu", Warning: f(90), Critical: f(80)}, "warning"},
		{rules.Input{Metric: "cpu", Warning: f(50), Critical: f(180)}, "critical"},
		{rules.Input{Metric: "cpu", Warning: f(3), Critical: f(80)}, "warning"},
		{rules.Input{Metric: "cpu", Mount: "/", Warning: f(50), Critical: f(80)}, "mount"},
		{rules.Input{Metric: "cpu", Host: "not a host", Warning: f(50), Critical: f(80)}, "host"},
		{rules.Input{Metric: "cpu", Host: "web-1", Labels: fleet.Labels{"env": "prod"}, Warning: f(50), Critical: f(80)}, "labels"},
		{rules.Input{Metric: "cpu", Labels: fleet.Labels{"Env": "prod"}, Warning: f(50), Critical: f(80)}, "labels"},
		{rules.Input{Metric: "host_down", Warning: f(10), Critical: f(60)}, "warning"},
		{rules.Input{Metric: "host_down", Critical: f(5)}, "critical"},
	}
	for _, c := range cases {
		_, err := rules.Check(c.in, lim)
		var fe *rules.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: want an error about %s, got %v", c.in, c.field, err)
		}
	}
	r, err := rules.Check(rules.Input{Metric: "load_per_core", Host: "Web-1", Warning: f(2), Critical: f(4)}, lim)
	if err != nil || r.Host != "web-1" || !r.Enabled {
		t.Fatalf("a good rule: %+v %v", r, err)
	}
}

// A change made through one connection reaches another replica's resolver at its next refresh,
// without a restart; deleting the rule returns the environment's value.
func TestTheResolverFollowsChanges(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	builtin := health.DefaultThresholds()
	res := rules.NewResolver(pool, builtin, nil)
	if err := res.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := res.Thresholds("web-1", nil).CPU; got != builtin.CPU {
		t.Fatalf("no rule yet: %+v", got)
	}
	r, err := rules.Check(rules.Input{Metric: "cpu", Host: "web-1", Warning: f(40), Critical: f(90)}, rules.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := rules.Create(ctx, pool, r, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Create(ctx, pool, r, time.Now()); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("a second rule for the same scope must be refused, got %v", err)
	}
	if err := res.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := res.Thresholds("web-1", nil).CPU; got.Warning != 40 {
		t.Fatalf("the rule should apply after a refresh: %+v", got)
	}
	if got := res.Thresholds("web-2", nil).CPU; got != builtin.CPU {
		t.Fatalf("a host rule is for its host only: %+v", got)
	}
	if _, err := rules.Delete(ctx, pool, stored.ID); err != nil {
		t.Fatal(err)
	}
	if err := res.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if eff := res.Resolve("web-1", nil); eff.Thresholds.CPU != builtin.CPU || eff.Sources["cpu"].Scope != rules.ScopeBuiltin {
		t.Fatalf("deleting the override returns to the environment: %+v", eff)
	}
}

func diskSnapshot(disks map[string]float64) sample.Snapshot {
	s := sample.Snapshot{CollectedAt: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Host: "dev-1"}
	s.System.CPU.LogicalCores = 4
	for mp, v := range disks {
		s.System.Filesystems = append(s.System.Filesystems, sample.Filesystem{Mountpoint: mp, UsedPercent: v})
	}
	return s
}
