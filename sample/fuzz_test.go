package sample

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzNow is the hub's clock in the fuzz targets: fixed, so a seed means the same thing on every run.
var fuzzNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// FuzzDecodeBatch feeds an agent's request body to the hub's decoder, as JSON (how 0), as a
// valid gzip stream of those bytes (how 1) and as the bytes themselves claimed to be gzip (how
// 2: truncated or garbage gzip), then checks every decoded sample as ingest does. Bad input is
// never a panic, and always an error that names what is wrong: a Problem with its field, or the
// bound or the version it breaks. A sample CheckSnapshot lets through holds only what the hub can
// store and show. The seeds (testdata/fuzz/FuzzDecodeBatch: NUL bytes, invalid UTF-8, huge
// numbers, deep nesting, truncated gzip, every field) run in every go test.
func FuzzDecodeBatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, how uint8) {
		b, err := DecodeBatch(bytes.NewReader(wireBody(body, how)), []string{"", "gzip", "gzip"}[how%3])
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if len(b.Samples) == 0 || len(b.Samples) > MaxBatchSamples || b.Version != WireVersion {
			t.Fatalf("accepted a batch of version %d with %d samples", b.Version, len(b.Samples))
		}
		for i, s := range b.Samples {
			field := fmt.Sprintf("samples[%d]", i)
			p := CheckSnapshot(field, s, fuzzNow, 0)
			if p != nil {
				if !strings.HasPrefix(p.Field, field) || p.Message == "" {
					t.Fatalf("CheckSnapshot's problem does not name the sample's field: %+v", p)
				}
				continue
			}
			checkStorable(t, field, s)
		}
	})
}

// wireBody is body as a client sends it with how: plain, gzipped, or raw under a gzip header.
func wireBody(body []byte, how uint8) []byte {
	if how%3 != 1 {
		return body
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(body)
	_ = zw.Close()
	return buf.Bytes()
}

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var p *Problem
	switch {
	case errors.As(err, &p):
		if p.Field == "" || p.Message == "" {
			t.Fatalf("a problem without a field or a message: %+v", p)
		}
		if !utf8.ValidString(p.Error()) {
			// The message goes back to the agent as JSON and into its log.
			t.Fatalf("the problem's message is not valid UTF-8: %q", p.Error())
		}
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrVersion):
		if !strings.Contains(err.Error(), ": ") {
			t.Fatalf("%v does not say which bound or version", err)
		}
	default:
		t.Fatalf("DecodeBatch returned an error that names nothing: %T %v", err, err)
	}
}

// checkStorable fails when an accepted sample holds what PostgreSQL's text or the pages cannot:
// a NUL, invalid UTF-8, a percentage past 101, a negative rate, a list over its bound.
func checkStorable(t *testing.T, field string, s Snapshot) {
	t.Helper()
	if _, err := json.Marshal(s); err != nil {
		t.Fatalf("%s was accepted but does not encode again (the hub keeps it as the host's latest): %v", field, err)
	}
	for _, v := range snapshotTexts(s) {
		if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 || len(v) > maxText {
			t.Fatalf("%s was accepted with the text %q", field, v)
		}
	}
	cpu := s.System.CPU
	for _, v := range append([]float64{cpu.TotalPercent, cpu.UserPercent, cpu.SystemPercent, cpu.IowaitPercent, cpu.StealPercent,
		cpu.IdlePercent, s.System.Memory.UsedPercent, s.System.Swap.UsedPercent}, cpu.PerCorePercent...) {
		if !(v >= 0 && v <= 101) {
			t.Fatalf("%s was accepted with a percentage of %g", field, v)
		}
	}
	if len(cpu.PerCorePercent) > maxCores || len(s.System.Filesystems) > maxFilesystems || len(s.System.Network.Interfaces) > maxInterfaces ||
		len(s.System.Temperatures) > maxTemperatures || len(s.Top.ByCPU) > maxTop || len(s.Top.ByMemory) > maxTop {
		t.Fatalf("%s was accepted with a list over its bound", field)
	}
	for _, fs := range s.System.Filesystems {
		if fs.Mountpoint == "" {
			t.Fatalf("%s was accepted with a filesystem without a mountpoint", field)
		}
	}
	if s.CollectedAt.Before(oldest) || s.CollectedAt.After(fuzzNow.Add(MaxFutureSkew)) {
		t.Fatalf("%s was accepted with collected_at %s", field, s.CollectedAt)
	}
}

func snapshotTexts(s Snapshot) []string {
	var out []string
	for _, fs := range s.System.Filesystems {
		out = append(out, fs.Mountpoint, fs.Device, fs.Fstype)
	}
	for _, i := range s.System.Network.Interfaces {
		out = append(out, i.Name)
	}
	for _, x := range s.System.Temperatures {
		out = append(out, x.Sensor)
	}
	for _, p := range append(append([]ProcInfo(nil), s.Top.ByCPU...), s.Top.ByMemory...) {
		out = append(out, p.Name, p.User)
	}
	return out
}

// FuzzCheckHostName checks a host name as enrolment and the hub's own INFRADASH_HOST do. A name
// it refuses gets an error that wraps ErrInvalidHostName and quotes the name; a name it accepts is
// a DNS name (letters, digits, hyphens and dots, at most 253 bytes), and so is its normal form.
func FuzzCheckHostName(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		err := CheckHostName(name)
		if err != nil {
			if !errors.Is(err, ErrInvalidHostName) || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
				t.Fatalf("CheckHostName(%q) = %v: it must wrap ErrInvalidHostName and quote the name", name, err)
			}
			return
		}
		if len(name) > 253 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != "" {
			t.Fatalf("CheckHostName accepted %q", name)
		}
		if n := NormalizeHostName(name); CheckHostName(n) != nil || NormalizeHostName(n) != n {
			t.Fatalf("%q is accepted but its normal form %q is not, or is not stable", name, n)
		}
	})
}
