package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infradash/infradash/agent"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/spool"
)

// ticks is a collector that hands out n samples, one per tick of its channel, then waits for ctx.
type ticks struct {
	tick     chan time.Time
	platform sample.Platform
}

func (c *ticks) Run(ctx context.Context, sinks ...func(sample.Snapshot)) {
	for {
		select {
		case <-ctx.Done():
			return
		case at := <-c.tick:
			for _, s := range sinks {
				s(sample.Snapshot{CollectedAt: at})
			}
		}
	}
}

func (c *ticks) Platform() sample.Platform { return c.platform }

// hub is a Sender that answers as told and remembers what it stored.
type hub struct {
	mu      sync.Mutex
	answer  func(o agent.Outgoing) (agent.Ack, error)
	stored  []time.Time
	batches []agent.Outgoing
}

func (h *hub) Send(_ context.Context, o agent.Outgoing) (agent.Ack, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.batches = append(h.batches, o)
	ack, err := agent.Ack{Host: "web-1"}, error(nil)
	if h.answer != nil {
		ack, err = h.answer(o)
	}
	if err != nil {
		return ack, err
	}
	rejected := map[int]bool{}
	for _, r := range ack.Rejected {
		rejected[r.Index] = true
	}
	for i, r := range o.Records {
		var s sample.Snapshot
		_ = json.Unmarshal(r, &s)
		if !rejected[i] {
			h.stored = append(h.stored, s.CollectedAt)
		}
	}
	return ack, nil
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.stored)
}

type rig struct {
	t     *testing.T
	col   *ticks
	hub   *hub
	spool *spool.Spool
	agent *agent.Agent
	log   *lockedLog
	stop  func()
	slept chan time.Duration
	taken int
}

func newRig(t *testing.T, h *hub, sp agent.Spool) *rig {
	t.Helper()
	r := &rig{t: t, col: &ticks{tick: make(chan time.Time), platform: sample.Platform{Hostname: "web-1", OS: "linux"}}, hub: h,
		log: &lockedLog{}, slept: make(chan time.Duration, 100)}
	if sp == nil {
		s, err := spool.Open(t.TempDir(), spool.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		r.spool, sp = s, s
	}
	logger := slog.New(slog.NewTextHandler(r.log, nil))
	r.agent = agent.New(agent.Options{Collector: r.col, Spool: sp, Sender: h, Version: "1.0.0", Logger: logger,
		// Back-off waits are recorded and skipped: the tests look at what the agent does, not at the clock.
		Sleep: func(ctx context.Context, d time.Duration) error {
			select {
			case r.slept <- d:
			default:
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
				return nil
			}
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.agent.Run(ctx) }()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop)
	return r
}

// lockedLog is the agent's log, written by its goroutines while the test reads it.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// collect has the collector take n more samples, one second apart.
func (r *rig) collect(n int) {
	for i := 0; i < n; i++ {
		r.col.tick <- t0.Add(time.Duration(r.taken) * time.Second)
		r.taken++
	}
}

func (r *rig) waitStored(n int) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.hub.count() < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("%d samples stored, want %d\nlog:\n%s", r.hub.count(), n, r.log)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSamplesLeaveTheSpoolOnlyWhenTheHubAcknowledgedThem(t *testing.T) {
	down := true
	var mu sync.Mutex
	h := &hub{answer: func(agent.Outgoing) (agent.Ack, error) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return agent.Ack{}, &agent.HubError{Status: http.StatusServiceUnavailable, Code: "database_unavailable", Message: "away", RetryAfter: 10 * time.Second}
		}
		return agent.Ack{Host: "web-1"}, nil
	}}
	r := newRig(t, h, nil)
	r.collect(5)
	// The hub refuses: all five stay spooled, and the agent waits at least Retry-After.
	deadline := time.Now().Add(30 * time.Second)
	for r.spool.Stats().Records < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := r.spool.Stats(); st.Records != 5 || h.count() != 0 {
		t.Fatalf("while the hub refuses: %d spooled, %d stored; want 5 and 0", st.Records, h.count())
	}
	if d := <-r.slept; d < 8*time.Second {
		t.Errorf("backed off %s after a 503 with Retry-After: 10, want about 10 s", d)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	r.collect(1)
	r.waitStored(6)
	// The agent forgets acknowledged samples and says so after the hub has stored them.
	deadline = time.Now().Add(30 * time.Second)
	for (r.spool.Stats().Records != 0 || !strings.Contains(r.log.String(), "the hub takes samples again")) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := r.spool.Stats(); st.Records != 0 {
		t.Errorf("%d samples still spooled after the hub stored them all", st.Records)
	}
	if n := strings.Count(r.log.String(), "cannot deliver samples"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, r.log)
	}
	if !strings.Contains(r.log.String(), "the hub takes samples again") {
		t.Errorf("no summary when the hub came back:\n%s", r.log)
	}
	// Oldest first, each once.
	for i, at := range h.stored {
		if !at.Equal(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("stored %v, want the samples in order", h.stored)
		}
	}
}

