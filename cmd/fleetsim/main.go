// Command fleetsim is a fleet of simulated agents posting to a hub on this machine: N hosts, each
// sending what `infradash agent` sends (one batch of one sample every interval, gzip, encoded by
// agent's own encoder, with the hub's answer checked), their phases spread evenly over the
// interval. It enrols its hosts itself through the hub's admin API (POST /api/v1/hosts, or a new
// token for a host a previous run enrolled) and prints samples/s, errors and latency percentiles.
// It is what `make bench` measures the hub's ingest with (scripts/bench.sh).
//
//	go run ./cmd/fleetsim -hub http://127.0.0.1:8080 -admin-token TOKEN -hosts 1000 -interval 5s -duration 60s
//
// The samples are real: one taken from this machine by the collector at start, its numbers varied
// per host and tick. It refuses any hub but 127.0.0.1, and stops after -warmup plus -duration.
//
// So that the simulator does not take the cores the hub is measured on while it measures, every
// batch of the run is encoded before the run starts (the schedule is known: host i sends at
// start + i·interval/N + k·interval), with agent.Encoder, the agent's own encoder; the samples
// are a set of variants encoded to JSON once, only collected_at written in per batch. During
// the run a few workers share the hosts and only send: a host's batch that waits for a free
// worker, as a real agent never would, shows in the "late" line.
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
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/agent"
	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/sample"
)

// Bounds of the flags: a run is bounded in hosts, concurrency and time.
const (
	maxHosts    = 200_000
	maxWorkers  = 1024
	maxDuration = time.Hour
)

// variants is how many differently-numbered copies of the real sample the hosts take turns with.
const variants = 64

// agentVersion is what the simulated agents say they are.
const agentVersion = "fleetsim"

type options struct {
	hub          string
	adminToken   string
	hosts        int
	interval     time.Duration
	duration     time.Duration
	warmup       time.Duration
	workers      int
	enrolWorkers int
	prefix       string
	hubPID       int
	dbPID        int
	databaseURL  string
}

