package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Issue 15's fault drills, with the real binary as hub and agents and a PostgreSQL of their own,
// in the style of fleet_test.go. Each logs one "drill:" line with what was injected, the samples
// sent, stored, duplicated and lost, and the time to recover; docs/benchmarks.md (Reliability)
// records them. FLEET_OUTAGE sets the outages' length (12 s by default, 60 s is the issue's).

// interval is the agents' collect interval in the drills (startProc sets COLLECT_INTERVAL=1s).
const interval = time.Second

// proxied is one ingest request an agent sent through the recording proxy, and the hub's answer.
type proxied struct {
	host     string
	status   int
	samples  []time.Time // collected_at of the batch's samples, in order
	rejected []int       // indexes the hub refused for good (in a 200)
	dups     int
	// abandoned: the agent gave the request up before an answer came (it was being stopped);
	// its samples stay in the agent's spool, for its next start.
	abandoned bool
}

// recordingProxy stands between the agents and the hub and keeps every ingest request and its
// answer, so a drill can compare what the hub acknowledged with what the database holds.
type recordingProxy struct {
	t      *testing.T
	srv    *httptest.Server
	hub    string
	mu     sync.Mutex
	hosts  map[string]string // agent token -> host
	record []proxied
}

func newRecordingProxy(t *testing.T, hub string) *recordingProxy {
	p := &recordingProxy{t: t, hub: hub, hosts: map[string]string{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *recordingProxy) enrolled(host, token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hosts[token] = host
}

func (p *recordingProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.hub+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	rec := proxied{samples: batchTimes(body, r.Header.Get("Content-Encoding"))}
	p.mu.Lock()
	rec.host = p.hosts[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	p.mu.Unlock()
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		rec.status = http.StatusBadGateway
		rec.abandoned = r.Context().Err() != nil
		p.keep(rec, r.URL.Path)
		http.Error(w, "the hub is unreachable: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	rec.status = res.StatusCode
	if res.StatusCode == http.StatusOK {
		var a struct {
			Data struct {
				Duplicates int
				Rejected   []struct{ Index int }
			}
		}
		_ = json.Unmarshal(answer, &a)
		rec.dups = a.Data.Duplicates
		for _, x := range a.Data.Rejected {
			rec.rejected = append(rec.rejected, x.Index)
		}
	}
	p.keep(rec, r.URL.Path)
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(answer)
}

func (p *recordingProxy) keep(rec proxied, path string) {
	if path != "/api/v1/ingest" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record = append(p.record, rec)
}

func (p *recordingProxy) records() []proxied {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.record)
}

// batchTimes reads the collected_at of each sample of an agent's batch.
func batchTimes(body []byte, encoding string) []time.Time {
	r := io.Reader(bytes.NewReader(body))
	if encoding == "gzip" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil
		}
		r = zr
	}
	var b struct {
		Samples []struct {
			CollectedAt time.Time `json:"collected_at"`
		} `json:"samples"`
	}
	if json.NewDecoder(r).Decode(&b) != nil {
		return nil
	}
	out := make([]time.Time, len(b.Samples))
	for i, s := range b.Samples {
		out[i] = s.CollectedAt
	}
	return out
}

// checkAcknowledged fails for every sample the hub answered 2xx for (accepted or duplicate) that
// the database does not hold: the hub must never acknowledge what it has not committed. It
// returns the distinct samples sent per host and the count of 503 answers. A request the agent
// abandoned as it stopped does not count as sent: nothing acknowledged it, so its samples are
// still in the agent's spool (stopping the agents ends every drill, and a send may be under way).
func (p *recordingProxy) checkAcknowledged(t *testing.T, pool *pgxpool.Pool) (sent map[string]map[time.Time]bool, unavailable int) {
	t.Helper()
	storedAt := map[string]map[time.Time]bool{}
	sent = map[string]map[time.Time]bool{}
	for _, r := range p.records() {
		if r.host == "" {
			continue
		}
		if storedAt[r.host] == nil {
			storedAt[r.host] = map[time.Time]bool{}
			for _, at := range stored(t, pool, r.host) {
				storedAt[r.host][at.UTC()] = true
			}
			sent[r.host] = map[time.Time]bool{}
		}
		if !r.abandoned {
			for _, at := range r.samples {
				sent[r.host][at.UTC()] = true
			}
		}
		switch {
		case r.status == http.StatusServiceUnavailable:
			unavailable++
		case r.status >= 200 && r.status < 300:
			for i, at := range r.samples {
				if !slices.Contains(r.rejected, i) && !storedAt[r.host][at.UTC().Truncate(time.Microsecond)] {
					t.Errorf("%s: the hub answered %d for the sample of %s, which the database does not hold", r.host, r.status, at.Format(time.RFC3339Nano))
				}
			}
		}
	}
	return sent, unavailable
}

// drillCount is one drill's result over its hosts, for the table in docs/benchmarks.md.
type drillCount struct {
	sent, stored, duplicated, lost int
}

// holeAfter is a hole in a host's samples that is a fault: the collector runs late on a loaded
// machine (a tick skipped now and then), never this late.
const holeAfter = 5 * interval

// countSamples checks that host's samples are stored once each, that every sample in sent (what
// the agents sent, seen by the proxy) is stored, and that there is no hole longer than holeAfter
// but in allowed (the agent was not running); and counts them.
func countSamples(t *testing.T, pool *pgxpool.Pool, host string, sent map[time.Time]bool, resent int, allowed ...[2]time.Time) drillCount {
	t.Helper()
	times := stored(t, pool, host)
	var rows, distinct int
	if err := pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT collected_at) FROM system_metrics_history WHERE host = $1`, host).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != distinct {
		t.Errorf("%s: %d rows for %d instants: samples stored twice", host, rows, distinct)
	}
	c := drillCount{stored: rows, duplicated: resent}
	// A hole of n intervals is n-1 samples lost, unless the agent was not running then.
	for _, g := range gaps(times, holeAfter, allowed...) {
		t.Errorf("%s: samples missing: a hole of %s", host, g)
	}
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d > holeAfter && !overlaps(times[i-1], times[i], allowed) {
			c.lost += int(d.Round(interval)/interval) - 1
		}
	}
	storedSet := map[time.Time]bool{}
	for _, at := range times {
		storedSet[at.UTC()] = true
	}
	for at := range sent {
		if !storedSet[at.UTC().Truncate(time.Microsecond)] {
			t.Errorf("%s: the sample of %s was sent but never stored", host, at.Format(time.RFC3339Nano))
			c.lost++
		}
	}
	c.sent = len(sent)
	if sent == nil {
		c.sent = rows + c.lost
	}
	return c
}

func overlaps(a, b time.Time, allowed [][2]time.Time) bool {
	for _, w := range allowed {
		if a.Before(w[1]) && b.After(w[0]) {
			return true
		}
	}
	return false
}

func (c drillCount) add(o drillCount) drillCount {
	return drillCount{c.sent + o.sent, c.stored + o.stored, c.duplicated + o.duplicated, c.lost + o.lost}
}

// logDrill writes the drill's line of the table in docs/benchmarks.md.
func logDrill(t *testing.T, injected string, c drillCount, recovery time.Duration) {
	t.Logf("drill: %s | %s | sent %d | stored %d | duplicated %d | lost %d | recovered in %s",
		t.Name(), injected, c.sent, c.stored, c.duplicated, c.lost, recovery.Round(100*time.Millisecond))
}

// asHub is the proxy as agents address it.
func (p *recordingProxy) asHub() *fleetHub {
	return &fleetHub{t: p.t, addr: strings.TrimPrefix(p.srv.URL, "http://")}
}

// startFleet starts PostgreSQL, a hub and n agents (named agent-1 ...) sending through a
// recording proxy.
func startFleet(t *testing.T, n int, extra ...string) (*ownPostgres, *fleetHub, *pgxpool.Pool, *recordingProxy, map[string]*proc) {
	t.Helper()
	pg := startOwnPostgres(t)
	hub := newFleetHub(t, pg)
	pool, err := pgxpool.New(context.Background(), pg.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rp := newRecordingProxy(t, hub.url())
	target := rp.asHub()
	dir := t.TempDir()
	agents := map[string]*proc{}
	var hosts []string
	for i := range n {
		name := fmt.Sprintf("agent-%d", i+1)
		token := hub.enrol(name)
		rp.enrolled(name, token)
		agents[name] = startAgent(t, target, name, token, filepath.Join(dir, name), extra...)
		hosts = append(hosts, name)
	}
	eventually(t, "every agent's samples stored", 2*time.Minute, func() bool {
		for _, h := range hosts {
			if len(stored(t, pool, h)) < 2 {
				return false
			}
		}
		return true
	})
	return pg, hub, pool, rp, agents
}

func hostNames(agents map[string]*proc) []string {
	var out []string
	for n := range agents {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// metric reads one sample's value from the hub's /metrics (0 when absent).
func metric(t *testing.T, hub *fleetHub, line string) float64 {
	t.Helper()
	res, err := http.Get(hub.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), line+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func stopAll(t *testing.T, agents map[string]*proc) {
	t.Helper()
	for name, a := range agents {
		a.stop()
		if !strings.Contains(a.logs(), "infradash agent stopped") {
			t.Errorf("%s did not stop cleanly:\n%s", name, a.logs())
		}
		if strings.Contains(a.logs(), "cannot release the start-up memory") {
			t.Errorf("%s kept the pages only its start needed:\n%s", name, a.logs())
		}
	}
}

// PostgreSQL stopped for FLEET_OUTAGE while 10 agents post through a recording proxy: the hub
// answers 503 meanwhile and acknowledges nothing it has not committed; afterwards every sample
// sent is stored exactly once and none collected is missing.
func TestDrillDatabaseStoppedWhileTenAgentsPost(t *testing.T) {
	t.Parallel() // its own PostgreSQL, hub and agents; most of its time is waiting out an outage
	outage := fleetOutage(t)
	pg, hub, pool, rp, agents := startFleet(t, 10)
	hosts := hostNames(agents)
	pg.stop(t)
	time.Sleep(outage)
	pg.start(t)
	back := time.Now()
	eventually(t, "every agent caught up after the outage", 3*time.Minute, caughtUp(t, pool, hosts...))
	recovery := time.Since(back)
	stopAll(t, agents)
	resent := metric(t, hub, `infradash_ingest_samples_total{result="duplicate"}`)

	sent, unavailable := rp.checkAcknowledged(t, pool)
	if unavailable == 0 {
		t.Errorf("no ingest was answered 503 while PostgreSQL was stopped for %s", outage)
	}
	var total drillCount
	for _, h := range hosts {
		total = total.add(countSamples(t, pool, h, sent[h], 0))
	}
	total.duplicated = int(resent)
	logDrill(t, fmt.Sprintf("PostgreSQL stopped for %s, 10 agents posting (%d answers 503)", outage, unavailable), total, recovery)
}

// The hub killed with kill -9 while PostgreSQL is down and agents post: once both are back,
// nothing is lost: the agents' spools held their samples, and the hub's own spool
// (AGENT_SPOOL_DIR) held the hub's host's samples taken before it died.
func TestDrillHubKilledWhileTheDatabaseIsDown(t *testing.T) {
	t.Parallel() // its own PostgreSQL, hub and agents; most of its time is waiting out an outage
	outage := fleetOutage(t)
	pg, hub, pool, rp, agents := startFleet(t, 3)
	hosts := hostNames(agents)
	eventually(t, "the hub's own samples stored", time.Minute, func() bool { return len(stored(t, pool, "hub")) >= 2 })
	pg.stop(t)
	down := time.Now()
	time.Sleep(outage / 2)
	hub.proc.kill()
	killed := time.Now()
	time.Sleep(outage / 2)
	pg.start(t)
	hub.start()
	back := time.Now()
	eventually(t, "every agent and the hub's own host caught up", 3*time.Minute, caughtUp(t, pool, append(hosts, "hub")...))
	recovery := time.Since(back)
	stopAll(t, agents)

	if !strings.Contains(hub.proc.logs(), "samples from before the last stop wait in the spool") {
		t.Errorf("the restarted hub did not find its own samples in its spool:\n%s", hub.proc.logs())
	}
	// The hub's host has no samples while the hub was dead; those taken while PostgreSQL was
	// away, before the kill, came from its spool.
	hubTimes := stored(t, pool, "hub")
	held := 0
	for _, at := range hubTimes {
		if at.After(down) && at.Before(killed) {
			held++
		}
	}
	if held < int((killed.Sub(down)-2*time.Second)/interval) {
		t.Errorf("%d of the hub's own samples from the %s between PostgreSQL stopping and the kill were stored; its spool should have held them all",
			held, killed.Sub(down).Round(time.Second))
	}
	sent, _ := rp.checkAcknowledged(t, pool)
	var total drillCount
	for _, h := range hosts {
		total = total.add(countSamples(t, pool, h, sent[h], 0))
	}
	total = total.add(countSamples(t, pool, "hub", nil, 0, [2]time.Time{killed.Add(-interval), back.Add(5 * time.Second)}))
	logDrill(t, fmt.Sprintf("PostgreSQL stopped, the hub killed with kill -9 %s later, both back after %s; 3 agents and the hub's own host", outage/2, outage), total, recovery)
}

// An agent killed with kill -9 in the middle of a spool write: the newest segment ends in a
// torn record (the drill cuts its last bytes, which is what a write cut short leaves). The agent
// starts again, cuts the torn record with one log line, and sends the rest.
func TestDrillAgentKilledMidWriteSkipsTheTornRecord(t *testing.T) {
	t.Parallel() // its own PostgreSQL, hub and agents; most of its time is waiting out an outage
	_, hub, pool, rp, agents := startFleet(t, 1)
	spoolDir := agentSpool(t, agents["agent-1"])
	hub.proc.stop() // the samples stay in the spool
	time.Sleep(5 * time.Second)
	agents["agent-1"].kill()
	killed := time.Now()
	seg := newestSegment(t, spoolDir)
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, fi.Size()-7); err != nil {
		t.Fatal(err)
	}
	token := agentToken(agents["agent-1"])
	agents["agent-1"] = startAgent(t, rp.asHub(), "agent-1", token, spoolDir)
	restarted := time.Now()
	hub.start()
	back := time.Now()
	eventually(t, "the agent's spooled samples stored", 2*time.Minute, caughtUp(t, pool, "agent-1"))
	recovery := time.Since(back)
	stopAll(t, agents)
	log := agents["agent-1"].logs()
	if n := strings.Count(log, "spool: cut a torn record"); n != 1 {
		t.Errorf("the restarted agent logged the torn record %d times, want once:\n%s", n, log)
	}
	// The torn record was the last sample before the kill: one interval more is missing than
	// the time the agent was dead.
	sent, _ := rp.checkAcknowledged(t, pool)
	c := countSamples(t, pool, "agent-1", sent["agent-1"], 0, [2]time.Time{killed.Add(-2 * interval), restarted.Add(3 * time.Second)})
	times := stored(t, pool, "agent-1")
	before := 0
	for _, at := range times {
		if at.After(killed.Add(-5*time.Second)) && at.Before(killed.Add(-2*interval)) {
			before++
		}
	}
	if before < 2 {
		t.Errorf("only %d samples of the seconds before the kill were stored; the spool held them", before)
	}
	c.lost++ // the torn record, never sent
	c.sent++
	logDrill(t, "agent killed with kill -9 while the hub was away, its newest spool record torn", c, recovery)
}

// agentSpool is the AGENT_SPOOL_DIR an agent process was started with.
func agentSpool(t *testing.T, p *proc) string {
	for _, kv := range p.cmd.Env {
		if v, ok := strings.CutPrefix(kv, "AGENT_SPOOL_DIR="); ok {
			return v
		}
	}
	t.Fatal("the agent has no AGENT_SPOOL_DIR")
	return ""
}

func agentToken(p *proc) string {
	for _, kv := range p.cmd.Env {
		if v, ok := strings.CutPrefix(kv, "AGENT_TOKEN="); ok {
			return v
		}
	}
	return ""
}

func newestSegment(t *testing.T, dir string) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segment in %s (%v)", dir, err)
	}
	slices.Sort(segs)
	return segs[len(segs)-1]
}

// startAgentOnTmpfs runs an agent whose spool folder is a tmpfs of size, mounted in a mount
// namespace of the agent's own (so nothing outlives it): a real disk that fills, or that is
// remounted read-only.
func startAgentOnTmpfs(t *testing.T, h *fleetHub, name, token, dir, size string, readOnly bool, extra ...string) *proc {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		args = append([]string{"--user", "--map-root-user"}, args...)
	}
	script := `mount -t tmpfs -o size="$2" tmpfs "$1" && exec "$0" agent`
	if readOnly {
		// Linux refuses to make a file system read-only while a file on it is open for writing,
		// as the agent's newest segment is: the folder is read-only before the agent starts.
		script = `mount -t tmpfs -o size="$2" tmpfs "$1" && mount -o remount,ro,size="$2" "$1" && exec "$0" agent`
	}
	env := append([]string{"LOG_FORMAT=json", "COLLECT_INTERVAL=1s", "HUB_URL=" + h.url(), "AGENT_TOKEN=" + token, "AGENT_SPOOL_DIR=" + dir}, extra...)
	p := &proc{t: t, name: "agent " + name, done: make(chan struct{})}
	p.cmd = exec.Command("unshare", append(args, "sh", "-c", script, buildBinary(t), dir, size)...)
	p.cmd.Dir = t.TempDir()
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + p.cmd.Dir}, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s's log:\n%s", p.name, p.logs())
		}
	})
	eventually(t, name+" running on its tmpfs", 30*time.Second, func() bool { return strings.Contains(p.logs(), "agent: spool opened") })
	return p
}

// remountWritable makes an agent's read-only spool tmpfs writable, inside the agent's mount
// namespace.
func remountWritable(t *testing.T, p *proc, dir, size string) {
	t.Helper()
	opts := "remount,rw,size=" + size
	if out, err := exec.Command("nsenter", "-t", strconv.Itoa(p.cmd.Process.Pid), "-m", "mount", "-o", opts, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s (%s) in the agent's namespace: %v\n%s", dir, opts, err, out)
	}
}

// The agent's spool on a disk that fills (a 160 KiB tmpfs, far below AGENT_SPOOL_MAX_BYTES)
// while the hub is away: the oldest samples are dropped and counted, the agent keeps running and
// says why once, and the newest are stored when the hub is back. Then an agent whose folder is
// read-only: it keeps running, says so once, and sends what it collects from memory.
func TestDrillAgentSpoolDiskFullThenReadOnly(t *testing.T) {
	t.Parallel() // its own PostgreSQL, hub and agents; most of its time is waiting out an outage
	pg := startOwnPostgres(t)
	hub := newFleetHub(t, pg)
	pool, err := pgxpool.New(context.Background(), pg.url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rp := newRecordingProxy(t, hub.url())
	token := hub.enrol("small-1")
	rp.enrolled("small-1", token)
	dir := filepath.Join(t.TempDir(), "spool")
	const size = "160k"
	// A 1 MiB bound makes 64 KiB segments, so the full disk holds two and a half of them.
	a := startAgentOnTmpfs(t, rp.asHub(), "small-1", token, dir, size, false, "AGENT_SPOOL_MAX_BYTES=1MiB")
	eventually(t, "small-1's samples stored", time.Minute, func() bool { return len(stored(t, pool, "small-1")) >= 2 })

	hub.proc.stop()
	away := time.Now()
	eventually(t, "the agent says its disk is full and drops the oldest", 3*time.Minute, func() bool {
		return strings.Contains(a.logs(), "spool: the disk is full, dropping the oldest records")
	})
	time.Sleep(10 * time.Second) // more drops, still said once
	hub.start()
	back := time.Now()
	eventually(t, "the newest samples stored once the hub is back", 2*time.Minute, caughtUp(t, pool, "small-1"))
	recovery := time.Since(back)
	// The agent logs its recovery after the acknowledgement that made the rows visible.
	eventually(t, "the agent says the hub takes samples again", 30*time.Second, func() bool {
		return strings.Contains(a.logs(), "the hub takes samples again")
	})
	log := a.logs()
	if n := strings.Count(log, "spool: the disk is full, dropping the oldest records"); n != 1 {
		t.Errorf("the full disk was said %d times, want once:\n%s", n, log)
	}
	dropped := droppedWhileFull(log)
	if dropped == 0 {
		t.Errorf("the agent did not count the samples it dropped (dropped_while_full):\n%s", log)
	}
	times := stored(t, pool, "small-1")
	firstAfter := time.Time{}
	for _, at := range times {
		if at.After(away) {
			firstAfter = at
			break
		}
	}
	if firstAfter.IsZero() || firstAfter.Sub(away) < 5*time.Second {
		t.Errorf("the first sample stored from the outage is of %s, %s after the hub went away; the oldest should have been dropped",
			firstAfter.Format(time.TimeOnly), firstAfter.Sub(away).Round(time.Second))
	}
	sent, _ := rp.checkAcknowledged(t, pool)
	// The agent tried to send the outage's oldest samples to the absent hub before its full disk
	// dropped them: they are the ones it counted, not samples the hub lost.
	for at := range sent["small-1"] {
		if !at.Before(away) && at.Before(firstAfter) {
			delete(sent["small-1"], at)
		}
	}
	full := countSamples(t, pool, "small-1", sent["small-1"], 0, [2]time.Time{away, firstAfter})
	full.lost, full.sent = full.lost+dropped, full.sent+dropped // dropped on the agent, never sent
	if !strings.Contains(log, "agent: spool opened") || strings.Contains(log, "agent: cannot write the spool") {
		t.Errorf("with older segments to drop, the full disk should never have refused a sample:\n%s", log)
	}
	logDrill(t, fmt.Sprintf("agent's spool on a %s tmpfs, hub away %s: disk full", size, back.Sub(away).Round(time.Second)), full, recovery)

	a.stop()

	// Read-only: a second agent whose spool folder cannot be written. Its samples go to memory
	// and on to the hub; it says so once; once the folder is writable it spools again.
	roToken := hub.enrol("ro-1")
	rp.enrolled("ro-1", roToken)
	ro := startAgentOnTmpfs(t, rp.asHub(), "ro-1", roToken, filepath.Join(t.TempDir(), "spool"), size, true)
	readOnly := time.Now()
	eventually(t, "the agent says it cannot write its spool", time.Minute, func() bool {
		return strings.Contains(ro.logs(), "agent: cannot write the spool") && strings.Contains(ro.logs(), "read-only file system")
	})
	eventually(t, "samples taken while the spool is read-only stored", time.Minute, func() bool { return len(stored(t, pool, "ro-1")) >= 10 })
	remountWritable(t, ro, agentSpool(t, ro), size)
	writable := time.Now()
	eventually(t, "the agent says its spool works again", time.Minute, func() bool { return strings.Contains(ro.logs(), "agent: the spool works again") })
	eventually(t, "samples stored after the spool works again", time.Minute, caughtUp(t, pool, "ro-1"))
	if n := strings.Count(ro.logs(), "agent: cannot write the spool"); n != 1 {
		t.Errorf("the read-only spool was said %d times, want once:\n%s", n, ro.logs())
	}
	ro.stop()
	sent, _ = rp.checkAcknowledged(t, pool)
	c := countSamples(t, pool, "ro-1", sent["ro-1"], 0)
	logDrill(t, fmt.Sprintf("an agent's spool folder read-only for its first %s, hub up", writable.Sub(readOnly).Round(time.Second)), c, 0)
}

// droppedWhileFull reads the agent's count of samples its spool dropped, from its log line
// "the hub takes samples again".
func droppedWhileFull(log string) int {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "the hub takes samples again") {
			continue
		}
		var l struct {
			Dropped int `json:"dropped_while_full"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Dropped > 0 {
			return l.Dropped
		}
	}
	return 0
}

