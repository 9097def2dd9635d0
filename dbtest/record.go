package dbtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/store"
)

// Recorder returns a collector sink that stores each sample at once, through the store the hub
// itself writes with, under the sample's own host (enrolled as the hub's own on first sight).
// There is no spool and no agent here: tests that need those run them.
func Recorder(tb testing.TB, pool *pgxpool.Pool) func(sample.Snapshot) {
	tb.Helper()
	st := store.New(pool, store.Options{})
	var mu sync.Mutex
	enrolled := map[string]bool{}
	return func(s sample.Snapshot) {
		ctx := context.Background()
		mu.Lock()
		defer mu.Unlock()
		if !enrolled[s.Host] {
			if err := queries.New(pool).EnsureLocalHost(ctx, queries.EnsureLocalHostParams{Name: s.Host, Now: time.Now()}); err != nil {
				tb.Errorf("dbtest: enrol %s: %v", s.Host, err)
				return
			}
			enrolled[s.Host] = true
		}
		b := sample.Batch{Version: sample.WireVersion, Samples: []sample.Snapshot{s}}
		// The sample's own time stands for the hub's clock, so tests may store samples of any age.
		res, err := st.Write(ctx, store.Writer{Host: s.Host}, b, s.CollectedAt)
		if err != nil {
			tb.Errorf("dbtest: store a sample of %s: %v", s.Host, err)
		} else if len(res.Rejected) > 0 {
			tb.Errorf("dbtest: a sample of %s was rejected: %+v", s.Host, res.Rejected)
		}
	}
}
