package fleet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/sample"
)

// TokenPrefix starts every agent token, so it is told apart from a user's API token (idt_) at a
// glance, by secret scanners, and by the hub before any database query.
const TokenPrefix = "idh_"

// Errors of enrolment.
var (
	ErrHostExists = errors.New("a host with this name is already enrolled")
	ErrNoSuchHost = errors.New("no host with this name is enrolled")
	ErrLocalHost  = errors.New("this is the hub's own host: its agent runs inside the hub and has no token")
	// ErrInvalidLabels is wrapped by every CheckLabels error.
	ErrInvalidLabels = errors.New("invalid labels")
)

// NewToken makes an agent token: the prefix and 32 random bytes in base64url.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is what the database keeps of an agent token: 256 random bits need no salt or slow
// hash, and a plain SHA-256 lets ingest find the host through the unique index.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// NormalizeName lower-cases a host name (sample.NormalizeHostName).
func NormalizeName(name string) string { return sample.NormalizeHostName(name) }

// CheckName says what is wrong with a host name (sample.CheckHostName).
func CheckName(name string) error { return sample.CheckHostName(name) }

// Labels are a host's key=value tags, e.g. env=prod.
type Labels map[string]string

// Bounds of labels: enough for any tagging scheme, small enough to show in a table row.
const (
	maxLabels        = 32
	maxLabelKeyLen   = 63
	maxLabelValueLen = 128
)

// CheckLabels says what is wrong with a host's labels, or nil. Keys are lower-case letters,
// digits and . _ - / (like Kubernetes'), values any printable text (letters, marks, numbers,
// punctuation, symbols and spaces: no control, format or private-use characters, which would
// hide or reorder what a table row shows) without = or commas, which the selector syntax
// (env=prod,role=db) uses.
func CheckLabels(l Labels) error {
	if err := checkLabels(l); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidLabels, err)
	}
	return nil
}

func checkLabels(l Labels) error {
	if len(l) > maxLabels {
		return fmt.Errorf("labels: %d labels, at most %d", len(l), maxLabels)
	}
	for _, k := range slices.Sorted(maps.Keys(l)) {
		v := l[k]
		if k == "" || len(k) > maxLabelKeyLen {
			return fmt.Errorf("label %q: a key has 1 to %d characters", k, maxLabelKeyLen)
		}
		for _, r := range k {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/", r)) {
				return fmt.Errorf("label %q: keys are lower-case letters, digits and . _ - / only", k)
			}
		}
		if len(v) > maxLabelValueLen || !utf8.ValidString(v) || strings.ContainsAny(v, "=,\x00") ||
			strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsGraphic(r) }) {
			return fmt.Errorf("label %s: the value %q must be at most %d printable characters without = or ,", k, v, maxLabelValueLen)
		}
	}
	return nil
}

// ParseLabel reads KEY=VALUE, as `host add --label` takes it.
func ParseLabel(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("label %q: write it as KEY=VALUE, like env=prod", s)
	}
	return strings.TrimSpace(k), strings.TrimSpace(v), nil
}

// ParseLabels reads labels written as a selector, KEY=VALUE,KEY=VALUE (spaces around either are
// ignored), as the settings page takes them; "" is no labels. CheckLabels still applies.
func ParseLabels(s string) (Labels, error) {
	l := Labels{}
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, err := ParseLabel(part)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidLabels, err)
		}
		l[k] = v
	}
	return l, nil
}

// String writes labels as ParseLabels reads them, sorted by key.
func (l Labels) String() string {
	parts := make([]string, 0, len(l))
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

// Enrolled is a host as enrolment knows it.
type Enrolled struct {
	Name      string    `json:"name"`
	Labels    Labels    `json:"labels"`
	CreatedAt time.Time `json:"created_at"`
	// Local is the hub's own host (no agent token).
	Local bool `json:"local"`
}

func enrolledFrom(h queries.Host) Enrolled {
	e := Enrolled{Name: h.Name, Labels: Labels{}, CreatedAt: h.CreatedAt.UTC(), Local: h.TokenHash == nil}
	_ = json.Unmarshal(h.Labels, &e.Labels) // the column's CHECK keeps it an object
	return e
}

// DB is what the fleet needs of PostgreSQL: queries, and transactions (a pool or a transaction).
type DB interface {
	queries.DBTX
	Begin(context.Context) (pgx.Tx, error)
}

// Registry enrols, rotates and removes hosts. The `host` command and the API share it.
type Registry struct {
	db  DB
	now func() time.Time
}

// NewRegistry returns a Registry over db; now defaults to time.Now.
func NewRegistry(db DB, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{db: db, now: now}
}

// Add enrols a host and returns its agent token, the only copy there will ever be.
func (r *Registry) Add(ctx context.Context, name string, labels Labels) (Enrolled, string, error) {
	name = NormalizeName(name)
	if err := CheckName(name); err != nil {
		return Enrolled{}, "", err
	}
	if labels == nil {
		labels = Labels{}
	}
	if err := CheckLabels(labels); err != nil {
		return Enrolled{}, "", err
	}
	lb, err := json.Marshal(labels)
	if err != nil {
		return Enrolled{}, "", fmt.Errorf("encode labels: %w", err)
	}
	token := NewToken()
	h, err := queries.New(r.db).CreateHost(ctx, queries.CreateHostParams{Name: name, Labels: lb, TokenHash: HashToken(token), Now: r.now().UTC()})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Enrolled{}, "", fmt.Errorf("%w: %s", ErrHostExists, name)
	}
	if err != nil {
		return Enrolled{}, "", fmt.Errorf("enrol host %s: %w", name, err)
	}
	return enrolledFrom(h), token, nil
}