func main() {
	var o options
	flag.StringVar(&o.hub, "hub", "", "the hub's base URL, http://127.0.0.1:PORT (no other host is accepted)")
	flag.StringVar(&o.adminToken, "admin-token", os.Getenv("FLEETSIM_ADMIN_TOKEN"), "an admin's API token, to enrol the hosts through the API (default $FLEETSIM_ADMIN_TOKEN)")
	flag.StringVar(&o.databaseURL, "database-url", "", "enrol the hosts in the hub's database instead, as `infradash host add` does: the API takes 60 changes a minute per admin")
	flag.IntVar(&o.hosts, "hosts", 1000, "simulated hosts (1 to 200,000)")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "each host's collection interval (100ms to 1h)")
	flag.DurationVar(&o.duration, "duration", time.Minute, "how long to measure, after the warm-up (at most 1h)")
	flag.DurationVar(&o.warmup, "warmup", -1, "sending before measuring: first batches carry the platform, connections open (default one interval)")
	flag.IntVar(&o.workers, "workers", 512, "concurrent requests at most (1 to 1,024)")
	flag.IntVar(&o.enrolWorkers, "enrol-workers", 8, "concurrent enrolment requests (1 to 64)")
	flag.StringVar(&o.prefix, "prefix", "sim-", "host names are this prefix and a number")
	flag.IntVar(&o.hubPID, "hub-pid", 0, "the hub's process id: report its CPU while measured (from /proc, as scripts/idle.sh does)")
	flag.IntVar(&o.dbPID, "db-pid", 0, "PostgreSQL's postmaster process id: report its CPU and its children's while measured")
	cpuProfile := flag.String("cpuprofile", "", "write fleetsim's own CPU profile to this file (go tool pprof)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleetsim: -cpuprofile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if o.warmup < 0 {
		o.warmup = o.interval
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o, os.Stderr)
	if rep != nil {
		rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetsim:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func (o options) check() (*url.URL, error) {
	u, err := url.Parse(o.hub)
	switch {
	case err != nil || u.Scheme != "http" || u.Host == "":
		return nil, fmt.Errorf("-hub %q is not an http:// URL", o.hub)
	case u.Hostname() != "127.0.0.1":
		return nil, fmt.Errorf("-hub must point at 127.0.0.1, not %q: fleetsim loads only a hub on this machine", u.Hostname())
	case o.adminToken == "" && o.databaseURL == "":
		return nil, errors.New("-admin-token (or FLEETSIM_ADMIN_TOKEN) or -database-url is required, to enrol the hosts")
	case o.hosts < 1 || o.hosts > maxHosts:
		return nil, fmt.Errorf("-hosts must be 1 to %d", maxHosts)
	case o.interval < 100*time.Millisecond || o.interval > time.Hour:
		return nil, errors.New("-interval must be 100ms to 1h")
	case o.duration <= 0 || o.duration > maxDuration || o.warmup > maxDuration:
		return nil, errors.New("-duration must be above 0 and -duration and -warmup at most 1h")
	case o.workers < 1 || o.workers > maxWorkers:
		return nil, fmt.Errorf("-workers must be 1 to %d", maxWorkers)
	case o.enrolWorkers < 1 || o.enrolWorkers > 64:
		return nil, errors.New("-enrol-workers must be 1 to 64")
	}
	if err := sample.CheckHostName(o.prefix + "1"); err != nil {
		return nil, fmt.Errorf("-prefix %q does not make host names: %v", o.prefix, err)
	}
	u.Path, u.RawQuery, u.Fragment = strings.TrimSuffix(u.Path, "/"), "", ""
	return u, nil
}

func run(ctx context.Context, o options, log io.Writer) (*report, error) {
	hub, err := o.check()
	if err != nil {
		return nil, err
	}
	client := &http.Client{
		Timeout: 30 * time.Second, // the agent's own request timeout
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        o.workers + o.enrolWorkers,
			MaxIdleConnsPerHost: o.workers + o.enrolWorkers,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()

	fmt.Fprintln(log, "fleetsim: taking a real sample of this machine")
	col := collector.New(collector.Options{Interval: o.interval, Version: agentVersion})
	snap := col.Collect(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	recs, err := makeVariants(snap, variants)
	if err != nil {
		return nil, err
	}
	platform := col.Platform()

	hosts := make([]simHost, o.hosts)
	width := len(strconv.Itoa(o.hosts))
	for i := range hosts {
		hosts[i].name = fmt.Sprintf("%s%0*d", o.prefix, width, i+1)
	}
	fmt.Fprintf(log, "fleetsim: enrolling %d hosts (%s1 …) at %s\n", o.hosts, o.prefix, hub)
	t0 := time.Now()
	if o.databaseURL != "" {
		err = enrolInDatabase(ctx, o.databaseURL, hosts, o.enrolWorkers)
	} else {
		err = enrol(ctx, client, hub, o.adminToken, hosts, o.enrolWorkers)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "fleetsim: enrolled in %s; sending for %s (warm-up) + %s (measured)\n",
		time.Since(t0).Round(time.Millisecond), o.warmup, o.duration)

	sim := newSimulation(o, hub, hosts)
	t0 = time.Now()
	if err := sim.encode(ctx, recs, platform); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "fleetsim: encoded %d batches (%d MB) in %s\n", sim.ticks*len(hosts), sim.arena>>20, time.Since(t0).Round(time.Millisecond))
	return sim.run(ctx)
}

// simHost is one simulated agent.
type simHost struct {
	name  string
	token string
}

// placeholder is the collected_at every variant is encoded with; each send writes its own time
// over it. time.Time marshals nanoseconds with trailing zeros cut, so 9 non-zero digits keep the
// width fixed, and the layout below writes every time in that same width.
var placeholder = time.Date(2000, 1, 1, 0, 0, 0, 123456789, time.UTC)

const stampLayout = "2006-01-02T15:04:05.000000000Z"

// record is one variant of the sample as JSON, and where its collected_at is.
type record struct {
	json []byte
	at   int
}

// makeVariants encodes n copies of the real sample, each with its numbers varied the way a
// fleet's hosts differ from one another, so the hub stores and scores realistic values.
func makeVariants(snap sample.Snapshot, n int) ([]record, error) {
	stamp, _ := json.Marshal(placeholder)
	stamp = stamp[1 : len(stamp)-1]
	if len(stamp) != len(stampLayout) {
		return nil, fmt.Errorf("collected_at placeholder is %d bytes, want %d", len(stamp), len(stampLayout))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]record, n)
	for i := range out {
		s := vary(snap, rng)
		s.CollectedAt = placeholder
		b, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("encode sample: %w", err)
		}
		at := bytes.Index(b, stamp)
		if at < 0 {
			return nil, errors.New("encoded sample has no collected_at")
		}
		if p := sample.CheckSnapshot("sample", s, time.Now(), 0); p != nil && p.Field != "sample.collected_at" {
			return nil, fmt.Errorf("varied sample would be rejected: %v", p)
		}
		out[i] = record{json: b, at: at}
	}
	return out, nil
}

