// Package agent sends one host's samples to the hub: every interval the collector's sample goes
// into the on-disk spool, and a sender delivers what is spooled, oldest first, in batches. A sample
// leaves the spool only when the hub has acknowledged it (answered after its COMMIT), so a hub or
// database outage of hours, or the agent being killed, loses nothing the spool could hold.
//
// The same loop runs inside the hub for the hub's own host, with a sender that writes to the
// database directly; `infradash agent` runs it with an HTTP sender.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/spool"
)

// Batch bounds: a catching-up agent sends at most this much per request.
const (
	MaxBatchRecords = 200
	MaxBatchBytes   = 2 << 20 // uncompressed JSON
)

// Back-off between failed sends: doubled from minBackoff up to maxBackoff, with jitter, so a
// thousand agents do not come back to a recovered hub in the same second.
const (
	minBackoff = time.Second
	maxBackoff = time.Minute
)

// drainGrace is how long a send under way when the agent is stopped may go on, so that a hub
// that is answering acknowledges the batch instead of it waiting in the spool until the next
// start (for good, on a host being retired); well within systemd's stop timeout.
const drainGrace = 3 * time.Second

// memoryFallback is how many samples wait in memory when the spool cannot take them (disk full,
// read-only folder): an hour at 5 s, so live data keeps flowing while the disk is fixed.
const memoryFallback = 720

// Outgoing is what a Sender delivers: spooled samples (JSON snapshots, oldest first) and, when
// the hub has not had them since the agent started or they changed, the platform facts.
type Outgoing struct {
	Records  [][]byte
	Platform *sample.Platform
	Agent    sample.Agent
	SentAt   time.Time
}

// Ack is the hub's answer to a batch it stored (or refused for good).
type Ack struct {
	Host        string
	Accepted    int
	Duplicates  int
	Rejected    []Rejection
	ClockOffset time.Duration
}

// Rejection is one sample the hub will never store: the agent drops it, and says why.
type Rejection struct {
	Index int    `json:"index"`
	Field string `json:"field"`
	Error string `json:"error"`
}

// Sender delivers batches: over HTTP to a hub (HTTPSender) or, inside the hub, to its store.
type Sender interface {
	Send(ctx context.Context, o Outgoing) (Ack, error)
}

// HubError is an answer of the hub other than success. Temporary ones (503, 429, 5xx) are
// retried with back-off; the others are too, but are logged as errors an operator must fix.
type HubError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *HubError) Error() string {
	return fmt.Sprintf("the hub answered %d %s: %s", e.Status, e.Code, e.Message)
}

// TooLarge reports whether the hub refused the batch for its size.
func (e *HubError) TooLarge() bool { return e.Status == 413 }

// Temporary reports whether waiting may be enough (the hub or its database is busy or away).
func (e *HubError) Temporary() bool { return e.Status == 429 || e.Status >= 500 }

// Spool is what the agent needs of its on-disk queue (*spool.Spool).
type Spool interface {
	Append(data []byte) (uint64, error)
	Peek(maxRecords, maxBytes int) ([]spool.Record, error)
	Ack(upTo uint64) error
	Stats() spool.Stats
}

// Unavailable stands for a spool that could not be opened (a read-only or full folder): every
// Append fails with err, so the agent keeps what it collects in memory and says why once.
func Unavailable(err error) Spool { return unavailable{err} }

type unavailable struct{ err error }

func (u unavailable) Append([]byte) (uint64, error)         { return 0, u.err }
func (u unavailable) Peek(int, int) ([]spool.Record, error) { return nil, nil }
func (u unavailable) Ack(uint64) error                      { return nil }
func (u unavailable) Stats() spool.Stats                    { return spool.Stats{} }

// Collector is what the agent needs of the collector.
type Collector interface {
	Run(ctx context.Context, sinks ...func(sample.Snapshot))
	Platform() sample.Platform
}

