// Package rules is the one answer to "which thresholds apply to this host": the environment's
// HEALTH_* and HOST_DOWN_AFTER values (the built-in rule for every host) overridden by the alert
// rules an admin sets in /settings/alerts or the API. The most specific rule wins: a host's own
// rule over a label rule over a rule for every host over the built-in one. The health score,
// the dashboard's bars and chart lines, the API and the alerts all ask a Resolver, so none of
// them can disagree with another.
//
// It also holds what rules, channels and silences share: label selectors, and the errors that
// name the field a person got wrong.
package rules

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
)

// Metrics a rule sets levels of (the API's and the form's names).
const (
	MetricCPU         = "cpu"
	MetricMemory      = "memory"
	MetricSwap        = "swap"
	MetricDisk        = "disk" // one filesystem (Mount) or every one
	MetricLoadPerCore = "load_per_core"
	MetricTemperature = "temperature" // the hottest sensor, °C
	MetricHostDown    = "host_down"   // critical is the delay, in seconds; no warning
)

// Metrics are every metric, in the order the pages list them.
var Metrics = []string{MetricCPU, MetricMemory, MetricSwap, MetricDisk, MetricLoadPerCore, MetricTemperature, MetricHostDown}

// Kind is the health component kind, and the alerts' metric, of a rule's metric: the same
// names, except that the health score calls the load per core "load".
func Kind(metric string) string {
	if metric == MetricLoadPerCore {
		return health.KindLoad
	}
	return metric
}

// MetricOf is the rule metric of an alert's metric (Kind's inverse).
func MetricOf(kind string) string {
	if kind == health.KindLoad {
		return MetricLoadPerCore
	}
	return kind
}

// Scopes, from the least specific to the most: the rank of each is its precedence.
const (
	ScopeBuiltin = "builtin" // the environment's value
	ScopeAll     = "all"     // a rule for every host
	ScopeLabel   = "label"   // a rule for the hosts whose labels match
	ScopeHost    = "host"    // a rule for one host
)

var scopeRank = map[string]int{ScopeBuiltin: 0, ScopeAll: 1, ScopeLabel: 2, ScopeHost: 3}