// vary returns a copy of s with its load figures scaled by random factors, within their bounds.
func vary(s sample.Snapshot, rng *rand.Rand) sample.Snapshot {
	f := func(lo, hi float64) float64 { return lo + rng.Float64()*(hi-lo) }
	pct := func(v float64) float64 { return math.Round(min(100, max(0, v))*100) / 100 }
	busy := f(0.2, 3)
	cpu := &s.System.CPU
	cpu.UserPercent = pct(cpu.UserPercent*busy + f(0, 20))
	cpu.SystemPercent = pct(cpu.SystemPercent*busy + f(0, 5))
	cpu.IowaitPercent = pct(cpu.IowaitPercent * f(0, 2))
	cpu.TotalPercent = pct(cpu.UserPercent + cpu.SystemPercent + cpu.StealPercent)
	cpu.IdlePercent = pct(100 - cpu.TotalPercent - cpu.IowaitPercent)
	cpu.PerCorePercent = slices.Clone(cpu.PerCorePercent)
	for i := range cpu.PerCorePercent {
		cpu.PerCorePercent[i] = pct(cpu.TotalPercent * f(0.5, 1.5))
	}
	s.System.Load.Load1 *= busy
	s.System.Load.Load5 *= f(0.5, 2)
	s.System.Load.Load15 *= f(0.5, 2)
	if cpu.LogicalCores > 0 {
		s.System.Load.PerCore1 = s.System.Load.Load1 / float64(cpu.LogicalCores)
	}
	mem := &s.System.Memory
	if mem.TotalBytes > 0 {
		mem.UsedPercent = pct(f(10, 95))
		mem.UsedBytes = uint64(float64(mem.TotalBytes) * mem.UsedPercent / 100)
		mem.AvailableBytes = mem.TotalBytes - mem.UsedBytes
	}
	s.System.Filesystems = slices.Clone(s.System.Filesystems)
	for i := range s.System.Filesystems {
		fs := &s.System.Filesystems[i]
		if fs.TotalBytes > 0 {
			fs.UsedPercent = pct(f(5, 97))
			fs.UsedBytes = uint64(float64(fs.TotalBytes) * fs.UsedPercent / 100)
			fs.FreeBytes = fs.TotalBytes - fs.UsedBytes
		}
	}
	disk := &s.System.DiskIO
	disk.ReadBytesPerSecond, disk.WriteBytesPerSecond = math.Round(f(0, 5e7)), math.Round(f(0, 5e7))
	nw := &s.System.Network
	nw.RecvBytesPerSecond, nw.SentBytesPerSecond = math.Round(f(0, 1e8)), math.Round(f(0, 1e8))
	nw.Interfaces = slices.Clone(nw.Interfaces)
	for i := range nw.Interfaces {
		nw.Interfaces[i].RecvBytesPerSecond = math.Round(nw.RecvBytesPerSecond / float64(len(nw.Interfaces)))
		nw.Interfaces[i].SentBytesPerSecond = math.Round(nw.SentBytesPerSecond / float64(len(nw.Interfaces)))
	}
	s.Process.CPUPercent = math.Round(s.Process.CPUPercent*f(0.5, 2)*100) / 100
	s.Top.ByCPU = slices.Clone(s.Top.ByCPU)
	for i := range s.Top.ByCPU {
		s.Top.ByCPU[i].CPUPercent = math.Round(s.Top.ByCPU[i].CPUPercent*busy*100) / 100
	}
	return s
}

