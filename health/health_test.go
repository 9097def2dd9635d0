package health

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/sample"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		value, warning, critical float64
		want                     Status
	}{
		{0, 80, 95, Healthy},
		{79.999, 80, 95, Healthy},
		{80, 80, 95, Warning}, // the boundary belongs to the worse status
		{94.999, 80, 95, Warning},
		{95, 80, 95, Critical},
		{250, 80, 95, Critical},
		{1.5, 1.5, 3, Warning},
		{3, 1.5, 3, Critical},
		{math.NaN(), 80, 95, Unknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.value, tt.warning, tt.critical); got != tt.want {
			t.Errorf("Classify(%v, %v, %v) = %q, want %q", tt.value, tt.warning, tt.critical, got, tt.want)
		}
	}
}

func TestComponentScoreBoundaries(t *testing.T) {
	tests := []struct {
		value, warning, critical, want float64
	}{
		{0, 80, 95, 100},
		{40, 80, 95, 100}, // half the warning threshold: still full marks
		{60, 80, 95, 90},
		{80, 80, 95, 80},
		{87.5, 80, 95, 40},
		{95, 80, 95, 0},
		{120, 80, 95, 0},
		{0.75, 1.5, 3, 100},
		{1.5, 1.5, 3, 80},
		{2.25, 1.5, 3, 40},
		{3, 1.5, 3, 0},
		{math.NaN(), 80, 95, 0},
	}
	for _, tt := range tests {
		if got := ComponentScore(tt.value, tt.warning, tt.critical); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("ComponentScore(%v, %v, %v) = %v, want %v", tt.value, tt.warning, tt.critical, got, tt.want)
		}
	}
}

func TestComponentScoreIsMonotonicAndSteeperPastWarning(t *testing.T) {
	for _, th := range [][2]float64{{80, 95}, {85, 95}, {1.5, 3}, {50, 51}, {10, 90}} {
		w, c := th[0], th[1]
		step := c / 1000
		prev := ComponentScore(0, w, c)
		for v := step; v <= c*1.2; v += step {
			s := ComponentScore(v, w, c)
			if s > prev+1e-9 {
				t.Fatalf("thresholds %v: score rose from %v to %v at value %v", th, prev, s, v)
			}
			if s < 0 || s > 100 {
				t.Fatalf("thresholds %v: score %v out of 0..100 at %v", th, s, v)
			}
			prev = s
		}
		below := (ComponentScore(w/2, w, c) - ComponentScore(w, w, c)) / (w / 2)
		above := (ComponentScore(w, w, c) - ComponentScore(c, w, c)) / (c - w)
		if c-w < 2*w && above <= below {
			// Below warning the score falls 20 points over w/2, past it 80
			// points over c-w: steeper whenever c-w < 2w, as in every sane
			// configuration (the defaults have 10-15 against 160-170).
			t.Errorf("thresholds %v: slope past warning %v not steeper than before %v", th, above, below)
		}
	}
}

func snapshot(cpu, mem, swapUsed, loadPerCore float64, swapTotal uint64, disks map[string]float64) sample.Snapshot {
	s := sample.Snapshot{CollectedAt: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Host: "test"}
	s.System.CPU.TotalPercent = cpu
	s.System.CPU.LogicalCores = 4
	s.System.Load.PerCore1 = loadPerCore
	s.System.Memory.UsedPercent = mem
	s.System.Swap.TotalBytes = swapTotal
	s.System.Swap.UsedPercent = swapUsed
	s.System.Filesystems = []sample.Filesystem{}
	for _, mp := range []string{"/", "/home", "/var"} {
		if v, ok := disks[mp]; ok {
			s.System.Filesystems = append(s.System.Filesystems, sample.Filesystem{Mountpoint: mp, UsedPercent: v})
		}
	}
	return s
}

