// Package sample holds what one sample of a host is: the snapshot the collector takes, the
// platform facts, and the versioned wire format agents send them to the hub in. It imports
// nothing but the standard library, so every other package can share it.
package sample

import "time"

// Snapshot is one sample of the host. Its slices are shared with the ring buffer
// and with every sink, so consumers must treat a Snapshot as read-only.
type Snapshot struct {
	CollectedAt time.Time    `json:"collected_at"`
	Host        string       `json:"host"`
	System      System       `json:"system"`
	Process     Process      `json:"process"`
	Top         TopProcesses `json:"top_processes"`
}

// IsZero reports whether s was never collected (the zero Snapshot).
func (s Snapshot) IsZero() bool { return s.CollectedAt.IsZero() }

type System struct {
	CPU           CPU           `json:"cpu"`
	Load          Load          `json:"load"`
	Memory        Memory        `json:"memory"`
	Swap          Swap          `json:"swap"`
	Filesystems   []Filesystem  `json:"filesystems"`
	DiskIO        DiskIO        `json:"disk_io"`
	Network       Network       `json:"network"`
	UptimeSeconds uint64        `json:"uptime_seconds"`
	ProcessCount  int           `json:"process_count"`
	Temperatures  []Temperature `json:"temperatures"`
}

// CPU percentages are shares of all logical cores over the interval since the
// previous sample. UserPercent includes nice time and SystemPercent includes
// irq and softirq time, so user+system+iowait+steal+idle adds up to 100.
// TotalPercent is 100 - idle - iowait: waiting on a disk is not CPU work.
type CPU struct {
	TotalPercent   float64   `json:"total_percent"`
	UserPercent    float64   `json:"user_percent"`
	SystemPercent  float64   `json:"system_percent"`
	IowaitPercent  float64   `json:"iowait_percent"`
	StealPercent   float64   `json:"steal_percent"`
	IdlePercent    float64   `json:"idle_percent"`
	PerCorePercent []float64 `json:"per_core_percent"`
	LogicalCores   int       `json:"logical_cores"`
	PhysicalCores  int       `json:"physical_cores"`
}

type Load struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
	// PerCore1 is Load1 divided by the logical cores: the figure comparable across hosts.
	PerCore1 float64 `json:"per_core1"`
}

type Memory struct {
	TotalBytes     uint64  `json:"total_bytes"`
	UsedBytes      uint64  `json:"used_bytes"`
	AvailableBytes uint64  `json:"available_bytes"`
	FreeBytes      uint64  `json:"free_bytes"`
	CachedBytes    uint64  `json:"cached_bytes"`
	BuffersBytes   uint64  `json:"buffers_bytes"`
	UsedPercent    float64 `json:"used_percent"`
}

type Swap struct {
	TotalBytes  uint64  `json:"total_bytes"`
	UsedBytes   uint64  `json:"used_bytes"`
	FreeBytes   uint64  `json:"free_bytes"`
	UsedPercent float64 `json:"used_percent"`
}

// Filesystem usage as df reports it: UsedPercent is used/(used+available), so the
// blocks reserved for root do not hide a full disk.
type Filesystem struct {
	Mountpoint        string  `json:"mountpoint"`
	Device            string  `json:"device"`
	Fstype            string  `json:"fstype"`
	TotalBytes        uint64  `json:"total_bytes"`
	UsedBytes         uint64  `json:"used_bytes"`
	FreeBytes         uint64  `json:"free_bytes"` // available to unprivileged users (df's "Avail")
	UsedPercent       float64 `json:"used_percent"`
	InodesUsedPercent float64 `json:"inodes_used_percent"`
}

// DiskIO sums the whole physical disks (no partitions, loop, ram, zram, dm or md
// devices, which would count the same bytes twice).
type DiskIO struct {
	ReadBytesPerSecond  float64 `json:"read_bytes_per_second"`
	WriteBytesPerSecond float64 `json:"write_bytes_per_second"`
	ReadOpsPerSecond    float64 `json:"read_ops_per_second"`
	WriteOpsPerSecond   float64 `json:"write_ops_per_second"`
}