// Options configure an Agent.
type Options struct {
	Collector Collector
	Spool     Spool
	Sender    Sender
	Version   string // infradash version, sent as agent.version
	// Sinks also get every sample as it is taken (the hub's own live view).
	Sinks  []func(sample.Snapshot)
	Logger *slog.Logger
	Now    func() time.Time
	// Sleep waits between failed sends; tests replace it. Nil: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Agent runs the collect, spool and send loops.
type Agent struct {
	o    Options
	log  *slog.Logger
	wake chan struct{}

	mu             sync.Mutex
	memory         [][]byte // samples the spool could not take, oldest first
	memoryDropped  uint64
	spoolFailing   error // the spool's last Append error, logged once until it works again
	platformSent   bool
	sentPlatform   sample.Platform
	sent, rejected uint64
	// unloggedRejections counts refused samples since the last line about them (noteRejected).
	unloggedRejections int
	lastRejectionLog   time.Time
}

// New builds an Agent.
func New(o Options) *Agent {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return &Agent{o: o, log: o.Logger, wake: make(chan struct{}, 1)}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run collects and sends until ctx ends, then lets a send under way finish (drainGrace at most).
// Samples not yet acknowledged stay in the spool for the next start.
func (a *Agent) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.sendLoop(ctx)
	}()
	sinks := append([]func(sample.Snapshot){a.keep}, a.o.Sinks...)
	a.o.Collector.Run(ctx, sinks...)
	wg.Wait()
}

