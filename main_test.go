package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/infradash/infradash/dbtest"
)

func TestMain(m *testing.M) {
	code := dbtest.Run(m)
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

const strongSecret = "9c1f4e7a2b8d5f3a6e0c9b2d7f4a1e8c5b3d6f9a2c7e0b4d8f1a5c3e6b9d2f7a"

// The binary the tests run, built by the first test that needs it into binDir (removed when the
// tests end): one build per test binary, not one per test.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// buildBinary compiles infradash as `make build` does, once for all the tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "infradash-bin-"); buildErr != nil {
			return
		}
		bin := filepath.Join(binDir, "infradash")
		out, err := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=9.9.9-test", "-o", bin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		binPath = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// binary runs the built program with exactly the given environment (nothing inherited from the
// developer's shell) in an empty folder, so no stray .env is read.
func binary(t *testing.T, bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir}, env...)
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	if !errors.As(err, &ee) {
		t.Fatalf("did not run: %v", err)
	}
	return ee.ExitCode()
}

func TestProductionRefusesWeakConfiguration(t *testing.T) {
	bin := buildBinary(t)
	weak := []string{"ENVIRONMENT=production", "SECRET_KEY=changeme", "DEBUG=true", "CORS_ORIGINS=*"}
	for _, cmd := range []string{"serve", "check-config"} {
		out, err := binary(t, bin, weak, cmd).CombinedOutput()
		if code := exitCode(t, err); code != 2 {
			t.Errorf("%s with weak production settings: exit %d, want 2\n%s", cmd, code, out)
		}
		for _, name := range []string{"SECRET_KEY:", "DATABASE_URL:", "DEBUG:", "CORS_ORIGINS:"} {
			if !strings.Contains(string(out), name) {
				t.Errorf("%s: the refusal does not name %s:\n%s", cmd, name, out)
			}
		}
		if strings.Contains(string(out), "infradash serving") {
			t.Errorf("%s started serving despite the refusal", cmd)
		}
	}
}

func TestCheckConfigExitCodes(t *testing.T) {
	bin := buildBinary(t)
	good := []string{"ENVIRONMENT=production", "SECRET_KEY=" + strongSecret, "DATABASE_URL=postgres://infradash@db/infradash"}
	out, err := binary(t, bin, good, "check-config").CombinedOutput()
	if code := exitCode(t, err); code != 0 || !strings.Contains(string(out), "configuration is valid: environment=production") {
		t.Errorf("good production configuration: exit %d\n%s", code, out)
	}
	out, err = binary(t, bin, []string{"COLLECT_INTERVAL=1ms"}, "check-config").CombinedOutput()
	if code := exitCode(t, err); code != 2 || !strings.Contains(string(out), "COLLECT_INTERVAL:") {
		t.Errorf("bad interval: exit %d\n%s", code, out)
	}
	// serve would refuse this DSN only after starting the database; check-config must say so first.
	out, err = binary(t, bin, append(good, "SENTRY_DSN=sentry.example.com/42"), "check-config").CombinedOutput()
	if code := exitCode(t, err); code != 2 || !strings.Contains(string(out), "SENTRY_DSN: is not a Sentry DSN") {
		t.Errorf("bad SENTRY_DSN: exit %d\n%s", code, out)
	}
	out, err = binary(t, bin, append(good, "SENTRY_DSN=https://abc123@o1.ingest.sentry.io/42"), "check-config").CombinedOutput()
	if code := exitCode(t, err); code != 0 {
		t.Errorf("good SENTRY_DSN refused: exit %d\n%s", code, out)
	}
	out, err = binary(t, bin, nil, "check-config", "--no-such-flag").CombinedOutput()
	if code := exitCode(t, err); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2\n%s", code, out)
	}
}

