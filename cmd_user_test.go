package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/dbtest"
)

// cli runs infradash commands against one test database.
type cli struct {
	t   *testing.T
	url string
}

func (c cli) run(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	env := &environment{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		lookup: func(k string) (string, bool) {
			if k == "DATABASE_URL" {
				return c.url, true
			}
			return "", false
		}}
	code = run(context.Background(), env, args)
	return code, out.String(), errOut.String()
}

func (c cli) store() *auth.Store {
	pool, _, err := openDatabase(context.Background(), config.Config{DatabaseURL: c.url}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(pool.Close)
	return auth.NewStore(pool, auth.Options{})
}

func TestUserCommands(t *testing.T) {
	c := cli{t, dbtest.URL(t)}
	code, out, errOut := c.run("a long enough password\n", "user", "add", "--email", "Ops@Example.com", "--role", "admin")
	if code != 0 || !strings.Contains(out, "created admin ops@example.com") {
		t.Fatalf("user add: %d %q %q", code, out, errOut)
	}
	if _, err := c.store().Login(context.Background(), "ops@example.com", "a long enough password"); err != nil {
		t.Fatalf("login with the password from stdin: %v", err)
	}
	if code, _, errOut = c.run("a long enough password\n", "user", "add", "--email", "ops@example.com"); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("adding the same email again: %d %q", code, errOut)
	}
	if code, _, errOut = c.run("short\n", "user", "add", "--email", "v@example.com"); code != 1 || !strings.Contains(errOut, "at least 12") {
		t.Fatalf("short password: %d %q", code, errOut)
	}
	if code, _, errOut = c.run("", "user", "add", "--email", "v@example.com", "--role", "root"); code != 1 || !strings.Contains(errOut, "role must be") {
		t.Fatalf("bad role: %d %q", code, errOut)
	}
	if code, _, _ = c.run("", "user", "add", "--email", "v@example.com", "--password", "on the command line"); code != 2 {
		t.Fatalf("a password flag must not exist: exit %d", code)
	}

	if code, out, errOut = c.run("another good password\n", "user", "passwd", "--email", "OPS@example.com"); code != 0 || !strings.Contains(out, "changed") {
		t.Fatalf("user passwd: %d %q %q", code, out, errOut)
	}
	if _, err := c.store().Login(context.Background(), "ops@example.com", "another good password"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	if code, _, errOut = c.run("another good password\n", "user", "passwd", "ops@example.com"); code != 2 || !strings.Contains(errOut, `unexpected argument "ops@example.com"`) {
		t.Errorf("passwd with the email as an argument: exit %d, %s", code, errOut)
	}
	if code, _, errOut = c.run("another good password\n", "user", "passwd", "--email", "ghost@example.com"); code != 1 || !strings.Contains(errOut, "no account") {
		t.Fatalf("passwd of an unknown account: %d %q", code, errOut)
	}

	code, out, _ = c.run("", "user", "list")
	if code != 0 || !strings.Contains(out, "ops@example.com") || !strings.Contains(out, "admin") || strings.Contains(out, "argon2id") {
		t.Fatalf("user list: %d %q", code, out)
	}

	// The last admin can be neither disabled nor demoted, as on the settings page.
	if code, _, errOut = c.run("", "user", "disable", "--email", "ops@example.com"); code != 1 || !strings.Contains(errOut, "last enabled admin") {
		t.Fatalf("disable the last admin: %d %q", code, errOut)
	}
	if code, _, errOut = c.run("", "user", "role", "--email", "ops@example.com", "--role", "viewer"); code != 1 || !strings.Contains(errOut, "last enabled admin") {
		t.Fatalf("demote the last admin: %d %q", code, errOut)
	}
	if code, _, errOut = c.run("", "user", "role", "--email", "ops@example.com"); code != 2 || !strings.Contains(errOut, "--role is required") {
		t.Fatalf("role without --role: %d %q", code, errOut)
	}
	if code, _, errOut = c.run("a long enough password\n", "user", "add", "--email", "second@example.com"); code != 0 {
		t.Fatal(errOut)
	}
	if code, out, errOut = c.run("", "user", "role", "--email", "second@example.com", "--role", "admin"); code != 0 || !strings.Contains(out, "now admin (was viewer)") {
		t.Fatalf("user role: %d %q %q", code, out, errOut)
	}
	if code, out, errOut = c.run("", "user", "disable", "--email", "ops@example.com"); code != 0 || !strings.Contains(out, "disabled") {
		t.Fatalf("user disable: %d %q %q", code, out, errOut)
	}
	if _, err := c.store().Login(context.Background(), "ops@example.com", "another good password"); err == nil {
		t.Fatal("a disabled account logged in")
	}
	if code, out, errOut = c.run("", "user", "enable", "--email", "ops@example.com"); code != 0 || !strings.Contains(out, "enabled") {
		t.Fatalf("user enable: %d %q %q", code, out, errOut)
	}
	if _, err := c.store().Login(context.Background(), "ops@example.com", "another good password"); err != nil {
		t.Fatalf("login after enable: %v", err)
	}

	// Every change is in the audit log, as the command line and the OS user who ran it.
	pool, _, err := openDatabase(context.Background(), config.Config{DatabaseURL: c.url}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	entries, _, err := audit.List(context.Background(), pool, audit.Filter{Actor: audit.ActorCLI, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Action+" "+e.Target)
		if e.Actor.Via != audit.ViaCLI || e.Actor.OSUser == "" || e.Actor.Address == "" {
			t.Errorf("%s: actor %+v, want the cli with its OS user and machine", e.Action, e.Actor)
		}
	}
	want := "user.enable user:ops@example.com|user.disable user:ops@example.com|user.role user:second@example.com|" +
		"user.create user:second@example.com|user.password user:ops@example.com|user.create user:ops@example.com"
	if strings.Join(got, "|") != want {
		t.Errorf("audit log:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
}

func TestTokenCommands(t *testing.T) {
	c := cli{t, dbtest.URL(t)}
	if code, _, errOut := c.run("a long enough password\n", "user", "add", "--email", "ci@example.com"); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut := c.run("", "token", "create", "--email", "ci@example.com", "--name", "deploy", "--ttl", "720h")
	if code != 0 || !regexp.MustCompile(`^idt_[A-Za-z0-9_-]{43}\n$`).MatchString(out) {
		t.Fatalf("token create must print the token alone on stdout: %d %q %q", code, out, errOut)
	}
	token := strings.TrimSpace(out)
	s := c.store()
	u, tok, err := s.TokenOwner(context.Background(), token)
	if err != nil || u.Email != "ci@example.com" {
		t.Fatalf("the printed token: %+v %v", u, err)
	}

	code, out, _ = c.run("", "token", "list", "--email", "ci@example.com")
	if code != 0 || !strings.Contains(out, "deploy") || strings.Contains(out, token) {
		t.Fatalf("token list: %d %q", code, out)
	}
	if code, out, _ = c.run("", "token", "revoke", "--id", strconv.FormatInt(tok.ID, 10)); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("token revoke: %d %q", code, out)
	}
	if _, _, err := s.TokenOwner(context.Background(), token); err == nil {
		t.Fatal("a revoked token still works")
	}
	if code, _, errOut = c.run("", "token", "revoke", "--id", strconv.FormatInt(tok.ID, 10)); code != 1 || !strings.Contains(errOut, "no active token") {
		t.Fatalf("revoking twice: %d %q", code, errOut)
	}
	if code, _, _ = c.run("", "token", "create", "--email", "ci@example.com"); code != 2 {
		t.Fatalf("create without --name: exit %d", code)
	}
	if code, _, _ = c.run("", "token", "frobnicate"); code != 2 {
		t.Fatalf("unknown action: exit %d", code)
	}
}

func TestBootstrapAdmin(t *testing.T) {
	url := dbtest.URL(t)
	s := cli{t, url}.store()
	ctx := context.Background()
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := bootstrapAdmin(ctx, cfg, s, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^Log in at http://127\.0\.0\.1:8080/login as admin@example\.com with password (\S+)\n$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("development start printed %q", out.String())
	}
	if u, err := s.Login(ctx, "admin@example.com", m[1]); err != nil || u.Role != auth.RoleAdmin {
		t.Fatalf("login with the printed password: %+v %v", u, err)
	}
	// A second start neither changes nor prints the password.
	out.Reset()
	if err := bootstrapAdmin(ctx, cfg, s, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), m[1]) || !strings.Contains(out.String(), "user passwd") {
		t.Fatalf("second start printed %q", out.String())
	}
	if _, err := s.Login(ctx, "admin@example.com", m[1]); err != nil {
		t.Fatalf("the first password no longer works: %v", err)
	}

	// ADMIN_EMAIL and ADMIN_PASSWORD create that account, and never overwrite it.
	cfg.AdminEmail, cfg.AdminPassword = "root@example.com", "first admin password"
	_ = bootstrapAdmin(ctx, cfg, s, io.Discard, slog.New(slog.DiscardHandler))
	cfg.AdminPassword = "changed in the environment"
	_ = bootstrapAdmin(ctx, cfg, s, io.Discard, slog.New(slog.DiscardHandler))
	if _, err := s.Login(ctx, "root@example.com", "first admin password"); err != nil {
		t.Fatalf("ADMIN_PASSWORD overwrote the account: %v", err)
	}
}

// Enrolling, rotating and removing a host from the command line are in the audit log, never the
// token.
func TestHostCommandsAreAudited(t *testing.T) {
	c := cli{t, dbtest.URL(t)}
	code, out, errOut := c.run("", "host", "add", "web-1", "--label", "env=prod", "--quiet")
	if code != 0 {
		t.Fatalf("host add: %d %q", code, errOut)
	}
	token := strings.TrimSpace(out)
	for _, args := range [][]string{{"host", "rotate", "web-1", "--quiet"}, {"host", "remove", "web-1", "--purge"}} {
		if code, _, errOut := c.run("", args...); code != 0 {
			t.Fatalf("%v: %d %q", args, code, errOut)
		}
	}
	pool, _, err := openDatabase(context.Background(), config.Config{DatabaseURL: c.url}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	entries, _, err := audit.List(context.Background(), pool, audit.Filter{Target: "host:web-1", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Actor.Name+" "+e.Action)
	}
	if strings.Join(got, ", ") != "cli host.remove, cli host.rotate, cli host.enrol" {
		t.Errorf("audit log of web-1: %v", got)
	}
	var dump string
	_ = pool.QueryRow(context.Background(), `SELECT string_agg(details::text, ' ') FROM audit_log`).Scan(&dump)
	if strings.Contains(dump, token) || !strings.Contains(dump, `"purge": true`) {
		t.Errorf("audit details: %s", dump)
	}
}
