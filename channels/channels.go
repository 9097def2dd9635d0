// Package channels keeps the notification channels an admin sets in /settings/channels or the
// API: a name, a URL (Slack, a JSON webhook, or any service shoutrrr reaches), a minimum severity
// and an optional host or label scope. A URL carries the channel's secret (Slack's webhook path,
// a bot token, an SMTP password), so it is stored sealed with a key derived from SECRET_KEY and
// never shown again in full: pages, the API and the audit log show it masked (audit.MaskURL).
package channels

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/rules"
)

// Box seals and opens channel URLs with AES-256-GCM under a key derived (HKDF-SHA256) from
// SECRET_KEY: the database alone, or a backup of it, does not give away a webhook.
type Box struct{ aead cipher.AEAD }

// sealVersion starts every sealed URL, so another scheme can be told apart later.
const sealVersion = 1

// hkdfInfo binds the derived key to this one use of SECRET_KEY.
const hkdfInfo = "infradash notification channel URL v1"

// NewBox derives the key from secret (SECRET_KEY).
func NewBox(secret string) (*Box, error) {
	if secret == "" {
		return nil, errors.New("channels: no SECRET_KEY to seal channel URLs with")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, hkdfInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// ErrUnreadable is a sealed URL that does not open: SECRET_KEY is not the one it was sealed with
// (in development an unset SECRET_KEY is random at every start), or the row was altered.
var ErrUnreadable = errors.New("its URL cannot be decrypted with this SECRET_KEY (was SECRET_KEY changed, or unset in development?): enter the URL again")

// Seal encrypts a URL.
func (b *Box) Seal(url string) []byte {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(url)+b.aead.Overhead()+1)
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	out := append([]byte{sealVersion}, nonce...)
	return b.aead.Seal(out, nonce, []byte(url), []byte(hkdfInfo))
}

// Open decrypts what Seal made; ErrUnreadable when it cannot.
func (b *Box) Open(sealed []byte) (string, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return "", ErrUnreadable
	}
	plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(hkdfInfo))
	if err != nil {
		return "", ErrUnreadable
	}
	return string(plain), nil
}