// enrol gets an agent token for every host: a new host through POST /api/v1/hosts, one a previous
// run enrolled through a new token (POST /api/v1/hosts/{name}/token).
func enrol(ctx context.Context, client *http.Client, hub *url.URL, token string, hosts []simHost, workers int) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(hosts) && ctx.Err() == nil && first.Load() == nil; i = int(next.Add(1)) - 1 {
				h := &hosts[i]
				tok, code, err := adminPost(ctx, client, hub.JoinPath("/api/v1/hosts").String(), token, map[string]any{"name": h.name})
				if code == http.StatusConflict {
					tok, _, err = adminPost(ctx, client, hub.JoinPath("/api/v1/hosts", h.name, "token").String(), token, nil)
				}
				if err != nil {
					first.CompareAndSwap(nil, fmt.Errorf("enrol %s: %w", h.name, err))
					return
				}
				h.token = tok
			}
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return err
	}
	return ctx.Err()
}

// enrolInDatabase is enrol through the hub's database, with the code `infradash host add` and
// `host rotate` run.
func enrolInDatabase(ctx context.Context, databaseURL string, hosts []simHost, workers int) error {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("-database-url: %w", err)
	}
	defer pool.Close()
	reg := fleet.NewRegistry(pool, nil)
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(hosts) && ctx.Err() == nil && first.Load() == nil; i = int(next.Add(1)) - 1 {
				h := &hosts[i]
				tok, err := reg.AddOrRotate(ctx, h.name, fleet.Labels{"fleetsim": "true"})
				if err != nil {
					first.CompareAndSwap(nil, fmt.Errorf("enrol %s: %w", h.name, err))
					return
				}
				h.token = tok
			}
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return err
	}
	return ctx.Err()
}

// adminPost posts body (nil: none) as an admin and returns the token in the answer.
func adminPost(ctx context.Context, client *http.Client, u, token string, body any) (string, int, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, rd)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer res.Body.Close()
	var env struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	_ = json.Unmarshal(raw, &env)
	if res.StatusCode/100 != 2 || env.Data.Token == "" {
		msg := env.Error.Message
		if msg == "" {
			msg = strings.TrimSpace(string(raw[:min(len(raw), 200)]))
		}
		if res.StatusCode == http.StatusTooManyRequests {
			msg += " (the hub limits an admin's changes; -database-url enrols through the database instead)"
		}
		return "", res.StatusCode, fmt.Errorf("POST %s: %d %s", u, res.StatusCode, msg)
	}
	return env.Data.Token, res.StatusCode, nil
}

// maxArena bounds the memory the encoded batches of a run may take.
const maxArena = 3 << 30

// simulation sends the hosts' batches.
type simulation struct {
	o      options
	hub    *url.URL
	hosts  []simHost
	start  time.Time // host 0's first batch is due
	ticks  int       // batches per host: those due before the end
	bodies [][]byte  // tick·len(hosts) + host: the request body, gzip
	arena  int64     // bytes in bodies
	// sampleBytes is one sample's JSON, as the agent spools it.
	sampleBytes int
}

func newSimulation(o options, hub *url.URL, hosts []simHost) *simulation {
	s := &simulation{o: o, hub: hub, hosts: hosts}
	s.ticks = int((o.warmup + o.duration + o.interval - 1) / o.interval)
	return s
}

// due is when host i's batch of tick k is due.
func (s *simulation) due(i, tick int) time.Time {
	n := time.Duration(len(s.hosts))
	return s.start.Add(time.Duration(tick)*s.o.interval + s.o.interval*time.Duration(i)/n)
}

