package handlers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/authtest"
	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/health"
)

func benchmarkEndpoint(b *testing.B, name string, withToken bool) {
	col := collector.New(collector.Options{Version: "bench"})
	snap, platform := col.Collect(context.Background()), col.Platform()
	pool := dbtest.Pool(b)
	s := New(Deps{
		Options: Options{CollectInterval: 5 * time.Second}, Pool: pool, Host: platform.Hostname,
		Thresholds: health.DefaultThresholds(),
	})
	observe(b, s, snap, &platform)
	token := ""
	if withToken {
		token = authtest.Token(b, pool, RoleViewer)
	} else {
		s.authenticate = func(echo.Context) (*Principal, error) { return &Principal{UserID: 1, Role: RoleViewer}, nil }
	}
	e := echo.New()
	s.Routes(e)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, infraPath+name, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			e.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("GET %s: %d %s", name, rec.Code, rec.Body)
				return
			}
		}
	})
}

// BenchmarkHealth renders /health from a cached snapshot (spec: 5,000+ requests/s on 2 cores).
func BenchmarkHealth(b *testing.B) { benchmarkEndpoint(b, "health", false) }

// BenchmarkReport renders /report, which also reads open alerts (spec: p99 at most 10 ms).
func BenchmarkReport(b *testing.B) { benchmarkEndpoint(b, "report", false) }

// BenchmarkHealthWithToken is BenchmarkHealth through the real authentication: the bearer token
// checked in PostgreSQL on every request (authcache.go), as a script's polling costs.
func BenchmarkHealthWithToken(b *testing.B) { benchmarkEndpoint(b, "health", true) }
