// Package fleet knows the hosts the hub watches: enrolment (enrol.go: names, labels, agent
// tokens) and each host's live state (latest sample, health, last seen, clock offset).
//
// Every replica of the hub keeps its own view, fed twice: at once by the writes it commits itself
// (Observe), and every PollInterval from PostgreSQL's host_state, which every replica writes. So
// an agent may post to any replica and every replica shows every host within about a second.
package fleet

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/store"
)

// Host statuses, as GET /api/v1/hosts names them.
const (
	StatusUp        = "up"
	StatusDown      = "down"
	StatusNeverSeen = "never_seen"
)

// PollInterval is how often a replica reads what the others stored.
const PollInterval = time.Second

// Options configure a Fleet.
type Options struct {
	DB DB
	// DownAfter is HOST_DOWN_AFTER: a host silent this long is down.
	DownAfter time.Duration
	// Thresholds gives a host's effective levels (rules.Resolver: the environment's, overridden by
	// the alert rules for its name and labels), the same the store scores health rows with and the
	// alerts judge by. Asked again at every Refresh, so a changed rule shows within a second.
	Thresholds func(host string, labels map[string]string) health.Thresholds
	Now        func() time.Time
	Logger     *slog.Logger
}

// Host is one host as the pages and the API show it. Its Latest shares slices with the view:
// treat it as read-only.
type Host struct {
	Enrolled
	Status       string
	LastSeen     time.Time // the hub's clock at the last batch; zero when never seen
	ClockOffset  time.Duration
	AgentVersion string
	Platform     sample.Platform
	Latest       sample.Snapshot
	Health       health.Report
	Thresholds   health.Thresholds
}

type entry struct {
	enrolled     Enrolled
	lastSeen     time.Time
	offset       time.Duration
	agentVersion string
	platform     sample.Platform
	latest       sample.Snapshot
	health       health.Report
	thresholds   health.Thresholds
}

// Fleet is the live view of every enrolled host. It is safe for concurrent use.
type Fleet struct {
	o   Options
	log *slog.Logger

	refreshing sync.Mutex

	mu      sync.RWMutex
	hosts   map[string]*entry
	loaded  bool
	version uint64 // bumped on every change, so callers can cache what they derive
	// A Refresh reads the hosts, then applies what it read; a host this replica enrolled, relabelled
	// or removed in between would be undone by rows read before the commit (for a second, until
	// the next Refresh: long enough for the page rendered after the change to miss it). Enrol and
	// Forget bump local and note it in changed; a Refresh leaves alone the hosts changed after its
	// read began.
	local   uint64
	changed map[string]uint64
}

// New returns an empty view; Run (or Refresh) fills it.
func New(o Options) *Fleet {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Thresholds == nil {
		th := health.DefaultThresholds()
		o.Thresholds = func(string, map[string]string) health.Thresholds { return th }
	}
	if o.DownAfter <= 0 {
		o.DownAfter = time.Minute
	}
	return &Fleet{o: o, log: o.Logger, hosts: map[string]*entry{}, changed: map[string]uint64{}}
}

