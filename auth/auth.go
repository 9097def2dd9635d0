// Package auth holds accounts and credentials without HTTP: password hashing, login with
// lock-out, and API tokens. The HTTP handlers and the user/token commands share it.
package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/infradash/infradash/queries"
)

// Roles.
const (
	RoleAdmin  = "admin"
	RoleViewer = "viewer"
)

// MinPasswordLength matches the rule for ADMIN_PASSWORD.
const MinPasswordLength = 12

// TokenPrefix starts every API token, so a leaked one is recognisable (secret scanners, logs).
const TokenPrefix = "idt_"

var (
	// ErrInvalidCredentials is the one answer to a failed login: unknown email, wrong password
	// and locked account look the same from outside.
	ErrInvalidCredentials = errors.New("invalid email or password")
	// ErrEmailTaken: another account has this email (in any case).
	ErrEmailTaken = errors.New("an account with this email already exists")
	// ErrNotFound: no such user or token.
	ErrNotFound = errors.New("not found")
)

// HashMemory is what one argon2id hash or check allocates, in bytes: the server bounds the
// logins it checks at once by it.
const HashMemory = 19 << 20

// passwordParams are OWASP's argon2id settings (19 MiB, 2 passes, 1 lane): a login costs tens of
// milliseconds and 19 MiB, which the server bounds by checking few logins at once.
func passwordParams() *argon2id.Params {
	return &argon2id.Params{Memory: HashMemory >> 10, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}
}

// HashPassword returns the argon2id hash of password.
func HashPassword(password string) (string, error) {
	return argon2id.CreateHash(password, passwordParams())
}