// encode makes every batch of the run, as the hosts' agents would at their due times: one sample,
// collected then, sent then, the first with the platform. It uses every core, before the run.
// The times are laid from an estimate of when encoding will be done; a busy machine that makes
// it later than that gets a second try with twice the margin.
func (s *simulation) encode(ctx context.Context, recs []record, platform sample.Platform) error {
	n := len(s.hosts)
	s.sampleBytes = len(recs[0].json)
	var probe agent.Encoder
	t0 := time.Now()
	const probes = 50
	var one []byte
	for range probes {
		one, _ = probe.Encode(agent.Outgoing{Records: [][]byte{recs[0].json}, Agent: sample.Agent{Version: agentVersion}, SentAt: time.Now()})
	}
	perBatch := time.Since(t0) / probes
	if est := int64(len(one)) * int64(n) * int64(s.ticks); est > maxArena {
		return fmt.Errorf("the run's batches would take about %d MB (%d hosts × %d batches of %d bytes); the bound is %d MB: fewer -hosts or a shorter -duration",
			est>>20, n, s.ticks, len(one), maxArena>>20)
	}
	workers := runtime.GOMAXPROCS(0)
	margin := 2 * perBatch * time.Duration(n*s.ticks/workers)
	for try := 1; ; try++ {
		s.start = time.Now().Add(time.Second + margin)
		if err := s.encodeAll(ctx, recs, platform, workers); err != nil {
			return err
		}
		late := -time.Until(s.start)
		if late < -100*time.Millisecond {
			return nil
		}
		if try == 2 {
			return fmt.Errorf("encoding the batches took %s longer than planned, twice: is the machine busy?", late.Round(time.Millisecond))
		}
		margin = 2 * (margin + late + time.Second)
	}
}

func (s *simulation) encodeAll(ctx context.Context, recs []record, platform sample.Platform, workers int) error {
	n := len(s.hosts)
	s.bodies = make([][]byte, n*s.ticks)
	var next atomic.Int64
	var arena atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var enc agent.Encoder
			var rec []byte
			var stamp [len(stampLayout)]byte
			recsOne := [][]byte{nil}
			for k := int(next.Add(1)) - 1; k < len(s.bodies) && ctx.Err() == nil; k = int(next.Add(1)) - 1 {
				tick, i := k/n, k%n
				at := s.due(i, tick).UTC()
				v := recs[(i*7+tick)%len(recs)]
				rec = append(rec[:0], v.json...)
				copy(rec[v.at:], at.AppendFormat(stamp[:0], stampLayout))
				recsOne[0] = rec
				out := agent.Outgoing{Records: recsOne, Agent: sample.Agent{Version: agentVersion}, SentAt: at}
				if tick == 0 {
					p := platform
					p.Hostname = s.hosts[i].name
					out.Platform = &p
				}
				body, err := enc.Encode(out)
				if err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
				s.bodies[k] = bytes.Clone(body)
				arena.Add(int64(len(body)))
			}
		})
	}
	wg.Wait()
	s.arena = arena.Load()
	if err, _ := first.Load().(error); err != nil {
		return fmt.Errorf("encode batches: %w", err)
	}
	return ctx.Err()
}

// job is one host's batch, due at a time.
type job struct {
	host int
	tick int
	due  time.Time
}

// tally is one worker's counts; merged at the end, so the workers share no lock.
type tally struct {
	latencies []time.Duration
	late      []time.Duration
	errors    map[string]int
	firstErr  string
	bytes     int64 // request bodies as sent (gzip), batches without the platform
	sized     int
	counted   int
}

