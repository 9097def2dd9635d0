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

	"github.com/jackc/pgx/v5"

	"github.com/infradash/infradash/queries"
)

// touchEvery bounds how often a token's last_used_at is written: hot API polling must not
// write a row on every request, and "last used" to the minute is all an operator needs.
const touchEvery = time.Minute

// Token is an API token's record; the token itself is never stored.
type Token struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
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

// CreateToken issues a token for a user, valid for ttl. The returned string is the only copy.
func (s *Store) CreateToken(ctx context.Context, userID int64, name string, ttl time.Duration) (string, Token, error) {
	if ttl <= 0 || ttl > MaxTokenLifetime {
		return "", Token{}, fmt.Errorf("token lifetime must be positive and at most a year (%s), not %s", MaxTokenLifetime, ttl)
	}
	plain := newToken()
	now := s.now().UTC()
	t, err := s.q.CreateAPIToken(ctx, queries.CreateAPITokenParams{
		UserID: userID, Name: name, TokenHash: hashToken(plain), CreatedAt: now, ExpiresAt: now.Add(ttl),
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	return plain, tokenFrom(t), nil
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

// RevokeToken ends a token now. Revoking an unknown or already revoked token gives ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, id int64) error {
	n, err := s.q.RevokeAPIToken(ctx, queries.RevokeAPITokenParams{ID: id, At: s.now().UTC()})
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("no active token with id %d: %w", id, ErrNotFound)
	}
	return nil
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
