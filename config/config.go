// Package config reads infradash's configuration from the environment and validates it.
//
// Every problem is reported at once, one line each, naming the variable, so an operator fixes a
// bad deployment in one pass instead of one restart per mistake.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/sample"
)

// Environment names.
const (
	Development = "development"
	Production  = "production"
)

// Config is the whole configuration of a running infradash.
type Config struct {
	// Host names this machine in every stored row; it must not change across restarts or
	// container upgrades, or history and open alerts are left behind under the old name.
	Host           string
	DatabaseURL    string
	MigrateOnStart bool
	HTTPAddr       string
	Environment    string
	Debug          bool
	// SecretKey keys the HMAC that stands for an unknown email in the login log, so the log
	// cannot be searched for a password someone typed as their email (handlers.emailForLog).
	SecretKey string
	// SecretGenerated is true when SecretKey was made up at start (development only).
	SecretGenerated bool
	BaseURL         string
	SessionLifetime time.Duration
	CORSOrigins     []string
	// TrustedProxies are the peers whose X-Forwarded-For is believed for the client address
	// (login rate limit, logs); empty believes no forwarding header.
	TrustedProxies []*net.IPNet

	AdminEmail    string
	AdminPassword string

	// Thresholds are the HEALTH_* levels: the built-in rule for every host.
	Thresholds health.Thresholds

	CollectInterval        time.Duration
	RetentionDays          int
	AlertRetentionDays     int
	AggregateRetentionDays int

	AlertWindow         time.Duration
	AlertCooldown       time.Duration
	AlertRepeatInterval time.Duration
	AlertHysteresis     float64
	SlackWebhookURL     string
	AlertWebhookURL     string

	JobsEnabled                 bool
	CleanupSchedule             string
	AlertsSchedule              string
	AggregateFiveMinuteSchedule string
	AggregateHourlySchedule     string
	AggregateDailySchedule      string
	PartitionsSchedule          string
	CompactSchedule             string

	LoginMaxFailures int
	LoginLockout     time.Duration

	LogLevel     string
	LogFormat    string
	MetricsToken string
	SentryDSN    string

	// HostDownAfter is how long a host may send nothing before it is down (host_down alert).
	HostDownAfter time.Duration
	// Spool is where the hub's own in-process agent keeps what the database has not stored yet.
	Spool Spool
	// TLSCertFile and TLSKeyFile, both set, make serve speak HTTPS itself.
	TLSCertFile, TLSKeyFile string
}

// Spool is the agent's on-disk queue (AGENT_SPOOL_DIR, AGENT_SPOOL_MAX_BYTES).
type Spool struct {
	Dir      string
	MaxBytes int64
}

// Production reports whether the production rules apply.
func (c Config) Production() bool { return c.Environment == Production }

// Warnings are what a valid configuration still leaves open; check-config prints them and serve
// logs them at start.
func (c Config) Warnings() []string {
	var w []string
	if c.Production() && c.MetricsToken == "" {
		w = append(w, "METRICS_TOKEN is unset: /metrics (request counts and routes, host and database gauges) is public "+
			"to anyone who reaches the port; set it (openssl rand -hex 24) unless only your Prometheus can reach the port. "+
			"/api/v1/openapi.json is public either way: it describes the API and holds no data")
	}
	return w
}

// Problems is the list of everything wrong with a configuration.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// LookupFunc finds an environment variable, like os.LookupEnv.
type LookupFunc func(string) (string, bool)