// Channel is one stored channel as the pages and the API show it: never its URL in full.
type Channel struct {
	ID          int64         `json:"id"`
	Name        string        `json:"name"`
	Kind        string        `json:"kind"` // slack, webhook or shoutrrr
	URL         string        `json:"url"`  // masked
	MinSeverity health.Status `json:"min_severity"`
	Host        string        `json:"host"`
	Labels      fleet.Labels  `json:"labels"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	// Unreadable is set when its URL does not decrypt under this SECRET_KEY: it sends nothing
	// until the URL is entered again.
	Unreadable bool `json:"unreadable"`

	sealed []byte
}

// Input is a channel as a form or the API sends it. An empty URL on a change keeps the stored
// one (it is never shown, so it cannot be sent back).
type Input struct {
	Name        string
	URL         string
	MinSeverity string
	Host        string
	Labels      fleet.Labels
}

const maxName = 100

// checked is an input that passed Check: the fields to store, and the URL when one was given.
type checked struct {
	Channel
	url string
}

// check turns an input into a channel, or says which field is wrong. needURL: a new channel.
func check(in Input, needURL bool) (checked, error) {
	c := checked{Channel: Channel{Name: strings.TrimSpace(in.Name), Labels: in.Labels, MinSeverity: health.Status(strings.TrimSpace(in.MinSeverity))}}
	if c.Labels == nil {
		c.Labels = fleet.Labels{}
	}
	if c.Name == "" || len(c.Name) > maxName || strings.ContainsFunc(c.Name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return c, &rules.FieldError{Field: "name", Message: fmt.Sprintf("1 to %d printable characters, to tell the channel apart in logs and pages", maxName)}
	}
	c.url = strings.TrimSpace(in.URL)
	if c.url == "" && needURL {
		return c, &rules.FieldError{Field: "url", Message: "is required: the Slack webhook, the https:// endpoint, or a service URL such as discord://token@id"}
	}
	if c.url != "" {
		kind, err := notify.KindOf(c.url)
		if err == nil && kind == notify.KindShoutrrr {
			_, err = notify.NewShoutrrr(c.url, notify.Options{})
		}
		if err != nil {
			return c, &rules.FieldError{Field: "url", Message: err.Error()}
		}
		c.Kind, c.URL = kind, audit.MaskURL(c.url)
	}
	switch c.MinSeverity {
	case "":
		c.MinSeverity = health.Warning
	case health.Warning, health.Critical:
	default:
		return c, &rules.FieldError{Field: "min_severity", Message: fmt.Sprintf("must be warning or critical, not %q", in.MinSeverity)}
	}
	if h := strings.TrimSpace(in.Host); h != "" {
		if err := fleet.CheckName(h); err != nil {
			return c, &rules.FieldError{Field: "host", Message: err.Error()}
		}
		c.Host = fleet.NormalizeName(h)
	}
	if err := fleet.CheckLabels(c.Labels); err != nil {
		return c, &rules.FieldError{Field: "labels", Message: err.Error()}
	}
	if c.Host != "" && len(c.Labels) > 0 {
		return c, &rules.FieldError{Field: "labels", Message: "a channel is for one host or for the hosts with some labels, not both: leave one empty"}
	}
	return c, nil
}

// Store keeps the channels; its Box seals their URLs.
type Store struct {
	db  queries.DBTX
	box *Box
	// opts are the notifiers' (timeouts, tries); tests shorten the back-off.
	opts notify.Options
}

// NewStore keeps channels in db, sealed by box; nil box (no SECRET_KEY) stores none and reads
// every stored one as unreadable.
func NewStore(db queries.DBTX, box *Box, opts notify.Options) *Store {
	return &Store{db: db, box: box, opts: opts}
}

// ErrNoKey refuses to store a channel when no key seals it.
var ErrNoKey = errors.New("set SECRET_KEY first: channel URLs are stored encrypted with a key derived from it")

// ErrNameTaken is a second channel with the same name.
var ErrNameTaken = &rules.FieldError{Field: "name", Message: "another channel has this name"}

func (s *Store) from(r queries.NotificationChannel) Channel {
	c := Channel{ID: r.ID, Name: r.Name, Kind: r.Kind, URL: r.UrlMasked, MinSeverity: health.Status(r.MinSeverity), Host: r.Host,
		Labels: fleet.Labels{}, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), sealed: r.UrlSealed}
	_ = json.Unmarshal(r.Labels, &c.Labels)
	if s.box == nil {
		c.Unreadable = true
	} else if _, err := s.box.Open(r.UrlSealed); err != nil {
		c.Unreadable = true
	}
	return c
}

// List is every channel, by name.
func (s *Store) List(ctx context.Context, db queries.DBTX) ([]Channel, error) {
	rows, err := queries.New(db).ListChannels(ctx)
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	out := make([]Channel, len(rows))
	for i, r := range rows {
		out[i] = s.from(r)
	}
	return out, nil
}

// Get is one channel; rules.ErrNotFound when id names none.
func (s *Store) Get(ctx context.Context, db queries.DBTX, id int64) (Channel, error) {
	r, err := queries.New(db).GetChannel(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Channel{}, rules.ErrNotFound
	}
	if err != nil {
		return Channel{}, fmt.Errorf("channel %d: %w", id, err)
	}
	return s.from(r), nil
}

// Create checks and stores a new channel, its URL sealed.
func (s *Store) Create(ctx context.Context, db queries.DBTX, in Input, now time.Time) (Channel, error) {
	c, err := check(in, true)
	if err != nil {
		return Channel{}, err
	}
	if s.box == nil {
		return Channel{}, ErrNoKey
	}
	labels, _ := json.Marshal(c.Labels)
	row, err := queries.New(db).InsertChannel(ctx, queries.InsertChannelParams{Name: c.Name, Kind: c.Kind, UrlSealed: s.box.Seal(c.url),
		UrlMasked: c.URL, MinSeverity: string(c.MinSeverity), Host: c.Host, Labels: labels, Now: now.UTC()})
	if err != nil {
		return Channel{}, nameTaken(err)
	}
	return s.from(row), nil
}

// Update checks and replaces channel id; an empty URL keeps the stored one.
func (s *Store) Update(ctx context.Context, db queries.DBTX, id int64, in Input, now time.Time) (before, after Channel, err error) {
	c, err := check(in, false)
	if err != nil {
		return Channel{}, Channel{}, err
	}
	if before, err = s.Get(ctx, db, id); err != nil {
		return Channel{}, Channel{}, err
	}
	sealed, kind, masked := before.sealed, before.Kind, before.URL
	if c.url != "" {
		if s.box == nil {
			return Channel{}, Channel{}, ErrNoKey
		}
		sealed, kind, masked = s.box.Seal(c.url), c.Kind, c.URL
	} else if before.Unreadable {
		return Channel{}, Channel{}, &rules.FieldError{Field: "url", Message: "the stored URL " + ErrUnreadable.Error()}
	}
	labels, _ := json.Marshal(c.Labels)
	row, err := queries.New(db).UpdateChannel(ctx, queries.UpdateChannelParams{ID: id, Name: c.Name, Kind: kind, UrlSealed: sealed,
		UrlMasked: masked, MinSeverity: string(c.MinSeverity), Host: c.Host, Labels: labels, Now: now.UTC()})
	if errors.Is(err, pgx.ErrNoRows) {
		return Channel{}, Channel{}, rules.ErrNotFound
	}
	if err != nil {
		return Channel{}, Channel{}, nameTaken(err)
	}
	return before, s.from(row), nil
}

// Delete removes channel id.
func (s *Store) Delete(ctx context.Context, db queries.DBTX, id int64) (Channel, error) {
	row, err := queries.New(db).DeleteChannel(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Channel{}, rules.ErrNotFound
	}
	if err != nil {
		return Channel{}, fmt.Errorf("delete channel %d: %w", id, err)
	}
	return s.from(row), nil
}

func nameTaken(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return ErrNameTaken
	}
	return fmt.Errorf("store channel: %w", err)
}

// Key is what the alerts keep channel c's delivery state under.
func Key(id int64) string { return fmt.Sprintf("channel:%d", id) }

// Notifier is c's notifier, its URL opened; an error says why it cannot send.
func (s *Store) Notifier(c Channel) (*notify.Notifier, error) {
	if s.box == nil {
		return nil, ErrUnreadable
	}
	url, err := s.box.Open(c.sealed)
	if err != nil {
		return nil, err
	}
	return notify.ForURL(c.Name, url, s.opts)
}

// Load is every stored channel as the alerts send to it (alerts.Deps.Channels): one whose URL
// does not open still takes part, failing with the reason, so its notices wait for it.
func (s *Store) Load(ctx context.Context) ([]notify.Channel, error) {
	list, err := s.List(ctx, s.db)
	if err != nil {
		return nil, err
	}
	out := make([]notify.Channel, 0, len(list))
	for _, c := range list {
		n, err := s.Notifier(c)
		out = append(out, notify.Channel{Key: Key(c.ID), Name: c.Name, Notifier: n, Err: err, MinSeverity: c.MinSeverity,
			Host: c.Host, Labels: c.Labels})
	}
	return out, nil
}
