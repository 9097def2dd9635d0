//go:build !linux

package collector

import (
	"context"
	"errors"

	"github.com/shirou/gopsutil/v4/process"
)

// scanProcesses is the portable, slower path: gopsutil per process.
func scanProcesses(ctx context.Context, _ string, out []procEntry) ([]procEntry, error) {
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return out, err
	}
	for _, p := range procs {
		t, err := p.TimesWithContext(ctx)
		if err != nil {
			continue
		}
		e := procEntry{pid: p.Pid, cpuSeconds: t.User + t.System}
		if ct, err := p.CreateTimeWithContext(ctx); err == nil {
			e.start = uint64(ct)
		}
		if m, err := p.MemoryInfoWithContext(ctx); err == nil {
			e.rssBytes = m.RSS
		}
		out = append(out, e)
	}
	return out, nil
}

// ownDescriptors is not known off Linux: readSelf asks gopsutil instead.
func ownDescriptors() (files, inet int, err error) { return 0, 0, errors.ErrUnsupported }
