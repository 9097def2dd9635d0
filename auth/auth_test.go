package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// clock is a settable time for lock-out and token tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newStore(t *testing.T, c *clock) *auth.Store {
	t.Helper()
	return auth.NewStore(dbtest.Pool(t), auth.Options{MaxFailures: 5, Lockout: 15 * time.Minute, Now: c.now})
}

const pw = "correct horse battery"

func TestEmailIsOneAccountWhateverItsCase(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, &clock{time.Now()})
	if _, err := s.CreateUser(ctx, " Ops@Example.COM ", pw, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "ops@example.com", pw, auth.RoleAdmin); !errors.Is(err, auth.ErrEmailTaken) {
		t.Fatalf("second account with the same email: err = %v, want ErrEmailTaken", err)
	}
	u, err := s.Login(ctx, "OPS@example.com", pw)
	if err != nil || u.Email != "ops@example.com" || u.Role != auth.RoleViewer {
		t.Fatalf("login in another case: %+v, %v", u, err)
	}
}

func TestNewUserRules(t *testing.T) {
	for _, tc := range []struct{ email, password, role, want string }{
		{"nobody", pw, auth.RoleViewer, "not an email address"},
		{"a@b.c", "short", auth.RoleViewer, "at least 12 characters"},
		{"a@b.c", pw, "root", "role must be admin or viewer"},
	} {
		if err := auth.ValidateNewUser(tc.email, tc.password, tc.role); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateNewUser(%q, %q, %q) = %v, want %q", tc.email, tc.password, tc.role, err, tc.want)
		}
	}
}

func TestWrongPasswordsLockTheAccountUntilTheLockEnds(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	s := newStore(t, c)
	if _, err := s.CreateUser(ctx, "ops@example.com", pw, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		_, err := s.Login(ctx, "ops@example.com", "wrong password!")
		if !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("attempt %d: err = %v", i, err)
		}
	}
	_, err := s.Login(ctx, "ops@example.com", pw)
	var f *auth.LoginFailure
	if !errors.As(err, &f) || f.Reason != "locked" {
		t.Fatalf("right password during the lock: err = %v, want refused as locked", err)
	}
	c.t = c.t.Add(15*time.Minute + time.Second)
	if _, err := s.Login(ctx, "ops@example.com", pw); err != nil {
		t.Fatalf("right password after the lock: %v", err)
	}
	u, _ := s.UserByEmail(ctx, "ops@example.com")
	if u.FailedAttempts != 0 || u.LockedUntil != nil || u.LastLoginAt == nil {
		t.Fatalf("after a good login: %+v, want the count reset and last login set", u)
	}
}

func TestSetPasswordLiftsTheLock(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, &clock{time.Now()})
	if _, err := s.CreateUser(ctx, "ops@example.com", pw, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_, _ = s.Login(ctx, "ops@example.com", "wrong password!")
	}
	if _, err := s.SetPassword(ctx, "ops@example.com", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "ops@example.com", "a brand new password"); err != nil {
		t.Fatalf("login after a reset: %v", err)
	}
	if _, err := s.SetPassword(ctx, "ghost@example.com", "a brand new password"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("reset of an unknown account: %v", err)
	}
}

func TestUnknownEmailFailsLikeAWrongPassword(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, &clock{time.Now()})
	if _, err := s.CreateUser(ctx, "ops@example.com", pw, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	_, wrong := s.Login(ctx, "ops@example.com", "wrong password!")
	_, unknown := s.Login(ctx, "ghost@example.com", pw)
	var wf, uf *auth.LoginFailure
	if !errors.As(wrong, &wf) || wf.Reason != "wrong password" {
		t.Fatalf("wrong password: %v, want a failure for a wrong password", wrong)
	}
	if !errors.As(unknown, &uf) || uf.Reason != "unknown email" {
		t.Fatalf("unknown email: %v, want a failure for an unknown email", unknown)
	}
	for _, err := range []error{wrong, unknown} {
		if !errors.Is(err, auth.ErrInvalidCredentials) || err.Error() != auth.ErrInvalidCredentials.Error() {
			t.Errorf("%v: want the one answer for any failed login, %q", err, auth.ErrInvalidCredentials)
		}
	}
}

