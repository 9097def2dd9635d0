package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/agent"
	"github.com/infradash/infradash/devdb"
	"github.com/infradash/infradash/sample"
)

// fleetOutage is how long the drills keep the hub, then PostgreSQL, away. The agents back off up
// to a minute, so longer outages mostly test patience; FLEET_OUTAGE=60s runs the length.
func fleetOutage(t *testing.T) time.Duration {
	if v := os.Getenv("FLEET_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("FLEET_OUTAGE: %v", err)
		}
		return d
	}
	return 12 * time.Second
}

// ownPostgres is a PostgreSQL of this test's own, which it may stop and start.
type ownPostgres struct {
	dir string
	srv *devdb.Server
	url string
}

func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	dir, err := os.MkdirTemp("", "infradash-pg-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755) // the server runs as the postgres user when the tests run as root
	p := &ownPostgres{dir: filepath.Join(dir, "pg")}
	p.start(t)
	if err := p.srv.CreateDatabase(context.Background(), "infradash"); err != nil {
		t.Fatal(err)
	}
	p.url = p.srv.URL("infradash")
	t.Cleanup(func() {
		_ = p.srv.Stop()
		os.RemoveAll(dir)
	})
	return p
}

func (p *ownPostgres) start(t *testing.T) {
	t.Helper()
	srv, err := devdb.Start(context.Background(), p.dir, devdb.Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	p.srv = srv
}

func (p *ownPostgres) stop(t *testing.T) {
	t.Helper()
	if err := p.srv.Stop(); err != nil {
		t.Fatal(err)
	}
}

// safeBuffer is a buffer a running process writes while a test reads it.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is the built binary running as a hub or an agent, its log kept.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  safeBuffer
	done chan struct{}
}

func (p *proc) logs() string { return p.log.String() }

func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{})}
	p.cmd = binary(t, buildBinary(t), append([]string{"LOG_FORMAT=json", "COLLECT_INTERVAL=1s"}, env...), args...)
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
	return p
}

// stop ends the process as systemd does (SIGTERM) and waits; kill ends it with SIGKILL.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		p.t.Fatalf("%s did not stop within 40 s of SIGTERM", p.name)
	}
}

func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// eventually fails the test with what when cond has not held within d.
func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fleetHub is `infradash serve` on a fixed address (agents find it again after a restart).
type fleetHub struct {
	t    *testing.T
	pg   *ownPostgres
	addr string
	env  []string
	proc *proc
}

func newFleetHub(t *testing.T, pg *ownPostgres) *fleetHub {
	h := &fleetHub{t: t, pg: pg, addr: freeAddr(t)}
	h.env = []string{"DATABASE_URL=" + pg.url, "HTTP_ADDR=" + h.addr, "JOBS_ENABLED=false", "INFRADASH_HOST=hub",
		"HOST_DOWN_AFTER=5s", "COLLECT_INTERVAL=1s", "AGENT_SPOOL_DIR=" + filepath.Join(t.TempDir(), "hub-spool"),
		"ADMIN_EMAIL=admin@example.com", "ADMIN_PASSWORD=correct horse battery staple"}
	h.start()
	return h
}

func (h *fleetHub) url() string { return "http://" + h.addr }

