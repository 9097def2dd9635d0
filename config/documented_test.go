package config

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"testing"
)

// readNames returns every variable Load looks up, recorded as it runs, in development and in
// production (some rules only run there).
func readNames(t testing.TB) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, environment := range []string{Development, Production} {
		_, _ = Load(func(name string) (string, bool) {
			seen[name] = true
			if name == "ENVIRONMENT" {
				return environment, true
			}
			return "", false
		})
		_, _ = LoadAgent(func(name string) (string, bool) {
			seen[name] = true
			if name == "ENVIRONMENT" {
				return environment, true
			}
			return "", false
		}, AgentOverrides{})
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 30 {
		t.Fatalf("recorded only %d names; is Load still reading through its LookupFunc? %v", len(names), names)
	}
	return names
}

// readDocuments returns .env.example and docs/configuration.md, where operators read the settings.
func readDocuments(t *testing.T) (example, doc []byte) {
	t.Helper()
	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	doc, err = os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	return example, doc
}

// An operator learns the variables from .env.example and docs/configuration.md; a variable Load
// reads but neither shows is a setting nobody can find.
func TestEveryVariableIsDocumented(t *testing.T) {
	example, doc := readDocuments(t)
	for _, name := range readNames(t) {
		q := regexp.QuoteMeta(name)
		if !regexp.MustCompile(`(?m)^#?` + q + `=`).Match(example) {
			t.Errorf(".env.example lacks %s (as %s=default or #%s=default)", name, name, name)
		}
		if !regexp.MustCompile("(?m)^\\| `" + q + "` \\|").Match(doc) {
			t.Errorf("docs/configuration.md has no table row for `%s`", name)
		}
	}
}

// documentedDefaults returns NAME -> value for every default the operator reads: the commented
// `#NAME=value` lines of .env.example and the configuration.md rows whose default cell is one
// plain value in backticks.
func documentedDefaults(t *testing.T) map[string]map[string]string {
	t.Helper()
	example, doc := readDocuments(t)
	out := map[string]map[string]string{".env.example": {}, "docs/configuration.md": {}}
	for _, m := range regexp.MustCompile(`(?m)^#([A-Z][A-Z0-9_]+)=(.*)$`).FindAllSubmatch(example, -1) {
		out[".env.example"][string(m[1])] = string(m[2])
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]+)` \\| `([^`]*)` \\|").FindAllSubmatch(doc, -1) {
		out["docs/configuration.md"][string(m[1])] = string(m[2])
	}
	return out
}

// A documented default that is not the real one misleads whoever copies it: setting a variable
// to the value the documents call its default must change nothing.
func TestDocumentedDefaultsAreTheDefaults(t *testing.T) {
	read := map[string]bool{}
	for _, n := range readNames(t) {
		read[n] = true
	}
	for _, environment := range []string{Development, Production} {
		base := map[string]string{"ENVIRONMENT": environment, "SECRET_KEY": "3f9a1c7e5b2d8f4a6c0e9b1d7f3a5c8e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a",
			"DATABASE_URL": "postgres://u:p@db/infradash"}
		want, err := Load(env(flatten(base)...))
		if err != nil {
			t.Fatalf("%s base configuration: %v", environment, err)
		}
		for file, defaults := range documentedDefaults(t) {
			checked := 0
			for name, value := range defaults {
				// LOG_FORMAT's and AGENT_SPOOL_DIR's defaults depend on the environment; .env.example
				// shows production's.
				if !read[name] || name == "ENVIRONMENT" || ((name == "LOG_FORMAT" || name == "AGENT_SPOOL_DIR") && environment == Development) {
					continue
				}
				with := map[string]string{name: value}
				for k, v := range base {
					with[k] = v
				}
				got, err := Load(env(flatten(with)...))
				if err != nil {
					t.Errorf("%s: %s=%s is refused: %v", file, name, value, err)
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s (%s): %s=%s is not the default", file, environment, name, value)
				}
				checked++
			}
			if checked < 20 {
				t.Errorf("%s: only %d defaults checked; did the format change?", file, checked)
			}
		}
	}
}

func flatten(m map[string]string) []string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k, v)
	}
	return kv
}
