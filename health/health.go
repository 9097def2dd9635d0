// Package health scores a collector snapshot against warning and critical
// thresholds. The formula is explained, with a worked example, in docs/health.md.
package health

import (
	"math"
	"time"

	"github.com/infradash/infradash/collector"
)

// Status values are those of the PostgreSQL enum healthstatus.
type Status string

const (
	Healthy  Status = "healthy"
	Warning  Status = "warning"
	Critical Status = "critical"
	Unknown  Status = "unknown"
)

// severity orders statuses so the overall status can be the worst one;
// unknown ranks lowest because a component that could not be judged is omitted.
func (s Status) severity() int {
	switch s {
	case Healthy:
		return 1
	case Warning:
		return 2
	case Critical:
		return 3
	}
	return 0
}

// Thresholds are percents, 0-100 (HEALTH_* configuration).
type Thresholds struct {
	CPUWarning, CPUCritical       float64
	MemoryWarning, MemoryCritical float64
	DiskWarning, DiskCritical     float64
}

// DefaultThresholds are the configuration defaults of the product specification.
func DefaultThresholds() Thresholds {
	return Thresholds{
		CPUWarning: 80, CPUCritical: 95,
		MemoryWarning: 85, MemoryCritical: 95,
		DiskWarning: 85, DiskCritical: 95,
	}
}

// Thresholds that are not configurable: swap in use is a symptom rather than a
// resource to plan, and a run queue of 1.5 per core means work is waiting, 3.0
// that the host is clearly overcommitted.
const (
	SwapWarning         = 80
	SwapCritical        = 95
	LoadPerCoreWarning  = 1.5
	LoadPerCoreCritical = 3.0
)

// Component kinds, and their weights in the overall score. CPU, memory and
// disk are what operators set thresholds for; load and swap corroborate them.
const (
	KindCPU    = "cpu"
	KindMemory = "memory"
	KindSwap   = "swap"
	KindLoad   = "load"
	KindDisk   = "disk"
)

var weights = map[string]float64{KindCPU: 0.25, KindMemory: 0.25, KindDisk: 0.25, KindLoad: 0.15, KindSwap: 0.10}

// Caps keep the score bands disjoint from better statuses: a host with a
// critical component never scores above 39, one with a warning never above 79,
// and a healthy host scores 80 or more by construction of ComponentScore.
const (
	criticalCap = 39
	warningCap  = 79
)

type Component struct {
	Name     string  `json:"name"`    // cpu, memory, swap, load, disk:/home
	Kind     string  `json:"kind"`    // cpu|memory|swap|load|disk
	Subject  string  `json:"subject"` // mountpoint for disk, else ""
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"` // "percent", or "per_core" for load
	Warning  float64 `json:"warning"`
	Critical float64 `json:"critical"`
	Status   Status  `json:"status"`
	Score    float64 `json:"score"`
}

type Report struct {
	Score      int         `json:"score"`
	Status     Status      `json:"status"`
	Components []Component `json:"components"`
	// CheckedAt is the snapshot's collection time, so that a report computed
	// twice from the same sample is the same report.
	CheckedAt time.Time `json:"checked_at"`
}

// Classify: value >= critical is critical, value >= warning is warning. NaN,
// a reading that failed, is unknown rather than silently healthy.
func Classify(value, warning, critical float64) Status {
	switch {
	case math.IsNaN(value):
		return Unknown
	case value >= critical:
		return Critical
	case value >= warning:
		return Warning
	}
	return Healthy
}

// ComponentScore is 100 up to half the warning threshold, falls linearly to 80
// at warning, then linearly (and much faster) to 0 at critical, and is 0 beyond.
func ComponentScore(value, warning, critical float64) float64 {
	half := warning / 2
	switch {
	case math.IsNaN(value):
		return 0
	case value >= critical:
		return 0
	case value >= warning:
		return 80 * (critical - value) / (critical - warning)
	case value <= half:
		return 100
	}
	return 100 - 20*(value-half)/half
}

// Evaluate scores s. A zero snapshot (nothing collected yet) is unknown with score 0.
func Evaluate(s collector.Snapshot, t Thresholds) Report {
	if s.CollectedAt.IsZero() {
		return Report{Status: Unknown, Components: []Component{}}
	}
	sys := s.System
	comps := make([]Component, 0, 4+len(sys.Filesystems))
	add := func(name, kind, subject, unit string, value, warning, critical float64) {
		comps = append(comps, Component{
			Name: name, Kind: kind, Subject: subject, Unit: unit,
			Value: value, Warning: warning, Critical: critical,
			Status: Classify(value, warning, critical),
			Score:  ComponentScore(value, warning, critical),
		})
	}
	add("cpu", KindCPU, "", "percent", sys.CPU.TotalPercent, t.CPUWarning, t.CPUCritical)
	add("memory", KindMemory, "", "percent", sys.Memory.UsedPercent, t.MemoryWarning, t.MemoryCritical)
	if sys.Swap.TotalBytes > 0 {
		add("swap", KindSwap, "", "percent", sys.Swap.UsedPercent, SwapWarning, SwapCritical)
	}
	if sys.CPU.LogicalCores > 0 {
		add("load", KindLoad, "", "per_core", sys.Load.PerCore1, LoadPerCoreWarning, LoadPerCoreCritical)
	}
	for _, fs := range sys.Filesystems {
		add("disk:"+fs.Mountpoint, KindDisk, fs.Mountpoint, "percent", fs.UsedPercent, t.DiskWarning, t.DiskCritical)
	}
	return Report{
		Score:      overallScore(comps),
		Status:     worst(comps),
		Components: comps,
		CheckedAt:  s.CollectedAt.UTC(),
	}
}

func worst(comps []Component) Status {
	w := Unknown
	for _, c := range comps {
		if c.Status.severity() > w.severity() {
			w = c.Status
		}
	}
	return w
}

// overallScore blends the kinds by weight; each kind counts once, at its worst
// component, so a host with ten filesystems is not judged mostly on disks.
func overallScore(comps []Component) int {
	kindScore := map[string]float64{}
	for _, c := range comps {
		if c.Status == Unknown {
			continue
		}
		if s, ok := kindScore[c.Kind]; !ok || c.Score < s {
			kindScore[c.Kind] = c.Score
		}
	}
	var sum, total float64
	for kind, s := range kindScore {
		sum += weights[kind] * s
		total += weights[kind]
	}
	if total == 0 {
		return 0
	}
	score := int(math.Round(sum / total))
	switch worst(comps) {
	case Critical:
		score = min(score, criticalCap)
	case Warning:
		score = min(score, warningCap)
	case Unknown:
		score = 0
	}
	return score
}