func (h *fleetHub) start() {
	h.t.Helper()
	h.proc = startProc(h.t, "hub", h.env, "serve")
	eventually(h.t, "the hub answers /healthz", 2*time.Minute, func() bool {
		res, err := http.Get(h.url() + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
}

// cli runs a command of the binary against the hub's database.
func (h *fleetHub) cli(args ...string) (string, error) {
	h.t.Helper()
	cmd := binary(h.t, buildBinary(h.t), append([]string{"DATABASE_URL=" + h.pg.url}, h.env...), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("infradash %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func (h *fleetHub) enrol(name string) string {
	h.t.Helper()
	out, err := h.cli("host", "add", name, "--label", "role=test", "--quiet")
	if err != nil {
		h.t.Fatal(err)
	}
	token := strings.TrimSpace(out)
	if !strings.HasPrefix(token, "idh_") || strings.Contains(token, "\n") {
		h.t.Fatalf("host add --quiet printed %q, want the token alone", out)
	}
	return token
}

func startAgent(t *testing.T, h *fleetHub, name, token, spoolDir string, extra ...string) *proc {
	t.Helper()
	env := append([]string{"HUB_URL=" + h.url(), "AGENT_TOKEN=" + token, "AGENT_SPOOL_DIR=" + spoolDir}, extra...)
	return startProc(t, "agent "+name, env, "agent")
}

// stored reads one host's sample times from the history, oldest first.
func stored(t *testing.T, pool *pgxpool.Pool, host string) []time.Time {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT collected_at FROM system_metrics_history WHERE host = $1 ORDER BY collected_at`, host)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		out = append(out, at)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// gaps lists the holes longer than most in a host's stored samples, except those overlapping
// allowed (the moments an agent was down).
func gaps(times []time.Time, most time.Duration, allowed ...[2]time.Time) []string {
	var out []string
next:
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d > most {
			for _, a := range allowed {
				if times[i-1].Before(a[1]) && times[i].After(a[0]) {
					continue next
				}
			}
			out = append(out, fmt.Sprintf("%s after %s", d.Round(time.Millisecond), times[i-1].Format("15:04:05.000")))
		}
	}
	return out
}

func caughtUp(t *testing.T, pool *pgxpool.Pool, hosts ...string) func() bool {
	return func() bool {
		for _, h := range hosts {
			times := stored(t, pool, h)
			if len(times) == 0 || time.Since(times[len(times)-1]) > 3*time.Second {
				return false
			}
		}
		return true
	}
}

// Issue 11's drill with real processes: a hub and two agents; the hub stopped, then PostgreSQL
// stopped, each for fleetOutage; an agent killed with kill -9 while the hub is away; a third
// agent with a tiny spool. Afterwards every sample of both agents is stored, none twice, and the
// full spool dropped its oldest samples and said so.
func TestFleetLosesNothingThroughHubAndDatabaseOutages(t *testing.T) {
	t.Parallel() // its own PostgreSQL, hub and agents; most of its time is waiting out an outage
	outage := fleetOutage(t)
	pg := startOwnPostgres(t)
	hub := newFleetHub(t, pg)
	pool, err := pgxpool.New(context.Background(), pg.url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	web, db, full := hub.enrol("web-1"), hub.enrol("db-1"), hub.enrol("full-1")
	dir := t.TempDir()
	webSpool := filepath.Join(dir, "web-1")
	agents := map[string]*proc{
		"web-1": startAgent(t, hub, "web-1", web, webSpool),
		"db-1":  startAgent(t, hub, "db-1", db, filepath.Join(dir, "db-1")),
	}
	eventually(t, "both agents' samples stored under their hosts", 2*time.Minute, func() bool {
		return len(stored(t, pool, "web-1")) >= 3 && len(stored(t, pool, "db-1")) >= 3
	})

	// The hub goes away. The agents keep collecting into their spools; web-1's agent is killed
	// with kill -9 halfway and started again on the same spool.
	hub.proc.stop()
	agents["full-1"] = startAgent(t, hub, "full-1", full, filepath.Join(dir, "full-1"), "AGENT_SPOOL_MAX_BYTES=64KiB")
	fullStarted := time.Now()
	time.Sleep(outage / 2)
	killedAt := time.Now()
	agents["web-1"].kill()
	agents["web-1"] = startAgent(t, hub, "web-1", web, webSpool)
	restartedAt := time.Now()
	time.Sleep(outage / 2)
	if outage < 20*time.Second {
		time.Sleep(20*time.Second - outage) // long enough for full-1's 64 KiB spool to overflow
	}
	hub.start()
	back := time.Now()
	eventually(t, "the agents' spooled samples stored after the hub came back", 2*time.Minute, caughtUp(t, pool, "web-1", "db-1"))
	t.Logf("hub away %s: the agents caught up %s after it was back", outage, time.Since(back).Round(100*time.Millisecond))

	// PostgreSQL goes away: the hub answers 503 with Retry-After and acknowledges nothing.
	pg.stop(t)
	body, _ := agent.Encode(agent.Outgoing{Records: [][]byte{[]byte(`{"collected_at":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","system":{}}`)},
		SentAt: time.Now()})
	req, _ := http.NewRequest("POST", hub.url()+"/api/v1/ingest", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+db)
	req.Header.Set("Content-Encoding", "gzip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("ingest with the database down: %d, Retry-After %q; want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	time.Sleep(outage)
	pg.start(t)
	back = time.Now()
	eventually(t, "the samples taken while PostgreSQL was away stored", 3*time.Minute, caughtUp(t, pool, "web-1", "db-1", "full-1"))
	t.Logf("PostgreSQL away %s: the agents caught up %s after it was back", outage, time.Since(back).Round(100*time.Millisecond))

	stopping := time.Now()
	for name, a := range agents {
		a.stop()
		if !strings.Contains(a.logs(), "infradash agent stopped") {
			t.Errorf("%s did not stop cleanly:\n%s", name, a.logs())
		}
	}
	// Every sample of both agents arrived: no hole longer than two intervals (web-1 may miss the
	// second or two its agent was dead), none twice (the per-host unique key, and the count).
	for host, allowed := range map[string][][2]time.Time{"web-1": {{killedAt.Add(-time.Second), restartedAt.Add(3 * time.Second)}}, "db-1": nil} {
		times := stored(t, pool, host)
		if g := gaps(times, 2500*time.Millisecond, allowed...); len(g) > 0 {
			t.Errorf("%s: samples missing: %d holes (%s) among %d stored", host, len(g), strings.Join(g, "; "), len(times))
		}
		var n, distinct int
		if err := pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT collected_at) FROM system_metrics_history WHERE host = $1`, host).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"process_metrics_history", "infrastructure_health"} {
			var m int
			if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table+` WHERE host = $1`, host).Scan(&m); err != nil {
				t.Fatal(err)
			}
			if m != n {
				t.Errorf("%s: %d rows in %s, %d in system_metrics_history", host, m, table, n)
			}
		}
		if n != distinct || n < int(3*outage/time.Second) {
			t.Errorf("%s: %d rows, %d distinct instants; want them equal and at least %d", host, n, distinct, int(3*outage/time.Second))
		}
	}
	// The killed agent started again on its spool and sent what it had kept: samples from the
	// minute before the kill, while the hub was down, are stored.
	if !strings.Contains(agents["web-1"].logs(), "agent: spool opened") {
		t.Errorf("the restarted agent did not reopen its spool:\n%s", agents["web-1"].logs())
	}
	// full-1's spool (64 KiB) could not hold the outage: the oldest went, counted and said once
	// per outage (two outages).
	fullLog := agents["full-1"].logs()
	if n := strings.Count(fullLog, "spool: full, dropping the oldest records"); n < 1 || n > 2 {
		t.Errorf("full-1 logged the dropping %d times, want once per outage:\n%s", n, fullLog)
	}
	if times := stored(t, pool, "full-1"); len(times) == 0 || times[0].Sub(fullStarted) < 5*time.Second {
		rows, _ := pool.Query(context.Background(), `SELECT host, count(*), min(collected_at), max(collected_at) FROM system_metrics_history GROUP BY host`)
		for rows.Next() {
			var h string
			var n int
			var a, b time.Time
			_ = rows.Scan(&h, &n, &a, &b)
			t.Logf("stored: %s %d %s..%s", h, n, a, b)
		}
		rows.Close()
		t.Errorf("full-1's oldest samples were kept (first stored %v, agent started %v); the full spool must drop the oldest", times, fullStarted)
	} else if stopping.Sub(times[len(times)-1]) > 5*time.Second {
		t.Errorf("full-1's newest samples are missing: last stored %s", times[len(times)-1])
	}
}

// Issue 11's token rules, against a running hub: rotation and removal refuse the old token at
// once; an agent token reads nothing and can only ever write its own host.
func TestAgentTokensAreRefusedAtOnceAndOnlyWriteTheirHost(t *testing.T) {
	pg := startOwnPostgres(t)
	hub := newFleetHub(t, pg)
	pool, err := pgxpool.New(context.Background(), pg.url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	web, db := hub.enrol("web-1"), hub.enrol("db-1")

	post := func(token string, body any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", hub.url()+"/api/v1/ingest", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	at := time.Now().UTC().Add(-time.Second)
	batch := func(host string, at time.Time) sample.Batch {
		return sample.Batch{Version: 1, SentAt: time.Now(), Samples: []sample.Snapshot{{CollectedAt: at, Host: host}}}
	}
	// The body names db-1; the token is web-1's: the sample is web-1's.
	if code, out := post(web, batch("db-1", at)); code != 200 {
		t.Fatalf("ingest: %d %v", code, out)
	}
	if n := len(stored(t, pool, "web-1")); n != 1 {
		t.Errorf("web-1 has %d samples, want the one sent", n)
	}
	if n := len(stored(t, pool, "db-1")); n != 0 {
		t.Errorf("db-1 has %d samples; a web-1 token wrote another host", n)
	}
	// An agent token reads nothing.
	for _, path := range []string{"/api/v1/observability/infrastructure/system", "/api/v1/auth/me", "/api/v1/users"} {
		req, _ := http.NewRequest("GET", hub.url()+path, nil)
		req.Header.Set("Authorization", "Bearer "+web)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s with an agent token: %d, want 403", path, res.StatusCode)
		}
	}
	// A user's token may not ingest.
	out, err := hub.cli("token", "create", "--email", "admin@example.com", "--name", "script")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := post(strings.TrimSpace(out), batch("", at.Add(time.Second))); code != http.StatusForbidden {
		t.Errorf("ingest with a user token: %d, want 403", code)
	}
	// Rotation: the old token is refused at once, the new one works.
	out, err = hub.cli("host", "rotate", "web-1", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := post(web, batch("", at.Add(2*time.Second))); code != http.StatusUnauthorized {
		t.Errorf("ingest with web-1's rotated token: %d %v, want 401", code, body)
	}
	if code, _ := post(strings.TrimSpace(out), batch("", at.Add(3*time.Second))); code != 200 {
		t.Errorf("ingest with web-1's new token: %d, want 200", code)
	}
	// Removal: refused at once, and the host is gone from the list.
	if _, err := hub.cli("host", "remove", "db-1"); err != nil {
		t.Fatal(err)
	}
	if code, _ := post(db, batch("", at)); code != http.StatusUnauthorized {
		t.Errorf("ingest with removed db-1's token: %d, want 401", code)
	}
	list, err := hub.cli("host", "list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(list, "db-1") || !strings.Contains(list, "web-1") || !strings.Contains(list, "hub") {
		t.Errorf("host list after removing db-1:\n%s", list)
	}
	// A check from an agent host says who it is.
	cmd := binary(t, buildBinary(t), []string{"HUB_URL=" + hub.url(), "AGENT_TOKEN=" + strings.TrimSpace(out)}, "agent", "--check")
	check, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(check), `as host "web-1"`) {
		t.Errorf("agent --check: %v\n%s", err, check)
	}
	cmd = binary(t, buildBinary(t), []string{"HUB_URL=" + hub.url(), "AGENT_TOKEN=" + web}, "agent", "--check")
	if check, err := cmd.CombinedOutput(); exitCode(t, err) != 1 || !strings.Contains(string(check), "refused the token") {
		t.Errorf("agent --check with a rotated token: %v\n%s", err, check)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, as a private CA would issue one.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string, der []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, der
}

// servedCertificate is the certificate the hub presents now.
func servedCertificate(t *testing.T, addr string) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

// serve speaks HTTPS with TLS_CERT_FILE and TLS_KEY_FILE, and takes a renewed certificate on
// SIGHUP; an agent trusts it through AGENT_CA_FILE, and without it says what is wrong.
func TestHubServesTLSAndReloadsItOnSIGHUP(t *testing.T) {
	pg := startOwnPostgres(t)
	dir := t.TempDir()
	certFile, keyFile, first := selfSigned(t, dir, "first")
	hub := &fleetHub{t: t, pg: pg, addr: freeAddr(t)}
	hub.env = []string{"DATABASE_URL=" + pg.url, "HTTP_ADDR=" + hub.addr, "JOBS_ENABLED=false", "INFRADASH_HOST=hub",
		"COLLECT_INTERVAL=1s", "AGENT_SPOOL_DIR=" + filepath.Join(dir, "hub-spool"), "TLS_CERT_FILE=" + certFile, "TLS_KEY_FILE=" + keyFile}
	hub.proc = startProc(t, "hub", hub.env, "serve")
	eventually(t, "the hub serves HTTPS", 2*time.Minute, func() bool {
		conn, err := tls.Dial("tcp", hub.addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	if !bytes.Equal(servedCertificate(t, hub.addr), first) {
		t.Fatal("the hub does not serve TLS_CERT_FILE")
	}
	// The container's HEALTHCHECK probes the same listener, now over TLS.
	if out, err := binary(t, buildBinary(t), []string{"HTTP_ADDR=" + hub.addr, "TLS_CERT_FILE=" + certFile, "TLS_KEY_FILE=" + keyFile},
		"healthcheck").CombinedOutput(); err != nil || !strings.Contains(string(out), "https://") {
		t.Errorf("healthcheck against the HTTPS hub: %v\n%s", err, out)
	}
	token := hub.enrol("web-1")
	hubURL := "https://" + hub.addr
	check := func(extra ...string) (string, int) {
		cmd := binary(t, buildBinary(t), append([]string{"HUB_URL=" + hubURL, "AGENT_TOKEN=" + token}, extra...), "agent", "--check")
		out, err := cmd.CombinedOutput()
		return string(out), exitCode(t, err)
	}
	if out, code := check(); code != 1 || !strings.Contains(out, "AGENT_CA_FILE") {
		t.Errorf("agent --check without the private CA: exit %d\n%s\nwant it to say the certificate is not trusted and name AGENT_CA_FILE", code, out)
	}
	if out, code := check("AGENT_CA_FILE=" + certFile); code != 0 {
		t.Errorf("agent --check with AGENT_CA_FILE: exit %d\n%s", code, out)
	}
	pool, err := pgxpool.New(context.Background(), pg.url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	startProc(t, "agent web-1", []string{"HUB_URL=" + hubURL, "AGENT_TOKEN=" + token, "AGENT_CA_FILE=" + certFile,
		"AGENT_SPOOL_DIR=" + filepath.Join(dir, "web-1")}, "agent")
	eventually(t, "web-1's samples stored over HTTPS", 2*time.Minute, func() bool { return len(stored(t, pool, "web-1")) >= 2 })

	// A renewed certificate replaces the files; SIGHUP makes the hub serve it.
	renewedCert, renewedKey, renewed := selfSigned(t, dir, "renewed")
	for from, to := range map[string]string{renewedCert: certFile, renewedKey: keyFile} {
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	if err := hub.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the renewed certificate served after SIGHUP", 2*time.Minute, func() bool {
		return bytes.Equal(servedCertificate(t, hub.addr), renewed)
	})
	// The hub logs the reload after it serves the new certificate.
	eventually(t, "a log line saying the certificate was reloaded", 30*time.Second, func() bool {
		return strings.Contains(hub.proc.logs(), "TLS certificate reloaded")
	})
}
