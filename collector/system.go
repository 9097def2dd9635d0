package collector

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/sensors"

	"github.com/infradash/infradash/sample"
)

// hostPaths are gopsutil's own variables for reading the host from a container.
// gopsutil honours them itself; we need them where we read files directly.
type hostPaths struct {
	proc, sys, etc, root string
}

func hostPathsFromEnv() hostPaths {
	get := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	return hostPaths{
		proc: get("HOST_PROC", "/proc"),
		sys:  get("HOST_SYS", "/sys"),
		etc:  get("HOST_ETC", "/etc"),
		root: os.Getenv("HOST_ROOT"),
	}
}

func cpuPercents(prev, cur []cpu.TimesStat) sample.CPU {
	out := sample.CPU{PerCorePercent: make([]float64, len(cur))}
	if len(prev) != len(cur) {
		// CPUs went on- or offline between samples; one sample without
		// percentages is better than percentages over mismatched cores.
		return out
	}
	var p, c cpu.TimesStat
	for i := range cur {
		out.PerCorePercent[i] = busyPercent(prev[i], cur[i])
		p = addTimes(p, prev[i])
		c = addTimes(c, cur[i])
	}
	total := c.Total() - p.Total()
	if total <= 0 {
		return out
	}
	pct := func(d float64) float64 { return clampPercent(d / total * 100) }
	out.UserPercent = pct(c.User + c.Nice - p.User - p.Nice)
	out.SystemPercent = pct(c.System + c.Irq + c.Softirq - p.System - p.Irq - p.Softirq)
	out.IowaitPercent = pct(c.Iowait - p.Iowait)
	out.StealPercent = pct(c.Steal - p.Steal)
	out.IdlePercent = pct(c.Idle - p.Idle)
	out.TotalPercent = clampPercent(100 - out.IdlePercent - out.IowaitPercent)
	return out
}

func addTimes(a, b cpu.TimesStat) cpu.TimesStat {
	a.User += b.User
	a.System += b.System
	a.Idle += b.Idle
	a.Nice += b.Nice
	a.Iowait += b.Iowait
	a.Irq += b.Irq
	a.Softirq += b.Softirq
	a.Steal += b.Steal
	a.Guest += b.Guest
	a.GuestNice += b.GuestNice
	return a
}

func busyPercent(p, c cpu.TimesStat) float64 {
	total := c.Total() - p.Total()
	if total <= 0 {
		return 0
	}
	idle := (c.Idle + c.Iowait) - (p.Idle + p.Iowait)
	return clampPercent((total - idle) / total * 100)
}

// clampPercent absorbs the rounding of counters read a few microseconds apart.
func clampPercent(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	return min(v, 100)
}

// rate returns zero when a counter went backwards (wrapped, or the device was
// reset) rather than an absurd spike.
func rate(prev, cur uint64, secs float64) float64 {
	if cur < prev || secs <= 0 {
		return 0
	}
	return float64(cur-prev) / secs
}

func (c *Collector) readLoad(ctx context.Context) sample.Load {
	a, err := load.AvgWithContext(ctx)
	if err != nil {
		c.log.Debug("collector: load average", "err", err)
		return sample.Load{}
	}
	l := sample.Load{Load1: a.Load1, Load5: a.Load5, Load15: a.Load15}
	if n := c.platform.LogicalCores; n > 0 {
		l.PerCore1 = a.Load1 / float64(n)
	}
	return l
}

// readMemory also yields swap, from the same /proc/meminfo read: gopsutil's
// SwapMemory would parse /proc/vmstat too, for paging counters we do not report.
func (c *Collector) readMemory(ctx context.Context) (sample.Memory, sample.Swap) {
	v, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		c.log.Debug("collector: memory", "err", err)
		return sample.Memory{}, sample.Swap{}
	}
	m := sample.Memory{
		TotalBytes:     v.Total,
		UsedBytes:      v.Used,
		AvailableBytes: v.Available,
		FreeBytes:      v.Free,
		CachedBytes:    v.Cached,
		BuffersBytes:   v.Buffers,
		UsedPercent:    v.UsedPercent,
	}
	sw := sample.Swap{TotalBytes: v.SwapTotal, FreeBytes: v.SwapFree}
	if v.SwapTotal > v.SwapFree {
		sw.UsedBytes = v.SwapTotal - v.SwapFree
		sw.UsedPercent = float64(sw.UsedBytes) / float64(v.SwapTotal) * 100
	}
	return m, sw
}

