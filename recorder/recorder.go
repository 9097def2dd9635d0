// Package recorder stores the collector's snapshots in PostgreSQL's history tables: one row per
// sample in system_metrics_history, process_metrics_history and infrastructure_health.
//
// Recording never blocks the collector. Snapshots wait in a bounded in-memory queue that a single
// writer drains, oldest first, in one transaction per batch. While PostgreSQL is unreachable the
// queue keeps filling (once it is full the oldest sample is dropped and counted; that is logged
// once per outage) and the writer retries with back-off, so a database restart loses no sample.
// A batch the database refuses for what it holds (not because it is away) is written sample by
// sample, and only the samples refused are dropped, logged and counted. Every insert ends in
// ON CONFLICT DO NOTHING, so writing a batch twice after an ambiguous failure stores it once.
package recorder

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
)

// Defaults of Options.
const (
	DefaultCapacity   = 1440 // two hours of samples at the default 5-second interval
	DefaultBatchSize  = 100
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	writeTimeout      = 10 * time.Second
)

// Options tune a Recorder.
type Options struct {
	Thresholds health.Thresholds
	// Capacity is how many samples may wait for the database; beyond it the oldest is dropped.
	Capacity int
	// BatchSize is how many samples go into one transaction.
	BatchSize int
	// MinBackoff and MaxBackoff bound the wait between attempts while the database fails.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Recorder is a collector sink that writes snapshots to PostgreSQL.
type Recorder struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger

	wake chan struct{}
	done chan struct{}

	mu       sync.Mutex
	queue    []entry
	nextSeq  uint64
	written  uint64
	dropped  uint64
	rejected uint64
	failing  bool   // the last write failed; logged once per outage
	overflow uint64 // samples dropped since the queue last drained; logged once per outage
}

// entry is a queued sample; seq tells a batch's samples apart from those queued after it.
type entry struct {
	seq  uint64
	snap sample.Snapshot
}