// Rule is one stored alert rule, as the API shows it.
type Rule struct {
	ID     int64  `json:"id"`
	Metric string `json:"metric"`
	// Mount is the filesystem of a disk rule; "" for every filesystem.
	Mount  string       `json:"mount"`
	Host   string       `json:"host"`
	Labels fleet.Labels `json:"labels"`
	// Warning is nil for host_down, whose Critical is the delay in seconds.
	Warning   *float64  `json:"warning"`
	Critical  float64   `json:"critical"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Scope is which hosts r is for.
func (r Rule) Scope() string {
	switch {
	case r.Host != "":
		return ScopeHost
	case len(r.Labels) > 0:
		return ScopeLabel
	}
	return ScopeAll
}

// ScopeText says which hosts r is for, in words: "web-1", "env=prod", "every host".
func (r Rule) ScopeText() string {
	switch r.Scope() {
	case ScopeHost:
		return r.Host
	case ScopeLabel:
		return Selector(r.Labels).String()
	}
	return "every host"
}

// Applies reports whether r is for the host with these labels.
func (r Rule) Applies(host string, labels map[string]string) bool {
	switch r.Scope() {
	case ScopeHost:
		return r.Host == host
	case ScopeLabel:
		return Selector(r.Labels).Matches(labels)
	}
	return true
}

// Selector is a label selector: every key=value must be among a host's labels. Empty matches
// every host.
type Selector map[string]string

// Matches reports whether labels have every key=value of s.
func (s Selector) Matches(labels map[string]string) bool {
	for k, v := range s {
		if w, ok := labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// String is s as the forms take it: env=prod,role=db, sorted by key.
func (s Selector) String() string {
	parts := make([]string, 0, len(s))
	for _, k := range slices.Sorted(maps.Keys(s)) {
		parts = append(parts, k+"="+s[k])
	}
	return strings.Join(parts, ",")
}

// ParseSelector reads env=prod,role=db (spaces around the parts are ignored; "" is no selector)
// and checks it as host labels are checked.
func ParseSelector(text string) (fleet.Labels, error) {
	l := fleet.Labels{}
	for part := range strings.SplitSeq(text, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, err := fleet.ParseLabel(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		if _, dup := l[k]; dup {
			return nil, fmt.Errorf("label %s is given twice", k)
		}
		l[k] = v
	}
	if err := fleet.CheckLabels(l); err != nil {
		return nil, err
	}
	return l, nil
}

// FieldError is a refusal of one field of a rule, a channel or a silence: the pages show
// Message beside the field, the API answers 400 naming it.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrNotFound is a rule, channel or silence id that names none.
var ErrNotFound = errors.New("not found")

// Limits are what a rule is checked against beyond its own numbers: the alert settings it
// works with.
type Limits struct {
	// Hysteresis is ALERT_HYSTERESIS: a percentage warning level must stay above it, or an alert
	// would have to fall below 0 % to resolve.
	Hysteresis float64
	// MinHostDownAfter is the shortest host_down delay (3 collect intervals, as HOST_DOWN_AFTER).
	MinHostDownAfter time.Duration
}

// Input is a rule as a form or the API sends it: nil is a field not given.
type Input struct {
	Metric   string
	Mount    string
	Host     string
	Labels   fleet.Labels
	Warning  *float64
	Critical *float64
	Enabled  *bool
}

// maxMount bounds a mountpoint (PATH_MAX is 4096; no real mount needs a tenth of it).
const maxMount = 512

// Check turns an input into a rule, or says which field is wrong and why.
func Check(in Input, lim Limits) (Rule, error) {
	r := Rule{Metric: strings.TrimSpace(in.Metric), Mount: strings.TrimSpace(in.Mount), Labels: in.Labels, Enabled: true}
	if in.Enabled != nil {
		r.Enabled = *in.Enabled
	}
	if r.Labels == nil {
		r.Labels = fleet.Labels{}
	}
	if !slices.Contains(Metrics, r.Metric) {
		return r, fieldErr("metric", "must be one of %s, not %q", strings.Join(Metrics, ", "), in.Metric)
	}
	if r.Mount != "" {
		if r.Metric != MetricDisk {
			return r, fieldErr("mount", "only a disk rule names a filesystem")
		}
		if len(r.Mount) > maxMount || strings.ContainsFunc(r.Mount, func(c rune) bool { return c < ' ' || c == 0x7f }) {
			return r, fieldErr("mount", "must be a mountpoint such as /var of at most %d printable characters", maxMount)
		}
	}
	if h := strings.TrimSpace(in.Host); h != "" {
		if err := fleet.CheckName(h); err != nil {
			return r, fieldErr("host", "%v", err)
		}
		r.Host = fleet.NormalizeName(h)
	}
	if err := fleet.CheckLabels(r.Labels); err != nil {
		return r, fieldErr("labels", "%v", err)
	}
	if r.Host != "" && len(r.Labels) > 0 {
		return r, fieldErr("labels", "a rule is for one host or for the hosts with some labels, not both: leave one empty")
	}
	if in.Critical == nil {
		return r, fieldErr("critical", "is required")
	}
	r.Critical = *in.Critical
	if r.Metric == MetricHostDown {
		if in.Warning != nil {
			return r, fieldErr("warning", "host_down has no warning level: critical is how long a host may send nothing, in seconds")
		}
		lo := max(lim.MinHostDownAfter.Seconds(), 1)
		if !finite(r.Critical) || r.Critical < lo || r.Critical > 86400 {
			return r, fieldErr("critical", "the host_down delay must be between %g and 86400 seconds (3 collect intervals to a day), not %g", lo, r.Critical)
		}
		return r, nil
	}
	if in.Warning == nil {
		return r, fieldErr("warning", "is required")
	}
	w := *in.Warning
	r.Warning = &w
	lo, hi, unit := 0.0, 100.0, "%"
	switch r.Metric {
	case MetricLoadPerCore:
		hi, unit = 1000, " per core"
	case MetricTemperature:
		lo, hi, unit = -50, 200, " °C"
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"warning", w}, {"critical", r.Critical}} {
		if !finite(f.v) || f.v < lo || f.v > hi {
			return r, fieldErr(f.name, "must be between %g%s and %g%s, not %g", lo, unit, hi, unit, f.v)
		}
	}
	if w >= r.Critical {
		return r, fieldErr("warning", "(%g) must be below critical (%g)", w, r.Critical)
	}
	if unit == "%" && w > 0 && lim.Hysteresis >= w {
		return r, fieldErr("warning", "(%g) must be above ALERT_HYSTERESIS (%g): alerts resolve that many points below the warning level, and below 0 %% they never would", w, lim.Hysteresis)
	}
	return r, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Source is where an effective value comes from.
type Source struct {
	Scope string `json:"scope"` // builtin, all, label or host
	// RuleID is the rule's id; 0 for the built-in value.
	RuleID int64 `json:"rule_id,omitempty"`
	// Text says it in words: "built-in (environment)", "rule for env=prod", "rule for web-1".
	Text string `json:"text"`
}

// Key names one effective value: the metric, or disk:MOUNT for one filesystem's.
func Key(metric, mount string) string {
	if mount != "" {
		return metric + ":" + mount
	}
	return metric
}

// Effective is what applies to one host: the thresholds, and where each came from (by Key;
// disk:MOUNT only for a filesystem a rule sets apart).
type Effective struct {
	Thresholds health.Thresholds
	Sources    map[string]Source
}

func sourceOf(r *Rule) Source {
	if r == nil {
		return Source{Scope: ScopeBuiltin, Text: "built-in (environment)"}
	}
	return Source{Scope: r.Scope(), RuleID: r.ID, Text: "rule for " + r.ScopeText()}
}

// better reports whether a takes precedence over b (b may be nil): the more specific scope; of
// two label rules the one with more labels; then the older rule, so the answer never depends on
// the order rules are read in.
func better(a, b *Rule) bool {
	if b == nil {
		return true
	}
	if c := cmp.Compare(scopeRank[a.Scope()], scopeRank[b.Scope()]); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(len(a.Labels), len(b.Labels)); c != 0 {
		return c > 0
	}
	return a.ID < b.ID
}

// Resolve is the effective thresholds of the host with these labels under the enabled rules,
// over the built-in ones. A rule for one filesystem beats a rule for every filesystem of the
// same scope; a rule of a more specific scope beats both.
func Resolve(builtin health.Thresholds, rules []Rule, host string, labels map[string]string) Effective {
	best := map[string]*Rule{}
	for i := range rules {
		r := &rules[i]
		if !r.Enabled || !r.Applies(host, labels) {
			continue
		}
		k := Key(r.Metric, r.Mount)
		if better(r, best[k]) {
			best[k] = r
		}
	}
	th := builtin
	th.Disks = nil
	eff := Effective{Sources: map[string]Source{}}
	for _, m := range Metrics {
		r := best[m]
		eff.Sources[m] = sourceOf(r)
		if r == nil {
			continue
		}
		if m == MetricHostDown {
			th.DownAfter = time.Duration(r.Critical * float64(time.Second))
			continue
		}
		l := health.Level{Warning: *r.Warning, Critical: r.Critical}
		switch m {
		case MetricCPU:
			th.CPU = l
		case MetricMemory:
			th.Memory = l
		case MetricSwap:
			th.Swap = l
		case MetricDisk:
			th.Disk = l
		case MetricLoadPerCore:
			th.Load = l
		case MetricTemperature:
			th.Temperature = l
		}
	}
	all := best[MetricDisk]
	for k, r := range best {
		if r.Metric != MetricDisk || r.Mount == "" || (all != nil && scopeRank[r.Scope()] < scopeRank[all.Scope()]) {
			continue
		}
		if th.Disks == nil {
			th.Disks = map[string]health.Level{}
		}
		th.Disks[r.Mount] = health.Level{Warning: *r.Warning, Critical: r.Critical}
		eff.Sources[k] = sourceOf(r)
	}
	eff.Thresholds = th
	return eff
}

// Resolver keeps the rules in memory and answers for any host. Every replica has one; it reads
// the rules again when they change (a counter PostgreSQL keeps, read every RefreshInterval and
// before each alerts evaluation), so a change made on one replica applies on all of them within
// about a second, without a restart. It is safe for concurrent use.
type Resolver struct {
	db      DB
	builtin health.Thresholds
	log     *slog.Logger

	mu      sync.RWMutex
	rules   []Rule
	version int64
	loaded  bool
}

// RefreshInterval is how often Run asks whether the rules changed.
const RefreshInterval = time.Second

// NewResolver answers with builtin (the configuration's HEALTH_* levels, DownAfter from
// HOST_DOWN_AFTER) until the first Refresh reads the rules; db nil never reads any.
func NewResolver(db DB, builtin health.Thresholds, log *slog.Logger) *Resolver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Resolver{db: db, builtin: builtin, log: log}
}

// Builtin is the environment's thresholds: what applies where no rule does.
func (r *Resolver) Builtin() health.Thresholds { return r.builtin }

// Refresh reads the rules if they changed since the last read.
func (r *Resolver) Refresh(ctx context.Context) error {
	if r == nil || r.db == nil {
		return nil
	}
	v, err := version(ctx, r.db)
	if err != nil {
		return err
	}
	r.mu.RLock()
	same := r.loaded && v == r.version
	r.mu.RUnlock()
	if same {
		return nil
	}
	rules, err := List(ctx, r.db)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.rules, r.version, r.loaded = rules, v, true
	r.mu.Unlock()
	return nil
}

// Run refreshes every RefreshInterval until ctx ends; a failure (the database away) keeps the
// rules it has, logged once per outage.
func (r *Resolver) Run(ctx context.Context) {
	t := time.NewTicker(RefreshInterval)
	defer t.Stop()
	failing := false
	for {
		err := r.Refresh(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			r.log.Warn("alert rules: cannot read them; applying those this replica last read", "err", err)
			failing = true
		case err == nil && failing:
			r.log.Info("alert rules: reading them again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Rules are the rules as last read.
func (r *Resolver) Rules() []Rule {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.rules)
}

// Resolve is what applies to the host with these labels.
func (r *Resolver) Resolve(host string, labels map[string]string) Effective {
	if r == nil {
		return Resolve(health.DefaultThresholds(), nil, host, labels)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return Resolve(r.builtin, r.rules, host, labels)
}

// Thresholds is Resolve's thresholds alone: what fleet and store score health with.
func (r *Resolver) Thresholds(host string, labels map[string]string) health.Thresholds {
	return r.Resolve(host, labels).Thresholds
}
