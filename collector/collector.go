// Package collector samples the host (CPU, memory, disks, network, processes)
// with gopsutil and keeps the latest snapshot and a short in-memory history.
package collector

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"

	"github.com/infradash/infradash/sample"
)

const (
	DefaultInterval = 5 * time.Second
	DefaultHistory  = time.Hour

	// firstSampleWindow is how long the first Collect waits between two readings
	// of the counters, so that even the first snapshot has real CPU percentages.
	firstSampleWindow = 200 * time.Millisecond
	topN              = 5
)

type Options struct {
	Interval time.Duration // default 5s
	History  time.Duration // ring buffer span, default 1h
	Version  string        // infradash version, reported in Platform
	// Host names the machine in snapshots and Platform; default the name the system reports.
	// Set it in a container, whose own name is its ID and changes with every upgrade.
	Host   string
	Now    func() time.Time // injectable; default time.Now
	Logger *slog.Logger
}

// Collector is safe for concurrent use. Collect calls are serialised because
// each one computes rates against the counters left by the previous one.
type Collector struct {
	interval time.Duration
	history  time.Duration
	now      func() time.Time
	log      *slog.Logger
	platform sample.Platform
	paths    hostPaths
	self     *process.Process
	started  time.Time

	collectMu sync.Mutex
	primed    bool
	prev      counters
	procs     procTracker
	disks     diskSet
	sensors   sensorState

	mu         sync.RWMutex
	latest     sample.Snapshot
	haveLatest bool
	ring       []sample.Snapshot
}

// counters are the cumulative readings that rates and percentages are derived
// from; at is a monotonic reading so that an injected Now cannot distort rates.
type counters struct {
	at      time.Time
	cpu     []cpu.TimesStat
	disk    map[string]disk.IOCountersStat
	net     map[string]net.IOCountersStat
	selfCPU float64 // seconds of user+system time of this process
}

func New(opts Options) *Collector {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Collector{
		interval: opts.Interval,
		history:  opts.History,
		now:      opts.Now,
		log:      opts.Logger,
		paths:    hostPathsFromEnv(),
		started:  time.Now(),
	}
	c.procs.users = newUserCache(c.paths.etc)
	c.ring = make([]sample.Snapshot, 0, int(c.history/c.interval)+1)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.platform = c.readPlatform(ctx, opts.Version)
	if opts.Host != "" {
		c.platform.Hostname = opts.Host
	}
	if p, err := process.NewProcessWithContext(ctx, int32(os.Getpid())); err == nil {
		c.self = p
		if ms, err := p.CreateTimeWithContext(ctx); err == nil {
			c.started = time.UnixMilli(ms)
		}
	} else {
		c.log.Debug("collector: own process unreadable", "err", err)
	}
	return c
}

func (c *Collector) Platform() sample.Platform { return c.platform }

func (c *Collector) readPlatform(ctx context.Context, version string) sample.Platform {
	p := sample.Platform{
		OS:           runtime.GOOS,
		Architecture: runtime.GOARCH,
		GoVersion:    runtime.Version(),
		Version:      version,
		LogicalCores: runtime.NumCPU(),
	}
	if info, err := host.InfoWithContext(ctx); err != nil {
		c.log.Debug("collector: host info", "err", err)
	} else {
		p.Hostname = info.Hostname
		p.OS = info.OS
		p.Platform = info.Platform
		p.PlatformFamily = info.PlatformFamily
		p.PlatformVersion = info.PlatformVersion
		p.KernelVersion = info.KernelVersion
		if info.KernelArch != "" {
			p.Architecture = info.KernelArch
		}
		p.Virtualization = strings.TrimSpace(info.VirtualizationSystem + " " + info.VirtualizationRole)
		if info.VirtualizationSystem == "" {
			p.Virtualization = ""
		}
		if info.BootTime > 0 {
			p.BootTime = time.Unix(int64(info.BootTime), 0).UTC()
		}
	}
	if p.Hostname == "" {
		p.Hostname, _ = os.Hostname()
	}
	if n, err := cpu.CountsWithContext(ctx, true); err == nil && n > 0 {
		p.LogicalCores = n
	}
	if n, err := cpu.CountsWithContext(ctx, false); err == nil && n > 0 {
		p.PhysicalCores = n
	} else {
		c.log.Debug("collector: physical cores", "err", err)
	}
	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		p.CPUModel = strings.TrimSpace(infos[0].ModelName)
	} else {
		c.log.Debug("collector: cpu info", "err", err)
	}
	return p
}

