// Package store writes the samples of one host into PostgreSQL's history tables: one row per
// sample in system_metrics_history, process_metrics_history and infrastructure_health, and the
// host's live state in host_state, all in one transaction per batch. Remote agents and the hub's
// own in-process agent go through the same Write.
//
// Every insert ends in ON CONFLICT DO NOTHING on the (host, collected_at) keys, so a batch sent
// again (an agent that never got the answer) is stored once. Write returns only after COMMIT: an
// agent that gets an answer may forget the batch.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

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
}

// Store writes batches through a pool.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger
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
	return &Store{pool: pool, opts: o, log: o.Logger}
}

// Write stores a decoded batch for w in one transaction and returns after COMMIT. Samples that
// fail sample.CheckSnapshot, or that the database refuses for what they hold, are reported in
// Result.Rejected and the rest is stored. An error means nothing was stored: ErrUnknownHost, or
// the database failing (database.Unreachable tells an outage from the rest).
func (s *Store) Write(ctx context.Context, w Writer, b sample.Batch, now time.Time) (Result, error) {
	now = now.UTC()
	var res Result
	if !b.SentAt.IsZero() {
		res.ClockOffset = b.SentAt.Sub(now)
	}
	accepted := make([]int, 0, len(b.Samples))
	for i, snap := range b.Samples {
		if p := sample.CheckSnapshot(fmt.Sprintf("samples[%d]", i), snap, now, res.ClockOffset); p != nil {
			res.Rejected = append(res.Rejected, Rejected{Index: i, Field: p.Field, Error: p.Message})
			continue
		}
		accepted = append(accepted, i)
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	obs, err := s.write(ctx, w, b, accepted, now, &res)
	var refused *refusedError
	if errors.As(err, &refused) {
		// The batch as a whole can never be stored, and an agent retrying it would hold back every
		// later sample: store its samples one by one and reject only those refused.
		res.Accepted, res.Duplicates = 0, 0
		for _, i := range accepted {
			o, err := s.write(ctx, w, b, []int{i}, now, &res)
			switch {
			case errors.As(err, &refused):
				s.log.Warn("store: the database refused a sample", "host", res.Host, "collected_at", b.Samples[i].CollectedAt, "err", refused.err)
				res.Rejected = append(res.Rejected, Rejected{Index: i, Field: fmt.Sprintf("samples[%d]", i), Error: "the database refused it: " + refused.err.Error()})
			case err != nil:
				return res, err
			default:
				obs = newer(obs, o)
			}
		}
		err = nil
	}
	if err != nil {
		return res, err
	}
	s.opts.Observe(obs)
	return res, nil
}

func newer(a, b Observation) Observation {
	if a.Latest.CollectedAt.After(b.Latest.CollectedAt) {
		b.Latest = a.Latest
	}
	return b
}

// refusedError is a failure caused by what a batch holds, not by the database being away.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// write runs one transaction over the samples of b at the indexes idx.
func (s *Store) write(ctx context.Context, w Writer, b sample.Batch, idx []int, now time.Time, res *Result) (Observation, error) {
	obs := Observation{ReceivedAt: now, ClockOffset: res.ClockOffset, AgentVersion: b.Agent.Version, Platform: b.Platform}
	var platform []byte
	if b.Platform != nil {
		var err error
		if platform, err = json.Marshal(b.Platform); err != nil {
			return obs, fmt.Errorf("store: encode platform: %w", err)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := queries.New(tx)
		var hostID int64
		if w.TokenHash != nil {
			h, err := q.HostByTokenHash(ctx, w.TokenHash)
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrUnknownHost
			}
			if err != nil {
				return fmt.Errorf("store: find host: %w", err)
			}
			hostID, res.Host = h.ID, h.Name
		} else {
			h, err := q.HostByName(ctx, w.Host)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: %q is not enrolled", ErrUnknownHost, w.Host)
			}
			if err != nil {
				return fmt.Errorf("store: find host: %w", err)
			}
			hostID, res.Host = h.ID, h.Name
		}
		obs.Host = res.Host
		cols := newColumns(res.Host, len(idx))
		th := s.opts.Thresholds(res.Host)
		for _, i := range idx {
			snap := b.Samples[i]
			snap.Host = res.Host
			if err := cols.add(snap, th); err != nil {
				return err
			}
			if snap.CollectedAt.After(obs.Latest.CollectedAt) {
				obs.Latest = snap
			}
		}
		// The three rows of a sample go in together, so a sample stored before has all three and
		// the system table's count of new rows is the count of new samples.
		inserted, err := q.InsertSystemSamples(ctx, cols.sys)
		if err != nil {
			return dataOr(err)
		}
		if _, err := q.InsertProcessSamples(ctx, cols.proc); err != nil {
			return dataOr(err)
		}
		if _, err := q.InsertHealthSamples(ctx, cols.health); err != nil {
			return dataOr(err)
		}
		st := queries.UpsertHostStateParams{HostID: hostID, ReceivedAt: now, ClockOffsetSeconds: res.ClockOffset.Seconds(),
			AgentVersion: b.Agent.Version, Platform: platform}
		if !obs.Latest.CollectedAt.IsZero() {
			latest, err := json.Marshal(obs.Latest)
			if err != nil {
				return fmt.Errorf("store: encode latest sample: %w", err)
			}
			at := obs.Latest.CollectedAt.UTC()
			st.LatestAt, st.Latest = &at, latest
		}
		if err := q.UpsertHostState(ctx, st); err != nil {
			return dataOr(err)
		}
		res.Accepted += int(inserted)
		res.Duplicates += len(idx) - int(inserted)
		return nil
	})
	return obs, err
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