// pseudoFilesystems hold no user data (or are the container's scratch layers);
// network filesystems are left out because statfs on a hung server blocks the
// sampler indefinitely.
var pseudoFilesystems = map[string]bool{
	"autofs": true, "binfmt_misc": true, "bpf": true, "configfs": true, "debugfs": true,
	"devpts": true, "devtmpfs": true, "efivarfs": true, "fusectl": true, "hugetlbfs": true,
	"mqueue": true, "nsfs": true, "overlay": true, "proc": true, "pstore": true, "ramfs": true,
	"rpc_pipefs": true, "securityfs": true, "selinuxfs": true, "squashfs": true, "sysfs": true,
	"tmpfs": true, "tracefs": true, "aufs": true, "shm": true, "nfsd": true,
	"nfs": true, "nfs4": true, "cifs": true, "smb3": true, "smbfs": true, "9p": true,
	"ceph": true, "glusterfs": true, "lustre": true,
}

// containerFileMounts are the files Docker bind-mounts from the host disk; they
// would otherwise show the host's disk under a file's name.
var containerFileMounts = map[string]bool{
	"/etc/hosts": true, "/etc/hostname": true, "/etc/resolv.conf": true,
}

func realFilesystem(p disk.PartitionStat) bool {
	if p.Mountpoint == "/" {
		// In a container "/" is an overlay, but it is still the disk the operator cares about.
		return true
	}
	if pseudoFilesystems[p.Fstype] || containerFileMounts[p.Mountpoint] {
		return false
	}
	if strings.HasPrefix(p.Fstype, "cgroup") || (strings.HasPrefix(p.Fstype, "fuse.") && p.Fstype != "fuse.zfs") {
		return false
	}
	return p.Device != "none" && p.Device != ""
}

func (c *Collector) readFilesystems(ctx context.Context) []sample.Filesystem {
	out := []sample.Filesystem{}
	// all=true because gopsutil's own filter drops an overlay root, which we keep.
	parts, err := disk.PartitionsWithContext(ctx, true)
	if err != nil {
		c.log.Debug("collector: partitions", "err", err)
		return out
	}
	parts = slices.DeleteFunc(parts, func(p disk.PartitionStat) bool { return !realFilesystem(p) })
	// "/" first, then shallower mountpoints, so a bind mount loses to the mount it copies.
	slices.SortStableFunc(parts, func(a, b disk.PartitionStat) int {
		if (a.Mountpoint == "/") != (b.Mountpoint == "/") {
			if a.Mountpoint == "/" {
				return -1
			}
			return 1
		}
		return len(a.Mountpoint) - len(b.Mountpoint)
	})
	seen := make(map[string]bool, len(parts))
	for _, p := range parts {
		if seen[p.Device] {
			continue
		}
		seen[p.Device] = true
		path := p.Mountpoint
		if c.paths.root != "" {
			path = filepath.Join(c.paths.root, p.Mountpoint)
		}
		u, err := disk.UsageWithContext(ctx, path)
		if err != nil {
			c.log.Debug("collector: filesystem usage", "mountpoint", p.Mountpoint, "err", err)
			continue
		}
		if u.Total == 0 {
			continue
		}
		out = append(out, sample.Filesystem{
			Mountpoint:        p.Mountpoint,
			Device:            p.Device,
			Fstype:            p.Fstype,
			TotalBytes:        u.Total,
			UsedBytes:         u.Used,
			FreeBytes:         u.Free,
			UsedPercent:       u.UsedPercent,
			InodesUsedPercent: u.InodesUsedPercent,
		})
	}
	slices.SortFunc(out, func(a, b sample.Filesystem) int { return strings.Compare(a.Mountpoint, b.Mountpoint) })
	return out
}

// diskSet remembers which block devices are whole physical disks; the list
// changes only when a disk is attached, so it is refreshed once a minute.
type diskSet struct {
	names     []string
	checkedAt time.Time
}

// virtualDiskPrefixes either hold no real I/O (loop, ram, zram) or repeat the
// I/O of the disks beneath them (device mapper, md RAID).
var virtualDiskPrefixes = []string{"loop", "ram", "zram", "dm-", "md", "nbd"}