func TestTheBatchHalvesWhenTheHubSaysItIsTooLarge(t *testing.T) {
	h := &hub{}
	h.answer = func(o agent.Outgoing) (agent.Ack, error) {
		if len(o.Records) > 2 {
			return agent.Ack{}, &agent.HubError{Status: http.StatusRequestEntityTooLarge, Code: "batch_too_large"}
		}
		return agent.Ack{Host: "web-1"}, nil
	}
	r := newRig(t, h, nil)
	h.mu.Lock()
	saved := h.answer
	h.answer = func(agent.Outgoing) (agent.Ack, error) { return agent.Ack{}, errors.New("unreachable") }
	h.mu.Unlock()
	r.collect(9) // spooled while the hub is unreachable
	for r.spool.Stats().Records < 9 {
		time.Sleep(5 * time.Millisecond)
	}
	h.mu.Lock()
	h.answer = saved
	h.mu.Unlock()
	r.collect(1)
	r.waitStored(10)
}

func TestRefusedSamplesAreDroppedAndSaidOnce(t *testing.T) {
	// A clock far ahead: the hub refuses every sample, and the agent must not keep them forever.
	h := &hub{answer: func(o agent.Outgoing) (agent.Ack, error) {
		ack := agent.Ack{Host: "web-1"}
		for i := range o.Records {
			ack.Rejected = append(ack.Rejected, agent.Rejection{Index: i, Field: "samples[0].collected_at", Error: "ahead of the hub's clock"})
		}
		return ack, nil
	}}
	r := newRig(t, h, nil)
	r.collect(3)
	deadline := time.Now().Add(30 * time.Second)
	for r.agent.Stats().Rejected < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := r.agent.Stats(); st.Rejected != 3 || st.Sent != 0 || st.Spool.Records != 0 {
		t.Errorf("stats %+v: want every refused sample dropped from the spool", st)
	}
	// A clock off for good gets every sample refused: one line, not one per sample.
	if n := strings.Count(r.log.String(), "refused samples for good"); n != 1 {
		t.Errorf("refusals logged %d times, want once a minute:\n%s", n, r.log)
	}
}

func TestThePlatformGoesWithTheFirstBatchOnly(t *testing.T) {
	h := &hub{}
	r := newRig(t, h, nil)
	r.collect(1)
	r.waitStored(1)
	r.collect(1)
	r.waitStored(2)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.batches[0].Platform == nil || h.batches[0].Platform.Hostname != "web-1" || h.batches[len(h.batches)-1].Platform != nil {
		t.Errorf("platform in batches: first %v, last %v; want it in the first only", h.batches[0].Platform, h.batches[len(h.batches)-1].Platform)
	}
}

func TestWithoutASpoolSamplesWaitInMemoryAndTheAgentSaysWhyOnce(t *testing.T) {
	h := &hub{}
	r := newRig(t, h, agent.Unavailable(errors.New("spool /var/lib/x: read-only file system")))
	r.collect(3)
	r.waitStored(3)
	if n := strings.Count(r.log.String(), "cannot write the spool"); n != 1 || !strings.Contains(r.log.String(), "read-only file system") {
		t.Errorf("the broken spool was reported %d times, want once naming why:\n%s", n, r.log)
	}
}

