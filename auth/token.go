package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/infradash/infradash/queries"
)

// touchEvery bounds how often a token's last_used_at is written: hot API polling must not
// write a row on every request, and "last used" to the minute is all an operator needs.
const touchEvery = time.Minute

// Token is an API token's record; the token itself is never stored.
type Token struct {
	ID     int64 `json:"id"`
	UserID int64 `json:"user_id"`
	// UserEmail is the owner's email where the listing joins it (AllTokens, TokenByID).
	UserEmail  string     `json:"user_email,omitempty"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func tokenFrom(t queries.ApiToken) Token {
	return Token{ID: t.ID, UserID: t.UserID, Name: t.Name, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

// newToken makes a token: the prefix and 32 random bytes in base64url.
func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is what the database keeps: the token has 256 random bits, so a plain SHA-256 is
// enough (no salt or slow hash needed) and lets a lookup use the unique index.
func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// MaxTokenLifetime bounds a token's validity: a leaked token that never expires is a credential
// nobody remembers to revoke.
const MaxTokenLifetime = 365 * 24 * time.Hour

// MaxTokenNameLength bounds what a token is called: a name, not a note.
const MaxTokenNameLength = 100

// ValidateToken names what is wrong with a new token's name or lifetime.
func ValidateToken(name string, ttl time.Duration) error {
	switch n := utf8.RuneCountInString(name); {
	case strings.TrimSpace(name) == "":
		return invalid("name", "name is required: say what the token is for, e.g. ci-deploy")
	case n > MaxTokenNameLength:
		return invalid("name", "name must be at most %d characters, has %d", MaxTokenNameLength, n)
	case strings.ContainsFunc(name, unicode.IsControl):
		return invalid("name", "name must not contain control characters")
	}
	if ttl <= 0 || ttl > MaxTokenLifetime {
		return invalid("expires_in", "the token's lifetime must be positive and at most a year (%d seconds, 8760h), not %s",
			int64(MaxTokenLifetime/time.Second), ttl)
	}
	return nil
}

// CreateToken issues a token for a user, valid for ttl. The returned string is the only copy.
func (s *Store) CreateToken(ctx context.Context, userID int64, name string, ttl time.Duration) (string, Token, error) {
	return s.CreateTokenFrom(ctx, userID, name, ttl, "")
}

// CreateTokenFrom is CreateToken for a client at address: a use of the token from there is not
// news (NoteTokenAddress).
func (s *Store) CreateTokenFrom(ctx context.Context, userID int64, name string, ttl time.Duration, address string) (string, Token, error) {
	name = strings.TrimSpace(name)
	if err := ValidateToken(name, ttl); err != nil {
		return "", Token{}, err
	}
	plain := newToken()
	now := s.now().UTC()
	t, err := s.q.CreateAPIToken(ctx, queries.CreateAPITokenParams{
		UserID: userID, Name: name, TokenHash: hashToken(plain), CreatedAt: now, ExpiresAt: now.Add(ttl),
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	if address != "" {
		if _, err := s.NoteTokenAddress(ctx, t.ID, address); err != nil {
			return "", Token{}, err
		}
	}
	return plain, tokenFrom(t), nil
}

// NoteTokenAddress remembers that a token was used from address, and reports whether it never
// was before.
func (s *Store) NoteTokenAddress(ctx context.Context, tokenID int64, address string) (bool, error) {
	n, err := s.q.NoteAPITokenAddress(ctx, queries.NoteAPITokenAddressParams{TokenID: tokenID, Address: address, Now: s.now().UTC()})
	if err != nil {
		return false, fmt.Errorf("note token address: %w", err)
	}
	return n > 0, nil
}

// TokenOwner returns the user a live token belongs to and the token (its id, expiry and last
// use; not its name). An unknown, expired or revoked token gives ErrNotFound.
func (s *Store) TokenOwner(ctx context.Context, token string) (User, Token, error) {
	if !strings.HasPrefix(token, TokenPrefix) {
		return User{}, Token{}, ErrNotFound
	}
	now := s.now().UTC()
	row, err := s.q.APITokenOwner(ctx, queries.APITokenOwnerParams{TokenHash: hashToken(token), Now: now})
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, Token{}, ErrNotFound
	}
	if err != nil {
		return User{}, Token{}, fmt.Errorf("find token: %w", err)
	}
	if row.LastUsedAt == nil || now.Sub(*row.LastUsedAt) >= touchEvery {
		if err := s.q.TouchAPIToken(ctx, queries.TouchAPITokenParams{ID: row.TokenID, At: now}); err != nil {
			return User{}, Token{}, fmt.Errorf("record token use: %w", err)
		}
	}
	return User{ID: row.UserID, Email: row.Email, Role: row.Role},
		Token{ID: row.TokenID, UserID: row.UserID, ExpiresAt: row.ExpiresAt, LastUsedAt: row.LastUsedAt}, nil
}

// RevokeToken ends a token now and returns it. Revoking an unknown or already revoked token
// gives ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, id int64) (Token, error) {
	t, err := s.q.RevokeAPIToken(ctx, queries.RevokeAPITokenParams{ID: id, At: s.now().UTC()})
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, fmt.Errorf("no active token with id %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("revoke token: %w", err)
	}
	return tokenFrom(t), nil
}

// TokenByID finds a token's record, with its owner's email.
func (s *Store) TokenByID(ctx context.Context, id int64) (Token, error) {
	row, err := s.q.APITokenByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, fmt.Errorf("no token with id %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("find token: %w", err)
	}
	t := tokenFrom(row.ApiToken)
	t.UserEmail = row.UserEmail
	return t, nil
}

// AllTokens lists every user's tokens, newest first, with their owners' emails; expired and
// revoked ones too, until the cleanup job deletes them.
func (s *Store) AllTokens(ctx context.Context) ([]Token, error) {
	rows, err := s.q.ListAllAPITokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := make([]Token, len(rows))
	for i, r := range rows {
		out[i] = tokenFrom(r.ApiToken)
		out[i].UserEmail = r.UserEmail
	}
	return out, nil
}

// SessionUser checks again a session that logged in as userID at loggedInAt: it answers the
// account as it is now (its role may have changed), or ErrNotFound when the session is over
// (logged out, expired, password changed since, account disabled).
func (s *Store) SessionUser(ctx context.Context, token string, userID int64, loggedInAt time.Time) (User, error) {
	row, err := s.q.RecheckSession(ctx, queries.RecheckSessionParams{UserID: userID, LoggedInAt: loggedInAt.UTC(), Token: token})
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("check session: %w", err)
	}
	return User{ID: userID, Email: row.Email, Role: row.Role}, nil
}

// Tokens lists a user's tokens, including expired and revoked ones.
func (s *Store) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	rows, err := s.q.ListAPITokens(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := make([]Token, len(rows))
	for i, t := range rows {
		out[i] = tokenFrom(t)
	}
	return out, nil
}
