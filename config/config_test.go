package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/health"
)

func env(kv ...string) LookupFunc {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const goodSecret = "3f9a1c7e5b2d8f4a6c0e9b1d7f3a5c8e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a"

func TestDefaults(t *testing.T) {
	c, err := Load(env())
	if err != nil {
		t.Fatalf("defaults must be valid: %v", err)
	}
	if c.HTTPAddr != "127.0.0.1:8080" || c.Environment != Development || c.CollectInterval != 5*time.Second {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if !c.Thresholds.Equal(health.DefaultThresholds()) {
		t.Errorf("threshold defaults: %+v", c.Thresholds)
	}
	if !c.SecretGenerated || len(c.SecretKey) < 32 {
		t.Errorf("development must generate a secret, got %q", c.SecretKey)
	}
	if c.BaseURL != "http://127.0.0.1:8080" || c.LogFormat != "text" || !c.JobsEnabled || !c.MigrateOnStart {
		t.Errorf("derived defaults: base=%q format=%q", c.BaseURL, c.LogFormat)
	}
	if c.AlertCooldown != 15*time.Minute || c.RetentionDays != 30 || c.AlertsSchedule != "* * * * *" {
		t.Errorf("job defaults: %+v", c)
	}
}

func TestProblems(t *testing.T) {
	prod := []string{"ENVIRONMENT", "production", "DATABASE_URL", "postgres://u:p@db/infradash", "SECRET_KEY", goodSecret}
	cases := []struct {
		name string
		env  []string
		want []string // each must appear, one line each
	}{
		{"not a number", []string{"HEALTH_CPU_WARNING", "abc"}, []string{`HEALTH_CPU_WARNING: must be a number, not "abc"`}},
		{"warning above critical", []string{"HEALTH_CPU_WARNING", "99", "HEALTH_CPU_CRITICAL", "90"}, []string{"HEALTH_CPU_WARNING: (99) must be below HEALTH_CPU_CRITICAL (90)"}},
		{"out of range", []string{"HEALTH_DISK_CRITICAL", "101"}, []string{"HEALTH_DISK_CRITICAL: must be between 0 and 100"}},
		{"interval too short", []string{"COLLECT_INTERVAL", "100ms"}, []string{"COLLECT_INTERVAL: must be between 1s and 5m0s"}},
		{"bad duration", []string{"ALERT_COOLDOWN", "soon"}, []string{"ALERT_COOLDOWN: must be a duration"}},
		// Alerts resolve below warning - hysteresis: at or past the warning, never.
		{"hysteresis at a warning", []string{"ALERT_HYSTERESIS", "80"}, []string{"ALERT_HYSTERESIS: (80) must be below HEALTH_CPU_WARNING (80)"}},
		{"hysteresis above a lowered warning", []string{"HEALTH_DISK_WARNING", "4", "ALERT_HYSTERESIS", "5"}, []string{
			"ALERT_HYSTERESIS: (5) must be below HEALTH_DISK_WARNING (4)"}},
		{"window of fewer than five samples", []string{"COLLECT_INTERVAL", "1m", "ALERT_WINDOW", "4m"}, []string{
			"ALERT_WINDOW: (4m0s) must be at least 5 × COLLECT_INTERVAL (1m0s)"}},
		{"bad bool", []string{"JOBS_ENABLED", "maybe"}, []string{"JOBS_ENABLED: must be true or false"}},
		{"bad cron", []string{"CLEANUP_SCHEDULE", "at two"}, []string{"CLEANUP_SCHEDULE: is not a cron schedule"}},
		{"bad environment", []string{"ENVIRONMENT", "staging"}, []string{`ENVIRONMENT: must be "development" or "production"`}},
		{"bad webhook", []string{"SLACK_WEBHOOK_URL", "hooks.slack.com/x"}, []string{"SLACK_WEBHOOK_URL: must be an http(s) URL"}},
		{"bad addr", []string{"HTTP_ADDR", "8080"}, []string{"HTTP_ADDR: must be host:port"}},
		{"short secret in production", append(prod[:4:4], "SECRET_KEY", "0123456789"), []string{"SECRET_KEY: must be at least 32 characters, has 10"}},
		{"low entropy secret", append(prod[:4:4], "SECRET_KEY", strings.Repeat("ab", 20)), []string{"SECRET_KEY: is low-entropy"}},
		{"placeholder secret", append(prod[:4:4], "SECRET_KEY", "changeme-"+goodSecret), []string{"SECRET_KEY: looks like a placeholder"}},
		{"missing secret", prod[:4], []string{"SECRET_KEY: is required in production"}},
		{"missing database", []string{"ENVIRONMENT", "production", "SECRET_KEY", goodSecret}, []string{"DATABASE_URL: is required in production"}},
		{"debug in production", append(prod, "DEBUG", "true"), []string{"DEBUG: must be false in production"}},
		{"wildcard cors", append(prod, "CORS_ORIGINS", "https://a.example.com,*"), []string{"CORS_ORIGINS: a wildcard (*) is refused in production"}},
		{"bad cors origin", []string{"CORS_ORIGINS", "dash.example.com"}, []string{`CORS_ORIGINS: "dash.example.com" is not an origin`}},
		{"base URL with a path", []string{"BASE_URL", "https://example.com/infradash/"}, []string{`BASE_URL: must be an origin without a path`}},
		{"base URL with a query", []string{"BASE_URL", "https://example.com?x=1"}, []string{`BASE_URL: must be an origin without a path`}},
		{"bad trusted proxy", []string{"TRUSTED_PROXIES", "10.0.0.0/8, 172.16.0.0/33,proxy.internal"}, []string{
			`TRUSTED_PROXIES: "172.16.0.0/33" is not an address range`, `TRUSTED_PROXIES: "proxy.internal" is not an address range`}},
		{"many at once", []string{"ENVIRONMENT", "production", "DEBUG", "true", "HEALTH_MEMORY_WARNING", "x"}, []string{
			"DATABASE_URL: is required", "DEBUG: must be false", "SECRET_KEY: is required", "HEALTH_MEMORY_WARNING: must be a number"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env...))
			var p Problems
			if !errors.As(err, &p) {
				t.Fatalf("want Problems, got %v", err)
			}
			if len(p) != len(tc.want) {
				t.Errorf("want %d problems, got %d:\n%s", len(tc.want), len(p), p)
			}
			for _, w := range tc.want {
				found := false
				for _, line := range p {
					found = found || strings.HasPrefix(line, w) && !strings.Contains(line, "\n")
				}
				if !found {
					t.Errorf("missing %q in:\n%s", w, p)
				}
			}
		})
	}
}