// HTTPSender speaks the wire format to a hub and turns its answers into Acks and HubErrors.
func TestHTTPSenderPostsGzipWithTheTokenAndReadsTheAnswer(t *testing.T) {
	var got sample.Batch
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != agent.IngestPath || r.Header.Get("Authorization") != "Bearer idh_test" || r.Header.Get("Content-Encoding") != "gzip" {
			http.Error(w, "bad request shape", 400)
			return
		}
		b, err := sample.DecodeBatch(r.Body, "gzip")
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got = b
		if r.URL.Query().Get("dry_run") == "true" {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"status":"error","error":{"code":"database_unavailable","message":"away"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","data":{"host":"web-1","accepted":2,"duplicates":0,"rejected":[],"clock_offset_seconds":1.5}}`))
	}))
	defer srv.Close()
	s, err := agent.NewHTTPSender(srv.URL, "idh_test", "")
	if err != nil {
		t.Fatal(err)
	}
	recs := [][]byte{[]byte(`{"collected_at":"2026-12-01T10:00:00Z"}`), []byte(`{"collected_at":"2026-12-01T10:00:05Z"}`)}
	ack, err := s.Send(context.Background(), agent.Outgoing{Records: recs, Agent: sample.Agent{Version: "1.0.0"}, SentAt: t0})
	if err != nil || ack.Host != "web-1" || ack.Accepted != 2 || ack.ClockOffset != 1500*time.Millisecond {
		t.Fatalf("send: %+v, %v", ack, err)
	}
	if len(got.Samples) != 2 || got.Version != 1 || got.Agent.Version != "1.0.0" {
		t.Errorf("the hub got %+v", got)
	}
	_, err = s.Check(context.Background(), agent.Outgoing{Records: recs[:1], SentAt: t0})
	var he *agent.HubError
	if !errors.As(err, &he) || he.Status != 503 || he.RetryAfter != 7*time.Second || !he.Temporary() {
		t.Errorf("a 503: %v", err)
	}
	for _, u := range []string{"http://hub.example.com", "ftp://127.0.0.1", "https://", "http://10.0.0.1:8080"} {
		if _, err := agent.CheckHubURL(u); err == nil {
			t.Errorf("CheckHubURL(%q) accepted it", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost", "https://hub.example.com"} {
		if _, err := agent.CheckHubURL(u); err != nil {
			t.Errorf("CheckHubURL(%q): %v", u, err)
		}
	}
}

// blockingHub holds each batch until released, and gives up when the agent cancels the send, as
// the HTTP sender does.
type blockingHub struct {
	hub
	inFlight chan struct{}
	release  chan struct{}
}

func (h *blockingHub) Send(ctx context.Context, o agent.Outgoing) (agent.Ack, error) {
	h.inFlight <- struct{}{}
	select {
	case <-h.release:
		return h.hub.Send(ctx, o)
	case <-ctx.Done():
		return agent.Ack{}, ctx.Err()
	}
}

func TestAStoppedAgentLetsTheSendUnderWayFinish(t *testing.T) {
	h := &blockingHub{inFlight: make(chan struct{}, 1), release: make(chan struct{})}
	sp, err := spool.Open(t.TempDir(), spool.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	col := &ticks{tick: make(chan time.Time)}
	a := agent.New(agent.Options{Collector: col, Spool: sp, Sender: h, Version: "1.0.0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	col.tick <- t0
	<-h.inFlight
	cancel() // as SIGTERM does, while the hub is still answering
	time.Sleep(100 * time.Millisecond)
	close(h.release)
	<-done
	if h.count() != 1 || sp.Stats().Records != 0 {
		t.Errorf("stopped during a send: %d stored, %d left in the spool; want the send finished: 1 and 0", h.count(), sp.Stats().Records)
	}
}