// Load reads and validates the configuration. On failure the error is Problems.
func Load(lookup LookupFunc) (Config, error) {
	r := reader{lookup: lookup}
	c := Config{
		DatabaseURL:    r.str("DATABASE_URL", ""),
		MigrateOnStart: r.boolean("MIGRATE_ON_START", true),
		HTTPAddr:       r.str("HTTP_ADDR", "127.0.0.1:8080"),
		Environment:    strings.ToLower(r.str("ENVIRONMENT", Development)),
		Debug:          r.boolean("DEBUG", false),
		SecretKey:      r.str("SECRET_KEY", ""),
		BaseURL:        strings.TrimRight(r.str("BASE_URL", ""), "/"),
		CORSOrigins:    r.list("CORS_ORIGINS"),

		AdminEmail:    r.str("ADMIN_EMAIL", ""),
		AdminPassword: r.str("ADMIN_PASSWORD", ""),

		Thresholds: r.thresholds(health.DefaultThresholds()),

		CollectInterval:        r.duration("COLLECT_INTERVAL", 5*time.Second, time.Second, 5*time.Minute),
		RetentionDays:          r.integer("RETENTION_DAYS", 30, 1, 36500),
		AlertRetentionDays:     r.integer("ALERT_RETENTION_DAYS", 90, 1, 36500),
		AggregateRetentionDays: r.integer("AGGREGATE_RETENTION_DAYS", 365, 1, 36500),

		AlertWindow:         r.duration("ALERT_WINDOW", 5*time.Minute, 10*time.Second, 24*time.Hour),
		AlertCooldown:       r.duration("ALERT_COOLDOWN", 15*time.Minute, 0, 7*24*time.Hour),
		AlertRepeatInterval: r.duration("ALERT_REPEAT_INTERVAL", 4*time.Hour, time.Minute, 30*24*time.Hour),
		AlertHysteresis:     r.number("ALERT_HYSTERESIS", 5, 0, 100),
		SlackWebhookURL:     r.webhook("SLACK_WEBHOOK_URL"),
		AlertWebhookURL:     r.webhook("ALERT_WEBHOOK_URL"),

		JobsEnabled:     r.boolean("JOBS_ENABLED", true),
		CleanupSchedule: r.schedule("CLEANUP_SCHEDULE", "0 2 * * *"),
		AlertsSchedule:  r.schedule("ALERTS_SCHEDULE", "* * * * *"),
		// A minute after each five-minute bucket ends, so the samples on their way are in.
		AggregateFiveMinuteSchedule: r.schedule("AGGREGATE_5MIN_SCHEDULE", "1-59/5 * * * *"),
		AggregateHourlySchedule:     r.schedule("AGGREGATE_HOURLY_SCHEDULE", "0 * * * *"),
		AggregateDailySchedule:      r.schedule("AGGREGATE_DAILY_SCHEDULE", "0 3 * * *"),
		PartitionsSchedule:          r.schedule("PARTITIONS_SCHEDULE", "30 * * * *"),
		CompactSchedule:             r.schedule("COMPACT_SCHEDULE", "45 * * * *"),

		LoginMaxFailures: r.integer("LOGIN_MAX_FAILURES", 5, 1, 1000),
		LoginLockout:     r.duration("LOGIN_LOCKOUT", 15*time.Minute, time.Second, 7*24*time.Hour),

		MetricsToken: r.str("METRICS_TOKEN", ""),
		SentryDSN:    r.str("SENTRY_DSN", ""),
	}
	c.TrustedProxies = r.networks("TRUSTED_PROXIES")
	r.alerting(c)
	c.Host = sample.NormalizeHostName(r.str("INFRADASH_HOST", ""))
	if c.Host == "" {
		c.Host = sample.NormalizeHostName(defaultHost(r.str("HOST_ETC", "")))
	}
	if err := sample.CheckHostName(c.Host); err != nil {
		r.fail("INFRADASH_HOST", "%v; set INFRADASH_HOST to this machine's DNS name", err)
	}
	// The default follows a long COLLECT_INTERVAL, so setting only that never fails the rule below.
	c.HostDownAfter = r.duration("HOST_DOWN_AFTER", max(time.Minute, 3*c.CollectInterval), time.Second, 24*time.Hour)
	if c.HostDownAfter < 3*c.CollectInterval {
		r.fail("HOST_DOWN_AFTER", "(%s) must be at least 3 collect intervals (COLLECT_INTERVAL=%s), or a host would look down between two samples",
			c.HostDownAfter, c.CollectInterval)
	}
	c.TLSCertFile, c.TLSKeyFile = r.str("TLS_CERT_FILE", ""), r.str("TLS_KEY_FILE", "")
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		r.fail("TLS_CERT_FILE", "TLS_CERT_FILE and TLS_KEY_FILE go together; set both (HTTPS) or neither (HTTP)")
	}
	c.SessionLifetime = r.duration("SESSION_LIFETIME", 12*time.Hour, time.Minute, 90*24*time.Hour)
	// DEBUG is the origin's switch; here it only lowers the default log level, and an explicit
	// LOG_LEVEL still wins.
	defaultLevel := "info"
	if c.Debug {
		defaultLevel = "debug"
	}
	c.LogLevel = strings.ToLower(r.str("LOG_LEVEL", defaultLevel))

	switch c.Environment {
	case Development, Production:
	default:
		r.fail("ENVIRONMENT", "must be %q or %q, not %q", Development, Production, c.Environment)
	}
	defaultFormat := "text"
	if c.Production() {
		defaultFormat = "json"
	}
	c.LogFormat = strings.ToLower(r.str("LOG_FORMAT", defaultFormat))
	r.logSettings(c.LogLevel, c.LogFormat)
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		r.fail("HTTP_ADDR", "must be host:port, like 127.0.0.1:8080 (%v)", err)
	}
	if c.BaseURL == "" {
		c.BaseURL = URLFromAddr(c.HTTPAddr)
		if r.str("TLS_CERT_FILE", "") != "" {
			c.BaseURL = "https://" + strings.TrimPrefix(c.BaseURL, "http://")
		}
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail("BASE_URL", "must be an absolute http(s) URL, like https://infradash.example.com")
	} else if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		// infradash serves from the root of its own origin: under a path its pages, links and
		// the cross-origin check would all be wrong.
		r.fail("BASE_URL", "must be an origin without a path, query or user, like https://infradash.example.com, not %q "+
			"(infradash serves from the root; give it its own host name rather than a path under another site)", c.BaseURL)
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		r.fail("DATABASE_URL", "must be a postgres:// or postgresql:// URL")
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			r.fail("CORS_ORIGINS", "%q is not an origin like https://dash.example.com", o)
		}
	}
	if (c.AdminEmail == "") != (c.AdminPassword == "") && c.Production() {
		r.fail("ADMIN_EMAIL", "ADMIN_EMAIL and ADMIN_PASSWORD go together; set both or neither")
	}
	if c.AdminEmail != "" && !strings.Contains(c.AdminEmail, "@") {
		r.fail("ADMIN_EMAIL", "%q is not an email address", c.AdminEmail)
	}
	if c.AdminPassword != "" && len(c.AdminPassword) < 12 {
		r.fail("ADMIN_PASSWORD", "must be at least 12 characters")
	}

	if c.Production() {
		if c.DatabaseURL == "" {
			r.fail("DATABASE_URL", "is required in production (the private database is for development only)")
		}
		if c.Debug {
			r.fail("DEBUG", "must be false in production")
		}
		for _, o := range c.CORSOrigins {
			if o == "*" {
				r.fail("CORS_ORIGINS", "a wildcard (*) is refused in production; list the dashboard's origins")
			}
		}
		if c.SecretKey == "" {
			r.fail("SECRET_KEY", "is required in production (at least 32 characters; try: openssl rand -hex 32)")
		} else if reason := weakSecret(c.SecretKey); reason != "" {
			r.fail("SECRET_KEY", "%s (try: openssl rand -hex 32)", reason)
		}
		if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
			r.fail("METRICS_TOKEN", "must be at least 16 characters")
		}
	} else if c.SecretKey == "" {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		c.SecretKey = hex.EncodeToString(b)
		c.SecretGenerated = true
	}

	c.Spool = r.spool(c.Environment)

	if len(r.problems) > 0 {
		return c, r.problems
	}
	return c, nil
}