// columns are one host's samples as the array parameters of the insert statements, one element
// per sample.
type columns struct {
	sys    queries.InsertSystemSamplesParams
	proc   queries.InsertProcessSamplesParams
	health queries.InsertHealthSamplesParams
}

func newColumns(host string, n int) *columns {
	c := &columns{}
	c.sys.Host, c.proc.Host, c.health.Host = host, host, host
	c.sys.CollectedAt = make([]time.Time, 0, n)
	return c
}

// add appends one snapshot's three rows.
func (c *columns) add(s sample.Snapshot, t health.Thresholds) error {
	sys := s.System
	fs, err1 := jsonArray(sys.Filesystems)
	ifs, err2 := jsonArray(sys.Network.Interfaces)
	temps, err3 := jsonArray(sys.Temperatures)
	rep := health.Evaluate(s, t)
	comps, err4 := jsonArray(rep.Components)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return fmt.Errorf("encode sample: %w", err)
	}
	at := s.CollectedAt.UTC()
	y := &c.sys
	y.CollectedAt = append(y.CollectedAt, at)
	y.CpuPercent = append(y.CpuPercent, sys.CPU.TotalPercent)
	y.CpuUserPercent = append(y.CpuUserPercent, sys.CPU.UserPercent)
	y.CpuSystemPercent = append(y.CpuSystemPercent, sys.CPU.SystemPercent)
	y.CpuIowaitPercent = append(y.CpuIowaitPercent, sys.CPU.IowaitPercent)
	y.CpuStealPercent = append(y.CpuStealPercent, sys.CPU.StealPercent)
	y.CpuPerCorePercent = append(y.CpuPerCorePercent, arrayLiteral(sys.CPU.PerCorePercent))
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
	y.Filesystems = append(y.Filesystems, fs)
	y.Interfaces = append(y.Interfaces, ifs)
	y.Temperatures = append(y.Temperatures, temps)

	p, pr := &c.proc, s.Process
	p.CollectedAt = append(p.CollectedAt, at)
	p.Pid = append(p.Pid, pr.PID)
	p.CpuPercent = append(p.CpuPercent, pr.CPUPercent)
	p.RssBytes = append(p.RssBytes, toInt64(pr.RSSBytes))
	p.VmsBytes = append(p.VmsBytes, toInt64(pr.VMSBytes))
	p.Threads = append(p.Threads, pr.Threads)
	p.OpenFiles = append(p.OpenFiles, toInt32(pr.OpenFiles))
	p.Connections = append(p.Connections, toInt32(pr.Connections))
	p.Goroutines = append(p.Goroutines, toInt32(pr.Goroutines))
	p.HeapAllocBytes = append(p.HeapAllocBytes, toInt64(pr.HeapAllocBytes))
	p.GcPauseTotalSeconds = append(p.GcPauseTotalSeconds, pr.GCPauseTotalSeconds)

	h := &c.health
	h.CollectedAt = append(h.CollectedAt, at)
	h.Score = append(h.Score, int16(rep.Score))
	h.Status = append(h.Status, string(rep.Status))
	h.Components = append(h.Components, comps)
	return nil
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
	return json.Marshal(v)
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