// New returns a Recorder writing through pool. Call Run to start writing.
func New(pool *pgxpool.Pool, opts Options) *Recorder {
	if opts.Capacity <= 0 {
		opts.Capacity = DefaultCapacity
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{
		pool: pool,
		opts: opts,
		log:  opts.Logger,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
}

// CapacityFor is the queue size that holds span worth of samples taken every interval.
func CapacityFor(span, interval time.Duration) int {
	if interval <= 0 {
		return DefaultCapacity
	}
	return max(1, int(span/interval))
}

// Record queues s for writing and returns at once; pass it to collector.Run as a sink.
func (r *Recorder) Record(s sample.Snapshot) {
	r.mu.Lock()
	if len(r.queue) >= r.opts.Capacity {
		oldest := r.queue[0].snap.CollectedAt
		r.popLocked()
		r.dropped++
		r.overflow++
		// One line when the dropping starts and a summary once the queue drains (see settle),
		// not one per sample for the whole outage.
		if r.overflow == 1 {
			r.log.Warn("recorder: queue full, dropping the oldest unsaved samples until the database is back",
				"collected_at", oldest, "capacity", r.opts.Capacity)
		}
	}
	r.nextSeq++
	r.queue = append(r.queue, entry{seq: r.nextSeq, snap: s})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// popLocked removes the oldest queued sample, letting its memory go.
func (r *Recorder) popLocked() {
	r.queue[0] = entry{}
	r.queue = r.queue[1:]
}

// Written is how many samples have been stored since start.
func (r *Recorder) Written() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.written
}

// Queued is how many samples wait to be stored.
func (r *Recorder) Queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

// Dropped is how many samples were discarded unsaved because the queue was full.
func (r *Recorder) Dropped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Rejected is how many samples were discarded because the database refused them (not because it
// was unreachable): storing them again could never succeed.
func (r *Recorder) Rejected() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

// Run writes queued samples until ctx ends, then tries to flush what is left until flushCtx
// ends (pass context.Background() with a timeout: shutdown should not wait forever on a dead
// database). Run returns when it has stopped; Done is closed then too.
func (r *Recorder) Run(ctx, flushCtx context.Context) {
	defer close(r.done)
	backoff := time.Duration(0)
	for {
		var retry <-chan time.Time
		if backoff > 0 {
			t := time.NewTimer(backoff)
			retry = t.C
			select {
			case <-ctx.Done():
				t.Stop()
				r.flush(flushCtx)
				return
			case <-retry:
			}
		} else {
			select {
			case <-ctx.Done():
				r.flush(flushCtx)
				return
			case <-r.wake:
			}
		}
		if err := r.drain(ctx); err != nil {
			if ctx.Err() != nil {
				continue // shutting down: the flush takes over
			}
			backoff = min(max(2*backoff, r.opts.MinBackoff), r.opts.MaxBackoff)
			continue
		}
		backoff = 0
	}
}

// Done is closed when Run has returned.
func (r *Recorder) Done() <-chan struct{} { return r.done }

func (r *Recorder) flush(ctx context.Context) {
	for ctx.Err() == nil && r.Queued() > 0 {
		if err := r.drain(ctx); err != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(r.opts.MinBackoff):
			}
		}
	}
	if n := r.Queued(); n > 0 {
		r.log.Error("recorder: stopped with samples unsaved", "samples", n)
	}
}

// drain writes batches until the queue is empty or the database cannot be reached.
func (r *Recorder) drain(ctx context.Context) error {
	for {
		r.mu.Lock()
		n := min(len(r.queue), r.opts.BatchSize)
		batch := append([]entry(nil), r.queue[:n]...)
		r.mu.Unlock()
		if n == 0 {
			return nil
		}
		err := r.write(ctx, batch)
		if err == nil {
			r.settle(batch[n-1].seq, n, 0)
			continue
		}
		if r.temporary(ctx, err) {
			return err
		}
		// The batch as a whole can never be stored, and retrying it would hold back every
		// later sample: store its samples one by one and drop only those refused.
		for _, e := range batch {
			err := r.write(ctx, []entry{e})
			switch {
			case err == nil:
				r.settle(e.seq, 1, 0)
			case r.temporary(ctx, err):
				return err
			default:
				r.log.Error("recorder: dropped a sample the database refuses", "collected_at", e.snap.CollectedAt, "err", err)
				r.settle(e.seq, 0, 1)
			}
		}
	}
}

// temporary reports whether err may pass (database unreachable, or shutting down) and the
// samples must stay queued; the first such failure of an outage is logged.
func (r *Recorder) temporary(ctx context.Context, err error) bool {
	if ctx.Err() == nil && !database.Unreachable(err) {
		return false
	}
	r.mu.Lock()
	first := !r.failing
	r.failing = true
	queued := len(r.queue)
	r.mu.Unlock()
	if first && ctx.Err() == nil {
		r.log.Error("recorder: cannot store samples; keeping them in memory and retrying", "queued", queued, "err", err)
	}
	return true
}

// settle removes the queued samples up to seq, which were stored (written) or refused (rejected).
func (r *Recorder) settle(seq uint64, written, rejected int) {
	r.mu.Lock()
	// Samples dropped (queue full) while they were written have left already.
	for len(r.queue) > 0 && r.queue[0].seq <= seq {
		r.popLocked()
	}
	r.written += uint64(written)
	r.rejected += uint64(rejected)
	recovered := r.failing
	r.failing = false
	queued := len(r.queue)
	overflow := r.overflow
	if queued == 0 {
		r.overflow = 0
	}
	r.mu.Unlock()
	if recovered {
		r.log.Info("recorder: database reachable again, storing queued samples", "queued", queued)
	}
	if queued == 0 && overflow > 0 {
		r.log.Warn("recorder: queue drained; samples were dropped while the database was away", "dropped", overflow)
	}
}

// write stores a batch in one transaction.
func (r *Recorder) write(ctx context.Context, batch []entry) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	sys := make([]queries.InsertSystemSampleParams, 0, len(batch))
	proc := make([]queries.InsertProcessSampleParams, 0, len(batch))
	hl := make([]queries.InsertHealthSampleParams, 0, len(batch))
	for _, e := range batch {
		sp, pp, hp, err := rows(e.snap, r.opts.Thresholds)
		if err != nil {
			return err
		}
		sys, proc, hl = append(sys, sp), append(proc, pp), append(hl, hp)
	}
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		q := queries.New(tx)
		var firstErr error
		keep := func(_ int, err error) {
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
		q.InsertSystemSample(ctx, sys).Exec(keep)
		q.InsertProcessSample(ctx, proc).Exec(keep)
		q.InsertHealthSample(ctx, hl).Exec(keep)
		if firstErr != nil {
			return fmt.Errorf("store samples: %w", firstErr)
		}
		return nil
	})
}