func TestEvaluate(t *testing.T) {
	th := DefaultThresholds()
	tests := []struct {
		name       string
		snap       sample.Snapshot
		wantStatus Status
		wantScore  int
		wantNames  []string
	}{
		{
			// The first worked example of docs/health.md.
			name:       "docs example: a critical disk",
			snap:       snapshot(45, 90, 10, 0.5, 1<<30, map[string]float64{"/": 70, "/home": 96}),
			wantStatus: Critical, wantScore: 39,
			wantNames: []string{"cpu", "memory", "swap", "load", "disk:/", "disk:/home"},
		},
		{
			// The second worked example of docs/health.md.
			name:       "docs example: memory in warning",
			snap:       snapshot(45, 93, 10, 0.5, 1<<30, map[string]float64{"/": 70}),
			wantStatus: Warning, wantScore: 75,
			wantNames: []string{"cpu", "memory", "swap", "load", "disk:/"},
		},
		{
			name:       "idle host",
			snap:       snapshot(3, 20, 0, 0.05, 0, map[string]float64{"/": 30}),
			wantStatus: Healthy, wantScore: 100,
			wantNames: []string{"cpu", "memory", "load", "disk:/"}, // no swap configured: no swap component
		},
		{
			name:       "everything just below warning is still healthy",
			snap:       snapshot(79.9, 84.9, 79.9, 1.49, 1<<30, map[string]float64{"/": 84.9}),
			wantStatus: Healthy, wantScore: 80,
			wantNames: []string{"cpu", "memory", "swap", "load", "disk:/"},
		},
		{
			name:       "cpu exactly at warning",
			snap:       snapshot(80, 10, 0, 0.1, 0, map[string]float64{"/": 10}),
			wantStatus: Warning, wantScore: 79,
			wantNames: []string{"cpu", "memory", "load", "disk:/"},
		},
		{
			name:       "load exactly at critical",
			snap:       snapshot(10, 10, 0, 3.0, 0, map[string]float64{"/": 10}),
			wantStatus: Critical, wantScore: 39,
			wantNames: []string{"cpu", "memory", "load", "disk:/"},
		},
		{
			name:       "all critical",
			snap:       snapshot(99, 99, 99, 5, 1<<30, map[string]float64{"/": 99, "/var": 100}),
			wantStatus: Critical, wantScore: 0,
			wantNames: []string{"cpu", "memory", "swap", "load", "disk:/", "disk:/var"},
		},
		{
			name:       "nothing collected yet",
			snap:       sample.Snapshot{},
			wantStatus: Unknown, wantScore: 0,
			wantNames: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(tt.snap, th)
			if r.Status != tt.wantStatus || r.Score != tt.wantScore {
				t.Errorf("Evaluate = %s %d, want %s %d; components %+v", r.Status, r.Score, tt.wantStatus, tt.wantScore, r.Components)
			}
			names := make([]string, len(r.Components))
			for i, c := range r.Components {
				names[i] = c.Name
			}
			if strings.Join(names, ",") != strings.Join(tt.wantNames, ",") {
				t.Errorf("components = %v, want %v", names, tt.wantNames)
			}
			if !r.CheckedAt.Equal(tt.snap.CollectedAt) {
				t.Errorf("checked_at = %v, want the snapshot's %v", r.CheckedAt, tt.snap.CollectedAt)
			}
			b, _ := json.Marshal(r)
			if strings.Contains(string(b), "null") {
				t.Errorf("report JSON contains null: %s", b)
			}
		})
	}
}

func TestEvaluateComponentDetails(t *testing.T) {
	r := Evaluate(snapshot(45, 90, 10, 0.5, 1<<30, map[string]float64{"/": 70, "/home": 96}), DefaultThresholds())
	want := map[string]Component{
		"cpu":        {Kind: KindCPU, Value: 45, Unit: "percent", Warning: 80, Critical: 95, Status: Healthy, Score: 97.5},
		"memory":     {Kind: KindMemory, Value: 90, Unit: "percent", Warning: 85, Critical: 95, Status: Warning, Score: 40},
		"swap":       {Kind: KindSwap, Value: 10, Unit: "percent", Warning: 80, Critical: 95, Status: Healthy, Score: 100},
		"load":       {Kind: KindLoad, Value: 0.5, Unit: "per_core", Warning: 1.5, Critical: 3, Status: Healthy, Score: 100},
		"disk:/home": {Kind: KindDisk, Subject: "/home", Value: 96, Unit: "percent", Warning: 85, Critical: 95, Status: Critical, Score: 0},
	}
	for _, c := range r.Components {
		w, ok := want[c.Name]
		if !ok {
			continue
		}
		w.Name = c.Name
		if math.Abs(c.Score-w.Score) < 1e-9 {
			c.Score = w.Score
		}
		if c != w {
			t.Errorf("component %s = %+v, want %+v", c.Name, c, w)
		}
	}
}

// Worsening any one value never improves the overall score.
func TestOverallScoreIsMonotonic(t *testing.T) {
	th := DefaultThresholds()
	prev := 101
	for v := 0.0; v <= 100; v += 0.5 {
		r := Evaluate(snapshot(20, v, 0, 0.2, 0, map[string]float64{"/": 30}), th)
		if r.Score > prev {
			t.Fatalf("score rose from %d to %d as memory went to %v%%", prev, r.Score, v)
		}
		prev = r.Score
	}
	if prev > criticalCap {
		t.Errorf("score with memory at 100%% = %d, want at most %d", prev, criticalCap)
	}
}
