// Package store writes the samples of the fleet's hosts into PostgreSQL's history tables: one
// row per sample in system_metrics_history, process_metrics_history and infrastructure_health,
// and each host's live state in host_state. Remote agents and the hub's own in-process agent go
// through the same Write.
//
// Every insert ends in ON CONFLICT DO NOTHING on the (host, collected_at) keys, so a batch sent
// again (an agent that never got the answer) is stored once. Write returns only after COMMIT: an
// agent that gets an answer may forget the batch.
//
// Group commit: the batches that arrive while a transaction is under way wait for the next one,
// and go in together, one statement per table for all of them (group.go). At 5,000 agents'
// batches a second that is tens of transactions a second instead of thousands; when the hub is
// quiet, a batch has a transaction to itself at once. A batch is always whole in one
// transaction; one that fails on its own (a value the database refuses) is stored alone, so it
// cannot fail the others of its group.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
)

// writeTimeout bounds one batch's transaction: an agent waiting longer retries anyway.
const writeTimeout = 15 * time.Second

// Errors of Write.
var (
	// ErrUnknownHost: no enrolled host has this token (or this name): it was never enrolled,
	// rotated or removed.
	ErrUnknownHost = errors.New("no enrolled host has this agent token")
	// ErrBusy: more batches wait for the database than the hub keeps in memory (MaxWaiting);
	// nothing was stored, and the agent should send the batch again later.
	ErrBusy = errors.New("the hub has more batches waiting for the database than it holds; send again later")
)

// Writer says whose batch it is: a remote agent by the SHA-256 of its token, or the hub's own
// host by name (its agent runs in process and has no token).
type Writer struct {
	TokenHash []byte
	Host      string
}

// Rejected is a sample of a batch the hub will never store, and why; the agent drops it.
type Rejected struct {
	Index int    `json:"index"`
	Field string `json:"field"`
	Error string `json:"error"`
}

// Result is what one Write did.
type Result struct {
	Host string `json:"host"`
	// Accepted samples were stored now; Duplicates had been stored before (a re-sent batch).
	Accepted   int        `json:"accepted"`
	Duplicates int        `json:"duplicates"`
	Rejected   []Rejected `json:"rejected"`
	// ClockOffset is the agent's clock minus the hub's when the batch was sent.
	ClockOffset time.Duration `json:"-"`
}

// Observation is a host's live state after a write, for the fleet's view.
type Observation struct {
	Host         string
	ReceivedAt   time.Time
	Latest       sample.Snapshot // zero when the batch held no acceptable sample
	ClockOffset  time.Duration
	AgentVersion string
	Platform     *sample.Platform
}

// Options configure a Store.
type Options struct {
	// Thresholds gives the levels a host's health rows are scored with (the same the dashboard
	// and the alerts use for it).
	Thresholds func(host string) health.Thresholds
	// Observe is told about every committed write (the fleet's live view).
	Observe func(Observation)
	Logger  *slog.Logger
	// Committers bounds the transactions of groups under way at once (default
	// DefaultCommitters), and so the pool connections ingest takes.
	Committers int
}

// Store writes batches through a pool.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger

	hosts hostCache

	mu         sync.Mutex
	queue      []*pending // batches waiting for the next group
	committers int        // goroutines committing groups now

	groups, batches atomic.Int64

	failMu       sync.Mutex
	failingSince time.Time // the first of the writes failing now for the database's sake; zero when the last one worked
	failing      error
}

// Stats say how the batches were grouped: Batches written in Groups transactions (a batch
// stored one sample a transaction counts once), and how many wait now.
type Stats struct {
	Groups, Batches int64
	Waiting         int
}

// Stats returns the counts so far.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	waiting := len(s.queue)
	s.mu.Unlock()
	return Stats{Groups: s.groups.Load(), Batches: s.batches.Load(), Waiting: waiting}
}

// Failing says since when and why writes fail for the database's sake (unreachable, read-only,
// disk full: database.Unavailable), or a nil error when the last write was stored. /readyz says it.
func (s *Store) Failing() (time.Time, error) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failingSince, s.failing
}

