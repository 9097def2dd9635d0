package collector

import (
	"context"
	"os/exec"
	"testing"
)

// BenchmarkCollect measures one steady-state sample (the 5-second tick), on
// this host as it is and with 300 extra processes, since the process table
// pass is the part that grows with the host.
func BenchmarkCollect(b *testing.B) {
	b.Run("host", benchmarkCollect)
	b.Run("host+300procs", func(b *testing.B) {
		for range 300 {
			cmd := exec.Command("sleep", "600")
			if err := cmd.Start(); err != nil {
				b.Fatalf("start sleep: %v", err)
			}
			b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		}
		benchmarkCollect(b)
	})
}

func benchmarkCollect(b *testing.B) {
	c := New(Options{})
	ctx := context.Background()
	c.Collect(ctx) // the first call primes the counters and sleeps; not what runs every 5 s
	b.ReportAllocs()
	var procs int
	for b.Loop() {
		procs = c.Collect(ctx).System.ProcessCount
	}
	b.ReportMetric(float64(procs), "procs")
}
