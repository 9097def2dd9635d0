package collector

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"

	"github.com/infradash/infradash/sample"
)

// procEntry is what one pass over the process table keeps per process: just
// enough to rank processes. Names and users are looked up afterwards, for the
// few that make the top lists.
type procEntry struct {
	pid        int32
	start      uint64  // start time in clock ticks since boot, to notice pid reuse
	cpuSeconds float64 // cumulative user+system
	rssBytes   uint64
	cpuPercent float64
}

type procKey struct {
	start      uint64
	cpuSeconds float64
}

// procTracker keeps last pass's CPU times per pid so that per-process CPU
// percentages cost one pass per sample instead of two readings per sample.
type procTracker struct {
	prev, cur map[int32]procKey
	at        time.Time
	entries   []procEntry
	users     *userCache
	// named remembers names and users of processes that made a top list; the
	// same few processes usually top it sample after sample.
	named map[int32]procName
}

type procName struct {
	start      uint64
	name, user string
}

// scan reads the process table and returns the number of processes.
func (t *procTracker) scan(ctx context.Context, c *Collector, at time.Time) int {
	if t.prev == nil {
		t.prev = make(map[int32]procKey)
		t.cur = make(map[int32]procKey)
	}
	var err error
	t.entries, err = scanProcesses(ctx, c.paths.proc, t.entries[:0])
	if err != nil {
		c.log.Debug("collector: process table", "err", err)
	}
	secs := at.Sub(t.at).Seconds()
	clear(t.cur)
	for i := range t.entries {
		e := &t.entries[i]
		t.cur[e.pid] = procKey{start: e.start, cpuSeconds: e.cpuSeconds}
		if p, ok := t.prev[e.pid]; ok && p.start == e.start && secs > 0 && e.cpuSeconds >= p.cpuSeconds {
			e.cpuPercent = (e.cpuSeconds - p.cpuSeconds) / secs * 100
		}
	}
	t.prev, t.cur = t.cur, t.prev
	t.at = at
	return len(t.entries)
}

// top picks the five busiest and five largest processes from the last scan
// with a partial selection, and only then pays for their names and users.
func (t *procTracker) top(ctx context.Context, c *Collector, memTotal uint64) sample.TopProcesses {
	byCPU := selectTop(t.entries, func(a, b *procEntry) bool {
		return a.cpuPercent > b.cpuPercent || (a.cpuPercent == b.cpuPercent && a.rssBytes > b.rssBytes)
	})
	byMem := selectTop(t.entries, func(a, b *procEntry) bool { return a.rssBytes > b.rssBytes })
	if t.named == nil {
		t.named = make(map[int32]procName)
	}
	info := func(e procEntry) sample.ProcInfo {
		d := sample.ProcInfo{PID: e.pid, CPUPercent: e.cpuPercent, RSSBytes: e.rssBytes}
		if memTotal > 0 {
			d.MemoryPercent = float64(e.rssBytes) / float64(memTotal) * 100
		}
		n, ok := t.named[e.pid]
		if !ok || n.start != e.start {
			n = procName{start: e.start}
			// A bare Process skips NewProcess's existence check and create-time read.
			p := &process.Process{Pid: e.pid}
			n.name, _ = p.NameWithContext(ctx)
			if uids, err := p.UidsWithContext(ctx); err == nil && len(uids) > 1 {
				n.user = t.users.name(uids[1]) // effective uid, as ps shows it
			}
			t.named[e.pid] = n
		}
		d.Name, d.User = n.name, n.user
		return d
	}
	out := sample.TopProcesses{ByCPU: make([]sample.ProcInfo, 0, len(byCPU)), ByMemory: make([]sample.ProcInfo, 0, len(byMem))}
	for _, e := range byCPU {
		out.ByCPU = append(out.ByCPU, info(e))
	}
	for _, e := range byMem {
		out.ByMemory = append(out.ByMemory, info(e))
	}
	for pid := range t.named {
		if _, alive := t.prev[pid]; !alive {
			delete(t.named, pid)
		}
	}
	return out
}

// selectTop returns the topN entries in order by an insertion into a short
// list: O(n) for hundreds of processes, with no sort of the whole table.
func selectTop(entries []procEntry, better func(a, b *procEntry) bool) []procEntry {
	top := make([]procEntry, 0, topN+1)
	for i := range entries {
		e := &entries[i]
		if len(top) == topN && !better(e, &top[topN-1]) {
			continue
		}
		j := len(top)
		for j > 0 && better(e, &top[j-1]) {
			j--
		}
		top = append(top, procEntry{})
		copy(top[j+1:], top[j:])
		top[j] = *e
		if len(top) > topN {
			top = top[:topN]
		}
	}
	return top
}

// userCache maps uids to names from the host's passwd (HOST_ETC), not the
// container's; a miss rereads the file at most once a minute.
type userCache struct {
	path   string
	names  map[uint32]string
	readAt time.Time
}

func newUserCache(etc string) *userCache {
	return &userCache{path: filepath.Join(etc, "passwd"), names: map[uint32]string{}}
}

func (u *userCache) name(uid uint32) string {
	if n, ok := u.names[uid]; ok {
		return n
	}
	if time.Since(u.readAt) > time.Minute {
		u.readAt = time.Now()
		u.load()
		if n, ok := u.names[uid]; ok {
			return n
		}
	}
	return strconv.FormatUint(uint64(uid), 10)
}

func (u *userCache) load() {
	f, err := os.Open(u.path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := bytes.SplitN(sc.Bytes(), []byte(":"), 4)
		if len(fields) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(string(fields[2]), 10, 32); err == nil {
			u.names[uint32(id)] = string(fields[0])
		}
	}
}

func (c *Collector) readSelf(ctx context.Context, prevCPU, curCPU, secs float64) sample.Process {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out := sample.Process{
		PID:                 int32(os.Getpid()),
		Goroutines:          runtime.NumGoroutine(),
		HeapAllocBytes:      ms.HeapAlloc,
		HeapSysBytes:        ms.HeapSys,
		GCCount:             ms.NumGC,
		GCPauseTotalSeconds: float64(ms.PauseTotalNs) / 1e9,
		StartedAt:           c.started.UTC(),
		UptimeSeconds:       time.Since(c.started).Seconds(),
	}
	if ms.NumGC > 0 {
		out.GCLastPauseSeconds = float64(ms.PauseNs[(ms.NumGC+255)%256]) / 1e9
	}
	if secs > 0 && curCPU >= prevCPU {
		out.CPUPercent = (curCPU - prevCPU) / secs * 100
	}
	if c.self == nil {
		return out
	}
	if m, err := c.self.MemoryInfoWithContext(ctx); err == nil {
		out.RSSBytes, out.VMSBytes = m.RSS, m.VMS
	} else {
		c.log.Debug("collector: own memory", "err", err)
	}
	if n, err := c.self.NumThreadsWithContext(ctx); err == nil {
		out.Threads = n
	}
	if files, inet, err := ownDescriptors(); err == nil {
		out.OpenFiles, out.Connections = files, inet
		return out
	}
	if n, err := c.self.NumFDsWithContext(ctx); err == nil {
		out.OpenFiles = int(n)
	} else {
		c.log.Debug("collector: own open files", "err", err)
	}
	if conns, err := net.ConnectionsPidWithoutUidsWithContext(ctx, "inet", out.PID); err == nil {
		out.Connections = len(conns)
	} else {
		c.log.Debug("collector: own connections", "err", err)
	}
	return out
}