func TestProductionServeStartsAndStopsCleanly(t *testing.T) {
	bin := buildBinary(t)
	env := []string{
		"ENVIRONMENT=production",
		"SECRET_KEY=" + strongSecret,
		"DATABASE_URL=" + dbtest.URL(t),
		"HTTP_ADDR=127.0.0.1:0",
		"JOBS_ENABLED=false",
		// Production's default is /var/lib/infradash-agent, one per machine: two test runs side
		// by side (two clones) would find it locked by each other.
		"AGENT_SPOOL_DIR=" + filepath.Join(t.TempDir(), "spool"),
	}
	cmd := binary(t, bin, env, "serve")
	base, logs := startServing(t, cmd)

	for path, want := range map[string]int{"/healthz": 200, "/api/docs": 404} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("production %s: %d, want %d", path, res.StatusCode, want)
		}
	}
	// Once the first sample is in, /metrics has every family serve exposes without a job run.
	var metrics []byte
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, err = io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(metrics, []byte("\ninfradash_last_sample_timestamp_seconds{host=")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sample on /metrics after a minute:\n%s", metrics)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(metrics))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	if fams["infradash_http_requests_total"] == nil || fams["go_goroutines"] == nil {
		t.Errorf("/metrics lacks the HTTP counter or Go metrics; has %d families", len(fams))
	}
	promtoolCheck(t, metrics)

	// The container's HEALTHCHECK runs it with no flag: the URL comes from HTTP_ADDR alone.
	hc := binary(t, bin, []string{"HTTP_ADDR=" + strings.TrimPrefix(base, "http://"), "ENVIRONMENT=production"}, "healthcheck")
	if out, err := hc.CombinedOutput(); exitCode(t, err) != 0 {
		t.Errorf("healthcheck against a running server failed: %s", out)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if code := exitCode(t, err); code != 0 {
		t.Errorf("exit after SIGTERM: %d, want 0", code)
	}
	if l := <-logs; !strings.Contains(l, `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log:\n%s", l)
	}
	if hc := binary(t, bin, nil, "healthcheck", "--url", base+"/healthz"); exitCode(t, hc.Run()) != 1 {
		t.Error("healthcheck against a stopped server must exit 1")
	}
}

// promtoolCheck lints a /metrics answer as Prometheus does (`promtool check metrics`: types,
// names, units, help texts) and fails on any problem it names.
func promtoolCheck(t *testing.T, metrics []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run scripts/ensure-deps.sh promtool (make test does)")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(metrics)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics found problems in /metrics (%v):\n%s", err, out)
	}
}

// startServing starts a serve command and waits until it announces its URL; the channel gets
// its whole log once it exits.
func startServing(t *testing.T, cmd *exec.Cmd) (string, <-chan string) {
	t.Helper()
	// A pipe of our own, not StderrPipe: cmd.Wait closes that one as soon as the process exits,
	// and the reader lost the last lines (the "stopped" a test looks for) when it had not read
	// them yet. This one ends when the process has exited and everything it wrote is read.
	stderr, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		stderr.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); stderr.Close() })
	return waitServing(t, stderr)
}

func waitServing(t *testing.T, r io.Reader) (string, <-chan string) {
	t.Helper()
	found := make(chan string, 1)
	rest := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			var line struct{ Msg, URL string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "infradash serving" {
				found <- line.URL
			}
		}
		close(found)
		rest <- all.String()
	}()
	select {
	case u, ok := <-found:
		if !ok {
			t.Fatalf("serve exited before serving:\n%s", <-rest)
		}
		return u, rest
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not announce its URL within a minute")
		return "", nil
	}
}

// The quick start: with nothing configured, serve starts a private PostgreSQL in the working
// folder, and Ctrl-C stops it too; the next start reuses its data.
func TestDevelopmentServeStopsItsPrivateDatabase(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	// The private server runs as the postgres user, which must reach the working folder.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pidFile := filepath.Join(dir, ".data", "postgres", "postmaster.pid")
	run := func() string {
		cmd := binary(t, bin, []string{"HTTP_ADDR=127.0.0.1:0", "JOBS_ENABLED=false", "LOG_FORMAT=json"}, "serve")
		cmd.Dir = dir
		base, logs := startServing(t, cmd)
		res, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("/healthz: %d", res.StatusCode)
		}
		if _, err := os.Stat(pidFile); err != nil {
			t.Fatalf("no private PostgreSQL running in the working folder: %v", err)
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if code := exitCode(t, cmd.Wait()); code != 0 {
			t.Fatalf("exit after Ctrl-C: %d", code)
		}
		if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("PostgreSQL still running after Ctrl-C (postmaster.pid: %v)", err)
		}
		return <-logs
	}
	if first := run(); !strings.Contains(first, "creating the private PostgreSQL cluster") {
		t.Fatalf("the first start did not create the private database:\n%s", first)
	}
	if second := run(); strings.Contains(second, "creating the private PostgreSQL cluster") || !strings.Contains(second, "private PostgreSQL started") {
		t.Fatalf("the second start did not reuse the data:\n%s", second)
	}
}
