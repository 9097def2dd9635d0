package collector

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/infradash/infradash/sample"
)

// memTotalFromProc reads MemTotal straight from the kernel, independently of gopsutil.
func memTotalFromProc(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatalf("open meminfo: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				t.Fatalf("parse MemTotal %q: %v", sc.Text(), err)
			}
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

func TestCollectAgreesWithKernel(t *testing.T) {
	c := New(Options{Version: "test"})
	s := c.Collect(context.Background())

	if got, want := s.System.Memory.TotalBytes, memTotalFromProc(t); got != want {
		t.Errorf("memory total = %d, /proc/meminfo MemTotal = %d", got, want)
	}

	var st syscall.Statfs_t
	if err := syscall.Statfs("/", &st); err != nil {
		t.Fatalf("statfs /: %v", err)
	}
	var root *sample.Filesystem
	for i := range s.System.Filesystems {
		if s.System.Filesystems[i].Mountpoint == "/" {
			root = &s.System.Filesystems[i]
		}
	}
	if root == nil {
		t.Fatalf("no root filesystem in %+v", s.System.Filesystems)
	}
	if want := st.Blocks * uint64(st.Bsize); root.TotalBytes != want {
		t.Errorf("root total = %d, statfs = %d", root.TotalBytes, want)
	}

	if got, want := s.System.CPU.LogicalCores, runtime.NumCPU(); got != want {
		t.Errorf("logical cores = %d, runtime.NumCPU = %d", got, want)
	}
	if got := len(s.System.CPU.PerCorePercent); got != runtime.NumCPU() {
		t.Errorf("per-core percentages for %d cores, want %d", got, runtime.NumCPU())
	}
	if host, _ := os.Hostname(); s.Host != host {
		t.Errorf("host = %q, os.Hostname = %q", s.Host, host)
	}
	if s.Process.PID != int32(os.Getpid()) || s.Process.RSSBytes == 0 || s.Process.Goroutines == 0 {
		t.Errorf("own process not described: %+v", s.Process)
	}
	if s.System.ProcessCount < 1 || len(s.Top.ByMemory) == 0 {
		t.Errorf("process table not read: count %d, top %+v", s.System.ProcessCount, s.Top)
	}
	if s.CollectedAt.Location() != time.UTC {
		t.Errorf("collected_at not UTC: %v", s.CollectedAt)
	}
	if p := c.Platform(); p.Hostname != s.Host || p.Version != "test" || p.GoVersion != runtime.Version() || p.BootTime.IsZero() {
		t.Errorf("platform incomplete: %+v", p)
	}
}

// The API promises arrays, never null, for every list even when it is empty.
func TestSnapshotEncodesEmptyListsAsArrays(t *testing.T) {
	s := New(Options{}).Collect(context.Background())
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "null") {
		t.Errorf("snapshot JSON contains null: %s", b)
	}
}

func TestCollectTwiceGivesSaneRatesAndPercentages(t *testing.T) {
	c := New(Options{})
	ctx := context.Background()
	c.Collect(ctx)
	time.Sleep(time.Second)
	s := c.Collect(ctx)

	cpu := s.System.CPU
	percents := map[string]float64{
		"total": cpu.TotalPercent, "user": cpu.UserPercent, "system": cpu.SystemPercent,
		"iowait": cpu.IowaitPercent, "steal": cpu.StealPercent, "idle": cpu.IdlePercent,
	}
	for i, v := range cpu.PerCorePercent {
		percents["core"+strconv.Itoa(i)] = v
	}
	for name, v := range percents {
		if v < 0 || v > 100 {
			t.Errorf("cpu %s = %v, want 0..100", name, v)
		}
	}
	if sum := cpu.UserPercent + cpu.SystemPercent + cpu.IowaitPercent + cpu.StealPercent + cpu.IdlePercent; sum < 99 || sum > 101 {
		t.Errorf("cpu parts add up to %v, want 100", sum)
	}

	rates := map[string]float64{
		"disk read": s.System.DiskIO.ReadBytesPerSecond, "disk write": s.System.DiskIO.WriteBytesPerSecond,
		"disk read ops": s.System.DiskIO.ReadOpsPerSecond, "disk write ops": s.System.DiskIO.WriteOpsPerSecond,
		"net recv": s.System.Network.RecvBytesPerSecond, "net sent": s.System.Network.SentBytesPerSecond,
		"own cpu": s.Process.CPUPercent,
	}
	for _, i := range s.System.Network.Interfaces {
		if i.Name == "lo" {
			t.Error("loopback interface reported")
		}
		rates[i.Name+" recv"] = i.RecvBytesPerSecond
		rates[i.Name+" sent"] = i.SentBytesPerSecond
	}
	for name, v := range rates {
		if v < 0 {
			t.Errorf("%s rate = %v, want >= 0", name, v)
		}
	}

	for name, list := range map[string][]sample.ProcInfo{"by_cpu": s.Top.ByCPU, "by_memory": s.Top.ByMemory} {
		if len(list) > topN {
			t.Errorf("%s has %d entries, want at most %d", name, len(list), topN)
		}
		for _, p := range list {
			if p.CPUPercent < 0 || p.MemoryPercent < 0 || p.MemoryPercent > 100 || p.Name == "" {
				t.Errorf("%s entry implausible: %+v", name, p)
			}
		}
	}
	for i := 1; i < len(s.Top.ByMemory); i++ {
		if s.Top.ByMemory[i].RSSBytes > s.Top.ByMemory[i-1].RSSBytes {
			t.Errorf("by_memory not in descending order: %+v", s.Top.ByMemory)
		}
	}
	for i := 1; i < len(s.Top.ByCPU); i++ {
		if s.Top.ByCPU[i].CPUPercent > s.Top.ByCPU[i-1].CPUPercent {
			t.Errorf("by_cpu not in descending order: %+v", s.Top.ByCPU)
		}
	}
}

