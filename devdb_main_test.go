package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infradash/infradash/devdb"
)

// The quick start in a clone the postgres user cannot enter (under /root, mode 0700, when the
// tests run as root): serve keeps the private cluster where PostgreSQL can reach it and says
// where, with the connection string; `infradash psql` reaches the same database while serve
// runs and leaves it running; after a crash the next serve reuses the cluster and its Ctrl-C
// stops it.
func TestPrivateDatabaseOfACloneInAPrivateFolder(t *testing.T) {
	bin := buildBinary(t)
	private := t.TempDir() // mode 0700, like /root
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	project := filepath.Join(private, "clone")
	if err := os.Mkdir(project, 0o755); err != nil {
		t.Fatal(err)
	}
	dataDir, err := devdb.DataDir(filepath.Join(project, privateDataDir))
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && strings.HasPrefix(dataDir, private) {
		t.Fatalf("as root the data would be in %s, which the postgres user cannot reach", dataDir)
	}
	pidFile := filepath.Join(dataDir, "postmaster.pid")
	t.Cleanup(func() {
		if _, err := os.Stat(pidFile); err == nil { // a failed test's leftover
			pgCtl, _ := devdb.Program("pg_ctl")
			stop := exec.Command(pgCtl, "stop", "-m", "immediate", "-D", dataDir)
			if os.Geteuid() == 0 {
				stop = exec.Command("runuser", "-u", "postgres", "--", pgCtl, "stop", "-m", "immediate", "-D", dataDir)
			}
			_ = stop.Run()
		}
		if dataDir != filepath.Join(project, privateDataDir) {
			_ = os.RemoveAll(filepath.Dir(dataDir))
		}
	})
	env := []string{"HTTP_ADDR=127.0.0.1:0", "JOBS_ENABLED=false", "LOG_FORMAT=json", "ADMIN_PASSWORD=quick start password 1"}
	serve := func() (*exec.Cmd, *safeBuffer, string, <-chan string) {
		cmd := binary(t, bin, env, "serve")
		cmd.Dir = project
		// Written by the running process while the test reads it.
		stdout := &safeBuffer{}
		cmd.Stdout = stdout
		base, logs := startServing(t, cmd)
		return cmd, stdout, base, logs
	}

	cmd, stdout, _, logs := serve()
	for _, want := range []string{"Private PostgreSQL in " + dataDir + " ", "Database: postgres://postgres@/infradash?host=", "bin/infradash psql"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("serve's start does not say %q:\n%s", want, stdout)
		}
	}
	// psql on the same database while serve runs: it sees serve's admin and leaves the server up.
	countUsers := func(when string) {
		t.Helper()
		psql := binary(t, bin, env, "psql", "--", "-tAc", "SELECT count(*) FROM users")
		psql.Dir = project
		var stderr bytes.Buffer
		psql.Stderr = &stderr
		if out, err := psql.Output(); err != nil || string(out) != "1\n" {
			t.Fatalf("infradash psql %s: %v\n%s%s", when, err, out, &stderr)
		}
	}
	countUsers("while serve runs")
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("psql stopped the database serve still uses: %v", err)
	}

	// A crash leaves PostgreSQL running; the next serve reuses it and Ctrl-C stops it.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	<-logs
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("after the crash PostgreSQL is not running (%v); the test needs it left over", err)
	}
	cmd, _, _, logs = serve()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Fatalf("exit after Ctrl-C: %d", code)
	}
	second := <-logs
	if !strings.Contains(second, "reusing the private PostgreSQL already running") {
		t.Errorf("the second serve did not reuse the running server:\n%s", second)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the PostgreSQL left by the crash still runs after Ctrl-C (postmaster.pid: %v):\n%s", err, second)
	}

	// The data stayed: psql, on its own, starts the server, finds the admin and stops it again.
	countUsers("on its own")
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("psql left the server it started running: %v", err)
	}
}

func TestPsqlHelp(t *testing.T) {
	bin := buildBinary(t)
	out, err := binary(t, bin, nil, "psql", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Usage: infradash psql [-- PSQL_ARGUMENTS...]") || !strings.Contains(string(out), "DATABASE_URL") {
		t.Fatalf("psql --help: %v\n%s", err, out)
	}
	out, err = binary(t, bin, nil, "psql", "-c", "SELECT 1").CombinedOutput()
	if exitCode(t, err) != 2 || !strings.Contains(string(out), "after --") {
		t.Fatalf("psql -c without --: %v\n%s", err, out)
	}
}
