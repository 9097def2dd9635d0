package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/queries"
)

// Silence mutes the notices of the alerts it matches from StartsAt to EndsAt: host, labels and
// metric, each one set must match (none set matches every alert). The alerts still open and show
// as silenced; a notice held back goes out once when the silence ends, if it is still due.
type Silence struct {
	ID        int64        `json:"id"`
	Host      string       `json:"host"`
	Labels    fleet.Labels `json:"labels"`
	Metric    string       `json:"metric"` // a rule metric (load_per_core, not load); "" for any
	StartsAt  time.Time    `json:"starts_at"`
	EndsAt    time.Time    `json:"ends_at"`
	Comment   string       `json:"comment"`
	CreatedBy string       `json:"created_by"`
	CreatedAt time.Time    `json:"created_at"`
}

// Matches reports whether s mutes an alert of metric (an alert's metric: cpu, load, disk...) on
// the host with these labels. It does not look at the time (Active does).
func (s Silence) Matches(host string, labels map[string]string, metric string) bool {
	return (s.Host == "" || s.Host == host) && Selector(s.Labels).Matches(labels) && (s.Metric == "" || Kind(s.Metric) == metric)
}

// Active reports whether s is in force at now.
func (s Silence) Active(now time.Time) bool { return !now.Before(s.StartsAt) && now.Before(s.EndsAt) }

// Matching is the first of silences in force at now that mutes the alert; nil for none.
func Matching(silences []Silence, host string, labels map[string]string, metric string, now time.Time) *Silence {
	for i := range silences {
		if silences[i].Active(now) && silences[i].Matches(host, labels, metric) {
			return &silences[i]
		}
	}
	return nil
}

// SilenceInput is a silence as a form or the API sends it.
type SilenceInput struct {
	Host     string
	Labels   fleet.Labels
	Metric   string
	StartsAt *time.Time // nil: now
	EndsAt   *time.Time
	Comment  string
}

// Bounds of a silence: a year covers any maintenance; a comment says why in a sentence or two.
const (
	maxSilence        = 366 * 24 * time.Hour
	maxSilenceComment = 500
)

// CheckSilence turns an input into a silence by author, or says which field is wrong.
func CheckSilence(in SilenceInput, author string, now time.Time) (Silence, error) {
	s := Silence{Labels: in.Labels, Metric: strings.TrimSpace(in.Metric), Comment: strings.TrimSpace(in.Comment), CreatedBy: author,
		StartsAt: now.UTC().Truncate(time.Second)}
	if s.Labels == nil {
		s.Labels = fleet.Labels{}
	}
	if h := strings.TrimSpace(in.Host); h != "" {
		if err := fleet.CheckName(h); err != nil {
			return s, fieldErr("host", "%v", err)
		}
		s.Host = fleet.NormalizeName(h)
	}
	if err := fleet.CheckLabels(s.Labels); err != nil {
		return s, fieldErr("labels", "%v", err)
	}
	if s.Metric != "" && !slices.Contains(Metrics, s.Metric) {
		return s, fieldErr("metric", "must be empty (every metric) or one of %s, not %q", strings.Join(Metrics, ", "), s.Metric)
	}
	if in.StartsAt != nil {
		s.StartsAt = in.StartsAt.UTC()
	}
	if in.EndsAt == nil {
		return s, fieldErr("ends_at", "is required: when the silence ends")
	}
	s.EndsAt = in.EndsAt.UTC()
	switch {
	case !s.EndsAt.After(s.StartsAt):
		return s, fieldErr("ends_at", "must be after starts_at (%s)", s.StartsAt.Format(time.RFC3339))
	case !s.EndsAt.After(now):
		return s, fieldErr("ends_at", "is in the past: a silence that has ended mutes nothing")
	case s.EndsAt.Sub(s.StartsAt) > maxSilence:
		return s, fieldErr("ends_at", "a silence lasts at most 366 days")
	}
	if len(s.Comment) > maxSilenceComment {
		return s, fieldErr("comment", "at most %d characters", maxSilenceComment)
	}
	if s.Host == "" && len(s.Labels) == 0 && s.Metric == "" && s.Comment == "" {
		return s, fieldErr("comment", "a silence of every alert needs a comment saying why")
	}
	return s, nil
}

func silenceFrom(r queries.Silence) Silence {
	s := Silence{ID: r.ID, Host: r.Host, Labels: fleet.Labels{}, Metric: r.Metric, StartsAt: r.StartsAt.UTC(), EndsAt: r.EndsAt.UTC(),
		Comment: r.Comment, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC()}
	_ = json.Unmarshal(r.Labels, &s.Labels)
	return s
}

func silencesFrom(rows []queries.Silence) []Silence {
	out := make([]Silence, len(rows))
	for i, r := range rows {
		out[i] = silenceFrom(r)
	}
	return out
}

// ListSilences is the newest 500 silences; with current, only those not yet ended at now.
func ListSilences(ctx context.Context, db DB, current bool, now time.Time) ([]Silence, error) {
	rows, err := queries.New(db).ListSilences(ctx, queries.ListSilencesParams{Active: current, Now: now.UTC()})
	if err != nil {
		return nil, fmt.Errorf("silences: %w", err)
	}
	return silencesFrom(rows), nil
}

// ActiveSilences are the silences in force at now.
func ActiveSilences(ctx context.Context, db DB, now time.Time) ([]Silence, error) {
	rows, err := queries.New(db).ActiveSilences(ctx, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("active silences: %w", err)
	}
	return silencesFrom(rows), nil
}

// CreateSilence stores a checked silence (CheckSilence).
func CreateSilence(ctx context.Context, db DB, s Silence, now time.Time) (Silence, error) {
	labels, _ := json.Marshal(s.Labels)
	row, err := queries.New(db).InsertSilence(ctx, queries.InsertSilenceParams{Host: s.Host, Labels: labels, Metric: s.Metric,
		StartsAt: s.StartsAt, EndsAt: s.EndsAt, Comment: s.Comment, CreatedBy: s.CreatedBy, Now: now.UTC()})
	if err != nil {
		return Silence{}, fmt.Errorf("store silence: %w", err)
	}
	return silenceFrom(row), nil
}

// DeleteSilence removes silence id: what it held back goes out at the next evaluation.
func DeleteSilence(ctx context.Context, db DB, id int64) (Silence, error) {
	row, err := queries.New(db).DeleteSilence(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Silence{}, ErrNotFound
	}
	if err != nil {
		return Silence{}, fmt.Errorf("delete silence %d: %w", id, err)
	}
	return silenceFrom(row), nil
}

// HostLabels is every enrolled host's labels, by name.
func HostLabels(ctx context.Context, db DB) (map[string]map[string]string, error) {
	rows, err := queries.New(db).HostLabels(ctx)
	if err != nil {
		return nil, fmt.Errorf("host labels: %w", err)
	}
	out := make(map[string]map[string]string, len(rows))
	for _, r := range rows {
		l := map[string]string{}
		_ = json.Unmarshal(r.Labels, &l)
		out[r.Name] = l
	}
	return out, nil
}
