package collector

import (
	"math"
	"testing"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/net"

	"github.com/infradash/infradash/sample"
)

func TestRate(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur uint64
		secs      float64
		want      float64
	}{
		{"steady", 1000, 6000, 5, 1000},
		{"no change", 42, 42, 5, 0},
		{"counter wrapped or reset", math.MaxUint64 - 10, 5, 5, 0},
		{"no elapsed time", 0, 100, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rate(tt.prev, tt.cur, tt.secs); got != tt.want {
				t.Errorf("rate(%d, %d, %v) = %v, want %v", tt.prev, tt.cur, tt.secs, got, tt.want)
			}
		})
	}
}

func TestCPUPercents(t *testing.T) {
	core := func(user, system, idle, iowait, steal float64) cpu.TimesStat {
		return cpu.TimesStat{User: user, System: system, Idle: idle, Iowait: iowait, Steal: steal}
	}
	tests := []struct {
		name      string
		prev, cur []cpu.TimesStat
		want      sample.CPU
	}{
		{
			name: "one core busy, one idle",
			prev: []cpu.TimesStat{core(0, 0, 0, 0, 0), core(0, 0, 0, 0, 0)},
			cur:  []cpu.TimesStat{core(6, 4, 0, 0, 0), core(0, 0, 10, 0, 0)},
			want: sample.CPU{TotalPercent: 50, UserPercent: 30, SystemPercent: 20, IdlePercent: 50, PerCorePercent: []float64{100, 0}},
		},
		{
			name: "iowait and steal are not busy time",
			prev: []cpu.TimesStat{core(10, 10, 10, 10, 10)},
			cur:  []cpu.TimesStat{core(12, 11, 14, 12, 11)},
			want: sample.CPU{TotalPercent: 40, UserPercent: 20, SystemPercent: 10, IdlePercent: 40, IowaitPercent: 20, StealPercent: 10, PerCorePercent: []float64{40}},
		},
		{
			name: "counters went backwards",
			prev: []cpu.TimesStat{core(10, 10, 10, 0, 0)},
			cur:  []cpu.TimesStat{core(1, 1, 1, 0, 0)},
			want: sample.CPU{PerCorePercent: []float64{0}},
		},
		{
			name: "a core came online",
			prev: []cpu.TimesStat{core(1, 1, 1, 0, 0)},
			cur:  []cpu.TimesStat{core(2, 2, 2, 0, 0), core(1, 1, 1, 0, 0)},
			want: sample.CPU{PerCorePercent: []float64{0, 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cpuPercents(tt.prev, tt.cur)
			near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
			if !near(got.TotalPercent, tt.want.TotalPercent) || !near(got.UserPercent, tt.want.UserPercent) ||
				!near(got.SystemPercent, tt.want.SystemPercent) || !near(got.IdlePercent, tt.want.IdlePercent) ||
				!near(got.IowaitPercent, tt.want.IowaitPercent) || !near(got.StealPercent, tt.want.StealPercent) {
				t.Errorf("cpuPercents = %+v, want %+v", got, tt.want)
			}
			if len(got.PerCorePercent) != len(tt.want.PerCorePercent) {
				t.Fatalf("per core = %v, want %v", got.PerCorePercent, tt.want.PerCorePercent)
			}
			for i := range got.PerCorePercent {
				if !near(got.PerCorePercent[i], tt.want.PerCorePercent[i]) {
					t.Errorf("per core = %v, want %v", got.PerCorePercent, tt.want.PerCorePercent)
				}
			}
		})
	}
}

func TestDiskRatesIgnoreNewDisks(t *testing.T) {
	prev := map[string]disk.IOCountersStat{"sda": {ReadBytes: 100, WriteBytes: 100, ReadCount: 1, WriteCount: 1}}
	cur := map[string]disk.IOCountersStat{
		"sda": {ReadBytes: 1100, WriteBytes: 600, ReadCount: 11, WriteCount: 6},
		"sdb": {ReadBytes: 1 << 40, WriteBytes: 1 << 40}, // lifetime counters of a newly attached disk
	}
	got := diskRates(prev, cur, 5)
	want := sample.DiskIO{ReadBytesPerSecond: 200, WriteBytesPerSecond: 100, ReadOpsPerSecond: 2, WriteOpsPerSecond: 1}
	if got != want {
		t.Errorf("diskRates = %+v, want %+v", got, want)
	}
}

func TestNetRates(t *testing.T) {
	prev := map[string]net.IOCountersStat{
		"eth0": {Name: "eth0", BytesRecv: 1000, BytesSent: 500},
		"eth1": {Name: "eth1", BytesRecv: 9000, BytesSent: 9000},
	}
	cur := map[string]net.IOCountersStat{
		"eth0": {Name: "eth0", BytesRecv: 2000, BytesSent: 1500},
		"eth1": {Name: "eth1", BytesRecv: 10, BytesSent: 10}, // driver reset its counters
		"wg0":  {Name: "wg0", BytesRecv: 5000, BytesSent: 5000},
	}
	got := netRates(prev, cur, 2)
	if got.RecvBytesPerSecond != 500 || got.SentBytesPerSecond != 500 {
		t.Errorf("totals = %v recv, %v sent; want 500, 500", got.RecvBytesPerSecond, got.SentBytesPerSecond)
	}
	names := []string{}
	for _, i := range got.Interfaces {
		names = append(names, i.Name)
	}
	if len(names) != 3 || names[0] != "eth0" || names[1] != "eth1" || names[2] != "wg0" {
		t.Errorf("interfaces = %v, want eth0 eth1 wg0", names)
	}
}

func TestRealFilesystem(t *testing.T) {
	tests := []struct {
		p    disk.PartitionStat
		want bool
	}{
		{disk.PartitionStat{Mountpoint: "/", Device: "/dev/sda1", Fstype: "ext4"}, true},
		{disk.PartitionStat{Mountpoint: "/", Device: "overlay", Fstype: "overlay"}, true},
		{disk.PartitionStat{Mountpoint: "/home", Device: "/dev/sda2", Fstype: "xfs"}, true},
		{disk.PartitionStat{Mountpoint: "/tank", Device: "tank", Fstype: "zfs"}, true},
		{disk.PartitionStat{Mountpoint: "/dev/shm", Device: "tmpfs", Fstype: "tmpfs"}, false},
		{disk.PartitionStat{Mountpoint: "/dev", Device: "udev", Fstype: "devtmpfs"}, false},
		{disk.PartitionStat{Mountpoint: "/proc", Device: "proc", Fstype: "proc"}, false},
		{disk.PartitionStat{Mountpoint: "/sys/fs/cgroup/cpu", Device: "cgroup", Fstype: "cgroup"}, false},
		{disk.PartitionStat{Mountpoint: "/sys/fs/cgroup", Device: "cgroup2", Fstype: "cgroup2"}, false},
		{disk.PartitionStat{Mountpoint: "/snap/core/1", Device: "/dev/loop0", Fstype: "squashfs"}, false},
		{disk.PartitionStat{Mountpoint: "/run/docker/netns/x", Device: "nsfs", Fstype: "nsfs"}, false},
		{disk.PartitionStat{Mountpoint: "/var/lib/docker/overlay2/x/merged", Device: "overlay", Fstype: "overlay"}, false},
		{disk.PartitionStat{Mountpoint: "/etc/hosts", Device: "/dev/sda1", Fstype: "ext4"}, false},
		{disk.PartitionStat{Mountpoint: "/mnt/share", Device: "srv:/export", Fstype: "nfs4"}, false},
		{disk.PartitionStat{Mountpoint: "/proc/sys/fs/binfmt_misc", Device: "systemd-1", Fstype: "autofs"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.p.Fstype+" "+tt.p.Mountpoint, func(t *testing.T) {
			if got := realFilesystem(tt.p); got != tt.want {
				t.Errorf("realFilesystem(%+v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		line string
		want procEntry
		ok   bool
	}{
		{
			name: "plain",
			line: "1234 (bash) S 1 1234 1234 34816 1234 4194304 1000 0 0 0 250 150 0 0 20 0 1 0 5000 9000000 800 18446744073709551615",
			want: procEntry{start: 5000, rssBytes: 800, cpuSeconds: 400 / cpu.ClocksPerSec},
			ok:   true,
		},
		{
			name: "name with spaces and parentheses",
			line: "77 (a (b) c) R 1 77 77 0 -1 4194304 0 0 0 0 10 10 0 0 20 0 4 0 42 1000 3",
			want: procEntry{start: 42, rssBytes: 3, cpuSeconds: 20 / cpu.ClocksPerSec},
			ok:   true,
		},
		{name: "truncated", line: "77 (x) R 1 2 3", ok: false},
		{name: "garbage", line: "no parenthesis here", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseStat([]byte(tt.line + "\n"))
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("parseStat = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSelectTop(t *testing.T) {
	var entries []procEntry
	for _, cpu := range []float64{3, 9, 1, 7, 7, 0, 12, 5} {
		entries = append(entries, procEntry{pid: int32(cpu * 10), cpuPercent: cpu})
	}
	got := selectTop(entries, func(a, b *procEntry) bool { return a.cpuPercent > b.cpuPercent })
	want := []float64{12, 9, 7, 7, 5}
	if len(got) != len(want) {
		t.Fatalf("selectTop returned %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].cpuPercent != want[i] {
			t.Errorf("selectTop = %+v, want cpu %v", got, want)
			break
		}
	}
	if few := selectTop(entries[:2], func(a, b *procEntry) bool { return a.cpuPercent > b.cpuPercent }); len(few) != 2 || few[0].cpuPercent != 9 {
		t.Errorf("selectTop of 2 = %+v", few)
	}
}
