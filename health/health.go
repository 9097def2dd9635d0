// Package health scores a collector snapshot against warning and critical
// thresholds. The formula is explained, with a worked example, in docs/health.md.
package health

import (
	"math"
	"slices"
	"time"

	"github.com/infradash/infradash/sample"
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

// Level is a warning and a critical value: a reading at or above Critical is critical, at or
// above Warning is warning.
type Level struct {
	Warning  float64 `json:"warning"`
	Critical float64 `json:"critical"`
}

// Thresholds are the levels every judge of a host uses: the health score, the dashboard's bars
// and chart lines, and the alerts. There is one value of it per host (the environment's HEALTH_*
// settings unless a rule overrides them), so none of them can disagree with another.
type Thresholds struct {
	CPU    Level `json:"cpu"`    // percent
	Memory Level `json:"memory"` // percent
	Disk   Level `json:"disk"`   // percent, each filesystem without a level of its own in Disks
	Swap   Level `json:"swap"`   // percent
	Load   Level `json:"load"`   // 1-minute load per logical core
	// Temperature is judged on the hottest sensor, in degrees Celsius.
	Temperature Level `json:"temperature"`
	// Disks are the levels of single filesystems (by mountpoint) that a rule set apart from Disk.
	// Read-only: a Thresholds value shares it.
	Disks map[string]Level `json:"disks,omitempty"`
	// DownAfter is how long the host may send nothing before it is down (HOST_DOWN_AFTER, or its
	// host_down rule); 0 leaves it to the caller's default.
	DownAfter time.Duration `json:"-"`
}

// DefaultThresholds are the configuration defaults of the product specification. Swap in use is
// a symptom rather than a resource to plan, so it is only judged late; a run queue of 1.5 per
// core means work is waiting, 3.0 that the host is clearly overcommitted.
func DefaultThresholds() Thresholds {
	return Thresholds{
		CPU:    Level{Warning: 80, Critical: 95},
		Memory: Level{Warning: 85, Critical: 95},
		Disk:   Level{Warning: 85, Critical: 95},
		Swap:   Level{Warning: 80, Critical: 95},
		Load:   Level{Warning: 1.5, Critical: 3.0},
		// A CPU package at 85 °C is working hard in a warm room; at 95 °C most throttle.
		Temperature: Level{Warning: 85, Critical: 95},
	}
}

// Equal reports whether t and u judge every host alike (Thresholds holds a map, so == does not
// compile).
func (t Thresholds) Equal(u Thresholds) bool {
	if t.CPU != u.CPU || t.Memory != u.Memory || t.Disk != u.Disk || t.Swap != u.Swap || t.Load != u.Load ||
		t.Temperature != u.Temperature || t.DownAfter != u.DownAfter || len(t.Disks) != len(u.Disks) {
		return false
	}
	for k, v := range t.Disks {
		if w, ok := u.Disks[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// DiskFor is the level of the filesystem mounted at mount: its own in Disks, else Disk.
func (t Thresholds) DiskFor(mount string) Level {
	if l, ok := t.Disks[mount]; ok {
		return l
	}
	return t.Disk
}

// Of is the level of a component kind and subject: DiskFor(subject) for disks, For otherwise.
func (t Thresholds) Of(kind, subject string) (Level, bool) {
	if kind == KindDisk {
		return t.DiskFor(subject), true
	}
	return t.For(kind)
}

// For returns the level of a component kind (KindCPU, KindDisk, ...).
func (t Thresholds) For(kind string) (Level, bool) {
	switch kind {
	case KindCPU:
		return t.CPU, true
	case KindMemory:
		return t.Memory, true
	case KindDisk:
		return t.Disk, true
	case KindSwap:
		return t.Swap, true
	case KindLoad:
		return t.Load, true
	case KindTemperature:
		return t.Temperature, true
	}
	return Level{}, false
}

// Component kinds, and their weights in the overall score. CPU, memory and
// disk are what operators set thresholds for; load and swap corroborate them.
const (
	KindCPU    = "cpu"
	KindMemory = "memory"
	KindSwap   = "swap"
	KindLoad   = "load"
	KindDisk   = "disk"
	// KindTemperature is the hottest sensor; omitted on hosts that report none.
	KindTemperature = "temperature"
)

var weights = map[string]float64{KindCPU: 0.25, KindMemory: 0.25, KindDisk: 0.25, KindLoad: 0.15, KindSwap: 0.10, KindTemperature: 0.10}

// Caps keep the score bands disjoint from better statuses: a host with a
// critical component never scores above 39, one with a warning never above 79,
// and a healthy host scores 80 or more by construction of ComponentScore.
const (
	criticalCap = 39
	warningCap  = 79
)

type Component struct {
	Name     string  `json:"name"`    // cpu, memory, swap, load, disk:/home
	Kind     string  `json:"kind"`    // cpu|memory|swap|load|disk|temperature
	Subject  string  `json:"subject"` // mountpoint for disk, the hottest sensor for temperature, else ""
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"` // "percent", "per_core" for load, "celsius" for temperature
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
func (l Level) Classify(value float64) Status { return Classify(value, l.Warning, l.Critical) }

// Classify judges value against a warning and a critical value (see Level.Classify).
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
func Evaluate(s sample.Snapshot, t Thresholds) Report {
	if s.CollectedAt.IsZero() {
		return Report{Status: Unknown, Components: []Component{}}
	}
	sys := s.System
	comps := make([]Component, 0, 4+len(sys.Filesystems))
	add := func(name, kind, subject, unit string, value float64, l Level) {
		comps = append(comps, Component{
			Name: name, Kind: kind, Subject: subject, Unit: unit,
			Value: value, Warning: l.Warning, Critical: l.Critical,
			Status: l.Classify(value),
			Score:  ComponentScore(value, l.Warning, l.Critical),
		})
	}
	add("cpu", KindCPU, "", "percent", sys.CPU.TotalPercent, t.CPU)
	add("memory", KindMemory, "", "percent", sys.Memory.UsedPercent, t.Memory)
	if sys.Swap.TotalBytes > 0 {
		add("swap", KindSwap, "", "percent", sys.Swap.UsedPercent, t.Swap)
	}
	if sys.CPU.LogicalCores > 0 {
		add("load", KindLoad, "", "per_core", sys.Load.PerCore1, t.Load)
	}
	if hot, ok := Hottest(sys.Temperatures); ok {
		add("temperature", KindTemperature, hot.Sensor, "celsius", hot.Celsius, t.Temperature)
	}
	for _, fs := range sys.Filesystems {
		add("disk:"+fs.Mountpoint, KindDisk, fs.Mountpoint, "percent", fs.UsedPercent, t.DiskFor(fs.Mountpoint))
	}
	return Report{
		Score:      overallScore(comps),
		Status:     worst(comps),
		Components: comps,
		CheckedAt:  s.CollectedAt.UTC(),
	}
}

// Hottest is the sensor with the highest reading: a host is as hot as its hottest part.
func Hottest(ts []sample.Temperature) (sample.Temperature, bool) {
	if len(ts) == 0 {
		return sample.Temperature{}, false
	}
	return slices.MaxFunc(ts, func(a, b sample.Temperature) int {
		switch {
		case a.Celsius < b.Celsius:
			return -1
		case a.Celsius > b.Celsius:
			return 1
		}
		return 0
	}), true
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
