package config

import (
	"os"
	"regexp"
	"sort"
	"testing"
)

// readNames returns every variable Load looks up, recorded as it runs, in development and in
// production (some rules only run there).
func readNames(t *testing.T) []string {
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

// An operator learns the variables from .env.example and docs/configuration.md; a variable Load
// reads but neither shows is a setting nobody can find.
func TestEveryVariableIsDocumented(t *testing.T) {
	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
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
