package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
	"github.com/infradash/infradash/dbtest"
)

// A zero is a value, not "use the default": like -1, it is refused, naming the flag. A token
// may not outlive a year.
func TestCommandsRefuseValuesOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"cleanup", "--days", "0"}, "--days must be between 1 and 36500, not 0"},
		{[]string{"cleanup", "--days", "-1"}, "--days must be between 1 and 36500, not -1"},
		{[]string{"aggregate", "--hours", "0"}, "--hours must be between 1 and 8784, not 0"},
		{[]string{"aggregate", "--period", "daily", "--hours", "0"}, "--hours must be between 1 and 8784, not 0"},
		{[]string{"token", "create", "--email", "ops@example.com", "--name", "ci", "--ttl", "1000000h"}, "--ttl must be positive and at most 8760h (a year), not 1000000h0m0s"},
		{[]string{"token", "create", "--email", "ops@example.com", "--name", "ci", "--ttl", "8761h"}, "at most 8760h (a year)"},
	} {
		// No database: the refusal comes before any connection.
		code, out := runCommand(t, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", tc.args...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output:\n%s\nwant exit 2 and %q", tc.args, code, out, tc.want)
		}
	}
	// A year is allowed.
	url := dbtest.URL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	u, _ := authtest.User(t, pool, auth.RoleViewer)
	if code, out := runCommand(t, url, "token", "create", "--email", u.Email, "--name", "ci", "--ttl", "8760h"); code != 0 {
		t.Errorf("a token for a year: exit %d, output:\n%s", code, out)
	}
}

// In production, check-config warns that /metrics is public while METRICS_TOKEN is unset.
func TestCheckConfigWarnsOfPublicMetricsInProduction(t *testing.T) {
	check := func(vars map[string]string) (int, string) {
		var out bytes.Buffer
		env := &environment{stdout: &out, stderr: &out, lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
		return run(context.Background(), env, []string{"check-config"}), out.String()
	}
	prod := map[string]string{"ENVIRONMENT": "production", "SECRET_KEY": strongSecret, "DATABASE_URL": "postgres://infradash@db/infradash"}
	code, out := check(prod)
	if code != 0 || !strings.Contains(out, "warning: METRICS_TOKEN is unset: /metrics") {
		t.Errorf("production without METRICS_TOKEN: exit %d, output:\n%s\nwant exit 0 and a warning", code, out)
	}
	prod["METRICS_TOKEN"] = "a-long-enough-metrics-token"
	if code, out := check(prod); code != 0 || strings.Contains(out, "warning") {
		t.Errorf("production with METRICS_TOKEN: exit %d, output:\n%s\nwant no warning", code, out)
	}
	if code, out := check(map[string]string{}); code != 0 || strings.Contains(out, "METRICS_TOKEN") {
		t.Errorf("development: exit %d, output:\n%s\nwant no warning about METRICS_TOKEN", code, out)
	}
}
