package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/collector"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
)

const infraPath = "/api/v1/observability/infrastructure/"

// apiServer is a Server on a fresh database whose requests act for an admin.
type apiServer struct {
	s    *Server
	e    *echo.Echo
	pool *pgxpool.Pool
}

func newAPIServer(t *testing.T, now func() time.Time) *apiServer {
	t.Helper()
	return newAPIServerWith(t, dbtest.Pool(t), now)
}

// newAPIServerOn is newAPIServer on an existing database.
func newAPIServerOn(t *testing.T, pool *pgxpool.Pool) *apiServer {
	t.Helper()
	return newAPIServerWith(t, pool, nil)
}

// newAPIServerWith is a Server whose own host is this machine (as the collector names it), with
// no sample yet: collect or observe give it some.
func newAPIServerWith(t *testing.T, pool *pgxpool.Pool, now func() time.Time) *apiServer {
	t.Helper()
	s := New(Deps{
		Options: Options{CollectInterval: time.Second}, Pool: pool, Host: thisHost(t), Version: "test",
		Thresholds: health.DefaultThresholds(), Now: now,
	})
	s.authenticate = func(echo.Context) (*Principal, error) {
		return &Principal{UserID: 1, Email: "admin@example.com", Role: RoleAdmin, Via: "token"}, nil
	}
	e := echo.New()
	s.Routes(e)
	return &apiServer{s: s, e: e, pool: pool}
}

var thisHostOnce = sync.OnceValue(func() string { return collector.New(collector.Options{}).Platform().Hostname })

// thisHost is this machine's name as its collector reports it: the hub's own host in these tests.
func thisHost(t testing.TB) string { return thisHostOnce() }

// observe shows snap in srv's fleet as the store does once it has stored a batch: the host
// enrolled (as the hub's own when it is new), received now, with its platform facts when given.
func observe(t testing.TB, srv *Server, snap sample.Snapshot, platform *sample.Platform) {
	t.Helper()
	observeAt(t, srv, snap, platform, srv.now())
}

// enrol shows a host enrolled with no sample yet, as a Refresh of the fleet would.
func (a *apiServer) enrol(t testing.TB, name string, labels ...string) {
	t.Helper()
	if err := a.s.q.EnsureLocalHost(context.Background(), queries.EnsureLocalHostParams{Name: name, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	a.s.fleet.Enrol(enrolledWith(name, labels...))
}

// enrolledWith is a host enrolled with labels written key=value.
func enrolledWith(name string, labels ...string) fleet.Enrolled {
	l := fleet.Labels{}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		l[k] = v
	}
	return fleet.Enrolled{Name: name, Labels: l}
}

// collect samples this host every second for the rest of the test, as the hub's own agent does:
// each sample stored, then shown in the fleet. It returns once the first is.
func (a *apiServer) collect(t *testing.T) *collector.Collector {
	t.Helper()
	return runningCollector(t, feed(t, a.s))
}

// feed is a collector's sink that stores each sample and shows it in srv's fleet.
func feed(t testing.TB, srv *Server) func(*collector.Collector, sample.Snapshot) {
	record := dbtest.Recorder(t, srv.pool)
	return func(col *collector.Collector, s sample.Snapshot) {
		record(s)
		p := col.Platform()
		observe(t, srv, s, &p)
	}
}

// runningCollector samples the real host every second until the test ends and returns once its
// first sample has gone through the sinks.
func runningCollector(t *testing.T, sinks ...func(*collector.Collector, sample.Snapshot)) *collector.Collector {
	t.Helper()
	col := collector.New(collector.Options{Interval: time.Second, Version: "test"})
	var fed atomic.Bool
	var plain []func(sample.Snapshot)
	for _, sink := range sinks {
		plain = append(plain, func(s sample.Snapshot) { sink(col, s) })
	}
	plain = append(plain, func(sample.Snapshot) { fed.Store(true) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); col.Run(ctx, plain...) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the first sample", time.Minute, fed.Load)
	return col
}

// get requests path, checks the answer against openapi.yaml and decodes the envelope.
func (a *apiServer) get(t *testing.T, path string) (int, envelopeOf) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	validateAgainstOpenAPI(t, req, rec)
	var env envelopeOf
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v\n%s", path, err, rec.Body)
	}
	return rec.Code, env
}

type envelopeOf struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	Error     *errorBody      `json:"error"`
	Timestamp time.Time       `json:"timestamp"`
}

func (e envelopeOf) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(e.Data, v); err != nil {
		t.Fatalf("data: %v\n%s", err, e.Data)
	}
}

