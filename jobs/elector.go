package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/queries"
)

// LeaderLockKey is the PostgreSQL advisory lock key of the jobs' leader ("infradash jobs").
const LeaderLockKey int64 = 0x696e667261646a62

// ErrNotLeader is IsLeader's answer on every replica but the leader.
var ErrNotLeader = errors.New("another replica is the jobs leader")

// Elector makes one replica among those sharing a database the leader that runs the jobs. The
// leader holds a session advisory lock on a connection of its own, taken out of the pool; the
// lock lives exactly as long as that connection, so when the leader stops or its connection
// dies, the next replica to ask gets the lock. It implements gocron.Elector.
type Elector struct {
	pool *pgxpool.Pool
	key  int64
	log  *slog.Logger

	mu   sync.Mutex
	conn *pgx.Conn // non-nil while this replica is the leader
}

// NewElector returns an elector on pool's database.
func NewElector(pool *pgxpool.Pool, log *slog.Logger) *Elector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Elector{pool: pool, key: LeaderLockKey, log: log}
}

// electionTimeout bounds one IsLeader call. gocron asks with the job's context, which has no
// deadline, while e.mu is held: a half-open connection would otherwise block every job for as
// long as TCP takes to give up (minutes).
const electionTimeout = 5 * time.Second

// IsLeader returns nil when this replica holds (or has just taken) the lock, ErrNotLeader when
// another does, or the error that kept it from finding out. gocron asks before every run, so a
// dead leader connection is noticed at the next run, and a follower takes over at its next run.
func (e *Elector) IsLeader(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, electionTimeout)
	defer cancel()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn != nil {
		err := e.conn.Ping(ctx)
		if err == nil {
			return nil
		}
		e.log.Warn("lost the jobs leadership: its database connection failed", "err", err)
		_ = e.conn.Close(context.WithoutCancel(ctx))
		e.conn = nil
	}
	c, err := e.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("jobs leader election: %w", err)
	}
	got, err := queries.New(c).TryAdvisoryLock(ctx, e.key)
	if err != nil {
		c.Release()
		return fmt.Errorf("jobs leader election: %w", err)
	}
	if !got {
		c.Release()
		return ErrNotLeader
	}
	// The lock belongs to this session: keep the connection out of the pool for as long as
	// this replica leads.
	e.conn = c.Hijack()
	e.log.Info("this replica is now the jobs leader")
	return nil
}

// Close gives up the leadership at once, so another replica need not wait for the connection to
// time out.
func (e *Elector) Close(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil
	}
	_, _ = queries.New(e.conn).AdvisoryUnlock(ctx, e.key)
	err := e.conn.Close(ctx)
	e.conn = nil
	return err
}