// EnsureLocal enrols the hub's own host if it is not yet, without a token.
func (r *Registry) EnsureLocal(ctx context.Context, name string) error {
	if err := queries.New(r.db).EnsureLocalHost(ctx, queries.EnsureLocalHostParams{Name: NormalizeName(name), Now: r.now().UTC()}); err != nil {
		return fmt.Errorf("enrol the hub's own host %s: %w", name, err)
	}
	return nil
}

// Get returns one enrolled host.
func (r *Registry) Get(ctx context.Context, name string) (Enrolled, error) {
	name = NormalizeName(name)
	h, err := queries.New(r.db).HostByName(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Enrolled{}, fmt.Errorf("%w: %s", ErrNoSuchHost, name)
	}
	if err != nil {
		return Enrolled{}, fmt.Errorf("find host %s: %w", name, err)
	}
	return enrolledFrom(h), nil
}

// Rotate gives a host a new token; the old one is refused from this moment on.
func (r *Registry) Rotate(ctx context.Context, name string) (Enrolled, string, error) {
	name = NormalizeName(name)
	h, err := queries.New(r.db).HostByName(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Enrolled{}, "", fmt.Errorf("%w: %s", ErrNoSuchHost, name)
	}
	if err != nil {
		return Enrolled{}, "", fmt.Errorf("rotate token of %s: %w", name, err)
	}
	if h.TokenHash == nil {
		return Enrolled{}, "", fmt.Errorf("%s: %w", name, ErrLocalHost)
	}
	token := NewToken()
	h, err = queries.New(r.db).RotateHostToken(ctx, queries.RotateHostTokenParams{Name: name, TokenHash: HashToken(token), Now: r.now().UTC()})
	if errors.Is(err, pgx.ErrNoRows) {
		return Enrolled{}, "", fmt.Errorf("%w: %s", ErrNoSuchHost, name)
	}
	if err != nil {
		return Enrolled{}, "", fmt.Errorf("rotate token of %s: %w", name, err)
	}
	return enrolledFrom(h), token, nil
}

// AddOrRotate enrols a host, or gives it a new token when it is enrolled already (its labels
// are kept): what the simulators do to a database a previous run filled.
func (r *Registry) AddOrRotate(ctx context.Context, name string, labels Labels) (string, error) {
	_, token, err := r.Add(ctx, name, labels)
	if errors.Is(err, ErrHostExists) {
		_, token, err = r.Rotate(ctx, name)
	}
	return token, err
}

// SetLabels replaces a host's labels.
func (r *Registry) SetLabels(ctx context.Context, name string, labels Labels) (Enrolled, error) {
	name = NormalizeName(name)
	if labels == nil {
		labels = Labels{}
	}
	if err := CheckLabels(labels); err != nil {
		return Enrolled{}, err
	}
	lb, err := json.Marshal(labels)
	if err != nil {
		return Enrolled{}, fmt.Errorf("encode labels: %w", err)
	}
	h, err := queries.New(r.db).SetHostLabels(ctx, queries.SetHostLabelsParams{Name: name, Labels: lb})
	if errors.Is(err, pgx.ErrNoRows) {
		return Enrolled{}, fmt.Errorf("%w: %s", ErrNoSuchHost, name)
	}
	if err != nil {
		return Enrolled{}, fmt.Errorf("set labels of %s: %w", name, err)
	}
	return enrolledFrom(h), nil
}

// Removed says what Remove did.
type Removed struct {
	Name           string           `json:"name"`
	ResolvedAlerts int64            `json:"resolved_alerts"`
	Purged         map[string]int64 `json:"purged,omitempty"` // rows deleted per table, with purge
}

// Remove refuses the host's token from now on and forgets its live state; its open alerts close
// without a notice. Its history stays for the record unless purge is set, which deletes every row
// of it. A removed host raises nothing.
func (r *Registry) Remove(ctx context.Context, name string, purge bool) (Removed, error) {
	name = NormalizeName(name)
	out := Removed{Name: name}
	err := pgx.BeginFunc(ctx, r.db, func(tx pgx.Tx) error {
		q := queries.New(tx)
		if _, err := q.DeleteHost(ctx, name); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNoSuchHost, name)
		} else if err != nil {
			return err
		}
		if purge {
			rows, err := q.PurgeHostHistory(ctx, name)
			if err != nil {
				return err
			}
			out.Purged = map[string]int64{}
			for _, row := range rows {
				out.Purged[row.TableName] = row.Rows
			}
			return nil
		}
		n, err := q.ResolveHostAlerts(ctx, queries.ResolveHostAlertsParams{Host: name, Now: r.now().UTC()})
		out.ResolvedAlerts = n
		return err
	})
	if err != nil && !errors.Is(err, ErrNoSuchHost) {
		return out, fmt.Errorf("remove host %s: %w", name, err)
	}
	return out, err
}

// List returns every enrolled host, by name.
func (r *Registry) List(ctx context.Context) ([]Enrolled, error) {
	rows, err := queries.New(r.db).ListHosts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list hosts: %w", err)
	}
	out := make([]Enrolled, 0, len(rows))
	for _, h := range rows {
		out = append(out, enrolledFrom(queries.Host{Name: h.Name, Labels: h.Labels, TokenHash: h.TokenHash, CreatedAt: h.CreatedAt}))
	}
	return out, nil
}