// keep puts one sample in the spool (or, when the spool cannot take it, in memory) and wakes the
// sender.
func (a *Agent) keep(s sample.Snapshot) {
	data, err := json.Marshal(s)
	if err != nil {
		a.log.Error("agent: encode sample", "err", err)
		return
	}
	_, err = a.o.Spool.Append(data)
	a.mu.Lock()
	switch {
	case err != nil:
		if a.spoolFailing == nil {
			a.log.Error("agent: cannot write the spool; keeping the newest samples in memory until it works again (they are lost if the agent stops)",
				"err", err, "in_memory_at_most", memoryFallback)
		}
		a.spoolFailing = err
		if len(a.memory) >= memoryFallback {
			a.memory = a.memory[1:]
			a.memoryDropped++
		}
		a.memory = append(a.memory, data)
	case a.spoolFailing != nil:
		a.log.Info("agent: the spool works again", "samples_in_memory", len(a.memory), "dropped_meanwhile", a.memoryDropped)
		a.spoolFailing = nil
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Stats are what the agent has done since it started, for its logs.
type Stats struct {
	Spool         spool.Stats
	InMemory      int
	MemoryDropped uint64
	Sent          uint64 // samples the hub acknowledged
	Rejected      uint64 // samples the hub refused for good
}

// Stats reports the agent's counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Stats{Spool: a.o.Spool.Stats(), InMemory: len(a.memory), MemoryDropped: a.memoryDropped, Sent: a.sent, Rejected: a.rejected}
}

// sendLoop delivers what is spooled whenever a sample arrives, and keeps retrying with back-off
// while the hub refuses or cannot be reached.
func (a *Agent) sendLoop(ctx context.Context) {
	// Sends outlive ctx by drainGrace; no new send starts once it has ended.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(drainGrace, cancelSend) })
	defer stopDrain()
	backoff := time.Duration(0)
	batchRecords := MaxBatchRecords
	var outageSince time.Time
	var lastErr string
	for {
		if backoff == 0 {
			select {
			case <-ctx.Done():
				return
			case <-a.wake:
			}
		} else if err := a.o.Sleep(ctx, jitter(backoff)); err != nil {
			return
		}
		for ctx.Err() == nil {
			n, err := a.sendOnce(sendCtx, batchRecords)
			if err == nil {
				if !outageSince.IsZero() {
					st := a.Stats()
					a.log.Info("agent: the hub takes samples again", "outage", a.o.Now().Sub(outageSince).Round(time.Second),
						"spooled", st.Spool.Records, "spool_bytes", st.Spool.Bytes, "dropped_while_full", st.Spool.Dropped,
						"torn_records_skipped", st.Spool.Torn)
					outageSince, lastErr = time.Time{}, ""
				}
				backoff = 0
				batchRecords = min(batchRecords*2, MaxBatchRecords)
				if n == 0 {
					break // nothing left: wait for the next sample
				}
				continue
			}
			if ctx.Err() != nil {
				return
			}
			var he *HubError
			if errors.As(err, &he) && he.TooLarge() && batchRecords > 1 {
				batchRecords = max(1, batchRecords/2)
				continue
			}
			if outageSince.IsZero() {
				outageSince = a.o.Now()
			}
			// One line per kind of failure, not one per try: an outage of an hour is one line.
			if msg := err.Error(); msg != lastErr {
				level := slog.LevelWarn
				if errors.As(err, &he) && !he.Temporary() {
					level = slog.LevelError // a refused token or an incompatible hub needs an operator
				}
				a.log.Log(ctx, level, "agent: cannot deliver samples; keeping them in the spool and retrying", "err", err,
					"spooled", a.o.Spool.Stats().Records)
				lastErr = msg
			}
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			if errors.As(err, &he) && he.RetryAfter > 0 {
				backoff = min(max(backoff, he.RetryAfter), maxBackoff)
			}
			break
		}
	}
}

// rejectionLogEvery bounds the log lines about refused samples: a wrong clock gets every sample
// refused, and one line a minute says so as well as one a sample.
const rejectionLogEvery = time.Minute

// noteRejected logs samples the hub refused for good, at most once per rejectionLogEvery with the
// count since the last line.
func (a *Agent) noteRejected(rs []Rejection) {
	a.mu.Lock()
	a.unloggedRejections += len(rs)
	now := a.o.Now()
	if now.Sub(a.lastRejectionLog) < rejectionLogEvery {
		a.mu.Unlock()
		return
	}
	n := a.unloggedRejections
	a.unloggedRejections, a.lastRejectionLog = 0, now
	a.mu.Unlock()
	a.log.Warn("agent: the hub refused samples for good; they are dropped", "refused", n, "example", rs[0].Field+": "+rs[0].Error)
}

// jitter spreads a wait by ±20 %.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sendOnce sends one batch, spool first (the oldest samples), then what waits in memory, and
// returns how many samples it delivered.
func (a *Agent) sendOnce(ctx context.Context, maxRecords int) (int, error) {
	recs, err := a.o.Spool.Peek(maxRecords, MaxBatchBytes)
	if err != nil {
		return 0, fmt.Errorf("read the spool: %w", err)
	}
	fromMemory := false
	out := Outgoing{Agent: sample.Agent{Version: a.o.Version}}
	if len(recs) > 0 {
		out.Records = make([][]byte, len(recs))
		for i, r := range recs {
			out.Records[i] = r.Data
		}
	} else {
		a.mu.Lock()
		n := min(len(a.memory), maxRecords)
		out.Records = append([][]byte(nil), a.memory[:n]...)
		a.mu.Unlock()
		fromMemory = true
	}
	if len(out.Records) == 0 {
		return 0, nil
	}
	platform := a.o.Collector.Platform()
	a.mu.Lock()
	if !a.platformSent || platform != a.sentPlatform {
		out.Platform = &platform
	}
	a.mu.Unlock()
	out.SentAt = a.o.Now().UTC()
	ack, err := a.o.Sender.Send(ctx, out)
	if err != nil {
		return 0, err
	}
	if len(ack.Rejected) > 0 {
		a.noteRejected(ack.Rejected)
	}
	if fromMemory {
		a.mu.Lock()
		a.memory = a.memory[len(out.Records):]
		a.mu.Unlock()
	} else if err := a.o.Spool.Ack(recs[len(recs)-1].Seq); err != nil {
		// The hub has them; at worst they are sent again after a restart and stored once.
		a.log.Warn("agent: cannot record the acknowledgement in the spool", "err", err)
	}
	a.mu.Lock()
	if out.Platform != nil {
		a.platformSent, a.sentPlatform = true, *out.Platform
	}
	a.sent += uint64(len(out.Records) - len(ack.Rejected))
	a.rejected += uint64(len(ack.Rejected))
	a.mu.Unlock()
	return len(out.Records), nil
}