// A warning of 0 puts everything at warning at least; the health score and the alerts honour it,
// and no hysteresis can apply below it, so it is accepted with any.
func TestAZeroWarningIsValid(t *testing.T) {
	c, err := Load(env("HEALTH_CPU_WARNING", "0", "ALERT_HYSTERESIS", "5"))
	if err != nil {
		t.Fatalf("HEALTH_CPU_WARNING=0 refused: %v", err)
	}
	if c.Thresholds.CPU != (health.Level{Warning: 0, Critical: 95}) {
		t.Errorf("cpu thresholds %+v", c.Thresholds.CPU)
	}
}

func TestDebugLowersTheDefaultLogLevel(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "info"},
		{[]string{"DEBUG", "true"}, "debug"},
		{[]string{"DEBUG", "true", "LOG_LEVEL", "warn"}, "warn"},
	} {
		c, err := Load(env(tc.env...))
		if err != nil {
			t.Fatal(err)
		}
		if c.LogLevel != tc.want {
			t.Errorf("%v: log level %q, want %q", tc.env, c.LogLevel, tc.want)
		}
	}
}

func TestProductionGood(t *testing.T) {
	c, err := Load(env("ENVIRONMENT", "production", "DATABASE_URL", "postgres://u:p@db/infradash",
		"SECRET_KEY", goodSecret, "CORS_ORIGINS", "https://dash.example.com/"))
	if err != nil {
		t.Fatalf("good production config refused: %v", err)
	}
	if c.LogFormat != "json" || c.SecretGenerated || c.CORSOrigins[0] != "https://dash.example.com" {
		t.Errorf("production config: %+v", c)
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := Load(env())
	if err != nil || len(c.TrustedProxies) != 0 {
		t.Fatalf("default: %v %v, want no trusted proxy", c.TrustedProxies, err)
	}
	c, err = Load(env("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1,fd00::/8"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range c.TrustedProxies {
		got = append(got, n.String())
	}
	if strings.Join(got, " ") != "127.0.0.1/32 10.0.0.0/8 ::1/128 fd00::/8" {
		t.Errorf("trusted proxies %v", got)
	}
}

func TestHostNamesTheMachineNotTheContainer(t *testing.T) {
	etc := t.TempDir()
	if err := os.WriteFile(filepath.Join(etc, "hostname"), []byte("web-7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	own, _ := os.Hostname()
	for _, tt := range []struct {
		env  LookupFunc
		want string
	}{
		{env(), own},
		{env("HOST_ETC", etc), "web-7"},
		{env("HOST_ETC", t.TempDir()), own}, // no hostname file there
		{env("HOST_ETC", etc, "INFRADASH_HOST", "db-1"), "db-1"},
	} {
		c, err := Load(tt.env)
		if err != nil {
			t.Fatal(err)
		}
		if c.Host != tt.want {
			t.Errorf("host %q, want %q", c.Host, tt.want)
		}
	}
	if _, err := Load(env("INFRADASH_HOST", "web 7")); err == nil || !strings.Contains(err.Error(), "INFRADASH_HOST:") {
		t.Errorf("a host name with a space: %v", err)
	}
}
