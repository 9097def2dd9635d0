// Command soak loads a running hub as a fleet does for a long time and watches it for leaks:
// -agents simulated agents post a real-shaped sample each every -interval, -dashboards browser
// sessions poll the overview and a host's page every 5 s, and -api clients read history. Every
// -every it samples the hub's RSS and open files (/proc of -pid), its goroutines (go_goroutines
// on /metrics), its database connections (pg_stat_activity on -database-url) and the p99
// latency of each kind of request, into -csv, and draws them into -svg.
//
// It fails (exit 1) on any failed request, on database connections past -pool, and when RSS or
// goroutines grow by more than 10 % between -warmup and the end. scripts/soak.sh (make soak)
// starts the hub and runs it; it refuses any host but 127.0.0.1.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/agent"
	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/sample"
)

type options struct {
	base               string
	duration, warmup   time.Duration
	interval, every    time.Duration
	agents, dashboards int
	apiClients         int
	pid                int
	databaseURL        string
	pool               int
	email, password    string
	token              string
	csvPath, svgPath   string
	maxGrowth          float64
	hostPrefix         string
}

func main() {
	var o options
	flag.StringVar(&o.base, "url", "", "the hub, http://127.0.0.1:PORT")
	flag.DurationVar(&o.duration, "duration", time.Hour, "how long to load it")
	flag.DurationVar(&o.warmup, "warmup", 0, "growth is measured from this point on (default 10m, or a third of -duration when that is under 30m)")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "each agent's collect interval")
	flag.DurationVar(&o.every, "every", 30*time.Second, "how often to sample the hub")
	flag.IntVar(&o.agents, "agents", 200, "simulated agents")
	flag.IntVar(&o.dashboards, "dashboards", 20, "dashboard sessions polling every 5 s")
	flag.IntVar(&o.apiClients, "api", 4, "API clients reading history")
	flag.IntVar(&o.pid, "pid", 0, "the hub's process ID, for RSS and open files")
	flag.StringVar(&o.databaseURL, "database-url", "", "the hub's database: the agents are enrolled there, as `infradash host add` does (the API takes 60 changes a minute), and pg_stat_activity is read")
	flag.IntVar(&o.pool, "pool", 10, "the hub's connection pool size: more connections fail the soak")
	flag.StringVar(&o.email, "email", os.Getenv("ADMIN_EMAIL"), "an account to log the dashboards in with")
	flag.StringVar(&o.password, "password", os.Getenv("ADMIN_PASSWORD"), "its password")
	flag.StringVar(&o.token, "token", os.Getenv("SOAK_TOKEN"), "an admin's API token: enrols the agents, reads history")
	flag.StringVar(&o.csvPath, "csv", "soak.csv", "where the samples go")
	flag.StringVar(&o.svgPath, "svg", "soak.svg", "where the plot goes")
	flag.Float64Var(&o.maxGrowth, "max-growth", 0.10, "RSS or goroutines growing more than this after -warmup fail the soak")
	flag.StringVar(&o.hostPrefix, "hosts", "soak", "the simulated hosts are named PREFIX-001 ...")
	flag.Parse()
	if o.warmup == 0 {
		o.warmup = 10 * time.Minute
		if o.duration < 30*time.Minute {
			o.warmup = o.duration / 3
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// class is a kind of request whose latencies and failures are kept apart.
type class int

const (
	ingest class = iota
	dashboard
	api
	classes
)

var classNames = [classes]string{"ingest", "dashboard", "api"}

// recorder keeps the latencies of the current window and every failure.
type recorder struct {
	mu       sync.Mutex
	lat      [classes][]time.Duration
	requests int
	errors   int
	firstErr []string
}

func (r *recorder) done(c class, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lat[c] = append(r.lat[c], d)
	r.requests++
	if err != nil {
		r.errors++
		if len(r.firstErr) < 10 {
			r.firstErr = append(r.firstErr, fmt.Sprintf("%s %s: %v", time.Now().Format(time.TimeOnly), classNames[c], err))
		}
	}
}

// window returns the p99 of each class since the last call, and the totals so far.
func (r *recorder) window() (p99 [classes]float64, requests, errors int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range classes {
		l := r.lat[c]
		slices.Sort(l)
		if len(l) > 0 {
			p99[c] = float64(l[min(len(l)-1, len(l)*99/100)].Microseconds()) / 1000
		}
		r.lat[c] = r.lat[c][:0]
	}
	return p99, r.requests, r.errors
}

func run(ctx context.Context, o options) error {
	u, err := url.Parse(o.base)
	if err != nil || u.Hostname() != "127.0.0.1" {
		return fmt.Errorf("-url must be http://127.0.0.1:PORT, not %q", o.base)
	}
	if o.token == "" || o.email == "" || o.password == "" {
		return errors.New("-token, -email and -password are required")
	}
	var pool *pgxpool.Pool
	if o.databaseURL != "" {
		if pool, err = pgxpool.New(ctx, o.databaseURL); err != nil {
			return fmt.Errorf("-database-url: %w", err)
		}
		defer pool.Close()
	}
	tokens, err := enrol(ctx, o, pool)
	if err != nil {
		return err
	}
	if err := waitEnrolled(ctx, o); err != nil {
		return err
	}
	rec := &recorder{}
	loadCtx, stopLoad := context.WithTimeout(ctx, o.duration)
	defer stopLoad()
	var wg sync.WaitGroup
	snap := collector.New(collector.Options{Version: "soak"}).Collect(ctx)
	for i, token := range tokens {
		wg.Go(func() { runAgent(loadCtx, o, i, token, snap, rec) })
	}
	hostPage, err := pickHostPage(ctx, o)
	if err != nil {
		return err
	}
	fmt.Printf("soak: %d agents every %s, %d dashboards polling /observability/fragments/live and %s, %d API clients, for %s (growth measured after %s)\n",
		o.agents, o.interval, o.dashboards, hostPage, o.apiClients, o.duration, o.warmup)
	for i := range o.dashboards {
		wg.Go(func() { runDashboard(loadCtx, o, i, hostPage, rec) })
	}
	for i := range o.apiClients {
		wg.Go(func() { runAPI(loadCtx, o, i, rec) })
	}

	rows, err := watch(loadCtx, o, pool, rec)
	wg.Wait()
	if err != nil {
		return err
	}
	if err := writeSVG(o.svgPath, rows, o.warmup); err != nil {
		return err
	}
	return judge(o, rows, rec)
}

// enrol adds the simulated hosts (or, when a soak ran before on this database, rotates their
// tokens) and returns one agent token each: in the hub's database when there is a pool, with the
// code `infradash host add` and `host rotate` run, else through the admin API, which takes 60
// changes a minute.
func enrol(ctx context.Context, o options, pool *pgxpool.Pool) ([]string, error) {
	tokens := make([]string, o.agents)
	var reg *fleet.Registry
	if pool != nil {
		reg = fleet.NewRegistry(pool, nil)
	}
	for i := range o.agents {
		name := hostName(o, i)
		if reg != nil {
			tok, err := reg.AddOrRotate(ctx, name, fleet.Labels{"role": "soak"})
			if err != nil {
				return nil, fmt.Errorf("enrol %s: %w", name, err)
			}
			tokens[i] = tok
			continue
		}
		body, _ := json.Marshal(map[string]any{"name": name, "labels": map[string]string{"role": "soak"}})
		status, data, err := call(ctx, o, http.MethodPost, "/api/v1/hosts", body)
		if err == nil && status == http.StatusConflict {
			status, data, err = call(ctx, o, http.MethodPost, "/api/v1/hosts/"+name+"/token", nil)
		}
		if err != nil || (status != http.StatusCreated && status != http.StatusOK) {
			return nil, fmt.Errorf("enrol %s: %d %s %v (with more than 60 agents, pass -database-url)", name, status, data, err)
		}
		var ans struct{ Data struct{ Token string } }
		if err := json.Unmarshal(data, &ans); err != nil || ans.Data.Token == "" {
			return nil, fmt.Errorf("enrol %s: no token in %s", name, data)
		}
		tokens[i] = ans.Data.Token
	}
	return tokens, nil
}

// waitEnrolled waits until the hub lists every simulated host: hosts enrolled in the database
// reach its live view at its next refresh (fleet.PollInterval), and history asked for a host it
// does not know yet is a 404.
func waitEnrolled(ctx context.Context, o options) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, data, err := call(ctx, o, http.MethodGet, "/api/v1/hosts?q="+url.QueryEscape(o.hostPrefix+"-"), nil)
		var ans struct {
			Data struct{ Items []json.RawMessage }
		}
		if err == nil && status == http.StatusOK && json.Unmarshal(data, &ans) == nil && len(ans.Data.Items) >= o.agents {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the hub does not list the %d enrolled agents after 30 s: %d %s %v", o.agents, status, data, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func hostName(o options, i int) string { return fmt.Sprintf("%s-%03d", o.hostPrefix, i+1) }

// call sends one API request with the admin's token.
func call(ctx context.Context, o options, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, o.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+o.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// runAgent posts one sample every interval as an agent does (gzip JSON v1, its own connection),
// starting at a random point of the first interval so the agents do not post in step.
func runAgent(ctx context.Context, o options, i int, token string, snap sample.Snapshot, rec *recorder) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	defer client.CloseIdleConnections()
	rnd := rand.New(rand.NewPCG(uint64(i), 42))
	if !sleep(ctx, time.Duration(rnd.Int64N(int64(o.interval)))) {
		return
	}
	platform := collector.New(collector.Options{Version: "soak"}).Platform()
	platform.Hostname = hostName(o, i)
	first := true
	for t := time.NewTicker(o.interval); ; {
		s := snap
		s.CollectedAt = time.Now().UTC()
		s.System.CPU.TotalPercent = 100 * rnd.Float64()
		s.System.Memory.UsedPercent = 30 + 40*rnd.Float64()
		b, _ := json.Marshal(s)
		out := agent.Outgoing{Records: [][]byte{b}, Agent: sample.Agent{Version: "soak"}, SentAt: time.Now()}
		if first {
			out.Platform = &platform
		}
		body, err := agent.Encode(out)
		if err == nil {
			t0 := time.Now()
			err = postBatch(ctx, client, o.base, token, body)
			if ctx.Err() != nil {
				return
			}
			rec.done(ingest, time.Since(t0), err)
			first = first && err != nil
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func postBatch(ctx context.Context, client *http.Client, base, token string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/ingest", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var ans struct {
		Data struct{ Accepted, Duplicates int }
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(b, &ans) != nil || ans.Data.Accepted+ans.Data.Duplicates != 1 {
		return fmt.Errorf("ingest: %d %.200s", res.StatusCode, b)
	}
	return nil
}

// pickHostPage is the host page the dashboards poll: /observability/hosts/NAME where the hub has
// it, else the overview's charts fragment (older hubs have no host pages).
func pickHostPage(ctx context.Context, o options) (string, error) {
	client, err := login(ctx, o)
	if err != nil {
		return "", err
	}
	page := "/observability/hosts/" + hostName(o, 0)
	status, err := get(ctx, client, o.base+page, false)
	if err == nil && status == http.StatusOK {
		return page, nil
	}
	return "/observability/fragments/charts?range=1h", nil
}

// login logs a browser in with the form, as scripts/bench.sh does, waiting out the per-address
// limit on logins (the dashboards all come from 127.0.0.1).
func login(ctx context.Context, o options) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for ctx.Err() == nil {
		res, err := client.PostForm(o.base+"/login", url.Values{"email": {o.email}, "password": {o.password}})
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusSeeOther:
			return client, nil
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			wait, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			sleep(ctx, time.Duration(max(wait, 1))*time.Second)
		default:
			return nil, fmt.Errorf("login as %s: %d, want 303", o.email, res.StatusCode)
		}
	}
	return nil, ctx.Err()
}

// get fetches a page as a browser does (gzip accepted; htmx's header for a fragment).
func get(ctx context.Context, client *http.Client, target string, htmx bool) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, err = io.Copy(io.Discard, res.Body)
	return res.StatusCode, err
}

// runDashboard is one browser tab: the overview page once, then every 5 s its live fragment and
// the host page, as htmx polls them.
func runDashboard(ctx context.Context, o options, i int, hostPage string, rec *recorder) {
	client, err := login(ctx, o)
	if err != nil {
		if ctx.Err() == nil {
			rec.done(dashboard, 0, err)
		}
		return
	}
	fetch := func(path string, htmx bool) {
		t0 := time.Now()
		status, err := get(ctx, client, o.base+path, htmx)
		if ctx.Err() != nil {
			return
		}
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("GET %s: %d", path, status)
		}
		rec.done(dashboard, time.Since(t0), err)
	}
	fetch("/observability", false)
	if !sleep(ctx, time.Duration(i)*5*time.Second/time.Duration(max(o.dashboards, 1))) {
		return
	}
	for t := time.NewTicker(5 * time.Second); ; {
		fetch("/observability/fragments/live", true)
		fetch(hostPage, true)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// runAPI reads one simulated host's history every 2 s, over ranges served from raw samples and
// from rollups.
func runAPI(ctx context.Context, o options, i int, rec *recorder) {
	rnd := rand.New(rand.NewPCG(uint64(i), 7))
	ranges := []string{"1h", "6h", "24h", "7d"}
	metrics := []string{"cpu_percent", "memory_percent", "disk_read_bytes_per_second"}
	for t := time.NewTicker(2 * time.Second); ; {
		path := fmt.Sprintf("/api/v1/observability/infrastructure/history?host=%s&metric=%s&range=%s",
			hostName(o, rnd.IntN(o.agents)), metrics[rnd.IntN(len(metrics))], ranges[rnd.IntN(len(ranges))])
		t0 := time.Now()
		status, body, err := call(ctx, o, http.MethodGet, path, nil)
		if ctx.Err() != nil {
			t.Stop()
			return
		}
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("GET %s: %d %.200s", path, status, body)
		}
		rec.done(api, time.Since(t0), err)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// row is one sample of the hub.
type row struct {
	at                             time.Duration
	rssMB                          float64
	goroutines, openFiles, dbConns int
	p99                            [classes]float64
	requests, errors               int
}

var csvHeader = "elapsed_s,rss_mb,goroutines,open_files,db_connections,ingest_p99_ms,dashboard_p99_ms,api_p99_ms,requests,errors"

// watch samples the hub every o.every until ctx ends, writing each row to the CSV as it goes.
func watch(ctx context.Context, o options, pool *pgxpool.Pool, rec *recorder) ([]row, error) {
	if err := os.MkdirAll(filepath.Dir(o.csvPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(o.csvPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fmt.Fprintln(f, csvHeader)
	start := time.Now()
	var rows []row
	for t := time.NewTicker(o.every); ; {
		select {
		case <-ctx.Done():
			t.Stop()
			return rows, nil
		case <-t.C:
		}
		r := row{at: time.Since(start)}
		r.p99, r.requests, r.errors = rec.window()
		r.rssMB, r.openFiles, err = procStats(o.pid)
		if err != nil {
			return rows, err
		}
		if r.goroutines, err = goroutines(ctx, o.base); err != nil {
			return rows, err
		}
		if pool != nil {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = pool.QueryRow(qctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'infradash'`).Scan(&r.dbConns)
			cancel()
			if err != nil && ctx.Err() == nil {
				return rows, fmt.Errorf("pg_stat_activity: %w", err)
			}
		}
		rows = append(rows, r)
		fmt.Fprintf(f, "%.0f,%.1f,%d,%d,%d,%.2f,%.2f,%.2f,%d,%d\n", r.at.Seconds(), r.rssMB, r.goroutines, r.openFiles, r.dbConns,
			r.p99[ingest], r.p99[dashboard], r.p99[api], r.requests, r.errors)
		fmt.Printf("soak: %6s  rss %6.1f MB  goroutines %4d  files %4d  db %2d  p99 ingest %6.2f ms  dashboard %6.2f ms  api %6.2f ms  requests %d  errors %d\n",
			r.at.Round(time.Second), r.rssMB, r.goroutines, r.openFiles, r.dbConns, r.p99[ingest], r.p99[dashboard], r.p99[api], r.requests, r.errors)
	}
}

// procStats reads the hub's resident memory and open file descriptors from /proc.
func procStats(pid int) (float64, int, error) {
	if pid == 0 {
		return 0, 0, nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("the hub (pid %d) is gone: %w", pid, err)
	}
	defer f.Close()
	var rss float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			rss = kb / 1024
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, err
	}
	return rss, len(fds), nil
}

// goroutines reads go_goroutines from the hub's /metrics.
func goroutines(ctx context.Context, base string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("/metrics: %w", err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, errors.New("/metrics has no go_goroutines")
}

// judge fails the soak on errors, on connections past the pool, and on growth after warm-up.
func judge(o options, rows []row, rec *recorder) error {
	var problems []string
	rec.mu.Lock()
	if rec.errors > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d requests failed; the first: %s", rec.errors, rec.requests, strings.Join(rec.firstErr, "; ")))
	}
	fmt.Printf("soak: %d requests, %d failed\n", rec.requests, rec.errors)
	rec.mu.Unlock()
	for _, r := range rows {
		if r.dbConns > o.pool {
			problems = append(problems, fmt.Sprintf("%d database connections at %s, over the pool's %d", r.dbConns, r.at.Round(time.Second), o.pool))
			break
		}
	}
	base := -1
	for i := range rows {
		if rows[i].at >= o.warmup {
			base = i
			break
		}
	}
	if base < 0 || len(rows)-base < 6 {
		problems = append(problems, fmt.Sprintf("too short to judge growth: %d samples, fewer than 6 after the warm-up of %s", len(rows), o.warmup))
	} else {
		// Each end is the median of three samples: one sample taken just before a collection, or
		// with more requests in flight, is not a trend.
		median3 := func(rs []row, v func(row) float64) float64 {
			m := []float64{v(rs[0]), v(rs[1]), v(rs[2])}
			slices.Sort(m)
			return m[1]
		}
		at := rows[base].at.Round(time.Second)
		for _, m := range []struct {
			name string
			v    func(row) float64
		}{{"RSS (MB)", func(r row) float64 { return r.rssMB }}, {"goroutines", func(r row) float64 { return float64(r.goroutines) }}} {
			from, to := median3(rows[base:], m.v), median3(rows[len(rows)-3:], m.v)
			fmt.Printf("soak: %s %.1f after %s, %.1f at the end (%+.1f %%)\n", m.name, from, at, to, 100*(to-from)/from)
			if from > 0 && to > from*(1+o.maxGrowth) {
				problems = append(problems, fmt.Sprintf("%s grew from %.1f after %s to %.1f at the end, more than %.0f %%", m.name, from, at, to, 100*o.maxGrowth))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	fmt.Println("soak: passed")
	return nil
}
