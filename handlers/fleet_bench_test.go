package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/store"
)

// fleetSize is the fleet of PRODUCT.md section 15's budgets.
const fleetSize = 1000

// newFleetBench is a Server whose fleet holds n enrolled hosts (web-0001 ...), each shown with one
// real sample of this machine varied per host (CPU, memory, disks, load, network, uptime, two
// labels), as agents' batches leave it: 2 % down, 1 % never seen, 50 open alerts. With history,
// each host also has its last hour of 5-second rows, as a fleet that has been running has.
func newFleetBench(b *testing.B, n int, withHistory bool) (*Server, *echo.Echo) {
	b.Helper()
	ctx := context.Background()
	pool := dbtest.Pool(b)
	col := collector.New(collector.Options{Version: "bench"})
	real, platform := col.Collect(ctx), col.Platform()
	now := time.Now().UTC()
	s := New(Deps{Options: Options{CollectInterval: 5 * time.Second, HostDownAfter: time.Minute}, Pool: pool,
		Host: "web-0001", Thresholds: health.DefaultThresholds()})
	s.authenticate = func(echo.Context) (*Principal, error) { return viewer, nil }
	if _, err := pool.Exec(ctx, `
		INSERT INTO hosts (name, labels, token_hash, created_at)
		SELECT 'web-' || lpad(i::text, 4, '0'),
		       jsonb_build_object('env', (ARRAY['prod', 'staging', 'dev'])[1 + i % 3], 'rack', 'r' || (i % 20)),
		       CASE WHEN i > 1 THEN sha256(i::text::bytea) END, now()
		FROM generate_series(1, $1::int) AS i`, n); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO infrastructure_alerts (host, metric, subject, severity, value, threshold, started_at, updated_at)
		SELECT 'web-' || lpad((i * 19 % $1 + 1)::text, 4, '0'), 'disk', '/', 'warning', 88, 85, now(), now()
		FROM generate_series(1, 50) AS i ON CONFLICT DO NOTHING`, n); err != nil {
		b.Fatal(err)
	}
	rows, err := queries.New(pool).ListHosts(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for i, r := range rows {
		if i%100 == 99 {
			s.fleet.Enrol(enrolledOf(r))
			continue // never seen
		}
		snap := real
		snap.Host = r.Name
		snap.CollectedAt = now.Add(-time.Duration(i%5) * time.Second)
		snap.System.CPU.TotalPercent = float64(i * 37 % 100)
		snap.System.Memory.UsedPercent = float64(20 + i*13%75)
		snap.System.Load.PerCore1 = float64(i%40) / 10
		snap.System.Network.RecvBytesPerSecond = float64(i * 7919 % 5_000_000)
		snap.System.Network.SentBytesPerSecond = float64(i * 104729 % 2_000_000)
		snap.System.UptimeSeconds = uint64(3600 + i*86_413)
		snap.System.Filesystems = append([]sample.Filesystem(nil), real.System.Filesystems...)
		for j := range snap.System.Filesystems {
			snap.System.Filesystems[j].UsedPercent = float64(10 + (i+j*31)%88)
		}
		received := now
		if i%50 == 7 {
			received = now.Add(-10 * time.Minute) // down
		}
		p := platform
		p.Hostname = r.Name
		s.fleet.Observe(store.Observation{Host: r.Name, ReceivedAt: received, Latest: snap, AgentVersion: "1.4.0", Platform: &p,
			ClockOffset: time.Duration(i%7) * time.Second})
		s.fleet.Enrol(enrolledOf(r))
	}
	if withHistory {
		for _, r := range rows {
			dbtest.SeedHistory(b, pool, r.Name, now.Add(-time.Hour), time.Hour, 5*time.Second)
		}
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE"); err != nil {
			b.Fatal(err)
		}
	}
	e := echo.New()
	s.Routes(e)
	return s, e
}

func enrolledOf(r queries.ListHostsRow) fleet.Enrolled {
	e := enrolledWith(r.Name)
	_ = json.Unmarshal(r.Labels, &e.Labels)
	e.Local = r.TokenHash == nil
	return e
}

// cpuTime is the CPU this process has used, user and system: on a machine shared with other
// work, the time a request costs the server, which wall-clock ns/op overstates.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU used since start per operation, in milliseconds.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// benchGet serves target as a browser (gzip accepted; htmx when asked) and reports the bytes sent
// and the CPU per request.
func benchGet(b *testing.B, e *echo.Echo, target string, htmx bool) {
	b.Helper()
	var rec *httptest.ResponseRecorder
	start := cpuTime(b)
	defer reportCPU(b, start)
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Accept-Encoding", "gzip, deflate, br")
		if htmx {
			req.Header.Set("HX-Request", "true")
		}
		rec = httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(rec.Body.Len()), "bytes-sent")
}

// BenchmarkFleet measures the budgets of PRODUCT.md section 15 with 1,000 hosts in the fleet:
//
//   - overview-page: GET /observability, the systems overview's first load (≤ 50 ms server time).
//   - overview-poll: its 5-second poll, GET /observability/fragments/hosts (≤ 50 KB compressed);
//     overview-poll-sorted is the same sorted by CPU, filtered to one label.
//   - hosts-api: GET /api/v1/hosts, every host (≤ 20 ms).
//   - host-page: GET /observability/hosts/NAME of one host among 1,000 that each have an hour of
//     rows, against host-page-alone, the same page of a hub that knows that one host only (the
//     single-host page as it was): "as fast as today's".
func BenchmarkFleet(b *testing.B) {
	_, e := newFleetBench(b, fleetSize, false)
	b.Run("overview-page", func(b *testing.B) { benchGet(b, e, "/observability", false) })
	b.Run("overview-poll", func(b *testing.B) { benchGet(b, e, "/observability/fragments/hosts", true) })
	b.Run("overview-poll-sorted", func(b *testing.B) {
		benchGet(b, e, "/observability/fragments/hosts?label=env=prod&sort=-cpu", true)
	})
	b.Run("hosts-api", func(b *testing.B) {
		var rec *httptest.ResponseRecorder
		start := cpuTime(b)
		for b.Loop() {
			rec = httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/hosts", nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("GET /api/v1/hosts: %d", rec.Code)
			}
		}
		reportCPU(b, start)
		b.ReportMetric(float64(rec.Body.Len()), "bytes")
		b.ReportMetric(float64(gzipSize(rec)), "gzip-bytes")
	})
}

func BenchmarkHostPage(b *testing.B) {
	for _, n := range []int{1, fleetSize} {
		b.Run(fmt.Sprintf("hosts-%d", n), func(b *testing.B) {
			_, e := newFleetBench(b, n, true)
			b.ResetTimer()
			benchGet(b, e, "/observability/hosts/web-0001", false)
		})
	}
}