// logSettings checks LOG_LEVEL and LOG_FORMAT.
func (r *reader) logSettings(level, format string) {
	if format != "text" && format != "json" {
		r.fail("LOG_FORMAT", "must be text or json, not %q", format)
	}
	switch level {
	case "debug", "info", "warn", "error":
	default:
		r.fail("LOG_LEVEL", "must be debug, info, warn or error, not %q", level)
	}
}

// defaultHost is the host's own name: in a container (HOST_ETC set to the host's /etc) the
// host's /etc/hostname, since the container's own name is its ID and changes on every upgrade;
// elsewhere the kernel's host name.
func defaultHost(hostEtc string) string {
	if hostEtc != "" {
		if b, err := os.ReadFile(filepath.Join(hostEtc, "hostname")); err == nil {
			if name := strings.TrimSpace(string(b)); name != "" {
				return name
			}
		}
	}
	name, _ := os.Hostname()
	return name
}

// URLFromAddr is the http:// URL that reaches a listen address from the same machine: a
// wildcard host (0.0.0.0, ::, empty) becomes 127.0.0.1.
func URLFromAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://127.0.0.1:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// weakSecret explains why a secret is too weak for production, or returns "".
func weakSecret(s string) string {
	if len(s) < 32 {
		return fmt.Sprintf("must be at least 32 characters, has %d", len(s))
	}
	lower := strings.ToLower(s)
	for _, w := range []string{"changeme", "change-me", "change_me", "secret", "password", "example", "default"} {
		if strings.Contains(lower, w) {
			return fmt.Sprintf("looks like a placeholder (contains %q)", w)
		}
	}
	// Shannon entropy per character: random hex gives 4 bits, random base64 about 6; a key like
	// "aaaa…" or "abababab…" gives 0 or 1. 3 bits over 32+ characters is at least ~100 bits.
	if e := entropy(s); e < 3.0 {
		return fmt.Sprintf("is low-entropy (%.1f bits per character; use random bytes)", e)
	}
	return ""
}

func entropy(s string) float64 {
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	var h float64
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h
}

type reader struct {
	lookup   LookupFunc
	problems Problems
}

func (r *reader) fail(name, format string, args ...any) {
	r.problems = append(r.problems, name+": "+fmt.Sprintf(format, args...))
}

