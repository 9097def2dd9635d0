package sample

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	segjson "github.com/segmentio/encoding/json"
)

// WireVersion is the version of the format agents send samples to the hub in (docs/fleet.md).
// A hub refuses a version it does not know, so an agent newer than its hub says so plainly
// instead of having fields silently dropped.
const WireVersion = 1

// Bounds of one ingest request. An agent catching up after an outage sends many batches of up
// to MaxBatchSamples; the hub refuses anything larger with 413 naming the bound.
const (
	MaxBatchSamples = 500
	// MaxBodyBytes bounds the request body as sent (gzip-compressed or not).
	MaxBodyBytes = 4 << 20
	// MaxDecodedBytes bounds the body once decompressed, so a small gzip bomb cannot fill memory.
	MaxDecodedBytes = 32 << 20
)

// Batch is one ingest request: a few samples of one host, oldest first. The host is not in it:
// the hub takes it from the agent's token, so an agent can only ever write its own host.
type Batch struct {
	Version int   `json:"version"`
	Agent   Agent `json:"agent"`
	// SentAt is the agent's clock when it sent the batch; the hub compares it with its own to
	// know the agent's clock offset.
	SentAt time.Time `json:"sent_at"`
	// Platform is sent with the first batch after the agent starts and whenever it changes.
	Platform *Platform `json:"platform,omitempty"`
	// Samples are oldest first. Their Host field is ignored.
	Samples []Snapshot `json:"samples"`
}

// Agent identifies the software that sent a batch.
type Agent struct {
	Version string `json:"version"`
}

// Problem is what is wrong with one part of a request, named by its JSON path
// (samples[3].system.filesystems[0].mountpoint).
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p Problem) Error() string { return p.Field + ": " + p.Message }

// Errors of DecodeBatch.
var (
	// ErrTooLarge: the body, compressed or decompressed, is over its bound.
	ErrTooLarge = errors.New("the request body is too large")
	// ErrVersion: the batch speaks a version this hub does not know.
	ErrVersion = errors.New("unsupported wire format version")
)

// Marshal and Unmarshal are the JSON codec wherever the hub handles samples in bulk: decoding
// batches, host_state's latest sample, the fleet view's refresh. segmentio/encoding's json
// behaves as encoding/json does (it runs its tests) at about four times the speed of decoding:
// a one-sample batch decoded in 8.6 µs instead of 33.6 (docs/scaling.md). The messages that
// name what is wrong in a refused batch still come from encoding/json.
func Marshal(v any) ([]byte, error) { return segjson.Marshal(v) }

// Unmarshal: see Marshal.
func Unmarshal(data []byte, v any) error { return segjson.Unmarshal(data, v) }