// An attacker at one address who locks the account locks it for that address only: its owner
// logs in from another, and the attacker's lock stays.
func TestLockOutIsPerAddress(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	s := newStore(t, c)
	if _, err := s.CreateUser(ctx, "admin@example.com", pw, auth.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	const attacker, owner = "198.51.100.9", "192.0.2.7"
	for i := 1; i <= 6; i++ {
		_, _ = s.LoginFrom(ctx, "admin@example.com", "guess number "+string(rune('0'+i)), attacker)
	}
	var f *auth.LoginFailure
	if _, err := s.LoginFrom(ctx, "admin@example.com", pw, attacker); !errors.As(err, &f) || f.Reason != "locked" {
		t.Fatalf("the right password from the attacker's address during its lock: %v, want refused as locked", err)
	}
	if _, err := s.LoginFrom(ctx, "admin@example.com", pw, owner); err != nil {
		t.Fatalf("the owner from another address: %v, want logged in", err)
	}
	u, _ := s.UserByEmail(ctx, "admin@example.com")
	if u.LockedUntil == nil || u.FailedAttempts == 0 {
		t.Errorf("after the owner's login the attacker's lock should remain: %+v", u)
	}
	if _, err := s.LoginFrom(ctx, "admin@example.com", pw, attacker); !errors.As(err, &f) || f.Reason != "locked" {
		t.Fatalf("the attacker's address after the owner's login: %v, want still locked", err)
	}
	// A new password lifts every lock.
	if _, err := s.SetPassword(ctx, "admin@example.com", "a brand new password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoginFrom(ctx, "admin@example.com", "a brand new password", attacker); err != nil {
		t.Fatalf("after a new password, from the formerly locked address: %v", err)
	}
}

func TestEnsureUserNeverOverwrites(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, &clock{time.Now()})
	created, err := s.EnsureUser(ctx, "admin@example.com", pw, auth.RoleAdmin)
	if err != nil || !created {
		t.Fatalf("first EnsureUser: %v %v", created, err)
	}
	created, err = s.EnsureUser(ctx, "Admin@example.com", "another password!", auth.RoleAdmin)
	if err != nil || created {
		t.Fatalf("second EnsureUser: %v %v", created, err)
	}
	if _, err := s.Login(ctx, "admin@example.com", pw); err != nil {
		t.Fatalf("the first password must still work: %v", err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	s := newStore(t, c)
	u, err := s.CreateUser(ctx, "ci@example.com", pw, auth.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	plain, tok, err := s.CreateToken(ctx, u.ID, "ci", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain, auth.TokenPrefix) || len(plain) != len(auth.TokenPrefix)+43 {
		t.Fatalf("token %q: want idt_ and 43 base64url characters", plain)
	}
	owner, got, err := s.TokenOwner(ctx, plain)
	if err != nil || owner.ID != u.ID || got.ID != tok.ID || !got.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Fatalf("TokenOwner: %+v %+v %v", owner, got, err)
	}
	lastUsed := func() time.Time {
		ts, err := s.Tokens(ctx, u.ID)
		if err != nil || len(ts) != 1 || ts[0].LastUsedAt == nil {
			t.Fatalf("tokens: %+v %v", ts, err)
		}
		return *ts[0].LastUsedAt
	}
	first := lastUsed()
	c.t = c.t.Add(30 * time.Second)
	_, _, _ = s.TokenOwner(ctx, plain)
	if !lastUsed().Equal(first) {
		t.Fatal("last_used_at written again within a minute")
	}
	c.t = c.t.Add(31 * time.Second)
	_, _, _ = s.TokenOwner(ctx, plain)
	if !lastUsed().After(first) {
		t.Fatal("last_used_at not updated after a minute")
	}

	if _, _, err := s.TokenOwner(ctx, plain+"x"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("a wrong token: %v", err)
	}
	c.t = c.t.Add(time.Hour)
	if _, _, err := s.TokenOwner(ctx, plain); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("an expired token: %v", err)
	}

	plain2, tok2, _ := s.CreateToken(ctx, u.ID, "second", time.Hour)
	if _, err := s.RevokeToken(ctx, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TokenOwner(ctx, plain2); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("a revoked token: %v", err)
	}
	if _, err := s.RevokeToken(ctx, tok2.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("revoking twice: %v", err)
	}
}

// A new password cuts off whoever knew the old one: their API tokens stop working and sessions
// that logged in before it are over.
func TestSetPasswordCutsOffTokensAndSessions(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.Now()}
	s := newStore(t, c)
	u, err := s.CreateUser(ctx, "ops@example.com", pw, auth.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := s.CreateToken(ctx, u.ID, "script", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	loggedIn := c.t
	c.t = c.t.Add(time.Minute)
	if n, err := s.SetPassword(ctx, "ops@example.com", "a brand new password"); err != nil || n != 1 {
		t.Fatalf("set password: %d tokens revoked, %v", n, err)
	}
	if _, _, err := s.TokenOwner(ctx, token); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("a token from before the new password still works: %v", err)
	}
	u, _ = s.UserByID(ctx, u.ID)
	if u.SessionValid(loggedIn) {
		t.Error("a session from before the new password is still valid")
	}
	if !u.SessionValid(c.t.Add(time.Second)) {
		t.Error("a session after the new password is not valid")
	}
}

// A disabled account cannot log in even with the right password, and its tokens and sessions
// end; enabled again, it logs in afresh.
func TestDisabledAccountIsCutOff(t *testing.T) {
	ctx := context.Background()
	c := &clock{time.Now()}
	s := newStore(t, c)
	u, err := s.CreateUser(ctx, "ops@example.com", pw, auth.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	token, _, _ := s.CreateToken(ctx, u.ID, "script", time.Hour)
	loggedIn := c.t
	c.t = c.t.Add(time.Minute)
	if n, err := s.DisableUser(ctx, "OPS@example.com"); err != nil || n != 1 {
		t.Fatalf("disable: %d tokens revoked, %v", n, err)
	}
	var f *auth.LoginFailure
	if _, err := s.Login(ctx, "ops@example.com", pw); !errors.As(err, &f) || f.Reason != "disabled" {
		t.Fatalf("login of a disabled account: %v", err)
	}
	if _, _, err := s.TokenOwner(ctx, token); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("a disabled account's token still works: %v", err)
	}
	u, _ = s.UserByID(ctx, u.ID)
	if u.DisabledAt == nil || u.SessionValid(loggedIn) || u.SessionValid(c.t.Add(time.Hour)) {
		t.Errorf("a disabled account's sessions are valid: %+v", u)
	}
	if err := s.EnableUser(ctx, "ops@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "ops@example.com", pw); err != nil {
		t.Fatalf("login after enable: %v", err)
	}
	if _, err := s.DisableUser(ctx, "ghost@example.com"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("disable of an unknown account: %v", err)
	}
}

// Nobody can leave the accounts without an enabled admin: not by demoting or disabling the last
// one, and not by two admins demoting each other at the same moment.
func TestTheLastAdminStays(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, &clock{time.Now()})
	a, _ := s.CreateUser(ctx, "a@example.com", pw, auth.RoleAdmin)
	b, _ := s.CreateUser(ctx, "b@example.com", pw, auth.RoleAdmin)
	viewer := auth.RoleViewer
	up, err := s.UpdateUser(ctx, b.ID, auth.UserChange{Role: &viewer})
	if err != nil || up.Before.Role != auth.RoleAdmin || up.After.Role != auth.RoleViewer {
		t.Fatalf("demote one of two admins: %+v %v", up, err)
	}
	yes := true
	for name, ch := range map[string]auth.UserChange{"demote": {Role: &viewer}, "disable": {Disabled: &yes}} {
		if _, err := s.UpdateUser(ctx, a.ID, ch); !errors.Is(err, auth.ErrLastAdmin) {
			t.Errorf("%s the last admin: %v, want ErrLastAdmin", name, err)
		}
	}
	if _, err := s.SetRole(ctx, "a@example.com", auth.RoleViewer); !errors.Is(err, auth.ErrLastAdmin) {
		t.Errorf("SetRole on the last admin: %v", err)
	}
	if _, err := s.DisableUser(ctx, "a@example.com"); !errors.Is(err, auth.ErrLastAdmin) {
		t.Errorf("DisableUser on the last admin: %v", err)
	}
	if u, _ := s.UserByID(ctx, a.ID); u.Role != auth.RoleAdmin || u.DisabledAt != nil {
		t.Errorf("the refused change changed the last admin: %+v", u)
	}
	// A disabled admin does not count: with b an admin again but disabled, a is still the last.
	admin := auth.RoleAdmin
	if _, err := s.UpdateUser(ctx, b.ID, auth.UserChange{Role: &admin, Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, a.ID, auth.UserChange{Disabled: &yes}); !errors.Is(err, auth.ErrLastAdmin) {
		t.Errorf("disable the last enabled admin beside a disabled one: %v", err)
	}

	// Two admins demote each other at once: one wins, the other is refused.
	no := false
	if _, err := s.UpdateUser(ctx, b.ID, auth.UserChange{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for _, id := range []int64{a.ID, b.ID} {
		go func() {
			_, err := s.UpdateUser(ctx, id, auth.UserChange{Role: &viewer})
			errs <- err
		}()
	}
	var refused int
	for range 2 {
		if err := <-errs; errors.Is(err, auth.ErrLastAdmin) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	users, _ := s.Users(ctx)
	admins := 0
	for _, u := range users {
		if u.Role == auth.RoleAdmin && u.DisabledAt == nil {
			admins++
		}
	}
	if refused != 1 || admins != 1 {
		t.Errorf("two admins demoting each other at once: %d refused, %d admins left; want 1 and 1", refused, admins)
	}
}