func (s *simulation) run(ctx context.Context) (*report, error) {
	n, every := len(s.hosts), s.o.interval
	measureFrom := s.start.Add(s.o.warmup)
	end := measureFrom.Add(s.o.duration)
	jobs := make(chan job, 4*s.o.workers)
	tallies := make([]tally, s.o.workers)
	var wg sync.WaitGroup
	for w := range tallies {
		tallies[w].errors = map[string]int{}
		wg.Go(func() { s.work(ctx, jobs, measureFrom, &tallies[w]) })
	}
	cpu0 := cpuTime()
	var hub0, db0 time.Duration
	var cpuAtMeasure atomic.Int64
	cpuAtMeasure.Store(-1)

	// One goroutine hands out the batches in due order.
schedule:
	for tick := 0; tick < s.ticks; tick++ {
		for i := range n {
			at := s.due(i, tick)
			if !at.Before(end) {
				break schedule
			}
			if d := time.Until(at); d > time.Millisecond {
				select {
				case <-ctx.Done():
					break schedule
				case <-time.After(d):
				}
			}
			if cpuAtMeasure.Load() < 0 && !at.Before(measureFrom) {
				cpuAtMeasure.Store(int64(cpuTime()))
				hub0, db0 = procCPU(s.o.hubPID, false), procCPU(s.o.dbPID, true)
			}
			select {
			case jobs <- job{host: i, tick: tick, due: at}:
			case <-ctx.Done():
				break schedule
			}
		}
	}
	close(jobs)
	wg.Wait()
	hub1, db1 := procCPU(s.o.hubPID, false), procCPU(s.o.dbPID, true)
	// The rate is over the time the measured batches took to be sent and answered: the window,
	// and longer when the hub fell behind (then "late" grows too), or shorter after a signal.
	elapsed := max(time.Since(measureFrom), time.Millisecond)
	rep := &report{hosts: n, interval: every, workers: s.o.workers, window: elapsed, rawBytes: s.sampleBytes}
	if c := cpuAtMeasure.Load(); c >= 0 {
		rep.ownCPU = cpuTime() - time.Duration(c)
	} else {
		rep.ownCPU = cpuTime() - cpu0
	}
	rep.ownWall = elapsed
	if s.o.hubPID > 0 {
		rep.hubCPU = hub1 - hub0
	}
	if s.o.dbPID > 0 {
		rep.dbCPU = db1 - db0
	}
	rep.errors = map[string]int{}
	for _, t := range tallies {
		rep.latencies = append(rep.latencies, t.latencies...)
		rep.late = append(rep.late, t.late...)
		rep.counted += t.counted
		rep.bytes += t.bytes
		rep.sized += t.sized
		for k, v := range t.errors {
			rep.errors[k] += v
			rep.errorCount += v
		}
		if rep.firstErr == "" {
			rep.firstErr = t.firstErr
		}
	}
	slices.Sort(rep.latencies)
	slices.Sort(rep.late)
	if ctx.Err() != nil {
		return rep, fmt.Errorf("stopped early: %w", ctx.Err())
	}
	if rep.errorCount > 0 {
		return rep, fmt.Errorf("%d of %d batches failed", rep.errorCount, rep.counted)
	}
	return rep, nil
}

// work sends batches until jobs closes; only those due from measureFrom on are counted.
func (s *simulation) work(ctx context.Context, jobs <-chan job, measureFrom time.Time, t *tally) {
	k := &conn{addr: s.hub.Host, path: s.hub.Path + agent.IngestPath}
	defer k.close()
	for j := range jobs {
		body := s.bodies[j.tick*len(s.hosts)+j.host]
		started := time.Now()
		err := k.post(ctx, s.hosts[j.host].token, body)
		took := time.Since(started)
		s.bodies[j.tick*len(s.hosts)+j.host] = nil // sent: its memory may go
		if j.due.Before(measureFrom) {
			continue
		}
		t.counted++
		t.latencies = append(t.latencies, took)
		t.late = append(t.late, max(0, started.Sub(j.due)))
		if j.tick > 0 {
			t.bytes += int64(len(body))
			t.sized++
		}
		if err != nil {
			kind := err.Error()
			var he *hubError
			if errors.As(err, &he) {
				kind = he.kind()
			} else if ctx.Err() == nil {
				kind = "transport: " + kind
			}
			t.errors[kind]++
			if t.firstErr == "" {
				t.firstErr = err.Error()
			}
		}
	}
}