// DecodeBatch reads one batch from body, gunzipping it when encoding is "gzip". It checks the
// envelope (JSON syntax, version, sample count, sizes) and returns a *Problem, ErrTooLarge or
// ErrVersion (wrapped, with a message for the agent) when the request as a whole is unusable.
// The samples themselves are checked one by one with CheckSnapshot, so one bad sample does not
// hold back the others.
func DecodeBatch(body io.Reader, encoding string) (Batch, error) {
	var b Batch
	r := io.LimitReader(body, MaxBodyBytes+1)
	encoding = strings.ToLower(strings.TrimSpace(encoding))
	switch encoding {
	case "", "identity":
	case "gzip":
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(r)
		} else {
			err = zr.Reset(r)
		}
		if err != nil {
			return b, &Problem{Field: "body", Message: "Content-Encoding is gzip but the body is not gzip data: " + err.Error()}
		}
		defer gzipReaders.Put(zr)
		r = io.LimitReader(zr, MaxDecodedBytes+1)
	default:
		return b, &Problem{Field: "Content-Encoding", Message: fmt.Sprintf("%q is not supported; send gzip or no encoding", encoding)}
	}
	buf, _ := readBuffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= 1<<20 { // a rare huge batch does not stay in memory
			readBuffers.Put(buf)
		}
	}()
	buf.Reset()
	_, err := buf.ReadFrom(r)
	data := buf.Bytes()
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return b, fmt.Errorf("%w: over %d MiB", ErrTooLarge, mbe.Limit>>20)
	}
	if err != nil {
		return b, &Problem{Field: "body", Message: "could not be read: " + err.Error()}
	}
	if len(data) > MaxDecodedBytes {
		return b, fmt.Errorf("%w: over %d MiB once decompressed", ErrTooLarge, MaxDecodedBytes>>20)
	}
	if encoding != "gzip" && len(data) > MaxBodyBytes {
		return b, fmt.Errorf("%w: over %d MiB", ErrTooLarge, MaxBodyBytes>>20)
	}
	// Most batches are well-formed and of this version: one pass decodes them. The hub spends
	// more on decoding batches than on anything else, so the careful path below, which reads
	// the version first and alone and words its errors with encoding/json's, is for the rest.
	if err := Unmarshal(data, &b); err == nil && b.Version == WireVersion {
		return checkBatch(b)
	}
	b = Batch{}
	// The version comes first, alone: a newer agent's batch may not fit this hub's types at all,
	// and "unsupported version" is the message that helps, not a type error deep inside.
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return b, jsonProblem("body", err)
	}
	switch {
	case head.Version == nil:
		return b, &Problem{Field: "version", Message: fmt.Sprintf("is required (this hub speaks version %d)", WireVersion)}
	case *head.Version != WireVersion:
		return b, fmt.Errorf("%w: the batch is version %d and this hub speaks version %d; upgrade the hub or install an agent of the hub's version",
			ErrVersion, *head.Version, WireVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&b); err != nil {
		return b, jsonProblem("body", err)
	}
	if dec.More() {
		return b, &Problem{Field: "body", Message: "unexpected data after the JSON object"}
	}
	return checkBatch(b)
}

// gzipReaders and readBuffers keep the decompressors (32 KiB window each) and the decoded
// bodies of past batches for the next: at thousands of batches a second, allocating them anew
// was a good part of the hub's garbage.
var (
	gzipReaders sync.Pool
	readBuffers sync.Pool
)

// checkBatch checks a decoded batch's envelope.
func checkBatch(b Batch) (Batch, error) {
	switch {
	case len(b.Samples) == 0:
		return b, &Problem{Field: "samples", Message: "is empty; send at least one sample"}
	case len(b.Samples) > MaxBatchSamples:
		return b, fmt.Errorf("%w: %d samples, at most %d per request", ErrTooLarge, len(b.Samples), MaxBatchSamples)
	}
	c := checker{}
	c.text("agent.version", b.Agent.Version, 64)
	if b.Platform != nil {
		c.platform("platform", *b.Platform)
	}
	if len(c.problems) > 0 {
		return b, &c.problems[0]
	}
	return b, nil
}

func jsonProblem(field string, err error) *Problem {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ) && typ.Field != "":
		return &Problem{Field: typ.Field, Message: fmt.Sprintf("must be a JSON %s, not %s", typ.Type, typ.Value)}
	case errors.As(err, &syntax):
		return &Problem{Field: field, Message: fmt.Sprintf("is not valid JSON: %v (at byte %d)", err, syntax.Offset)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Problem{Field: field, Message: "is not valid JSON: it ends before the object does"}
	}
	return &Problem{Field: field, Message: "is not a valid batch: " + err.Error()}
}

// Bounds of one sample's lists: far above any real host, low enough that a malicious agent
// cannot make one sample cost the hub megabytes.
const (
	maxCores        = 4096
	maxFilesystems  = 512
	maxInterfaces   = 1024
	maxTemperatures = 512
	maxTop          = 50
	maxText         = 1024
)

// MaxFutureSkew is how far ahead of the hub's clock a sample may be taken: more means the
// agent's clock is wrong, and storing it would put points in the future of every chart.
const MaxFutureSkew = 5 * time.Minute

