package dbtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ServerCPU is the CPU time the test server's processes have used so far: the postmaster, every
// backend, autovacuum, and the processes that have exited (parallel workers), which their parent
// accounts for. False when the server is not this test binary's own (TEST_DATABASE_URL).
// Benchmarks report the difference across what they measure: what the database spent, which a
// machine busy with other work does not inflate the way it inflates wall-clock time.
func ServerCPU() (time.Duration, bool) {
	if serverDir == "" {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(serverDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	postmaster, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		return 0, false
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range procs {
		f := statFields(p)
		if len(f) < 17 {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		ppid, _ := strconv.Atoi(f[1])
		switch {
		case pid == postmaster: // utime, stime, and its reaped children's cutime, cstime
			for _, i := range []int{11, 12, 13, 14} {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				ticks += n
			}
		case ppid == postmaster:
			for _, i := range []int{11, 12} {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				ticks += n
			}
		}
	}
	// Linux counts in USER_HZ, 100 a second on every architecture Go supports.
	return time.Duration(ticks) * 10 * time.Millisecond, true
}

// statFields are the fields of /proc/PID/stat after the command name (which may hold spaces):
// state is [0], ppid [1], utime [11], stime [12], cutime [13], cstime [14].
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return nil
	}
	return strings.Fields(s[i+2:])
}

// CPUMeter adds up ServerCPU over the stretches a benchmark times, one per operation.
type CPUMeter struct {
	// B, when set, has its timer stopped while the meter reads /proc (a few milliseconds, with
	// thousands of allocations), so that ns/op is the operation's alone.
	B interface {
		StopTimer()
		StartTimer()
	}

	start, total time.Duration
	ops          int
	ok           bool
}

// Start begins a stretch.
func (m *CPUMeter) Start() {
	m.untimed(func() { m.start, m.ok = ServerCPU() })
}

// Stop ends a stretch of one operation.
func (m *CPUMeter) Stop() {
	m.untimed(func() {
		if now, ok := ServerCPU(); ok && m.ok {
			m.total += now - m.start
			m.ops++
		}
	})
}

func (m *CPUMeter) untimed(f func()) {
	if m.B != nil {
		m.B.StopTimer()
		defer m.B.StartTimer()
	}
	f()
}

// Report adds db-cpu-ms/op, the server's CPU per operation, to b's results.
func (m *CPUMeter) Report(b interface{ ReportMetric(float64, string) }) {
	if m.ops > 0 {
		b.ReportMetric(float64(m.total.Microseconds())/1000/float64(m.ops), "db-cpu-ms/op")
	}
}
