package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/queries"
)

// DB is what the rules need of PostgreSQL: a pool, or the transaction of a change and its
// audit entry.
type DB = queries.DBTX

// ErrExists is a second rule for the same metric, filesystem and hosts: which of two would
// apply would be left to chance, so the existing one is to be changed instead.
type ErrExists struct{ Rule Rule }

func (e *ErrExists) Error() string {
	what := e.Rule.Metric
	if e.Rule.Mount != "" {
		what += " " + e.Rule.Mount
	}
	return fmt.Sprintf("a rule for %s on %s exists already: change that one", what, e.Rule.ScopeText())
}

func version(ctx context.Context, db DB) (int64, error) {
	v, err := queries.New(db).SettingsVersion(ctx, "alert_rules")
	if err != nil {
		return 0, fmt.Errorf("alert rules: version: %w", err)
	}
	return v, nil
}

func ruleFrom(r queries.AlertRule) Rule {
	out := Rule{ID: r.ID, Metric: r.Metric, Mount: r.Mount, Host: r.Host, Labels: fleet.Labels{}, Critical: r.Critical,
		Enabled: r.Enabled, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	_ = json.Unmarshal(r.Labels, &out.Labels) // the column's CHECK keeps it an object
	if r.Metric != MetricHostDown {
		w := r.Warning
		out.Warning = &w
	}
	return out
}

// List is every rule, by metric and scope.
func List(ctx context.Context, db DB) ([]Rule, error) {
	rows, err := queries.New(db).ListAlertRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("alert rules: list: %w", err)
	}
	out := make([]Rule, len(rows))
	for i, r := range rows {
		out[i] = ruleFrom(r)
	}
	return out, nil
}

// Get is one rule; ErrNotFound when id names none.
func Get(ctx context.Context, db DB, id int64) (Rule, error) {
	r, err := queries.New(db).GetAlertRule(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Rule{}, ErrNotFound
	}
	if err != nil {
		return Rule{}, fmt.Errorf("alert rule %d: %w", id, err)
	}
	return ruleFrom(r), nil
}

// Create stores a checked rule (Check).
func Create(ctx context.Context, db DB, r Rule, now time.Time) (Rule, error) {
	labels, _ := json.Marshal(r.Labels)
	row, err := queries.New(db).InsertAlertRule(ctx, queries.InsertAlertRuleParams{Metric: r.Metric, Mount: r.Mount, Host: r.Host,
		Labels: labels, Warning: warningOf(r), Critical: r.Critical, Enabled: r.Enabled, Now: now.UTC()})
	if err != nil {
		return Rule{}, exists(r, err)
	}
	return ruleFrom(row), nil
}

// Update replaces rule id with a checked rule; ErrNotFound when id names none.
func Update(ctx context.Context, db DB, id int64, r Rule, now time.Time) (Rule, error) {
	labels, _ := json.Marshal(r.Labels)
	row, err := queries.New(db).UpdateAlertRule(ctx, queries.UpdateAlertRuleParams{ID: id, Metric: r.Metric, Mount: r.Mount, Host: r.Host,
		Labels: labels, Warning: warningOf(r), Critical: r.Critical, Enabled: r.Enabled, Now: now.UTC()})
	if errors.Is(err, pgx.ErrNoRows) {
		return Rule{}, ErrNotFound
	}
	if err != nil {
		return Rule{}, exists(r, err)
	}
	return ruleFrom(row), nil
}

// Delete removes rule id, so what it set comes from the next rule or the environment again.
func Delete(ctx context.Context, db DB, id int64) (Rule, error) {
	row, err := queries.New(db).DeleteAlertRule(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Rule{}, ErrNotFound
	}
	if err != nil {
		return Rule{}, fmt.Errorf("delete alert rule %d: %w", id, err)
	}
	return ruleFrom(row), nil
}

func warningOf(r Rule) float64 {
	if r.Warning == nil {
		return 0
	}
	return *r.Warning
}

// exists turns the unique index's refusal into ErrExists naming the rule in the way. The
// transaction is aborted by then, so the rule is described from what was sent, not read back.
func exists(r Rule, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return &ErrExists{Rule: r}
	}
	return fmt.Errorf("store alert rule: %w", err)
}