// oldest is the earliest collection time believed: before it, the agent's clock was not set.
var oldest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// CheckSnapshot names the first thing wrong with a sample from an agent (field is its path
// prefix, e.g. "samples[3]"), or returns nil. now is the hub's clock, to refuse samples from the
// future; clockOffset (the agent's clock minus the hub's) goes into that message, because a
// wrong clock is nearly always why.
func CheckSnapshot(field string, s Snapshot, now time.Time, clockOffset time.Duration) *Problem {
	c := checker{}
	switch {
	case s.CollectedAt.IsZero():
		c.fail(field+".collected_at", "is required")
	case s.CollectedAt.Before(oldest):
		c.fail(field+".collected_at", fmt.Sprintf("%s is before 2000: the agent's clock is not set", s.CollectedAt.UTC().Format(time.RFC3339)))
	case s.CollectedAt.After(now.Add(MaxFutureSkew)):
		c.fail(field+".collected_at", fmt.Sprintf("%s is %s ahead of the hub's clock (the agent's clock is off by %+.0f s); fix the agent's clock (NTP)",
			s.CollectedAt.UTC().Format(time.RFC3339), s.CollectedAt.Sub(now).Round(time.Second), clockOffset.Seconds()))
	}
	sys := s.System
	c.percent(field+".system.cpu.total_percent", sys.CPU.TotalPercent)
	c.percent(field+".system.cpu.user_percent", sys.CPU.UserPercent)
	c.percent(field+".system.cpu.system_percent", sys.CPU.SystemPercent)
	c.percent(field+".system.cpu.iowait_percent", sys.CPU.IowaitPercent)
	c.percent(field+".system.cpu.steal_percent", sys.CPU.StealPercent)
	c.percent(field+".system.cpu.idle_percent", sys.CPU.IdlePercent)
	c.count(field+".system.cpu.per_core_percent", len(sys.CPU.PerCorePercent), maxCores)
	for i, v := range sys.CPU.PerCorePercent {
		c.percent(fmt.Sprintf("%s.system.cpu.per_core_percent[%d]", field, i), v)
	}
	c.between(field+".system.cpu.logical_cores", float64(sys.CPU.LogicalCores), 0, maxCores)
	c.between(field+".system.cpu.physical_cores", float64(sys.CPU.PhysicalCores), 0, maxCores)
	c.nonNegative(field+".system.load.load1", sys.Load.Load1)
	c.nonNegative(field+".system.load.load5", sys.Load.Load5)
	c.nonNegative(field+".system.load.load15", sys.Load.Load15)
	c.nonNegative(field+".system.load.per_core1", sys.Load.PerCore1)
	c.percent(field+".system.memory.used_percent", sys.Memory.UsedPercent)
	c.percent(field+".system.swap.used_percent", sys.Swap.UsedPercent)
	c.count(field+".system.filesystems", len(sys.Filesystems), maxFilesystems)
	for i, fs := range sys.Filesystems {
		f := fmt.Sprintf("%s.system.filesystems[%d]", field, i)
		c.text(f+".mountpoint", fs.Mountpoint, maxText)
		if fs.Mountpoint == "" {
			c.fail(f+".mountpoint", "is required")
		}
		c.text(f+".device", fs.Device, maxText)
		c.text(f+".fstype", fs.Fstype, 64)
		c.percent(f+".used_percent", fs.UsedPercent)
		c.percent(f+".inodes_used_percent", fs.InodesUsedPercent)
	}
	io := sys.DiskIO
	for _, f := range []named[float64]{{"read_bytes_per_second", io.ReadBytesPerSecond}, {"write_bytes_per_second", io.WriteBytesPerSecond},
		{"read_ops_per_second", io.ReadOpsPerSecond}, {"write_ops_per_second", io.WriteOpsPerSecond}} {
		c.nonNegative(field+".system.disk_io."+f.name, f.v)
	}
	n := sys.Network
	for _, f := range []named[float64]{{"recv_bytes_per_second", n.RecvBytesPerSecond}, {"sent_bytes_per_second", n.SentBytesPerSecond},
		{"recv_packets_per_second", n.RecvPacketsPerSecond}, {"sent_packets_per_second", n.SentPacketsPerSecond},
		{"recv_errors_per_second", n.RecvErrorsPerSecond}, {"sent_errors_per_second", n.SentErrorsPerSecond},
		{"recv_drops_per_second", n.RecvDropsPerSecond}, {"sent_drops_per_second", n.SentDropsPerSecond}} {
		c.nonNegative(field+".system.network."+f.name, f.v)
	}
	c.count(field+".system.network.interfaces", len(n.Interfaces), maxInterfaces)
	for i, ifc := range n.Interfaces {
		f := fmt.Sprintf("%s.system.network.interfaces[%d]", field, i)
		c.text(f+".name", ifc.Name, 256)
		c.nonNegative(f+".recv_bytes_per_second", ifc.RecvBytesPerSecond)
		c.nonNegative(f+".sent_bytes_per_second", ifc.SentBytesPerSecond)
	}
	c.count(field+".system.temperatures", len(sys.Temperatures), maxTemperatures)
	for i, t := range sys.Temperatures {
		f := fmt.Sprintf("%s.system.temperatures[%d]", field, i)
		c.text(f+".sensor", t.Sensor, 256)
		c.between(f+".celsius", t.Celsius, -273.15, 1000)
	}
	c.between(field+".system.process_count", float64(sys.ProcessCount), 0, 1<<31-1)
	p := s.Process
	c.nonNegative(field+".process.cpu_percent", p.CPUPercent)
	c.nonNegative(field+".process.gc_pause_total_seconds", p.GCPauseTotalSeconds)
	c.nonNegative(field+".process.uptime_seconds", p.UptimeSeconds)
	for _, list := range []named[[]ProcInfo]{{"by_cpu", s.Top.ByCPU}, {"by_memory", s.Top.ByMemory}} {
		c.count(field+".top_processes."+list.name, len(list.v), maxTop)
		for i, pi := range list.v {
			f := fmt.Sprintf("%s.top_processes.%s[%d]", field, list.name, i)
			c.text(f+".name", pi.Name, 256)
			c.text(f+".user", pi.User, 256)
			c.nonNegative(f+".cpu_percent", pi.CPUPercent)
			c.percent(f+".memory_percent", pi.MemoryPercent)
		}
	}
	if len(c.problems) == 0 {
		return nil
	}
	return &c.problems[0]
}