// User is an account as the rest of the program sees it (no password hash).
type User struct {
	ID          int64      `json:"id"`
	Email       string     `json:"email"`
	Role        string     `json:"role"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
	// FailedAttempts adds up the failed logins since the last good one from each address.
	FailedAttempts int32 `json:"failed_attempts"`
	// LockedUntil is the end of the last lock still running, for the address it locks.
	LockedUntil *time.Time `json:"locked_until"`
	// DisabledAt is set while the account is disabled: no login, no session, no token.
	DisabledAt *time.Time `json:"disabled_at"`
	// SessionsValidAfter is when the password last changed or the account was disabled:
	// sessions that logged in before it are over.
	SessionsValidAfter *time.Time `json:"-"`
}

func userFrom(u queries.User, failedAttempts int32, lockedUntil *time.Time) User {
	return User{ID: u.ID, Email: u.Email, Role: u.Role, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt,
		FailedAttempts: failedAttempts, LockedUntil: lockedUntil, DisabledAt: u.DisabledAt,
		SessionsValidAfter: u.SessionsValidAfter}
}

// SessionValid reports whether a session that logged in at loggedInAt still acts for u: not
// when the account is disabled, nor when its password changed (or it was disabled) since.
func (u User) SessionValid(loggedInAt time.Time) bool {
	if u.DisabledAt != nil {
		return false
	}
	return u.SessionsValidAfter == nil || loggedInAt.After(*u.SessionsValidAfter)
}

// DB is what the store needs of PostgreSQL: queries and transactions (a pool or a transaction).
type DB interface {
	queries.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Store keeps accounts and tokens in PostgreSQL.
type Store struct {
	db  DB
	q   *queries.Queries
	now func() time.Time
	// maxFailures wrong passwords in a row lock an account for lockout.
	maxFailures int
	lockout     time.Duration
	// dummyHash is checked against for unknown emails, so they cost the same time as a wrong
	// password and timing does not tell which emails have accounts.
	dummyHash string
}

// Options configure a Store.
type Options struct {
	MaxFailures int              // LOGIN_MAX_FAILURES; default 5
	Lockout     time.Duration    // LOGIN_LOCKOUT; default 15m
	Now         func() time.Time // default time.Now
}

// NewStore returns a Store over db (a pool or a transaction).
func NewStore(db DB, o Options) *Store {
	if o.MaxFailures <= 0 {
		o.MaxFailures = 5
	}
	if o.Lockout <= 0 {
		o.Lockout = 15 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// CreateHash fails only when crypto/rand does, which it no longer can (Go 1.24+).
	dummy, _ := HashPassword(rand.Text())
	return &Store{db: db, q: queries.New(db), now: o.Now, maxFailures: o.MaxFailures, lockout: o.Lockout, dummyHash: dummy}
}

// In is the store working inside tx, so that a change and the audit entry that records it
// commit together.
func (s *Store) In(tx pgx.Tx) *Store {
	c := *s
	c.db, c.q = tx, queries.New(tx)
	return &c
}

// NormalizeEmail trims and lower-cases an email, so one address is one account however typed.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// InvalidError says which field of an account or token is wrong, and how: the pages show it
// beside that field, the API names the field, the commands print the message.
type InvalidError struct {
	Field   string // email, password, role, name, expires_in
	Message string // a sentence that names the field
}

func (e *InvalidError) Error() string { return e.Message }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ValidateNewUser names what is wrong with the email, password or role of a new account.
func ValidateNewUser(email, password, role string) error {
	if err := validateEmail(email); err != nil {
		return err
	}
	if err := ValidatePassword(password); err != nil {
		return err
	}
	return ValidateRole(role)
}

func validateEmail(email string) error {
	email = NormalizeEmail(email)
	at := strings.IndexByte(email, '@')
	if at <= 0 || at == len(email)-1 || strings.ContainsAny(email, " \t\r\n") {
		return invalid("email", "email %q is not an email address", email)
	}
	if len(email) > 254 {
		return invalid("email", "email must be at most 254 characters, has %d", len(email))
	}
	return nil
}

// ValidateRole names what is wrong with a role.
func ValidateRole(role string) error {
	if role != RoleAdmin && role != RoleViewer {
		return invalid("role", "role must be %s or %s, not %q", RoleAdmin, RoleViewer, role)
	}
	return nil
}

// ValidatePassword names what is wrong with a new password.
func ValidatePassword(password string) error {
	if n := len([]rune(password)); n < MinPasswordLength {
		return invalid("password", "password must be at least %d characters, has %d", MinPasswordLength, n)
	}
	if len(password) > 1024 {
		return invalid("password", "password must be at most 1024 bytes")
	}
	return nil
}

// GeneratePassword makes a password for an account whose admin did not choose one: 26 random
// characters (130 bits), shown once.
func GeneratePassword() string { return rand.Text() }

// CreateUser adds an account.
func (s *Store) CreateUser(ctx context.Context, email, password, role string) (User, error) {
	if err := ValidateNewUser(email, password, role); err != nil {
		return User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	u, err := s.q.CreateUser(ctx, queries.CreateUserParams{
		Email: NormalizeEmail(email), PasswordHash: hash, Role: role, CreatedAt: s.now().UTC(),
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return User{}, ErrEmailTaken
	}
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return userFrom(u, 0, nil), nil
}

// EnsureUser creates the account when no account has this email; an existing one is left as it
// is (its password is never overwritten). It reports whether it created the account.
func (s *Store) EnsureUser(ctx context.Context, email, password, role string) (bool, error) {
	if _, err := s.UserByEmail(ctx, email); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	_, err := s.CreateUser(ctx, email, password, role)
	if errors.Is(err, ErrEmailTaken) { // another replica created it meanwhile
		return false, nil
	}
	return err == nil, err
}

// ErrLastAdmin refuses to demote or disable the only enabled admin: nobody could change
// anything any more.
var ErrLastAdmin = errors.New("this is the last enabled admin: make another user admin first")

// UserChange is what UpdateUser changes; nil fields stay as they are.
type UserChange struct {
	Role     *string
	Disabled *bool
	// Password is a new password: it also lifts a lock-out, ends the user's sessions and revokes
	// their API tokens.
	Password *string
}

// UserUpdate is what UpdateUser did.
type UserUpdate struct {
	Before, After User
	// RevokedTokens counts the tokens a new password or disabling revoked.
	RevokedTokens int
}

// UpdateUser changes an account's role, whether it is disabled, and its password, in one
// transaction, under the rule the pages, the API and the `user` command share: the last
// enabled admin can be neither demoted nor disabled (ErrLastAdmin).
func (s *Store) UpdateUser(ctx context.Context, id int64, ch UserChange) (UserUpdate, error) {
	if ch.Role != nil {
		if err := ValidateRole(*ch.Role); err != nil {
			return UserUpdate{}, err
		}
	}
	var hash string
	if ch.Password != nil {
		if err := ValidatePassword(*ch.Password); err != nil {
			return UserUpdate{}, err
		}
		var err error
		if hash, err = HashPassword(*ch.Password); err != nil {
			return UserUpdate{}, fmt.Errorf("hash password: %w", err)
		}
	}
	var out UserUpdate
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		q := queries.New(tx)
		admins, err := q.LockActiveAdmins(ctx)
		if err != nil {
			return err
		}
		if _, err := q.LockUser(ctx, id); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("no account with id %d: %w", id, ErrNotFound)
		} else if err != nil {
			return err
		}
		ts := s.In(tx)
		if out.Before, err = ts.UserByID(ctx, id); err != nil {
			return err
		}
		activeAdmin := out.Before.Role == RoleAdmin && out.Before.DisabledAt == nil
		demoted := ch.Role != nil && *ch.Role != RoleAdmin
		disabled := ch.Disabled != nil && *ch.Disabled
		if activeAdmin && (demoted || disabled) && len(admins) <= 1 {
			return ErrLastAdmin
		}
		now := s.now().UTC()
		if ch.Role != nil && *ch.Role != out.Before.Role {
			if err := q.SetUserRole(ctx, queries.SetUserRoleParams{ID: id, Role: *ch.Role}); err != nil {
				return err
			}
		}
		if ch.Disabled != nil && *ch.Disabled != (out.Before.DisabledAt != nil) {
			if *ch.Disabled {
				row, err := q.DisableUser(ctx, queries.DisableUserParams{ID: id, Now: now})
				if err != nil {
					return err
				}
				out.RevokedTokens += int(row.RevokedTokens)
			} else if _, err := q.EnableUser(ctx, id); err != nil {
				return err
			}
		}
		if ch.Password != nil {
			row, err := q.SetUserPassword(ctx, queries.SetUserPasswordParams{ID: id, PasswordHash: hash, Now: now})
			if err != nil {
				return err
			}
			out.RevokedTokens += int(row.RevokedTokens)
		}
		out.After, err = ts.UserByID(ctx, id)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrLastAdmin) {
		return UserUpdate{}, fmt.Errorf("update user %d: %w", id, err)
	}
	return out, err
}

// updateByEmail is UpdateUser for the account with this email.
func (s *Store) updateByEmail(ctx context.Context, email string, ch UserChange) (UserUpdate, error) {
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		return UserUpdate{}, err
	}
	return s.UpdateUser(ctx, u.ID, ch)
}

// SetPassword replaces a user's password and lifts a lock-out. Whoever knew the old password is
// cut off: the user's sessions end and their API tokens are revoked. It returns how many tokens
// it revoked.
func (s *Store) SetPassword(ctx context.Context, email, password string) (int, error) {
	if err := ValidatePassword(password); err != nil {
		return 0, err
	}
	up, err := s.updateByEmail(ctx, email, UserChange{Password: &password})
	return up.RevokedTokens, err
}

// DisableUser cuts an account off: it cannot log in, its sessions end and its API tokens are
// revoked. It returns how many tokens it revoked. The last enabled admin cannot be disabled.
func (s *Store) DisableUser(ctx context.Context, email string) (int, error) {
	yes := true
	up, err := s.updateByEmail(ctx, email, UserChange{Disabled: &yes})
	return up.RevokedTokens, err
}

// EnableUser lets a disabled account log in again (and lifts a lock-out). What disabling ended
// stays ended.
func (s *Store) EnableUser(ctx context.Context, email string) error {
	no := false
	_, err := s.updateByEmail(ctx, email, UserChange{Disabled: &no})
	return err
}

// SetRole makes an account an admin or a viewer. The last enabled admin cannot be demoted.
func (s *Store) SetRole(ctx context.Context, email, role string) (UserUpdate, error) {
	if err := ValidateRole(role); err != nil {
		return UserUpdate{}, err
	}
	return s.updateByEmail(ctx, email, UserChange{Role: &role})
}

// UserByEmail finds an account by email, in any case.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := s.q.UserByEmail(ctx, queries.UserByEmailParams{Email: NormalizeEmail(email), Now: s.now().UTC()})
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("no account with email %q: %w", NormalizeEmail(email), ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("find user: %w", err)
	}
	return userFrom(u.User, u.FailedAttempts, u.LockedUntil), nil
}

// UserByID finds an account by id.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := s.q.UserByID(ctx, queries.UserByIDParams{ID: id, Now: s.now().UTC()})
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("no account with id %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("find user: %w", err)
	}
	return userFrom(u.User, u.FailedAttempts, u.LockedUntil), nil
}

// Users lists every account, oldest first.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.q.ListUsers(ctx, s.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]User, len(rows))
	for i, u := range rows {
		out[i] = userFrom(u.User, u.FailedAttempts, u.LockedUntil)
	}
	return out, nil
}

// LoginFailure says why a login failed, for the log only: the client always sees
// ErrInvalidCredentials.
type LoginFailure struct {
	Reason string // "unknown email", "wrong password", "locked", "disabled"
	// LockedUntil is set when the account is (now) locked for the login's address.
	LockedUntil *time.Time
	// Failures counts this account's failed logins in a row from the login's address, this one
	// included, whatever the reason (0 for an unknown email, which has no count); the handlers
	// slow down as it grows, alike for every reason.
	Failures int
}

func (f *LoginFailure) Error() string { return ErrInvalidCredentials.Error() }

// Unwrap lets errors.Is(err, ErrInvalidCredentials) hold.
func (f *LoginFailure) Unwrap() error { return ErrInvalidCredentials }

// Login checks an email and password, for a client at no particular address (the command line);
// the HTTP handlers use LoginFrom.
func (s *Store) Login(ctx context.Context, email, password string) (User, error) {
	return s.LoginFrom(ctx, email, password, "")
}

// LoginFrom checks an email and password from a client address. Every failure is a
// *LoginFailure wrapping ErrInvalidCredentials, and each path verifies one argon2id hash, so
// unknown email, wrong password, locked and disabled account take about the same time. Failures
// count per account and address: maxFailures in a row lock the account for that address only,
// so an attacker elsewhere cannot lock its owner out. A locked or disabled account is refused
// even with the right password.
func (s *Store) LoginFrom(ctx context.Context, email, password, address string) (User, error) {
	row, err := s.q.LoginCandidate(ctx, queries.LoginCandidateParams{Email: NormalizeEmail(email), Address: address})
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, s.NoAccount(password)
	}
	if err != nil {
		return User{}, fmt.Errorf("login: %w", err)
	}
	match, err := argon2id.ComparePasswordAndHash(password, row.User.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("login: stored hash of user %d: %w", row.User.ID, err)
	}
	now := s.now().UTC()
	reason := ""
	switch {
	case row.User.DisabledAt != nil:
		reason = "disabled"
	case row.LockedUntil != nil && now.Before(*row.LockedUntil):
		reason = "locked"
	case !match:
		reason = "wrong password"
	}
	if reason != "" {
		rec, err := s.q.RecordLoginFailure(ctx, queries.RecordLoginFailureParams{
			ID: row.User.ID, Address: address, MaxFailures: int32(s.maxFailures), LockUntil: now.Add(s.lockout), Now: now,
		})
		if err != nil {
			return User{}, fmt.Errorf("login: record failure: %w", err)
		}
		f := &LoginFailure{Reason: reason, Failures: int(rec.FailedAttempts)}
		if rec.LockedUntil != nil && now.Before(*rec.LockedUntil) {
			f.LockedUntil = rec.LockedUntil
		}
		return User{}, f
	}
	if err := s.q.RecordLoginSuccess(ctx, queries.RecordLoginSuccessParams{ID: row.User.ID, Address: address, At: now}); err != nil {
		return User{}, fmt.Errorf("login: %w", err)
	}
	u := userFrom(row.User, 0, nil)
	u.LastLoginAt = &now
	return u, nil
}

// NoAccount fails a login for which there is no account, as LoginFrom does for an unknown email:
// it verifies one argon2id hash, so it takes as long as a wrong password.
func (s *Store) NoAccount(password string) error {
	_, _ = argon2id.ComparePasswordAndHash(password, s.dummyHash)
	return &LoginFailure{Reason: "unknown email"}
}

// FailureMessage is the message a client sees after a failed login: the same for every reason, and
// it says what the lock-out rule is, so a locked-out user knows to wait.
func (s *Store) FailureMessage() string {
	return fmt.Sprintf("invalid email or password (after %d failed attempts an account is locked for %s, for the address they came from)",
		s.maxFailures, s.lockout)
}