// Collect takes one sample now. It never fails as a whole: whatever cannot be
// read is left zero or empty and logged at debug level.
func (c *Collector) Collect(ctx context.Context) sample.Snapshot {
	c.collectMu.Lock()
	defer c.collectMu.Unlock()

	if !c.primed {
		c.prev = c.readCounters(ctx)
		c.procs.scan(ctx, c, c.prev.at)
		c.primed = true
		select {
		case <-ctx.Done():
		case <-time.After(firstSampleWindow):
		}
	}

	cur := c.readCounters(ctx)
	secs := cur.at.Sub(c.prev.at).Seconds()
	s := sample.Snapshot{
		CollectedAt: c.now().UTC(),
		Host:        c.platform.Hostname,
	}
	s.System.CPU = cpuPercents(c.prev.cpu, cur.cpu)
	s.System.CPU.LogicalCores = c.platform.LogicalCores
	s.System.CPU.PhysicalCores = c.platform.PhysicalCores
	s.System.Load = c.readLoad(ctx)
	s.System.Memory, s.System.Swap = c.readMemory(ctx)
	s.System.Filesystems = c.readFilesystems(ctx)
	s.System.DiskIO = diskRates(c.prev.disk, cur.disk, secs)
	s.System.Network = netRates(c.prev.net, cur.net, secs)
	s.System.Temperatures = c.sensors.read(ctx, c)
	if !c.platform.BootTime.IsZero() {
		if up := time.Since(c.platform.BootTime); up > 0 {
			s.System.UptimeSeconds = uint64(up.Seconds())
		}
	}

	count := c.procs.scan(ctx, c, cur.at)
	s.System.ProcessCount = count
	s.Top = c.procs.top(ctx, c, s.System.Memory.TotalBytes)
	s.Process = c.readSelf(ctx, c.prev.selfCPU, cur.selfCPU, secs)

	c.prev = cur
	return s
}

func (c *Collector) readCounters(ctx context.Context) counters {
	var k counters
	var err error
	if k.cpu, err = cpu.TimesWithContext(ctx, true); err != nil {
		c.log.Debug("collector: cpu times", "err", err)
	}
	k.disk = c.disks.counters(ctx, c)
	k.net = c.readNetCounters(ctx)
	if c.self != nil {
		if t, err := c.self.TimesWithContext(ctx); err == nil {
			k.selfCPU = t.User + t.System
		} else {
			c.log.Debug("collector: own cpu times", "err", err)
		}
	}
	k.at = time.Now()
	return k
}

// Run samples every Interval until ctx ends, starting at once. Sinks run on the
// collector's goroutine, so a slow sink delays the next sample.
func (c *Collector) Run(ctx context.Context, sinks ...func(sample.Snapshot)) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		s := c.Collect(ctx)
		// A sample cut short by shutdown may be partial; nobody is left to use it.
		if ctx.Err() != nil {
			return
		}
		c.record(s)
		for _, sink := range sinks {
			c.callSink(sink, s)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// callSink keeps a panicking sink from stopping the sampling everybody else relies on.
func (c *Collector) callSink(sink func(sample.Snapshot), s sample.Snapshot) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("collector: sink panicked", "panic", fmt.Sprint(r))
		}
	}()
	sink(s)
}

func (c *Collector) record(s sample.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latest = s
	c.haveLatest = true
	c.ring = append(c.ring, s)
	c.pruneLocked()
}

func (c *Collector) pruneLocked() {
	cutoff := c.now().Add(-c.history)
	i := sort.Search(len(c.ring), func(i int) bool { return !c.ring[i].CollectedAt.Before(cutoff) })
	if i == 0 {
		return
	}
	n := copy(c.ring, c.ring[i:])
	clear(c.ring[n:]) // let the dropped snapshots' slices be collected
	c.ring = c.ring[:n]
}

// Latest returns the most recent snapshot recorded by Run; false before the first one.
func (c *Collector) Latest() (sample.Snapshot, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.latest, c.haveLatest
}

// Recent returns the recorded snapshots collected at or after since and within
// History of now, oldest first.
func (c *Collector) Recent(since time.Time) []sample.Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if cutoff := c.now().Add(-c.history); since.Before(cutoff) {
		since = cutoff
	}
	i := sort.Search(len(c.ring), func(i int) bool { return !c.ring[i].CollectedAt.Before(since) })
	out := make([]sample.Snapshot, 0, len(c.ring)-i)
	return append(out, c.ring[i:]...)
}