func (r *reader) raw(name string) (string, bool) {
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (r *reader) str(name, def string) string {
	if v, ok := r.raw(name); ok {
		return v
	}
	return def
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, "must be true or false, not %q", v)
		return def
	}
	return b
}

func (r *reader) integer(name string, def, lo, hi int) int {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.fail(name, "must be a whole number, not %q", v)
		return def
	}
	if n < lo || n > hi {
		r.fail(name, "must be between %d and %d, not %d", lo, hi, n)
	}
	return n
}

func (r *reader) number(name string, def, lo, hi float64) float64 {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		r.fail(name, "must be a number, not %q", v)
		return def
	}
	if f < lo || f > hi {
		r.fail(name, "must be between %g and %g, not %g", lo, hi, f)
	}
	return f
}

func (r *reader) duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.fail(name, "must be a duration like 30s, 5m or 4h, not %q", v)
		return def
	}
	if d < lo || d > hi {
		r.fail(name, "must be between %s and %s, not %s", lo, hi, d)
	}
	return d
}

// thresholds reads HEALTH_CPU_*, HEALTH_MEMORY_* and HEALTH_DISK_* over the defaults; swap and
// load keep theirs (they corroborate, they are not resources an operator plans).
func (r *reader) thresholds(def health.Thresholds) health.Thresholds {
	t := def
	t.CPU = r.level("HEALTH_CPU", def.CPU)
	t.Memory = r.level("HEALTH_MEMORY", def.Memory)
	t.Disk = r.level("HEALTH_DISK", def.Disk)
	return t
}

func (r *reader) level(prefix string, def health.Level) health.Level {
	l := health.Level{
		Warning:  r.number(prefix+"_WARNING", def.Warning, 0, 100),
		Critical: r.number(prefix+"_CRITICAL", def.Critical, 0, 100),
	}
	if l.Warning >= l.Critical {
		r.fail(prefix+"_WARNING", "(%g) must be below %s_CRITICAL (%g)", l.Warning, prefix, l.Critical)
	}
	return l
}

// alertWindowSamples is how many collect intervals ALERT_WINDOW must hold: the alerts judge a
// window only once its samples cover most of it (alerts.Rules.Covered), which five always do.
const alertWindowSamples = 5

// alerting checks the alert settings against the thresholds and the collect interval they
// work with.
func (r *reader) alerting(c Config) {
	if c.AlertWindow < alertWindowSamples*c.CollectInterval {
		r.fail("ALERT_WINDOW", "(%s) must be at least %d × COLLECT_INTERVAL (%s), or a window never holds enough samples to be judged",
			c.AlertWindow, alertWindowSamples, c.CollectInterval)
	}
	// An alert resolves below warning - hysteresis; at or beyond the warning that is below zero,
	// where no percentage goes, and the alert would never resolve. A warning of 0 is the one
	// exception: everything is at least a warning then, so such alerts are meant never to resolve.
	for _, l := range []struct {
		prefix string
		level  health.Level
	}{{"HEALTH_CPU", c.Thresholds.CPU}, {"HEALTH_MEMORY", c.Thresholds.Memory}, {"HEALTH_DISK", c.Thresholds.Disk}} {
		if l.level.Warning > 0 && c.AlertHysteresis >= l.level.Warning {
			r.fail("ALERT_HYSTERESIS", "(%g) must be below %s_WARNING (%g): alerts resolve %g points below the warning threshold, and below 0 %% they never would",
				c.AlertHysteresis, l.prefix, l.level.Warning, c.AlertHysteresis)
		}
	}
}

func (r *reader) list(name string) []string {
	v, ok := r.raw(name)
	if !ok {
		return nil
	}
	var out []string
	for _, part := range strings.Split(v, ",") {
		if p := strings.TrimRight(strings.TrimSpace(part), "/"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// networks reads a comma-separated list of CIDR ranges; a bare address stands for itself alone.
func (r *reader) networks(name string) []*net.IPNet {
	v, ok := r.raw(name)
	if !ok {
		return nil
	}
	var out []*net.IPNet
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			if ip := net.ParseIP(part); ip != nil {
				bits := 8 * len(ip.To4())
				if bits == 0 {
					bits = 8 * net.IPv6len
				}
				out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
				continue
			}
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			r.fail(name, "%q is not an address range like 10.0.0.0/8, 192.168.1.10/32 or fd00::/8", part)
			continue
		}
		out = append(out, n)
	}
	return out
}

func (r *reader) webhook(name string) string {
	v, ok := r.raw(name)
	if !ok {
		return ""
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(name, "must be an http(s) URL")
	}
	return v
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func (r *reader) schedule(name, def string) string {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	if _, err := cronParser.Parse(v); err != nil {
		r.fail(name, "is not a cron schedule (minute hour day month weekday): %v", err)
	}
	return v
}
