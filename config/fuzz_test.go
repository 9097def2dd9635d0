package config

import (
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzNames are the variables the configuration fuzz targets set, in a fixed order: every one
// Load and LoadAgent read, but those naming files to read (the fuzzer would make the agent
// read /dev/zero, which an operator does not).
func fuzzNames(tb testing.TB) []string {
	return slices.DeleteFunc(readNames(tb), func(n string) bool {
		return strings.HasSuffix(n, "_FILE") || n == "HOST_ETC"
	})
}

// pick chooses the variable called name, or one of names by a hash of name, so seeds can name
// the variable they mean and keep meaning it when variables are added.
func pick(names []string, name string) string {
	if slices.Contains(names, name) {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return names[int(h.Sum32()%uint32(len(names)))]
}

// problemLine is one line of Problems: the variable, then what is wrong with it.
var problemLine = regexp.MustCompile(`^([A-Z][A-Z0-9_]*): \S`)

// checkProblems fails unless err is nil or Problems in which every line names a variable that
// exists and says what is wrong with it.
func checkProblems(t *testing.T, env map[string]string, known []string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var p Problems
	if !errors.As(err, &p) || len(p) == 0 {
		t.Fatalf("with %q: %T %v, want Problems", env, err, err)
	}
	for _, line := range p {
		m := problemLine.FindStringSubmatch(line)
		if m == nil || !slices.Contains(known, m[1]) {
			t.Fatalf("with %q: the problem %q does not begin with the variable it is about", env, line)
		}
	}
}

// FuzzLoad sets two of the server's variables to any values (ENVIRONMENT may be one of them) and
// loads the configuration: never a panic, and a refusal lists, line by line, each variable at
// fault and why. A configuration that loads holds values within their documented ranges.
func FuzzLoad(f *testing.F) {
	names := fuzzNames(f)
	f.Fuzz(func(t *testing.T, name1, value1, name2, value2 string) {
		env := map[string]string{pick(names, name1): value1, pick(names, name2): value2}
		c, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		checkProblems(t, env, names, err)
		if err != nil {
			return
		}
		if c.CollectInterval <= 0 || c.HostDownAfter < 3*c.CollectInterval || c.AlertWindow <= 0 || c.SessionLifetime <= 0 ||
			c.Spool.MaxBytes < minSpoolMaxBytes || c.Spool.MaxBytes > maxSpoolMaxBytes {
			t.Fatalf("with %q: loaded out of range: %+v", env, c)
		}
		for _, l := range []struct{ w, c float64 }{{c.Thresholds.CPU.Warning, c.Thresholds.CPU.Critical},
			{c.Thresholds.Memory.Warning, c.Thresholds.Memory.Critical}, {c.Thresholds.Disk.Warning, c.Thresholds.Disk.Critical}} {
			if !(l.w >= 0 && l.w < l.c && l.c <= 100) {
				t.Fatalf("with %q: thresholds %g and %g loaded", env, l.w, l.c)
			}
		}
	})
}

// FuzzLoadAgent does the same for `infradash agent`'s configuration.
func FuzzLoadAgent(f *testing.F) {
	names := fuzzNames(f)
	f.Fuzz(func(t *testing.T, name1, value1, name2, value2 string) {
		env := map[string]string{"HUB_URL": "https://hub.example.com", "AGENT_TOKEN": "idh_0123456789abcdef"}
		env[pick(names, name1)] = value1
		env[pick(names, name2)] = value2
		a, err := LoadAgent(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, AgentOverrides{})
		checkProblems(t, env, names, err)
		if err == nil && (a.CollectInterval <= 0 || a.Spool.MaxBytes < minSpoolMaxBytes || a.Spool.MaxBytes > maxSpoolMaxBytes || a.HubURL == "") {
			t.Fatalf("with %q: loaded out of range: %+v", env, a)
		}
	})
}

// FuzzParseBytes reads a size as AGENT_SPOOL_MAX_BYTES takes it. What it refuses is quoted in
// the error; what it reads is a size a disk can have: never negative, never past int64.
func FuzzParseBytes(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		n, err := ParseBytes(v)
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", v)) {
				t.Fatalf("ParseBytes(%q) = %v: the error must quote the value", v, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseBytes(%q) = %d", v, n)
		}
	})
}