// rows maps one snapshot to its three history rows.
func rows(s sample.Snapshot, t health.Thresholds) (queries.InsertSystemSampleParams, queries.InsertProcessSampleParams, queries.InsertHealthSampleParams, error) {
	sys := s.System
	fs, err1 := jsonArray(sys.Filesystems)
	ifs, err2 := jsonArray(sys.Network.Interfaces)
	temps, err3 := jsonArray(sys.Temperatures)
	rep := health.Evaluate(s, t)
	comps, err4 := jsonArray(rep.Components)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return queries.InsertSystemSampleParams{}, queries.InsertProcessSampleParams{}, queries.InsertHealthSampleParams{}, fmt.Errorf("encode sample: %w", err)
		}
	}
	perCore := sys.CPU.PerCorePercent
	if perCore == nil {
		perCore = []float64{}
	}
	at := s.CollectedAt.UTC()
	return queries.InsertSystemSampleParams{
			Host:                    s.Host,
			CollectedAt:             at,
			CpuPercent:              sys.CPU.TotalPercent,
			CpuUserPercent:          sys.CPU.UserPercent,
			CpuSystemPercent:        sys.CPU.SystemPercent,
			CpuIowaitPercent:        sys.CPU.IowaitPercent,
			CpuStealPercent:         sys.CPU.StealPercent,
			CpuPerCorePercent:       perCore,
			Load1:                   sys.Load.Load1,
			Load5:                   sys.Load.Load5,
			Load15:                  sys.Load.Load15,
			MemoryTotalBytes:        toInt64(sys.Memory.TotalBytes),
			MemoryUsedBytes:         toInt64(sys.Memory.UsedBytes),
			MemoryAvailableBytes:    toInt64(sys.Memory.AvailableBytes),
			MemoryPercent:           sys.Memory.UsedPercent,
			SwapTotalBytes:          toInt64(sys.Swap.TotalBytes),
			SwapUsedBytes:           toInt64(sys.Swap.UsedBytes),
			SwapPercent:             sys.Swap.UsedPercent,
			DiskReadBytesPerSecond:  sys.DiskIO.ReadBytesPerSecond,
			DiskWriteBytesPerSecond: sys.DiskIO.WriteBytesPerSecond,
			NetRecvBytesPerSecond:   sys.Network.RecvBytesPerSecond,
			NetSentBytesPerSecond:   sys.Network.SentBytesPerSecond,
			ProcessCount:            int32(sys.ProcessCount),
			UptimeSeconds:           toInt64(sys.UptimeSeconds),
			Filesystems:             fs,
			Interfaces:              ifs,
			Temperatures:            temps,
		}, queries.InsertProcessSampleParams{
			Host:                s.Host,
			CollectedAt:         at,
			Pid:                 s.Process.PID,
			CpuPercent:          s.Process.CPUPercent,
			RssBytes:            toInt64(s.Process.RSSBytes),
			VmsBytes:            toInt64(s.Process.VMSBytes),
			Threads:             s.Process.Threads,
			OpenFiles:           int32(s.Process.OpenFiles),
			Connections:         int32(s.Process.Connections),
			Goroutines:          int32(s.Process.Goroutines),
			HeapAllocBytes:      toInt64(s.Process.HeapAllocBytes),
			GcPauseTotalSeconds: s.Process.GCPauseTotalSeconds,
		}, queries.InsertHealthSampleParams{
			Host:        s.Host,
			CollectedAt: at,
			Score:       int16(rep.Score),
			Status:      queries.Healthstatus(rep.Status),
			Components:  comps,
		}, nil
}

// jsonArray encodes a slice, nil as [] so the jsonb columns always hold arrays.
func jsonArray[T any](v []T) ([]byte, error) {
	if v == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(v)
}

func toInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
