package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
)

// Group commit bounds.
const (
	// DefaultCommitters is how many groups may be committing at once: two cores' worth of
	// PostgreSQL work, with one group forming while another commits.
	DefaultCommitters = 4
	// maxGroupSamples and maxGroupBatches bound one group's transaction: a catching-up agent's
	// batches of hundreds of samples share a transaction with fewer others.
	maxGroupSamples = 2000
	maxGroupBatches = 256
	// MaxWaiting is how many batches may wait for a group before Write answers ErrBusy: a
	// database that cannot keep up must not fill the hub's memory with decoded batches.
	MaxWaiting = 8192
	// retries is how often a group that lost a deadlock or serialization conflict (replicas
	// writing the same host at once) is tried again before its batches go one by one.
	retries = 3
)

// pending is one Write's batch, prepared, waiting for its group's COMMIT.
type pending struct {
	ctx  context.Context
	w    Writer
	b    sample.Batch
	now  time.Time
	idx  []int     // the samples to store (those that passed sample.CheckSnapshot)
	enc  []encoded // their jsonb columns, encoded beforehand, off the group's critical path
	plat []byte    // b.Platform as JSON, nil if none
	// newest is the index in b.Samples of the newest sample of idx (-1: none), and latest it
	// as JSON, for host_state.
	newest int
	latest []byte

	res  Result
	obs  Observation
	err  error
	done chan struct{}
}

// encoded is one sample's columns that need encoding to go to the database.
type encoded struct {
	perCore                               string
	filesystems, interfaces, temperatures []byte
}

// prepare checks a batch's samples and encodes what does not depend on its host, in the caller's
// goroutine, so that the encoding of concurrent batches uses every core.
func prepare(w Writer, b sample.Batch, now time.Time) (*pending, error) {
	p := &pending{w: w, b: b, now: now, newest: -1, done: make(chan struct{})}
	if !b.SentAt.IsZero() {
		p.res.ClockOffset = b.SentAt.Sub(now)
	}
	p.idx = make([]int, 0, len(b.Samples))
	for i, snap := range b.Samples {
		if pr := sample.CheckSnapshot(fmt.Sprintf("samples[%d]", i), snap, now, p.res.ClockOffset); pr != nil {
			p.res.Rejected = append(p.res.Rejected, Rejected{Index: i, Field: pr.Field, Error: pr.Message})
			continue
		}
		p.idx = append(p.idx, i)
	}
	p.enc = make([]encoded, len(p.idx))
	for k, i := range p.idx {
		sys := b.Samples[i].System
		p.enc[k] = encoded{perCore: arrayLiteral(sys.CPU.PerCorePercent), filesystems: filesystemRows(sys.Filesystems),
			interfaces: interfaceRows(sys.Network.Interfaces), temperatures: temperatureRows(sys.Temperatures)}
		if p.newest < 0 || b.Samples[i].CollectedAt.After(b.Samples[p.newest].CollectedAt) {
			p.newest = i
		}
	}
	var err error
	if b.Platform != nil {
		if p.plat, err = sample.Marshal(b.Platform); err != nil {
			return p, fmt.Errorf("store: encode platform: %w", err)
		}
	}
	if p.newest >= 0 {
		if p.latest, err = sample.Marshal(b.Samples[p.newest]); err != nil {
			return p, fmt.Errorf("store: encode latest sample: %w", err)
		}
	}
	return p, nil
}

// enqueue puts p in the queue and makes sure a committer will take it.
func (s *Store) enqueue(ctx context.Context, p *pending) error {
	p.ctx = ctx
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) >= MaxWaiting {
		return ErrBusy
	}
	s.queue = append(s.queue, p)
	if s.committers < s.opts.Committers {
		s.committers++
		go s.commitLoop()
	}
	return nil
}

// commitLoop commits groups from the queue until it is empty. Committers exist only while
// there is work, so an idle hub (or a test's Store) has none.
func (s *Store) commitLoop() {
	for {
		group := s.take()
		if group == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		s.commit(ctx, group)
		cancel()
		s.batches.Add(int64(len(group)))
		for _, p := range group {
			close(p.done)
		}
	}
}

// take removes the next group from the queue, or returns nil (and retires the committer) when
// the queue is empty. A batch whose caller has gone is dropped: nobody waits for its answer.
func (s *Store) take() []*pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	var group []*pending
	samples, n := 0, 0
	for n < len(s.queue) && len(group) < maxGroupBatches {
		p := s.queue[n]
		if p.ctx.Err() != nil {
			p.err = p.ctx.Err()
			close(p.done)
			n++
			continue
		}
		if len(group) > 0 && samples+len(p.idx) > maxGroupSamples {
			break
		}
		group = append(group, p)
		samples += len(p.idx)
		n++
	}
	clear(s.queue[:n])
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = nil // let the backing array go
	}
	if len(group) == 0 {
		s.committers--
	}
	return group
}