// fakeClock is safe to move while Run reads it from another goroutine.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time  { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) Set(t time.Time) { f.mu.Lock(); defer f.mu.Unlock(); f.now = t }

func TestRecentKeepsHistoryOldestFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

	tests := []struct {
		name    string
		history time.Duration
		samples []int // minutes after t0, recorded in this order
		now     int
		since   time.Time
		want    []int
	}{
		{"all within history", time.Hour, []int{0, 10, 20}, 20, time.Time{}, []int{0, 10, 20}},
		{"older than history dropped", time.Hour, []int{0, 30, 60, 90}, 90, time.Time{}, []int{30, 60, 90}},
		{"exactly history old kept", time.Hour, []int{0, 30, 60}, 60, time.Time{}, []int{0, 30, 60}},
		{"since filters", time.Hour, []int{0, 10, 20, 30}, 30, at(15), []int{20, 30}},
		{"since equal to a sample includes it", time.Hour, []int{0, 10, 20}, 20, at(10), []int{10, 20}},
		{"since after everything", time.Hour, []int{0, 10}, 10, at(11), []int{}},
		{"clock moved on without samples", time.Hour, []int{0, 10, 20}, 75, time.Time{}, []int{20}},
		{"empty", time.Hour, nil, 0, time.Time{}, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{}
			c := New(Options{History: tt.history, Interval: time.Minute, Now: clock.Now})
			for _, m := range tt.samples {
				clock.Set(at(m))
				c.record(sample.Snapshot{CollectedAt: at(m)})
			}
			clock.Set(at(tt.now))
			got := c.Recent(tt.since)
			if got == nil {
				t.Fatal("Recent returned nil, want a non-nil slice")
			}
			gotMin := make([]int, len(got))
			for i, s := range got {
				gotMin[i] = int(s.CollectedAt.Sub(t0) / time.Minute)
			}
			if !slices.Equal(gotMin, tt.want) {
				t.Errorf("Recent = %v, want %v", gotMin, tt.want)
			}
		})
	}
}

func TestRingBufferStaysBounded(t *testing.T) {
	clock := &fakeClock{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := New(Options{History: time.Minute, Interval: 5 * time.Second, Now: clock.Now})
	for i := range 1000 {
		ts := t0.Add(time.Duration(i) * 5 * time.Second)
		clock.Set(ts)
		c.record(sample.Snapshot{CollectedAt: ts})
	}
	if got := len(c.Recent(time.Time{})); got != 13 {
		t.Errorf("ring holds %d samples over 1 minute at 5 s, want 13", got)
	}
	if cap(c.ring) > 64 {
		t.Errorf("ring capacity grew to %d", cap(c.ring))
	}
}

func TestRunFeedsSinksLatestAndRecent(t *testing.T) {
	c := New(Options{Interval: 20 * time.Millisecond})
	if _, ok := c.Latest(); ok {
		t.Fatal("Latest reported a sample before any was taken")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan sample.Snapshot, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx,
			func(sample.Snapshot) { panic("a broken sink must not stop the collector") },
			func(s sample.Snapshot) {
				select {
				case got <- s:
				default:
				}
			})
	}()
	var last sample.Snapshot
	for range 3 {
		select {
		case last = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("sink not called")
		}
	}
	cancel()
	<-done

	latest, ok := c.Latest()
	if !ok || latest.CollectedAt.Before(last.CollectedAt) {
		t.Errorf("Latest = %v, %v; want at least the last sunk sample %v", latest.CollectedAt, ok, last.CollectedAt)
	}
	recent := c.Recent(time.Time{})
	if len(recent) < 3 {
		t.Fatalf("Recent holds %d samples, want at least 3", len(recent))
	}
	for i := 1; i < len(recent); i++ {
		if recent[i].CollectedAt.Before(recent[i-1].CollectedAt) {
			t.Errorf("Recent not oldest first at %d", i)
		}
	}
}

func TestHostOptionNamesEverySnapshot(t *testing.T) {
	c := New(Options{Host: "web-7"})
	if got := c.Platform().Hostname; got != "web-7" {
		t.Errorf("platform host %q, want web-7", got)
	}
	if got := c.Collect(context.Background()).Host; got != "web-7" {
		t.Errorf("snapshot host %q, want web-7", got)
	}
}