// setReadOnly turns default_transaction_read_only on or off for the hub's database and ends
// the hub's connections, so that its new ones take the setting (as a failover to a standby, or
// an operator's ALTER DATABASE and a reconnect, do).
func setReadOnly(t *testing.T, pool *pgxpool.Pool, on bool) {
	t.Helper()
	stmt := `ALTER DATABASE infradash SET default_transaction_read_only = on`
	if !on {
		stmt = `ALTER DATABASE infradash RESET default_transaction_read_only`
	}
	ctx := context.Background()
	if err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadWrite}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'infradash'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	pool.Reset()
}

// PostgreSQL refusing writes (default_transaction_read_only, as after a failover to a standby)
// while agents post: ingest answers 503 with Retry-After and acknowledges nothing, /readyz says
// why, the hub logs no error; once writes are taken again every sample is stored once.
func TestDrillDatabaseRefusesWrites(t *testing.T) {
	t.Parallel() // its own PostgreSQL, hub and agents; most of its time is waiting out an outage
	outage := fleetOutage(t)
	_, hub, pool, rp, agents := startFleet(t, 3)
	hosts := hostNames(agents)
	setReadOnly(t, pool, true)
	refused := time.Now()
	var why string
	eventually(t, "/readyz says the database is read-only", time.Minute, func() bool {
		res, err := http.Get(hub.url() + "/readyz")
		if err != nil {
			return false
		}
		defer res.Body.Close()
		var r struct{ Checks map[string]string }
		_ = json.NewDecoder(res.Body).Decode(&r)
		why = r.Checks["writes"]
		return res.StatusCode == http.StatusServiceUnavailable && strings.Contains(why, "read-only")
	})
	time.Sleep(max(0, outage-time.Since(refused)))
	setReadOnly(t, pool, false)
	back := time.Now()
	eventually(t, "every agent caught up once writes are taken again", 3*time.Minute, caughtUp(t, pool, append(hosts, "hub")...))
	recovery := time.Since(back)
	stopAll(t, agents)

	sent, unavailable := rp.checkAcknowledged(t, pool)
	if unavailable == 0 {
		t.Errorf("no ingest was answered 503 while the database refused writes")
	}
	for _, r := range rp.records() {
		if r.status >= 500 && r.status != http.StatusServiceUnavailable {
			t.Errorf("%s: ingest answered %d while the database refused writes, want 503", r.host, r.status)
		}
		if r.status == http.StatusOK && len(r.rejected) > 0 {
			t.Errorf("%s: %d samples rejected for good; a read-only database is not their fault", r.host, len(r.rejected))
		}
	}
	if strings.Contains(hub.proc.logs(), `"level":"ERROR"`) {
		t.Errorf("the hub logged errors for a read-only database (an outage, a warning):\n%s", hub.proc.logs())
	}
	var total drillCount
	for _, h := range hosts {
		total = total.add(countSamples(t, pool, h, sent[h], 0))
	}
	total.duplicated = int(metric(t, hub, `infradash_ingest_samples_total{result="duplicate"}`))
	logDrill(t, fmt.Sprintf("default_transaction_read_only for %s, 3 agents (%d answers 503; /readyz: %q)", back.Sub(refused).Round(time.Second), unavailable, why), total, recovery)
}

