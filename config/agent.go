package config

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Spool defaults (AGENT_SPOOL_DIR, AGENT_SPOOL_MAX_BYTES).
const (
	DefaultSpoolDir            = "/var/lib/infradash-agent"
	DefaultSpoolDirDev         = ".data/agent"
	DefaultSpoolMaxBytes       = 256 << 20
	minSpoolMaxBytes           = 64 << 10
	maxSpoolMaxBytes     int64 = 1 << 40
)

// Agent is the configuration of `infradash agent`: where to send, as which host, and where to
// keep what the hub has not acknowledged. It needs no database and no secret but its token.
type Agent struct {
	Environment string
	HubURL      string
	// Token is the host's agent token, from AGENT_TOKEN or read from AGENT_TOKEN_FILE.
	Token           string
	TokenFile       string
	CAFile          string
	Spool           Spool
	CollectInterval time.Duration
	LogLevel        string
	LogFormat       string
}

// AgentOverrides are the agent command's flags, which win over the environment.
type AgentOverrides struct {
	HubURL, TokenFile, SpoolDir string
}

// LoadAgent reads and validates the agent's configuration. On failure the error is Problems.
func LoadAgent(lookup LookupFunc, o AgentOverrides) (Agent, error) {
	r := reader{lookup: lookup}
	a := Agent{
		Environment:     strings.ToLower(r.str("ENVIRONMENT", Development)),
		HubURL:          strings.TrimRight(r.str("HUB_URL", ""), "/"),
		Token:           r.str("AGENT_TOKEN", ""),
		TokenFile:       r.str("AGENT_TOKEN_FILE", ""),
		CAFile:          r.str("AGENT_CA_FILE", ""),
		CollectInterval: r.duration("COLLECT_INTERVAL", 5*time.Second, time.Second, 5*time.Minute),
	}
	if o.HubURL != "" {
		a.HubURL = strings.TrimRight(o.HubURL, "/")
	}
	if o.TokenFile != "" {
		a.TokenFile, a.Token = o.TokenFile, ""
	}
	switch a.Environment {
	case Development, Production:
	default:
		r.fail("ENVIRONMENT", "must be %q or %q, not %q", Development, Production, a.Environment)
	}
	if a.HubURL == "" {
		r.fail("HUB_URL", "is required: the hub's address, like https://infradash.example.com (or --hub)")
	}
	switch {
	case a.Token != "" && a.TokenFile != "":
		r.fail("AGENT_TOKEN", "set AGENT_TOKEN or AGENT_TOKEN_FILE, not both")
	case a.TokenFile != "":
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			r.fail("AGENT_TOKEN_FILE", "%v", err)
		}
		a.Token = strings.TrimSpace(string(b))
		if err == nil && a.Token == "" {
			r.fail("AGENT_TOKEN_FILE", "%s is empty; it should hold the token `infradash host add` printed", a.TokenFile)
		}
	case a.Token == "":
		r.fail("AGENT_TOKEN", "is required (or AGENT_TOKEN_FILE): the token `infradash host add NAME` printed on the hub")
	}
	if a.Token != "" && !strings.HasPrefix(a.Token, "idh_") {
		r.fail("AGENT_TOKEN", "is not an agent token (they start with idh_; `infradash host add NAME` on the hub prints one)")
	}
	if a.CAFile != "" {
		if _, err := os.Stat(a.CAFile); err != nil {
			r.fail("AGENT_CA_FILE", "%v", err)
		}
	}
	a.Spool = r.spool(a.Environment)
	if o.SpoolDir != "" {
		a.Spool.Dir = o.SpoolDir
	}
	a.LogLevel = strings.ToLower(r.str("LOG_LEVEL", "info"))
	defaultFormat := "text"
	if a.Environment == Production {
		defaultFormat = "json"
	}
	a.LogFormat = strings.ToLower(r.str("LOG_FORMAT", defaultFormat))
	r.logSettings(a.LogLevel, a.LogFormat)
	if len(r.problems) > 0 {
		return a, r.problems
	}
	return a, nil
}

// spool reads AGENT_SPOOL_DIR and AGENT_SPOOL_MAX_BYTES; the folder defaults to .data/agent in
// development and /var/lib/infradash-agent in production.
func (r *reader) spool(environment string) Spool {
	def := DefaultSpoolDir
	if environment != Production {
		def = DefaultSpoolDirDev
	}
	s := Spool{Dir: r.str("AGENT_SPOOL_DIR", def), MaxBytes: DefaultSpoolMaxBytes}
	if v, ok := r.raw("AGENT_SPOOL_MAX_BYTES"); ok {
		n, err := ParseBytes(v)
		switch {
		case err != nil:
			r.fail("AGENT_SPOOL_MAX_BYTES", "%v", err)
		case n < minSpoolMaxBytes || n > maxSpoolMaxBytes:
			r.fail("AGENT_SPOOL_MAX_BYTES", "must be between 64KiB and 1TiB, not %s", v)
		default:
			s.MaxBytes = n
		}
	}
	return s
}

// ParseBytes reads a size: a number of bytes, or one with a unit (KiB, MiB, GiB, TiB; KB, MB,
// GB, TB are decimal).
func ParseBytes(v string) (int64, error) {
	s := strings.TrimSpace(v)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult, ok := map[string]float64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size like 268435456, 256MiB or 1GiB", v)
	}
	// Past 2^63 the conversion wraps to a negative size (found by FuzzParseBytes).
	if f*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is larger than any disk (at most 8EiB)", v)
	}
	return int64(f * mult), nil
}