// hubError is an answer other than one stored sample.
type hubError struct {
	status int
	msg    string
}

func (e *hubError) Error() string { return fmt.Sprintf("hub answered %d: %s", e.status, e.msg) }
func (e *hubError) kind() string  { return "status " + strconv.Itoa(e.status) }

// stored is how the hub's answer says that it stored the one sample; anything else is decoded.
var stored = []byte(`"accepted":1,"duplicates":0,"rejected":[]`)

// ingestAnswer is the part of the hub's answer fleetsim checks.
type ingestAnswer struct {
	Data struct {
		Accepted   int               `json:"accepted"`
		Duplicates int               `json:"duplicates"`
		Rejected   []json.RawMessage `json:"rejected"`
	} `json:"data"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// conn is a worker's keep-alive connection to the hub. The request is written by hand and the
// answer read with http.ReadResponse, on the worker's goroutine: net/http's client adds two
// goroutines and their hand-offs per connection, which at thousands of requests a second cost
// the simulator more CPU than the requests themselves.
type conn struct {
	addr string
	path string
	c    net.Conn
	r    *bufio.Reader
	head []byte
}

// post sends one batch, with the headers agent.HTTPSender sends, and checks that the hub stored
// its sample.
func (k *conn) post(ctx context.Context, token string, body []byte) error {
	if k.c == nil {
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", k.addr)
		if err != nil {
			return err
		}
		k.c = c
		k.r = bufio.NewReaderSize(c, 8192)
	}
	h := append(k.head[:0], "POST "...)
	h = append(h, k.path...)
	h = append(h, " HTTP/1.1\r\nHost: "...)
	h = append(h, k.addr...)
	h = append(h, "\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nUser-Agent: infradash-agent/"+agentVersion+"\r\nAuthorization: Bearer "...)
	h = append(h, token...)
	h = append(h, "\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(len(body)), 10)
	h = append(h, "\r\n\r\n"...)
	h = append(h, body...)
	k.head = h
	_ = k.c.SetDeadline(time.Now().Add(30 * time.Second)) // the agent's own request timeout
	res, err := k.roundTrip(h)
	if err != nil {
		k.close()
		return err
	}
	defer res.Body.Close()
	var buf [4096]byte
	n, _ := io.ReadFull(res.Body, buf[:])
	if _, err := io.Copy(io.Discard, res.Body); err != nil || res.Close {
		k.close()
	}
	if res.StatusCode == http.StatusOK && bytes.Contains(buf[:n], stored) {
		return nil
	}
	var ans ingestAnswer
	_ = json.Unmarshal(buf[:n], &ans)
	switch {
	case res.StatusCode/100 != 2:
		return &hubError{status: res.StatusCode, msg: ans.Error.Code + ": " + ans.Error.Message}
	case len(ans.Data.Rejected) > 0:
		return &hubError{status: res.StatusCode, msg: "sample rejected: " + string(ans.Data.Rejected[0])}
	case ans.Data.Accepted != 1:
		return &hubError{status: res.StatusCode, msg: fmt.Sprintf("accepted %d, duplicates %d; want the one sample stored", ans.Data.Accepted, ans.Data.Duplicates)}
	}
	return nil
}

func (k *conn) roundTrip(req []byte) (*http.Response, error) {
	if _, err := k.c.Write(req); err != nil {
		return nil, err
	}
	return http.ReadResponse(k.r, nil)
}

func (k *conn) close() {
	if k.c != nil {
		k.c.Close()
		k.c, k.r = nil, nil
	}
}

// report is what a run measured.
type report struct {
	hosts      int
	interval   time.Duration
	workers    int
	window     time.Duration
	counted    int
	latencies  []time.Duration
	late       []time.Duration
	errors     map[string]int
	errorCount int
	firstErr   string
	bytes      int64
	rawBytes   int // one sample's JSON
	sized      int
	ownCPU     time.Duration
	ownWall    time.Duration
	hubCPU     time.Duration // -1: not measured
	dbCPU      time.Duration
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64)
}

func (r *report) print(w io.Writer) {
	secs := r.window.Seconds()
	ok := r.counted - r.errorCount
	fmt.Fprintf(w, "hosts:      %d at %s (offered %.1f samples/s), %d workers\n", r.hosts, r.interval, float64(r.hosts)/r.interval.Seconds(), r.workers)
	fmt.Fprintf(w, "samples:    %d stored in %.1fs = %.1f samples/s (%d errors)\n", ok, secs, float64(ok)/secs, r.errorCount)
	fmt.Fprintf(w, "latency:    p50 %sms  p95 %sms  p99 %sms  max %sms\n", ms(pct(r.latencies, .5)), ms(pct(r.latencies, .95)), ms(pct(r.latencies, .99)), ms(pct(r.latencies, 1)))
	fmt.Fprintf(w, "late:       p99 %sms  max %sms (batches waiting for a free worker)\n", ms(pct(r.late, .99)), ms(pct(r.late, 1)))
	if r.sized > 0 {
		fmt.Fprintf(w, "wire:       %d bytes per batch of one sample (gzip), %d as JSON\n", r.bytes/int64(r.sized), r.rawBytes)
	}
	perSample := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(ok, 1)) }
	core := func(d time.Duration) float64 { return 100 * d.Seconds() / max(r.ownWall.Seconds(), 1e-9) }
	if r.hubCPU > 0 {
		fmt.Fprintf(w, "hub:        %.1f %% of one core, %.0f µs of CPU per sample stored\n", core(r.hubCPU), perSample(r.hubCPU))
	}
	if r.dbCPU > 0 {
		fmt.Fprintf(w, "postgres:   %.1f %% of one core, %.0f µs of CPU per sample stored\n", core(r.dbCPU), perSample(r.dbCPU))
	}
	fmt.Fprintf(w, "fleetsim:   %.1f %% of one core\n", core(r.ownCPU))
	keys := make([]string, 0, len(r.errors))
	for k := range r.errors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "errors:     %d %s\n", r.errors[k], k)
	}
	if r.firstErr != "" {
		fmt.Fprintf(w, "first error: %s\n", r.firstErr)
	}
	// One line for scripts (scripts/bench.sh reads it).
	fmt.Fprintf(w, "result hosts=%d interval_s=%g samples=%d errors=%d rate=%.1f p50_ms=%s p95_ms=%s p99_ms=%s max_ms=%s late_p99_ms=%s bytes_per_sample=%d sim_cpu_pct=%.1f hub_cpu_pct=%.1f hub_us_per_sample=%.0f db_cpu_pct=%.1f db_us_per_sample=%.0f\n",
		r.hosts, r.interval.Seconds(), ok, r.errorCount, float64(ok)/secs, ms(pct(r.latencies, .5)), ms(pct(r.latencies, .95)),
		ms(pct(r.latencies, .99)), ms(pct(r.latencies, 1)), ms(pct(r.late, .99)), r.bytes/max(1, int64(r.sized)),
		core(r.ownCPU), core(r.hubCPU), perSample(r.hubCPU), core(r.dbCPU), perSample(r.dbCPU))
}

// cpuTime is this process's CPU time so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux architecture Go
// supports.
const clockTicks = 100

// procCPU is a process's CPU time so far (user and system, from /proc/PID/stat), with its
// children's when children is set (PostgreSQL's backends are the postmaster's children). 0 when
// pid is 0 or unreadable.
func procCPU(pid int, children bool) time.Duration {
	if pid <= 0 {
		return 0
	}
	total, _ := statCPU(strconv.Itoa(pid))
	if children {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if e.Name()[0] < '0' || e.Name()[0] > '9' {
				continue
			}
			if d, ppid := statCPU(e.Name()); ppid == pid {
				total += d
			}
		}
	}
	return total
}

// statCPU reads one /proc/PID/stat: utime+stime, and the parent's pid.
func statCPU(pid string) (time.Duration, int) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0
	}
	// The command name (field 2) may hold spaces; the fields after it are plain.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks, ppid
}