// A slow client (a request header trickled one byte a second) and 500 idle keep-alive
// connections do not starve the others: an agent's samples and other clients' requests go on
// being answered, and the server's timeouts close the slow connection.
func TestDrillSlowClientAndIdleConnections(t *testing.T) {
	t.Parallel() // its own PostgreSQL, hub and agents; most of its time is waiting out an outage
	_, hub, pool, rp, agents := startFleet(t, 1)
	before := metric(t, hub, "go_goroutines")
	rssBefore := metric(t, hub, "process_resident_memory_bytes")
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 500 {
		c, err := net.Dial("tcp", hub.addr)
		if err != nil {
			t.Fatalf("connection %d: %v", len(idle)+1, err)
		}
		idle = append(idle, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", hub.addr)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("idle connection %d: %v", len(idle), err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	slow, err := net.Dial("tcp", hub.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slowClosed := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		req := fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: %s\r\nX-Slow: %s\r\n\r\n", hub.addr, strings.Repeat("a", 120))
		for i := range len(req) {
			if _, err := slow.Write([]byte{req[i]}); err != nil {
				slowClosed <- time.Since(start)
				return
			}
			time.Sleep(time.Second)
		}
		slowClosed <- 0
	}()
	during := metric(t, hub, "go_goroutines")
	rssDuring := metric(t, hub, "process_resident_memory_bytes")
	start := time.Now()
	for i := range 50 {
		res, err := http.Get(hub.url() + "/healthz")
		if err != nil {
			t.Fatalf("request %d while 500 connections idle and one trickles: %v", i, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("request %d: %d", i, res.StatusCode)
		}
	}
	served := time.Since(start)
	select {
	case d := <-slowClosed:
		if d == 0 {
			t.Error("the server read a whole request header trickled over two minutes; ReadHeaderTimeout should have closed it")
		}
		t.Logf("the slow client was cut after %s", d.Round(time.Second))
	case <-time.After(2 * time.Minute):
		t.Error("the slow client's connection was still open after two minutes")
	}
	eventually(t, "the agent's samples still stored", time.Minute, caughtUp(t, pool, "agent-1"))
	for _, c := range idle {
		c.Close()
	}
	idle = nil
	eventually(t, "the goroutines of the closed connections end", time.Minute, func() bool { return metric(t, hub, "go_goroutines") < before+20 })
	stopAll(t, agents)
	sent, _ := rp.checkAcknowledged(t, pool)
	c := countSamples(t, pool, "agent-1", sent["agent-1"], 0)
	logDrill(t, fmt.Sprintf("500 idle keep-alive connections (%.0f goroutines to %.0f, RSS %+.1f MB) and a client sending a byte a second; 50 requests served in %s",
		before, during, (rssDuring-rssBefore)/1e6, served.Round(time.Millisecond)), c, 0)
}