// noteOutcome keeps what Failing reports: a write's error when the database is to blame, cleared
// by the next write that is stored.
func (s *Store) noteOutcome(err error, now time.Time) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	switch {
	case err == nil:
		s.failingSince, s.failing = time.Time{}, nil
	case database.Unavailable(err):
		if s.failing == nil {
			s.failingSince = now
		}
		s.failing = err
	}
}

// New returns a Store writing through pool.
func New(pool *pgxpool.Pool, o Options) *Store {
	if o.Thresholds == nil {
		th := health.DefaultThresholds()
		o.Thresholds = func(string) health.Thresholds { return th }
	}
	if o.Observe == nil {
		o.Observe = func(Observation) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Committers <= 0 {
		o.Committers = DefaultCommitters
	}
	return &Store{pool: pool, opts: o, log: o.Logger}
}

// Write stores a decoded batch for w and returns after the COMMIT of the transaction that holds
// it, whole (shared with the batches that arrived meanwhile). Samples that fail
// sample.CheckSnapshot, or that the database refuses for what they hold, are reported in
// Result.Rejected and the rest is stored. An error means nothing of the batch was stored:
// ErrUnknownHost, ErrBusy, or the database failing (database.Unavailable tells an outage, or a database
// refusing all writes, from the rest). A ctx that ends while the batch waits returns ctx's error, and the batch may still
// be stored: the agent sends it again and it is counted as a duplicate.
func (s *Store) Write(ctx context.Context, w Writer, b sample.Batch, now time.Time) (_ Result, err error) {
	defer func() { s.noteOutcome(err, now) }()
	p, err := prepare(w, b, now.UTC())
	if err != nil {
		return p.res, err
	}
	if err := s.enqueue(ctx, p); err != nil {
		return p.res, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return p.res, ctx.Err()
	}
	if p.err != nil {
		return p.res, p.err
	}
	s.opts.Observe(p.obs)
	return p.res, nil
}

// dataOr marks a database error caused by the data (SQLSTATE classes 22, data exception, and 23,
// integrity constraint violation) as refused; an outage or a mistake in a query stays as it is.
func dataOr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")) {
		return &refusedError{err: err}
	}
	return err
}

// columns are a group's samples as the array parameters of WriteSamples, one element per sample
// (the history tables) or per host (host_state).
type columns struct{ queries.WriteSamplesParams }

