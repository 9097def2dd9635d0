package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/infradash/infradash/agent"
	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/spool"
)

var agentCommand = command{
	summary: "Send this host's samples to a hub (HUB_URL) as the host its token names, keeping on disk (AGENT_SPOOL_DIR) whatever the hub has not acknowledged. " +
		"--check connects once, says what is wrong (unreachable, TLS, refused token, clock skew) and exits. Needs no database.",
	usage: "[--hub URL] [--token-file FILE] [--spool-dir DIR] [--check]",
	run:   runAgent,
}

// startupPagesAfter is when the agent gives back the memory only its start needed
// (agent.ReleaseStartupPages).
const startupPagesAfter = 15 * time.Second

// clockWarning is the agent clock offset --check warns about; past sample.MaxFutureSkew the hub
// refuses the samples.
const clockWarning = 2 * time.Second

func runAgent(ctx context.Context, env *environment, args []string) error {
	fs := flags(env, "agent")
	var o config.AgentOverrides
	fs.StringVar(&o.HubURL, "hub", "", "the hub's URL (overrides HUB_URL)")
	fs.StringVar(&o.TokenFile, "token-file", "", "a file holding the agent token (overrides AGENT_TOKEN and AGENT_TOKEN_FILE)")
	fs.StringVar(&o.SpoolDir, "spool-dir", "", "where unacknowledged samples wait (overrides AGENT_SPOOL_DIR)")
	check := fs.Bool("check", false, "connect to the hub once, report what is wrong, and exit (0: all is well)")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "infradash agent: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	lookup, err := lookupWithDotenv(env)
	if err != nil {
		return err
	}
	cfg, err := config.LoadAgent(lookup, o)
	var problems config.Problems
	if errors.As(err, &problems) {
		return exitError{code: 2, err: fmt.Errorf("configuration is not valid:\n  %s", joinLines(problems))}
	}
	if err != nil {
		return err
	}
	log := logger(cfg.LogLevel, cfg.LogFormat, env.stderr)
	ver, _, _ := buildInfo()
	sender, err := agent.NewHTTPSender(cfg.HubURL, cfg.Token, cfg.CAFile)
	if err != nil {
		return exitError{code: 2, err: err}
	}
	col := collector.New(collector.Options{Interval: cfg.CollectInterval, Version: ver, Logger: log})
	if *check {
		return checkAgent(ctx, env, cfg, col, sender, ver)
	}

	var sp agent.Spool
	if s, err := spool.Open(cfg.Spool.Dir, spool.Options{MaxBytes: cfg.Spool.MaxBytes, Logger: log}); err != nil {
		// The agent still sends what it collects; only an outage of the hub can now lose samples.
		log.Error("agent: the spool cannot be opened; samples wait in memory only", "dir", cfg.Spool.Dir, "err", err)
		sp = agent.Unavailable(fmt.Errorf("spool %s: %w", cfg.Spool.Dir, err))
	} else {
		defer s.Close()
		st := s.Stats()
		log.Info("agent: spool opened", "dir", cfg.Spool.Dir, "waiting", st.Records, "bytes", st.Bytes, "torn_records_skipped", st.Torn)
		sp = s
	}
	a := agent.New(agent.Options{Collector: col, Spool: sp, Sender: sender, Version: ver, Logger: log})
	log.Info("infradash agent started", "hub", cfg.HubURL, "interval", cfg.CollectInterval, "version", ver)
	// Once start-up is over (and the loop has run), the pages only the hub's code needed go.
	release := time.AfterFunc(startupPagesAfter, func() {
		if err := agent.ReleaseStartupPages(); err != nil {
			log.Warn("agent: cannot release the start-up memory; the agent keeps working with a larger RSS", "err", err)
		}
	})
	defer release.Stop()
	a.Run(ctx)
	st := a.Stats()
	log.Info("infradash agent stopped", "sent", st.Sent, "waiting_in_spool", st.Spool.Records)
	return nil
}