func memTotal(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(fields[1], 10, 64)
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

func TestLiveEndpointsDescribeThisHost(t *testing.T) {
	a := newAPIServer(t, nil)
	a.collect(t)

	for _, name := range []string{"system", "process", "platform", "summary", "health", "report"} {
		code, env := a.get(t, infraPath+name)
		if code != http.StatusOK || env.Status != "success" || env.Timestamp.Location() != time.UTC {
			t.Errorf("GET %s: %d %q at %v", name, code, env.Status, env.Timestamp)
		}
	}

	_, env := a.get(t, infraPath+"system")
	var sys systemData
	env.decode(t, &sys)
	if want := memTotal(t); sys.Memory.TotalBytes != want {
		t.Errorf("memory total_bytes = %d, /proc/meminfo says %d", sys.Memory.TotalBytes, want)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs("/", &st); err != nil {
		t.Fatal(err)
	}
	foundRoot := false
	for _, fs := range sys.Filesystems {
		if fs.Mountpoint == "/" {
			foundRoot = true
			if want := st.Blocks * uint64(st.Bsize); fs.TotalBytes != want {
				t.Errorf("/ total_bytes = %d, statfs says %d", fs.TotalBytes, want)
			}
		}
	}
	if !foundRoot {
		t.Errorf("no / among filesystems %+v", sys.Filesystems)
	}
	if sys.CPU.LogicalCores != runtime.NumCPU() || len(sys.CPU.PerCorePercent) != runtime.NumCPU() {
		t.Errorf("cpu: %d logical cores, %d per-core figures; runtime.NumCPU = %d", sys.CPU.LogicalCores, len(sys.CPU.PerCorePercent), runtime.NumCPU())
	}
	if host, _ := os.Hostname(); sys.Host != host {
		t.Errorf("host %q, os.Hostname %q", sys.Host, host)
	}

	_, env = a.get(t, infraPath+"process")
	var proc processData
	env.decode(t, &proc)
	if proc.Process.PID != int32(os.Getpid()) || proc.Process.RSSBytes == 0 {
		t.Errorf("process is not this test process: %+v", proc.Process)
	}

	_, env = a.get(t, infraPath+"platform")
	var plat sample.Platform
	env.decode(t, &plat)
	if plat.LogicalCores != runtime.NumCPU() || plat.GoVersion != runtime.Version() || plat.Version != "test" {
		t.Errorf("platform: %+v", plat)
	}

	_, env = a.get(t, infraPath+"summary")
	var sum summaryData
	env.decode(t, &sum)
	if sum.OpenAlerts == nil || *sum.OpenAlerts != 0 || sum.Status == health.Unknown {
		t.Errorf("summary: %+v", sum)
	}

	_, env = a.get(t, infraPath+"health")
	var h healthData
	env.decode(t, &h)
	if len(h.Components) < 3 || h.Score < 0 || h.Score > 100 {
		t.Errorf("health: %+v", h)
	}
}

func TestReportHasOpenAlertsAndTheTrend(t *testing.T) {
	a := newAPIServer(t, nil)
	host := a.collect(t).Platform().Hostname
	now := time.Now().UTC()
	for _, q := range []string{
		// open, for this host, acknowledged: shown
		`INSERT INTO users (email, password_hash, role) VALUES ('ops@example.com', 'x', 'admin')`,
		`INSERT INTO infrastructure_alerts (host, metric, subject, severity, value, threshold, message, started_at, updated_at,
		                                   acknowledged_at, acknowledged_by)
		 VALUES ($1, 'disk', '/', 'warning', 88, 85, 'disk / at 88%', $2, $2, $2, (SELECT id FROM users))`,
		// resolved: not shown
		`INSERT INTO infrastructure_alerts (host, metric, severity, value, threshold, started_at, updated_at, resolved_at)
		 VALUES ($1, 'cpu', 'critical', 97, 95, $2, $2, $2)`,
		// another host: not shown
		`INSERT INTO infrastructure_alerts (host, metric, severity, value, threshold, started_at, updated_at)
		 VALUES ($1 || '-other', 'memory', 'warning', 90, 85, $2, $2)`,
	} {
		args := []any{host, now}
		if !strings.Contains(q, "$1") {
			args = nil
		}
		if _, err := a.pool.Exec(context.Background(), q, args...); err != nil {
			t.Fatal(err)
		}
	}
	code, env := a.get(t, infraPath+"report")
	if code != http.StatusOK {
		t.Fatalf("report: %d", code)
	}
	var rep struct {
		OpenAlerts *alertList `json:"open_alerts"`
		Trend      trendData  `json:"trend"`
		Health     healthData `json:"health"`
		System     systemData `json:"system"`
	}
	env.decode(t, &rep)
	if rep.OpenAlerts == nil || rep.OpenAlerts.Total != 1 || rep.OpenAlerts.Alerts[0].Subject != "/" || rep.OpenAlerts.Alerts[0].ResolvedAt != nil {
		t.Fatalf("open alerts: %+v", rep.OpenAlerts)
	}
	if by := rep.OpenAlerts.Alerts[0].AcknowledgedBy; by == nil || *by != "ops@example.com" {
		t.Errorf("the report should name who acknowledged by email, as the alerts list does, got %v", by)
	}
	// The same alert, the same shape, in the report and in the alerts list.
	_, listEnv := a.get(t, "/api/v1/observability/infrastructure/alerts?status=open&host="+host)
	var list struct {
		Alerts []json.RawMessage `json:"alerts"`
	}
	listEnv.decode(t, &list)
	var reportAlerts struct {
		OpenAlerts struct {
			Alerts []json.RawMessage `json:"alerts"`
		} `json:"open_alerts"`
	}
	env.decode(t, &reportAlerts)
	if len(list.Alerts) != 1 || len(reportAlerts.OpenAlerts.Alerts) != 1 || string(list.Alerts[0]) != string(reportAlerts.OpenAlerts.Alerts[0]) {
		t.Errorf("report and alerts list disagree:\nreport: %s\nlist:   %s", reportAlerts.OpenAlerts.Alerts, list.Alerts)
	}
	if len(rep.Trend.Points) == 0 || rep.Trend.StepSeconds != 60 || rep.Trend.Points[0].Samples < 1 {
		t.Errorf("trend: %+v", rep.Trend)
	}
	if rep.System.Memory.TotalBytes != memTotal(t) || rep.Health.Host != host {
		t.Errorf("report's system or health is not this host's")
	}

	_, env = a.get(t, infraPath+"summary")
	var sum summaryData
	env.decode(t, &sum)
	if sum.OpenAlerts == nil || *sum.OpenAlerts != 1 {
		t.Errorf("summary open_alerts = %v, want 1", sum.OpenAlerts)
	}
}

func TestLiveEndpointsAnswer503BeforeTheFirstSample(t *testing.T) {
	a := newAPIServer(t, nil)
	for _, name := range []string{"system", "process", "platform", "summary", "health", "report"} {
		code, env := a.get(t, infraPath+name)
		if code != http.StatusServiceUnavailable || env.Error == nil || env.Error.Code != "no_sample" {
			t.Errorf("GET %s before any sample: %d %+v", name, code, env.Error)
		}
	}
}

func TestInfrastructureNeedsCredentials(t *testing.T) {
	s := New(Deps{})
	e := echo.New()
	s.Routes(e)
	for _, name := range []string{"system", "process", "platform", "summary", "health", "report", "history?metric=cpu_percent"} {
		req := httptest.NewRequest(http.MethodGet, infraPath+name, nil)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d", name, rec.Code)
		}
		validateAgainstOpenAPI(t, req, rec)
	}
}

func TestSummaryNeverKeepsAMissingAlertCount(t *testing.T) {
	a := newAPIServer(t, nil)
	observe(t, a.s, sample.Snapshot{Host: "web-1", CollectedAt: time.Now().UTC()}, nil)
	summary := func(ctx context.Context) *int {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, infraPath+"summary?host=web-1", nil).WithContext(ctx)
		rec := httptest.NewRecorder()
		a.e.ServeHTTP(rec, req)
		var env envelopeOf
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("summary: %d %s", rec.Code, rec.Body)
		}
		var sum summaryData
		env.decode(t, &sum)
		return sum.OpenAlerts
	}

	// A client that hangs up at once must not leave everyone without the count.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	summary(gone)
	if n := summary(context.Background()); n == nil || *n != 0 {
		t.Fatalf("after a cancelled request the summary's open_alerts = %v, want 0", n)
	}

	// The count fails (the table is unreadable): null, and the next request tries again.
	a.s.live = liveCache{}
	exec := func(sql string) {
		if _, err := a.pool.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
	exec(`ALTER TABLE infrastructure_alerts RENAME TO alerts_away`)
	if n := summary(context.Background()); n != nil {
		t.Fatalf("with the alerts unreadable open_alerts should be null, got %d", *n)
	}
	exec(`ALTER TABLE alerts_away RENAME TO infrastructure_alerts`)
	if n := summary(context.Background()); n == nil || *n != 0 {
		t.Fatalf("once the alerts are readable again open_alerts = %v, want 0 (a failed count must not be cached)", n)
	}
}
