package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// newReplica is `infradash serve` sharing pg with the other replicas, scheduled jobs on (every
// replica schedules them; the leader runs them), its own host named own.
func newReplica(t *testing.T, pg *ownPostgres, own string) *fleetHub {
	h := &fleetHub{t: t, pg: pg, addr: freeAddr(t)}
	h.env = []string{"DATABASE_URL=" + pg.url, "HTTP_ADDR=" + h.addr, "JOBS_ENABLED=true", "INFRADASH_HOST=" + own,
		"HOST_DOWN_AFTER=5s", "COLLECT_INTERVAL=1s", "AGENT_SPOOL_DIR=" + filepath.Join(t.TempDir(), own+"-spool"),
		"ADMIN_EMAIL=admin@example.com", "ADMIN_PASSWORD=correct horse battery staple"}
	h.start()
	return h
}

// listedHost is the part of GET /api/v1/hosts this test reads.
type listedHost struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	OpenAlerts *int   `json:"open_alerts"`
}

func (h *fleetHub) hosts(t *testing.T, token string) map[string]listedHost {
	t.Helper()
	req, _ := http.NewRequest("GET", h.url()+"/api/v1/hosts", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var env struct {
		Data struct {
			Items []listedHost `json:"items"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /api/v1/hosts on %s: %d %v", h.addr, res.StatusCode, err)
	}
	out := map[string]listedHost{}
	for _, it := range env.Data.Items {
		out[it.Name] = it
	}
	return out
}

// jobRuns reads infradash_job_runs_total of one job from a replica's /metrics, by outcome.
func (h *fleetHub) jobRuns(t *testing.T, job string) map[string]int {
	t.Helper()
	res, err := http.Get(h.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	prefix := `infradash_job_runs_total{job="` + job + `",outcome="`
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			outcome, value, _ := strings.Cut(rest, `"} `)
			n, _ := strconv.ParseFloat(value, 64)
			out[outcome] = int(n)
		}
	}
	return out
}

// Issue 13: two replicas of the hub on one database, behind no special proxy, agents spread over
// both. Every host shows on both replicas within a couple of seconds; each sample is stored
// once; a host that goes silent raises one host_down alert, which both replicas show; and the
// scheduled jobs run on one replica only (the leader, by PostgreSQL advisory lock).
func TestTwoReplicasIngestShowAndAlertAsOne(t *testing.T) {
	pg := startOwnPostgres(t)
	a := newReplica(t, pg, "hub-a")
	b := newReplica(t, pg, "hub-b")
	pool, err := pgxpool.New(context.Background(), pg.url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	out, err := a.cli("token", "create", "--email", "admin@example.com", "--name", "replicas")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out)

	dir := t.TempDir()
	agents := map[string]*proc{}
	for i, name := range []string{"web-1", "web-2", "db-1", "db-2"} {
		hub := []*fleetHub{a, b}[i%2] // web-1, db-1 to replica a; web-2, db-2 to replica b
		agents[name] = startAgent(t, hub, name, hub.enrol(name), filepath.Join(dir, name))
	}
	all := []string{"web-1", "web-2", "db-1", "db-2", "hub-a", "hub-b"}
	for _, r := range []*fleetHub{a, b} {
		eventually(t, "every host up on replica "+r.addr, time.Minute, func() bool {
			hosts := r.hosts(t, token)
			for _, name := range all {
				if hosts[name].Status != "up" {
					return false
				}
			}
			return true
		})
	}
	eventually(t, "every agent's samples stored", time.Minute, caughtUp(t, pool, "web-1", "web-2", "db-1", "db-2"))
	// A host enrolled and sending through replica a only shows on replica b as soon as b reads
	// host_state (every second).
	agents["late-1"] = startAgent(t, a, "late-1", a.enrol("late-1"), filepath.Join(dir, "late-1"))
	eventually(t, "late-1 up on replica a", time.Minute, func() bool { return a.hosts(t, token)["late-1"].Status == "up" })
	seenOnA := time.Now()
	eventually(t, "late-1, sending to replica a, up on replica b", 10*time.Second, func() bool { return b.hosts(t, token)["late-1"].Status == "up" })
	t.Logf("late-1 up on replica b %s after replica a", time.Since(seenOnA).Round(100*time.Millisecond))

	// web-2's agent (on replica b) stops: the jobs leader, whichever replica it is, raises one
	// host_down alert for it, and both replicas say so.
	agents["web-2"].stop()
	stoppedAt := time.Now()
	eventually(t, "a host_down alert for web-2", 3*time.Minute, func() bool {
		var n int
		if err := pool.QueryRow(context.Background(),
			`SELECT count(*) FROM infrastructure_alerts WHERE host = 'web-2' AND metric = 'host_down'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
	for _, r := range []*fleetHub{a, b} {
		eventually(t, "web-2 down with its alert on replica "+r.addr, 10*time.Second, func() bool {
			h := r.hosts(t, token)["web-2"]
			return h.Status == "down" && h.OpenAlerts != nil && *h.OpenAlerts == 1
		})
		if h := r.hosts(t, token)["web-1"]; h.Status != "up" {
			t.Errorf("replica %s: web-1 is %s, want up", r.addr, h.Status)
		}
	}
	var alerts int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM infrastructure_alerts WHERE metric = 'host_down'`).Scan(&alerts); err != nil {
		t.Fatal(err)
	}
	if alerts != 1 {
		t.Errorf("%d host_down alerts, want the one for web-2 (raised once, not once per replica)", alerts)
	}

	// The alerts job ran (it raised the alert) on one replica only; the other skipped its runs.
	runsA, runsB := a.jobRuns(t, "alerts"), b.jobRuns(t, "alerts")
	ranA, ranB := runsA["success"]+runsA["failure"], runsB["success"]+runsB["failure"]
	if (ranA == 0) == (ranB == 0) {
		t.Errorf("alerts job runs: replica a %v, replica b %v; want one replica to run it and the other to skip", runsA, runsB)
	}
	if skipped := runsA["skipped"] + runsB["skipped"]; skipped == 0 {
		t.Errorf("alerts job runs: replica a %v, replica b %v; the follower should count its skipped runs", runsA, runsB)
	}
	leaders := strings.Count(a.proc.logs(), "this replica is now the jobs leader") + strings.Count(b.proc.logs(), "this replica is now the jobs leader")
	if leaders != 1 {
		t.Errorf("%d replicas logged becoming the jobs leader, want 1", leaders)
	}

	// Every sample of every agent stored once, whichever replica took it.
	for _, name := range []string{"web-1", "web-2", "db-1", "db-2"} {
		var n, distinct int
		if err := pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT collected_at) FROM system_metrics_history WHERE host = $1`, name).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		if n == 0 || n != distinct {
			t.Errorf("%s: %d rows, %d distinct instants; want some, each once", name, n, distinct)
		}
	}
	t.Logf("host_down raised %s after web-2's agent stopped", time.Since(stoppedAt).Round(time.Second))
}