// checkAgent sends one real sample as a dry run (the hub checks it and stores nothing) and says,
// in words an operator acts on, whether the hub takes this agent's samples.
func checkAgent(ctx context.Context, env *environment, cfg config.Agent, col *collector.Collector, sender *agent.HTTPSender, ver string) error {
	out := env.stdout
	snap := col.Collect(ctx)
	data, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	platform := col.Platform()
	start := time.Now()
	ack, err := sender.Check(ctx, agent.Outgoing{Records: [][]byte{data}, Platform: &platform, Agent: sample.Agent{Version: ver}, SentAt: time.Now().UTC()})
	rtt := time.Since(start)
	var he *agent.HubError
	switch {
	case errors.As(err, &he) && he.Status == 401:
		return exitError{code: 1, err: fmt.Errorf("the hub at %s refused the token: %s\n  Rotate it on the hub (infradash host rotate NAME) and put the new one in AGENT_TOKEN_FILE", cfg.HubURL, he.Message)}
	case errors.As(err, &he) && he.Status == 403:
		return exitError{code: 1, err: fmt.Errorf("the hub at %s: %s", cfg.HubURL, he.Message)}
	case errors.As(err, &he) && he.Code == "unsupported_version":
		return exitError{code: 1, err: fmt.Errorf("the hub at %s speaks another wire format: %s", cfg.HubURL, he.Message)}
	case errors.As(err, &he) && he.Status == 404:
		return exitError{code: 1, err: fmt.Errorf("%s answered 404 for %s: is HUB_URL the address of an infradash hub (its BASE_URL)?", cfg.HubURL, agent.IngestPath)}
	case errors.As(err, &he):
		return exitError{code: 1, err: fmt.Errorf("the hub at %s cannot take samples now: %s", cfg.HubURL, he.Error())}
	case err != nil:
		return exitError{code: 1, err: fmt.Errorf("cannot reach the hub at %s: %w", cfg.HubURL, err)}
	}
	fmt.Fprintf(out, "ok: the hub at %s takes this agent's samples as host %q (round trip %s)\n", cfg.HubURL, ack.Host, rtt.Round(time.Millisecond))
	// The offset is measured one way, so up to the round trip of it is the network's.
	offset := ack.ClockOffset
	switch abs := time.Duration(math.Abs(float64(offset))); {
	case abs > sample.MaxFutureSkew:
		return exitError{code: 1, err: fmt.Errorf("this host's clock is %+.1f s off the hub's: the hub refuses samples more than %s ahead; fix the clock (NTP)",
			offset.Seconds(), sample.MaxFutureSkew)}
	case abs > clockWarning+rtt:
		fmt.Fprintf(out, "warning: this host's clock is %+.1f s off the hub's; charts will be shifted by as much (enable NTP)\n", offset.Seconds())
	default:
		fmt.Fprintf(out, "clock: %+.1f s off the hub's\n", offset.Seconds())
	}
	if len(ack.Rejected) > 0 {
		r := ack.Rejected[0]
		return exitError{code: 1, err: fmt.Errorf("the hub would refuse this host's sample: %s: %s", r.Field, r.Error)}
	}
	if s, err := spool.Open(cfg.Spool.Dir, spool.Options{MaxBytes: cfg.Spool.MaxBytes, Logger: slog.New(slog.DiscardHandler)}); errors.Is(err, spool.ErrInUse) {
		fmt.Fprintf(out, "spool: %s is in use by the running agent\n", cfg.Spool.Dir)
	} else if err != nil {
		fmt.Fprintf(out, "warning: the spool %s cannot be opened (%v): samples would wait in memory only while the hub is away\n", cfg.Spool.Dir, err)
	} else {
		st := s.Stats()
		_ = s.Close()
		fmt.Fprintf(out, "spool: %s, %d samples waiting (%d bytes of at most %d)\n", cfg.Spool.Dir, st.Records, st.Bytes, cfg.Spool.MaxBytes)
	}
	return nil
}