// add appends one sample's three rows, under host. Its jsonb columns were encoded by prepare.
func (c *columns) add(host string, s sample.Snapshot, enc encoded, t health.Thresholds) error {
	sys := s.System
	rep := health.Evaluate(s, t)
	comps, err := jsonArray(reasons(rep.Components))
	if err != nil {
		return fmt.Errorf("encode health: %w", err)
	}
	at := s.CollectedAt.UTC()
	y := &c.WriteSamplesParams
	y.Host = append(y.Host, host)
	y.CollectedAt = append(y.CollectedAt, at)
	y.CpuPercent = append(y.CpuPercent, sys.CPU.TotalPercent)
	y.CpuUserPercent = append(y.CpuUserPercent, sys.CPU.UserPercent)
	y.CpuSystemPercent = append(y.CpuSystemPercent, sys.CPU.SystemPercent)
	y.CpuIowaitPercent = append(y.CpuIowaitPercent, sys.CPU.IowaitPercent)
	y.CpuStealPercent = append(y.CpuStealPercent, sys.CPU.StealPercent)
	y.CpuPerCorePercent = append(y.CpuPerCorePercent, enc.perCore)
	y.Load1 = append(y.Load1, sys.Load.Load1)
	y.Load5 = append(y.Load5, sys.Load.Load5)
	y.Load15 = append(y.Load15, sys.Load.Load15)
	y.MemoryTotalBytes = append(y.MemoryTotalBytes, toInt64(sys.Memory.TotalBytes))
	y.MemoryUsedBytes = append(y.MemoryUsedBytes, toInt64(sys.Memory.UsedBytes))
	y.MemoryAvailableBytes = append(y.MemoryAvailableBytes, toInt64(sys.Memory.AvailableBytes))
	y.MemoryPercent = append(y.MemoryPercent, sys.Memory.UsedPercent)
	y.SwapTotalBytes = append(y.SwapTotalBytes, toInt64(sys.Swap.TotalBytes))
	y.SwapUsedBytes = append(y.SwapUsedBytes, toInt64(sys.Swap.UsedBytes))
	y.SwapPercent = append(y.SwapPercent, sys.Swap.UsedPercent)
	y.DiskReadBytesPerSecond = append(y.DiskReadBytesPerSecond, sys.DiskIO.ReadBytesPerSecond)
	y.DiskWriteBytesPerSecond = append(y.DiskWriteBytesPerSecond, sys.DiskIO.WriteBytesPerSecond)
	y.NetRecvBytesPerSecond = append(y.NetRecvBytesPerSecond, sys.Network.RecvBytesPerSecond)
	y.NetSentBytesPerSecond = append(y.NetSentBytesPerSecond, sys.Network.SentBytesPerSecond)
	y.ProcessCount = append(y.ProcessCount, toInt32(sys.ProcessCount))
	y.UptimeSeconds = append(y.UptimeSeconds, toInt64(sys.UptimeSeconds))
	y.Filesystems = append(y.Filesystems, enc.filesystems)
	y.Interfaces = append(y.Interfaces, enc.interfaces)
	y.Temperatures = append(y.Temperatures, enc.temperatures)

	p, pr := y, s.Process
	p.Pid = append(p.Pid, pr.PID)
	p.ProcessCpuPercent = append(p.ProcessCpuPercent, pr.CPUPercent)
	p.RssBytes = append(p.RssBytes, toInt64(pr.RSSBytes))
	p.VmsBytes = append(p.VmsBytes, toInt64(pr.VMSBytes))
	p.Threads = append(p.Threads, pr.Threads)
	p.OpenFiles = append(p.OpenFiles, toInt32(pr.OpenFiles))
	p.Connections = append(p.Connections, toInt32(pr.Connections))
	p.Goroutines = append(p.Goroutines, toInt32(pr.Goroutines))
	p.HeapAllocBytes = append(p.HeapAllocBytes, toInt64(pr.HeapAllocBytes))
	p.GcPauseTotalSeconds = append(p.GcPauseTotalSeconds, pr.GCPauseTotalSeconds)

	h := y
	h.Score = append(h.Score, int16(rep.Score))
	h.Status = append(h.Status, string(rep.Status))
	h.Components = append(h.Components, comps)
	return nil
}

// reasons are the components a health row keeps: those that were not healthy, which say why the
// score was what it was. A healthy component's value is in the sample's system row and its levels
// in the rules; storing it with every sample made it 960 of a health row's 1,096 bytes.
func reasons(cs []health.Component) []health.Component {
	var out []health.Component
	for _, c := range cs {
		if c.Status != health.Healthy {
			out = append(out, c)
		}
	}
	return out
}

// arrayLiteral writes a float8[] literal: {1.5,0,100}.
func arrayLiteral(v []float64) string {
	b := make([]byte, 0, 2+8*len(v))
	b = append(b, '{')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	return string(append(b, '}'))
}

func toInt32(v int) int32 { return int32(max(min(v, math.MaxInt32), math.MinInt32)) }

// jsonArray encodes a slice, nil as [] so the jsonb columns always hold arrays.
func jsonArray[T any](v []T) ([]byte, error) {
	if v == nil {
		return []byte("[]"), nil
	}
	return sample.Marshal(v)
}

func toInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// HostForToken names the host an agent token belongs to, for a dry run that stores nothing.
func (s *Store) HostForToken(ctx context.Context, tokenHash []byte) (string, error) {
	h, err := queries.New(s.pool).HostByTokenHash(ctx, tokenHash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrUnknownHost
	}
	if err != nil {
		return "", fmt.Errorf("store: find host: %w", err)
	}
	return h.Name, nil
}