// commit stores a group in one transaction. A group the database refuses for what one of its
// batches holds, or fails for any reason but an outage, is stored batch by batch, so a bad
// batch fails only itself; a batch refused alone is stored sample by sample, and only the
// samples refused are rejected.
func (s *Store) commit(ctx context.Context, group []*pending) {
	err := s.tryGroup(ctx, group)
	var refused *refusedError
	switch {
	case err == nil:
		return
	case database.Unavailable(err):
		// An outage, or a database refusing every write (read-only, disk full), fails each
		// batch alike: trying them one by one would only wait longer for the same answer.
		for _, p := range group {
			p.err = err
		}
	case len(group) > 1:
		for _, p := range group {
			s.commit(ctx, []*pending{p})
		}
	case errors.As(err, &refused):
		s.storeOneByOne(ctx, group[0])
	default:
		group[0].err = err
	}
}

// storeOneByOne stores a batch the database refused, one sample a transaction.
func (s *Store) storeOneByOne(ctx context.Context, p *pending) {
	var acc, dup int
	obs := Observation{}
	for k, i := range p.idx {
		one := *p
		one.idx, one.enc = []int{i}, []encoded{p.enc[k]}
		one.newest, one.latest = -1, nil
		if i == p.newest {
			one.newest, one.latest = p.newest, p.latest
		}
		one.res = Result{ClockOffset: p.res.ClockOffset}
		err := s.tryGroup(ctx, []*pending{&one})
		var refused *refusedError
		switch {
		case errors.As(err, &refused):
			s.log.Warn("store: the database refused a sample", "host", one.res.Host, "collected_at", p.b.Samples[i].CollectedAt, "err", refused.err)
			p.res.Rejected = append(p.res.Rejected, Rejected{Index: i, Field: fmt.Sprintf("samples[%d]", i), Error: "the database refused it: " + refused.err.Error()})
		case err != nil:
			p.err = err
			return
		default:
			acc += one.res.Accepted
			dup += one.res.Duplicates
			if obs.Host == "" || one.obs.Latest.CollectedAt.After(obs.Latest.CollectedAt) {
				obs = one.obs
			}
		}
		p.res.Host = one.res.Host
	}
	slices.SortFunc(p.res.Rejected, func(a, b Rejected) int { return cmp.Compare(a.Index, b.Index) })
	p.res.Accepted, p.res.Duplicates = acc, dup
	if obs.Host == "" { // every sample refused: the agent is alive all the same
		obs = Observation{Host: p.res.Host, ReceivedAt: p.now, ClockOffset: p.res.ClockOffset, AgentVersion: p.b.Agent.Version, Platform: p.b.Platform}
	}
	p.obs = obs
}

// tryGroup writes the group in one statement (one transaction), again after a deadlock or a
// serialization failure (two replicas writing one host's rows at once).
func (s *Store) tryGroup(ctx context.Context, group []*pending) error {
	for try := 1; ; try++ {
		err := s.writeGroup(ctx, group)
		var pgErr *pgconn.PgError
		if try < retries && errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001") {
			continue
		}
		return err
	}
}

// row is one sample of a group, in the order the rows go in: by host, then time, so that
// concurrent groups take the unique keys' locks in one order.
type row struct {
	p    *pending
	k    int // index into p.idx
	host string
	at   int64 // collected_at in microseconds, as PostgreSQL keeps it
}

type key struct {
	host string
	at   int64
}

// LateAfter is how old a sample may be on arrival and still be in time for the rollups: the
// five-minute one runs a minute after each bucket ends and looks back 15 minutes
// (jobs.FiveMinuteLookback). An older one marks where their next runs must start.
const LateAfter = 2 * time.Minute

