package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/infradash/infradash/agent"
	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/spool"
	"github.com/infradash/infradash/store"
)

// localSender delivers the hub's own samples straight to its store: the same Write an agent's
// POST /api/v1/ingest ends in, without HTTP or a token.
type localSender struct {
	store *store.Store
	host  string
	now   func() time.Time
}

func (l localSender) Send(ctx context.Context, o agent.Outgoing) (agent.Ack, error) {
	b := sample.Batch{Version: sample.WireVersion, Agent: o.Agent, SentAt: o.SentAt, Platform: o.Platform}
	var bad []agent.Rejection
	for i, r := range o.Records {
		var s sample.Snapshot
		if err := json.Unmarshal(r, &s); err != nil {
			bad = append(bad, agent.Rejection{Index: i, Field: fmt.Sprintf("samples[%d]", i), Error: "does not decode: " + err.Error()})
			continue
		}
		b.Samples = append(b.Samples, s)
	}
	if len(b.Samples) == 0 {
		return agent.Ack{Host: l.host, Rejected: bad}, nil
	}
	res, err := l.store.Write(ctx, store.Writer{Host: l.host}, b, l.now())
	if err != nil {
		return agent.Ack{}, err
	}
	ack := agent.Ack{Host: res.Host, Accepted: res.Accepted, Duplicates: res.Duplicates, Rejected: bad, ClockOffset: res.ClockOffset}
	for _, r := range res.Rejected {
		ack.Rejected = append(ack.Rejected, agent.Rejection(r))
	}
	return ack, nil
}

// localAgent is the hub's own host's agent, running in the hub: its collector's samples go
// through an on-disk spool (AGENT_SPOOL_DIR) to the store, so a hub killed while PostgreSQL is
// away keeps them, and straight into the fleet's view, so the dashboard shows the hub's own host
// live even then.
type localAgent struct {
	agent *agent.Agent
	spool *spool.Spool
}

func newLocalAgent(cfg config.Config, col *collector.Collector, st *store.Store, view *fleet.Fleet, version string, log *slog.Logger) (*localAgent, error) {
	sp, err := spool.Open(cfg.Spool.Dir, spool.Options{MaxBytes: cfg.Spool.MaxBytes, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("AGENT_SPOOL_DIR %s: the hub keeps its own samples there until they are stored: %w", cfg.Spool.Dir, err)
	}
	if n := sp.Stats().Records; n > 0 {
		log.Info("samples from before the last stop wait in the spool; storing them", "dir", cfg.Spool.Dir, "samples", n)
	}
	host := cfg.Host
	platform := col.Platform()
	live := func(s sample.Snapshot) {
		view.Observe(store.Observation{Host: host, ReceivedAt: time.Now().UTC(), Latest: s, AgentVersion: version, Platform: &platform})
	}
	a := agent.New(agent.Options{
		Collector: col, Spool: sp, Version: version, Sinks: []func(sample.Snapshot){live},
		Sender: localSender{store: st, host: host, now: time.Now}, Logger: log.With("component", "local-agent"),
	})
	return &localAgent{agent: a, spool: sp}, nil
}

// run collects and stores until ctx ends.
func (l *localAgent) run(ctx context.Context) { l.agent.Run(ctx) }

func (l *localAgent) close() error { return l.spool.Close() }