// named is a field's JSON name and value, for checking fields in a fixed order.
type named[T any] struct {
	name string
	v    T
}

// checker collects problems; only the first is reported, but collecting keeps the checks flat.
type checker struct{ problems []Problem }

func (c *checker) fail(field, msg string) {
	c.problems = append(c.problems, Problem{Field: field, Message: msg})
}

// text refuses what PostgreSQL cannot store (a NUL, invalid UTF-8) and what no host has (a
// name of kilobytes).
func (c *checker) text(field, s string, maxLen int) {
	switch {
	case !utf8.ValidString(s):
		c.fail(field, "is not valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		c.fail(field, "contains a NUL character")
	case len(s) > maxLen:
		c.fail(field, fmt.Sprintf("is %d bytes long, at most %d", len(s), maxLen))
	}
}

func (c *checker) count(field string, n, most int) {
	if n > most {
		c.fail(field, fmt.Sprintf("has %d entries, at most %d", n, most))
	}
}

// percent allows a little over 100: counters read a few microseconds apart round that way.
func (c *checker) percent(field string, v float64) { c.between(field, v, 0, 101) }

func (c *checker) nonNegative(field string, v float64) { c.between(field, v, 0, math.MaxFloat64) }

func (c *checker) between(field string, v, lo, hi float64) {
	if math.IsNaN(v) || v < lo || v > hi {
		c.fail(field, fmt.Sprintf("%g is outside %g..%g", v, lo, hi))
	}
}

func (c *checker) platform(field string, p Platform) {
	for _, f := range []named[string]{{"hostname", p.Hostname}, {"os", p.OS}, {"platform", p.Platform}, {"platform_family", p.PlatformFamily},
		{"platform_version", p.PlatformVersion}, {"kernel_version", p.KernelVersion}, {"architecture", p.Architecture},
		{"cpu_model", p.CPUModel}, {"virtualization", p.Virtualization}, {"go_version", p.GoVersion}, {"version", p.Version}} {
		c.text(field+"."+f.name, f.v, 256)
	}
	c.between(field+".logical_cores", float64(p.LogicalCores), 0, maxCores)
	c.between(field+".physical_cores", float64(p.PhysicalCores), 0, maxCores)
}