func (d *diskSet) counters(ctx context.Context, c *Collector) map[string]disk.IOCountersStat {
	if d.checkedAt.IsZero() || time.Since(d.checkedAt) > time.Minute {
		d.checkedAt = time.Now()
		d.names = d.names[:0]
		// /sys/block lists whole disks only; partitions live beneath them.
		entries, err := os.ReadDir(filepath.Join(c.paths.sys, "block"))
		if err != nil {
			c.log.Debug("collector: list disks", "err", err)
		}
		for _, e := range entries {
			if !slices.ContainsFunc(virtualDiskPrefixes, func(p string) bool { return strings.HasPrefix(e.Name(), p) }) {
				d.names = append(d.names, e.Name())
			}
		}
	}
	if len(d.names) == 0 {
		return nil
	}
	// IOCounters rewrites its arguments in place, so it gets a copy.
	m, err := disk.IOCountersWithContext(ctx, slices.Clone(d.names)...)
	if err != nil {
		c.log.Debug("collector: disk counters", "err", err)
	}
	return m
}

// diskRates compares disk by disk, so a disk that appears between samples adds
// nothing rather than its whole lifetime of I/O.
func diskRates(prev, cur map[string]disk.IOCountersStat, secs float64) sample.DiskIO {
	var out sample.DiskIO
	for name, c := range cur {
		p, ok := prev[name]
		if !ok {
			continue
		}
		out.ReadBytesPerSecond += rate(p.ReadBytes, c.ReadBytes, secs)
		out.WriteBytesPerSecond += rate(p.WriteBytes, c.WriteBytes, secs)
		out.ReadOpsPerSecond += rate(p.ReadCount, c.ReadCount, secs)
		out.WriteOpsPerSecond += rate(p.WriteCount, c.WriteCount, secs)
	}
	return out
}

func (c *Collector) readNetCounters(ctx context.Context) map[string]net.IOCountersStat {
	list, err := net.IOCountersWithContext(ctx, true)
	if err != nil {
		c.log.Debug("collector: network counters", "err", err)
		return nil
	}
	m := make(map[string]net.IOCountersStat, len(list))
	for _, n := range list {
		if n.Name != "lo" {
			m[n.Name] = n
		}
	}
	return m
}

func netRates(prev, cur map[string]net.IOCountersStat, secs float64) sample.Network {
	out := sample.Network{Interfaces: make([]sample.Interface, 0, len(cur))}
	for name, c := range cur {
		p, ok := prev[name]
		if !ok {
			p = c // new interface: zero rates this time
		}
		i := sample.Interface{
			Name:                 name,
			RecvBytesPerSecond:   rate(p.BytesRecv, c.BytesRecv, secs),
			SentBytesPerSecond:   rate(p.BytesSent, c.BytesSent, secs),
			RecvPacketsPerSecond: rate(p.PacketsRecv, c.PacketsRecv, secs),
			SentPacketsPerSecond: rate(p.PacketsSent, c.PacketsSent, secs),
			RecvErrorsPerSecond:  rate(p.Errin, c.Errin, secs),
			SentErrorsPerSecond:  rate(p.Errout, c.Errout, secs),
		}
		out.Interfaces = append(out.Interfaces, i)
		out.RecvBytesPerSecond += i.RecvBytesPerSecond
		out.SentBytesPerSecond += i.SentBytesPerSecond
		out.RecvPacketsPerSecond += i.RecvPacketsPerSecond
		out.SentPacketsPerSecond += i.SentPacketsPerSecond
		out.RecvErrorsPerSecond += i.RecvErrorsPerSecond
		out.SentErrorsPerSecond += i.SentErrorsPerSecond
		out.RecvDropsPerSecond += rate(p.Dropin, c.Dropin, secs)
		out.SentDropsPerSecond += rate(p.Dropout, c.Dropout, secs)
	}
	slices.SortFunc(out.Interfaces, func(a, b sample.Interface) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// sensorState avoids rescanning hwmon every 5 s on the many hosts (VMs,
// containers) that have no sensors at all; they are looked for again every
// ten minutes in case a driver loads late.
type sensorState struct {
	none      bool
	checkedAt time.Time
}

func (st *sensorState) read(ctx context.Context, c *Collector) []sample.Temperature {
	out := []sample.Temperature{}
	if st.none && time.Since(st.checkedAt) < 10*time.Minute {
		return out
	}
	st.checkedAt = time.Now()
	temps, err := sensors.TemperaturesWithContext(ctx)
	if err != nil {
		// Partial results come with warnings; keep what was read.
		c.log.Debug("collector: temperatures", "err", err)
	}
	for _, t := range temps {
		if t.Temperature == 0 || math.IsNaN(t.Temperature) {
			continue
		}
		out = append(out, sample.Temperature{Sensor: t.SensorKey, Celsius: t.Temperature})
	}
	st.none = len(out) == 0
	return out
}
