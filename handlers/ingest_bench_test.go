package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/agent"
	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/sample"
)

// BenchmarkIngest is the hub's side of one agent's batch of one sample, over real HTTP into a
// real database, for 200 hosts posting at once: what the hub spends per sample (profile it with
// -cpuprofile; PostgreSQL's share is in its own process).
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	pool := dbtest.Pool(b)
	s := New(Deps{Options: Options{CollectInterval: 5 * time.Second, HostDownAfter: time.Minute}, Pool: pool, Host: "hub"})
	e := echo.New()
	s.Routes(e)
	ts := httptest.NewServer(e)
	defer ts.Close()
	const hosts = 200
	reg := fleet.NewRegistry(pool, nil)
	tokens := make([]string, hosts)
	for i := range tokens {
		_, tok, err := reg.Add(ctx, fmt.Sprintf("web-%04d", i), nil)
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = tok
	}
	real := collector.New(collector.Options{Version: "bench"}).Collect(ctx)
	start := time.Now().UTC().Add(-time.Hour)
	var n atomic.Int64
	client := ts.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = hosts
	b.SetParallelism(hosts / 2) // GOMAXPROCS is 2: 200 goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			snap := real
			snap.CollectedAt = start.Add(time.Duration(i) * time.Millisecond)
			rec, _ := json.Marshal(snap)
			body, err := agent.Encode(agent.Outgoing{Records: [][]byte{rec}, Agent: sample.Agent{Version: "bench"}, SentAt: time.Now()})
			if err != nil {
				b.Error(err)
				return
			}
			req, _ := http.NewRequest(http.MethodPost, ts.URL+PathIngest, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tokens[i%hosts])
			req.Header.Set("Content-Encoding", "gzip")
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("ingest: %d", res.StatusCode)
				return
			}
		}
	})
}