// Network totals sum every interface except loopback.
type Network struct {
	RecvBytesPerSecond   float64     `json:"recv_bytes_per_second"`
	SentBytesPerSecond   float64     `json:"sent_bytes_per_second"`
	RecvPacketsPerSecond float64     `json:"recv_packets_per_second"`
	SentPacketsPerSecond float64     `json:"sent_packets_per_second"`
	RecvErrorsPerSecond  float64     `json:"recv_errors_per_second"`
	SentErrorsPerSecond  float64     `json:"sent_errors_per_second"`
	RecvDropsPerSecond   float64     `json:"recv_drops_per_second"`
	SentDropsPerSecond   float64     `json:"sent_drops_per_second"`
	Interfaces           []Interface `json:"interfaces"`
}

type Interface struct {
	Name                 string  `json:"name"`
	RecvBytesPerSecond   float64 `json:"recv_bytes_per_second"`
	SentBytesPerSecond   float64 `json:"sent_bytes_per_second"`
	RecvPacketsPerSecond float64 `json:"recv_packets_per_second"`
	SentPacketsPerSecond float64 `json:"sent_packets_per_second"`
	RecvErrorsPerSecond  float64 `json:"recv_errors_per_second"`
	SentErrorsPerSecond  float64 `json:"sent_errors_per_second"`
}

type Temperature struct {
	Sensor  string  `json:"sensor"`
	Celsius float64 `json:"celsius"`
}

// Process describes this server's own process. CPUPercent is a share of one
// core (as top shows it), so a busy multi-threaded process can exceed 100.
type Process struct {
	PID                 int32     `json:"pid"`
	CPUPercent          float64   `json:"cpu_percent"`
	RSSBytes            uint64    `json:"rss_bytes"`
	VMSBytes            uint64    `json:"vms_bytes"`
	Threads             int32     `json:"threads"`
	OpenFiles           int       `json:"open_files"`
	Connections         int       `json:"connections"`
	Goroutines          int       `json:"goroutines"`
	HeapAllocBytes      uint64    `json:"heap_alloc_bytes"`
	HeapSysBytes        uint64    `json:"heap_sys_bytes"`
	GCCount             uint32    `json:"gc_count"`
	GCPauseTotalSeconds float64   `json:"gc_pause_total_seconds"`
	GCLastPauseSeconds  float64   `json:"gc_last_pause_seconds"`
	UptimeSeconds       float64   `json:"uptime_seconds"`
	StartedAt           time.Time `json:"started_at"`
}

type TopProcesses struct {
	ByCPU    []ProcInfo `json:"by_cpu"`
	ByMemory []ProcInfo `json:"by_memory"`
}

// ProcInfo is one host process. CPUPercent is a share of one core, like Process.CPUPercent.
type ProcInfo struct {
	PID           int32   `json:"pid"`
	Name          string  `json:"name"`
	User          string  `json:"user"`
	CPUPercent    float64 `json:"cpu_percent"`
	RSSBytes      uint64  `json:"rss_bytes"`
	MemoryPercent float64 `json:"memory_percent"`
}

// Platform holds the facts that do not change while the process runs.
type Platform struct {
	Hostname        string `json:"hostname"`
	OS              string `json:"os"`
	Platform        string `json:"platform"`
	PlatformFamily  string `json:"platform_family"`
	PlatformVersion string `json:"platform_version"`
	KernelVersion   string `json:"kernel_version"`
	Architecture    string `json:"architecture"`
	CPUModel        string `json:"cpu_model"`
	LogicalCores    int    `json:"logical_cores"`
	PhysicalCores   int    `json:"physical_cores"`
	// Virtualization is system and role, e.g. "docker guest" or "kvm host"; "" on bare metal.
	Virtualization string    `json:"virtualization"`
	BootTime       time.Time `json:"boot_time"`
	GoVersion      string    `json:"go_version"`
	Version        string    `json:"version"`
}