// Run refreshes the view every PollInterval until ctx ends. A failed refresh (the database away)
// keeps the view as it was; it is logged once per outage.
func (f *Fleet) Run(ctx context.Context) {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	failing := false
	for {
		err := f.Refresh(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			f.log.Warn("fleet: cannot read the hosts' state; showing what this replica last knew", "err", err)
			failing = true
		case err == nil && failing:
			f.log.Info("fleet: reading the hosts' state again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh reads the enrolled hosts and the states other replicas stored since the last refresh.
func (f *Fleet) Refresh(ctx context.Context) error {
	// One at a time: an older read applied after a newer one would undo what the newer saw.
	f.refreshing.Lock()
	defer f.refreshing.Unlock()
	q := queries.New(f.o.DB)
	f.mu.RLock()
	readAt := f.local
	f.mu.RUnlock()
	rows, err := q.ListHosts(ctx)
	if err != nil {
		return err
	}
	var stale []string
	f.mu.Lock()
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		seen[r.Name] = true
		if f.changed[r.Name] > readAt {
			continue
		}
		e := f.hosts[r.Name]
		if e == nil {
			e = &entry{}
			f.hosts[r.Name] = e
		}
		e.enrolled = enrolledFrom(queries.Host{Name: r.Name, Labels: r.Labels, TokenHash: r.TokenHash, CreatedAt: r.CreatedAt})
		f.rejudge(e)
		if r.ReceivedAt != nil && r.ReceivedAt.After(e.lastSeen) {
			e.lastSeen = r.ReceivedAt.UTC()
			e.offset = time.Duration(r.ClockOffsetSeconds.Float64 * float64(time.Second))
			e.agentVersion = r.AgentVersion.String
		}
		if r.LatestAt != nil && r.LatestAt.After(e.latest.CollectedAt) {
			stale = append(stale, r.Name)
		}
	}
	for name := range f.hosts {
		if !seen[name] && f.changed[name] <= readAt {
			delete(f.hosts, name)
		}
	}
	// What changed before the read began, the read has seen (Enrol and Forget follow the commit).
	for name, at := range f.changed {
		if at <= readAt {
			delete(f.changed, name)
		}
	}
	f.loaded = true
	f.version++
	f.mu.Unlock()
	if len(stale) == 0 {
		return nil
	}
	latest, err := q.HostLatest(ctx, stale)
	if err != nil {
		return err
	}
	for _, r := range latest {
		var snap sample.Snapshot
		if err := sample.Unmarshal(r.Latest, &snap); err != nil {
			f.log.Warn("fleet: a stored latest sample does not decode", "host", r.Name, "err", err)
			continue
		}
		var p *sample.Platform
		if r.Platform != nil {
			p = new(sample.Platform)
			if err := sample.Unmarshal(r.Platform, p); err != nil {
				p = nil
			}
		}
		f.mu.Lock()
		// Not f.set: a host removed since the read above stays removed.
		if e := f.hosts[r.Name]; e != nil {
			f.setLatest(e, snap)
			if p != nil {
				e.platform = *p
			}
			f.version++
		}
		f.mu.Unlock()
	}
	return nil
}

// Observe records a write this replica committed (the store calls it), or a sample of the hub's
// own host that is still on its way to the database.
func (f *Fleet) Observe(o store.Observation) {
	f.set(o.Host, func(e *entry) {
		if o.ReceivedAt.After(e.lastSeen) {
			e.lastSeen = o.ReceivedAt.UTC()
			e.offset = o.ClockOffset
			if o.AgentVersion != "" {
				e.agentVersion = o.AgentVersion
			}
		}
		if o.Platform != nil {
			e.platform = *o.Platform
		}
		f.setLatest(e, o.Latest)
	})
}

// Enrol shows a host enrolled or relabelled by this replica at once, judged by the levels its
// labels give (the others see it at their next Refresh). Call it after the commit.
func (f *Fleet) Enrol(e Enrolled) {
	f.set(e.Name, func(en *entry) {
		en.enrolled = e
		f.rejudge(en)
		f.local++
		f.changed[e.Name] = f.local
	})
}

// Forget drops a host removed by this replica at once. Call it after the commit.
func (f *Fleet) Forget(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = NormalizeName(name)
	delete(f.hosts, name)
	f.local++
	f.changed[name] = f.local
	f.version++
}

// set changes one host's entry; an entry for a host the view does not know yet is created (the
// next Refresh brings its labels).
func (f *Fleet) set(name string, change func(*entry)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.hosts[name]
	if e == nil {
		e = &entry{enrolled: Enrolled{Name: name, Labels: Labels{}}, thresholds: f.o.Thresholds(name, nil)}
		f.hosts[name] = e
	}
	change(e)
	f.version++
}

// rejudge takes the levels e's name and labels give now (a rule or the labels changed): the latest
// sample is judged again at once, not at the next one. f.mu is held.
func (f *Fleet) rejudge(e *entry) {
	th := f.o.Thresholds(e.enrolled.Name, e.enrolled.Labels)
	if th.Equal(e.thresholds) {
		return
	}
	e.thresholds = th
	if !e.latest.CollectedAt.IsZero() {
		e.health = health.Evaluate(e.latest, th)
	}
}

// setLatest keeps the newer sample and scores it; f.mu is held.
func (f *Fleet) setLatest(e *entry, s sample.Snapshot) {
	if s.CollectedAt.IsZero() || !s.CollectedAt.After(e.latest.CollectedAt) {
		return
	}
	s.Host = e.enrolled.Name
	e.latest = s
	e.health = health.Evaluate(s, e.thresholds)
}

// downAfter is how long e may be silent before it is down: its host_down rule, else
// HOST_DOWN_AFTER.
func (f *Fleet) downAfter(e *entry) time.Duration {
	if d := e.thresholds.DownAfter; d > 0 {
		return d
	}
	return f.o.DownAfter
}

// Thresholds are the levels the view judges host by (the resolver's answer at the last Refresh);
// for a host it does not know, those of a host without labels. The store scores the health rows
// it writes with them, so the stored health and the live one agree.
func (f *Fleet) Thresholds(host string) health.Thresholds {
	f.mu.RLock()
	e, ok := f.hosts[host]
	var th health.Thresholds
	if ok {
		th = e.thresholds
	}
	f.mu.RUnlock()
	if ok {
		return th
	}
	return f.o.Thresholds(host, nil)
}

// Loaded reports whether the view has been read from the database at least once.
func (f *Fleet) Loaded() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.loaded
}

// Version changes whenever the view does.
func (f *Fleet) Version() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.version
}

// Host returns one host; false when it is not enrolled.
func (f *Fleet) Host(name string) (Host, bool) {
	now := f.o.Now()
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.hosts[NormalizeName(name)]
	if !ok {
		return Host{}, false
	}
	return f.view(e, now), true
}

// Len is how many hosts the view knows.
func (f *Fleet) Len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.hosts)
}

// Hosts returns every host, by name.
func (f *Fleet) Hosts() []Host {
	now := f.o.Now()
	f.mu.RLock()
	defer f.mu.RUnlock()
	// Sorting the entries, not the (large) Hosts, keeps a thousand hosts cheap.
	entries := make([]*entry, 0, len(f.hosts))
	for _, e := range f.hosts {
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b *entry) int { return cmp.Compare(a.enrolled.Name, b.enrolled.Name) })
	out := make([]Host, len(entries))
	for i, e := range entries {
		out[i] = f.view(e, now)
	}
	return out
}

func (f *Fleet) view(e *entry, now time.Time) Host {
	h := Host{Enrolled: e.enrolled, LastSeen: e.lastSeen, ClockOffset: e.offset, AgentVersion: e.agentVersion,
		Platform: e.platform, Latest: e.latest, Health: e.health, Thresholds: e.thresholds}
	switch {
	case e.lastSeen.IsZero():
		h.Status = StatusNeverSeen
	case now.Sub(e.lastSeen) > f.downAfter(e):
		h.Status = StatusDown
	default:
		h.Status = StatusUp
	}
	if h.Health.Status == "" {
		h.Health = health.Evaluate(sample.Snapshot{}, e.thresholds)
	}
	return h
}
