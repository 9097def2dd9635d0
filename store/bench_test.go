package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/store"
)

// BenchmarkWrite is the hub's ingest at fleet scale without HTTP: many agents, each posting one
// sample a batch, concurrently (-cpu sets nothing here; writers does). ns/op is per sample.
func BenchmarkWrite(b *testing.B) {
	for _, writers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			pool := dbtest.Pool(b)
			reg := fleet.NewRegistry(pool, nil)
			const hosts = 256
			tokens := make([][]byte, hosts)
			for i := range tokens {
				_, tok, err := reg.Add(context.Background(), fmt.Sprintf("bench-%d", i), nil)
				if err != nil {
					b.Fatal(err)
				}
				tokens[i] = fleet.HashToken(tok)
			}
			st := store.New(pool, store.Options{})
			now := time.Now().UTC()
			var seq atomic.Int64
			b.SetParallelism(max(1, writers/2)) // GOMAXPROCS is 2 on the target machine
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					s := snap(int(n / hosts))
					s.CollectedAt = now.Add(-time.Hour).Add(time.Duration(n/hosts) * time.Millisecond)
					bt := sample.Batch{Version: sample.WireVersion, Agent: sample.Agent{Version: "bench"}, SentAt: now, Samples: []sample.Snapshot{s}}
					res, err := st.Write(context.Background(), store.Writer{TokenHash: tokens[n%hosts]}, bt, now)
					if err != nil || res.Accepted != 1 {
						b.Errorf("write: %+v %v", res, err)
						return
					}
				}
			})
		})
	}
}