// writeGroup writes a group: its hosts (from the cache, or looked up), every sample's three
// rows and the hosts' live state, in WriteSamples, which checks the hosts again as it writes.
func (s *Store) writeGroup(ctx context.Context, group []*pending) error {
	hosts, err := s.hosts.resolve(ctx, s.pool, group)
	if err != nil {
		return err
	}
	var rows []row
	var cols columns
	for _, p := range group {
		p.err, p.res.Host, p.res.Accepted, p.res.Duplicates = nil, "", 0, 0
		h, ok := hosts[p]
		if !ok {
			p.err = unknown(p.w)
			continue
		}
		p.res.Host = h.Name
		for k, i := range p.idx {
			rows = append(rows, row{p: p, k: k, host: h.Name, at: p.b.Samples[i].CollectedAt.UnixMicro()})
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.host, b.host), cmp.Compare(a.at, b.at))
	})
	for _, r := range rows {
		snap := r.p.b.Samples[r.p.idx[r.k]]
		if err := cols.add(r.host, snap, r.p.enc[r.k], s.opts.Thresholds(r.host)); err != nil {
			return err
		}
	}
	writers := map[int64]bool{}
	for _, p := range group {
		if h, ok := hosts[p]; ok && !writers[h.ID] {
			writers[h.ID] = true
			cols.WriterID = append(cols.WriterID, h.ID)
			cols.WriterName = append(cols.WriterName, h.Name)
			cols.WriterTokenHash = append(cols.WriterTokenHash, h.TokenHash)
		}
	}
	if len(writers) == 0 {
		return nil
	}
	hostStates(&cols.WriteSamplesParams, group, hosts)
	cols.LateBefore = group[0].now
	for _, p := range group {
		if p.now.Before(cols.LateBefore) {
			cols.LateBefore = p.now
		}
	}
	cols.LateBefore = cols.LateBefore.Add(-LateAfter)
	s.groups.Add(1)
	answer, err := queries.New(s.pool).WriteSamples(ctx, cols.WriteSamplesParams)
	if err != nil {
		return dataOr(err)
	}
	written := map[string]bool{}
	fresh := make(map[key]bool, len(answer))
	for _, a := range answer {
		if a.Kind == "host" {
			written[a.Host] = true
		} else if a.CollectedAt != nil {
			fresh[key{a.Host, a.CollectedAt.UnixMicro()}] = true
		}
	}
	// The three rows of a sample go in together, so a sample stored before has all three and
	// the system table's new rows are the new samples. A sample twice in the group (two
	// requests of one agent at once) is new for the first batch to hold it.
	for _, r := range rows {
		if k := (key{r.host, r.at}); fresh[k] {
			r.p.res.Accepted++
			delete(fresh, k)
		} else {
			r.p.res.Duplicates++
		}
	}
	for _, p := range group {
		if p.err != nil {
			continue
		}
		if !written[p.res.Host] {
			// Rotated or removed since the cache learnt it: nothing of it was written.
			s.hosts.forget(p.w)
			p.err, p.res.Accepted, p.res.Duplicates = unknown(p.w), 0, 0
			continue
		}
		p.obs = Observation{Host: p.res.Host, ReceivedAt: p.now, ClockOffset: p.res.ClockOffset, AgentVersion: p.b.Agent.Version, Platform: p.b.Platform}
		if p.newest >= 0 {
			p.obs.Latest = p.b.Samples[p.newest]
			p.obs.Latest.Host = p.res.Host
		}
	}
	return nil
}

func unknown(w Writer) error {
	if w.TokenHash == nil {
		return fmt.Errorf("%w: %q is not enrolled", ErrUnknownHost, w.Host)
	}
	return ErrUnknownHost
}

// hostStates adds one host_state row per host of the group, in host order: the last batch's
// clock, agent and platform (the newest platform sent), the newest sample of all its batches.
func hostStates(out *queries.WriteSamplesParams, group []*pending, hosts map[*pending]queries.HostsForWritersRow) {
	type state struct {
		received time.Time
		offset   float64
		version  string
		platform []byte
		latestAt time.Time
		latest   []byte
	}
	byID := map[int64]*state{}
	for _, p := range group {
		h, ok := hosts[p]
		if !ok {
			continue
		}
		st := byID[h.ID]
		if st == nil {
			st = &state{}
			byID[h.ID] = st
		}
		if p.now.After(st.received) {
			st.received = p.now
		}
		st.offset, st.version = p.res.ClockOffset.Seconds(), p.b.Agent.Version
		if p.plat != nil {
			st.platform = p.plat
		}
		if p.newest >= 0 {
			if at := p.b.Samples[p.newest].CollectedAt.UTC(); st.latest == nil || at.After(st.latestAt) {
				st.latestAt, st.latest = at, p.latest
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		st := byID[id]
		out.StateHostID = append(out.StateHostID, id)
		out.ReceivedAt = append(out.ReceivedAt, st.received)
		out.LatestAt = append(out.LatestAt, st.latestAt)
		out.Latest = append(out.Latest, st.latest)
		out.ClockOffsetSeconds = append(out.ClockOffsetSeconds, st.offset)
		out.AgentVersion = append(out.AgentVersion, st.version)
		out.Platform = append(out.Platform, st.platform)
	}
}

// refusedError is a failure caused by what a batch holds, not by the database being away.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }
