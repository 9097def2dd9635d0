package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/rules"
	"github.com/infradash/infradash/views"
)

// settingsError turns a refusal of the rules, channels or silences packages into what a client
// sees: a field's problem is a 400 naming it, a name or rule in the way a 409, an unknown id a
// 404. Anything else is left as it is.
func settingsError(err error, what string) error {
	var fe *rules.FieldError
	var ex *rules.ErrExists
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return errBadParam(fe.Field, "%s", fe.Message)
	case errors.As(err, &ex):
		return &Error{Status: http.StatusConflict, Code: "rule_exists", Message: ex.Error()}
	case errors.Is(err, rules.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no " + what + " with this id"}
	}
	return err
}

// ruleLimits are what a rule is checked against: the alert settings it works with.
func (s *Server) ruleLimits() rules.Limits {
	return rules.Limits{Hysteresis: s.cfg.AlertHysteresis, MinHostDownAfter: 3 * s.cfg.CollectInterval}
}

// ruleRequest is the JSON of POST /api/v1/alert-rules and PUT /api/v1/alert-rules/{id}.
type ruleRequest struct {
	Metric   string       `json:"metric"`
	Mount    string       `json:"mount"`
	Warning  *float64     `json:"warning"`
	Critical *float64     `json:"critical"`
	Host     string       `json:"host"`
	Labels   fleet.Labels `json:"labels"`
	Enabled  *bool        `json:"enabled"`
}

const ruleFields = "metric, mount, warning, critical, host, labels, enabled"

func (r ruleRequest) input() rules.Input {
	return rules.Input{Metric: r.Metric, Mount: r.Mount, Host: r.Host, Labels: r.Labels, Warning: r.Warning, Critical: r.Critical, Enabled: r.Enabled}
}

// saveRule is the one way the page and the API store a rule (id 0: a new one), with its audit
// entry; every replica applies it at its next refresh, this one at once.
func (s *Server) saveRule(c echo.Context, id int64, in rules.Input) (rules.Rule, error) {
	r, err := rules.Check(in, s.ruleLimits())
	if err != nil {
		return r, settingsError(err, "rule")
	}
	ctx := c.Request().Context()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if id == 0 {
			if r, err = rules.Create(ctx, tx, r, s.now()); err != nil {
				return err
			}
			return s.record(c, tx, audit.Entry{Action: audit.RuleCreate, Target: audit.RuleTarget(r.ID), Details: map[string]any{"after": ruleFacts(r)}})
		}
		before, err := rules.Get(ctx, tx, id)
		if err != nil {
			return err
		}
		if r, err = rules.Update(ctx, tx, id, r, s.now()); err != nil {
			return err
		}
		return s.record(c, tx, audit.Entry{Action: audit.RuleUpdate, Target: audit.RuleTarget(id), Details: audit.Change(ruleFacts(before), ruleFacts(r))})
	})
	if err != nil {
		return r, settingsError(err, "rule")
	}
	return r, s.refreshRules(ctx)
}

// deleteRule removes a rule: what it set comes from the next rule, or the environment, again.
func (s *Server) deleteRule(c echo.Context, id int64) (rules.Rule, error) {
	ctx := c.Request().Context()
	var r rules.Rule
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if r, err = rules.Delete(ctx, tx, id); err != nil {
			return err
		}
		return s.record(c, tx, audit.Entry{Action: audit.RuleDelete, Target: audit.RuleTarget(id), Details: map[string]any{"before": ruleFacts(r)}})
	})
	if err != nil {
		return r, settingsError(err, "rule")
	}
	return r, s.refreshRules(ctx)
}

// refreshRules makes this replica apply a change at once (the others follow within a second):
// the page it redirects to, and this replica's health scores, show it.
func (s *Server) refreshRules(ctx context.Context) error {
	if err := s.rules.Refresh(ctx); err != nil {
		return err
	}
	return nil
}

// ruleFacts is a rule as the audit log tells it.
func ruleFacts(r rules.Rule) map[string]any {
	m := map[string]any{"metric": r.Metric, "scope": r.ScopeText(), "critical": r.Critical, "enabled": r.Enabled}
	if r.Mount != "" {
		m["mount"] = r.Mount
	}
	if r.Warning != nil {
		m["warning"] = *r.Warning
	}
	return m
}

// listRules is GET /api/v1/alert-rules (admins): every rule, and the environment's built-in
// levels they override.
func (s *Server) listRules(c echo.Context) error {
	if err := s.refreshRules(c.Request().Context()); err != nil {
		return err
	}
	items := s.rules.Rules()
	if items == nil {
		items = []rules.Rule{}
	}
	return s.ok(c, map[string]any{"items": items, "builtin": builtinLevels(s.rules.Builtin())})
}

// builtinLevels are the environment's thresholds by rule metric.
func builtinLevels(th health.Thresholds) map[string]any {
	return map[string]any{
		rules.MetricCPU: th.CPU, rules.MetricMemory: th.Memory, rules.MetricSwap: th.Swap, rules.MetricDisk: th.Disk,
		rules.MetricLoadPerCore: th.Load, rules.MetricTemperature: th.Temperature,
		rules.MetricHostDown: map[string]any{"warning": nil, "critical": th.DownAfter.Seconds()},
	}
}

// createRuleFromAPI is POST /api/v1/alert-rules.
func (s *Server) createRuleFromAPI(c echo.Context) error {
	var req ruleRequest
	if err := decodeStrictJSON(c, &req, ruleFields); err != nil {
		return err
	}
	r, err := s.saveRule(c, 0, req.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, envelope{Status: "success", Data: r, Timestamp: s.now().UTC()})
}

// updateRuleFromAPI is PUT /api/v1/alert-rules/{id}: the whole rule again.
func (s *Server) updateRuleFromAPI(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var req ruleRequest
	if err := decodeStrictJSON(c, &req, ruleFields); err != nil {
		return err
	}
	r, err := s.saveRule(c, id, req.input())
	if err != nil {
		return err
	}
	return s.ok(c, r)
}

// deleteRuleFromAPI is DELETE /api/v1/alert-rules/{id}.
func (s *Server) deleteRuleFromAPI(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	r, err := s.deleteRule(c, id)
	if err != nil {
		return err
	}
	return s.ok(c, r)
}

// ruleFormFields are the fields of the rule forms of /settings/alerts.
var ruleFormFields = []string{"metric", "mount", "host", "labels", "warning", "critical", "enabled"}

// parseRuleForm reads a rule form (what readForm collected): numbers as typed, the labels as
// env=prod,role=db, the enabled checkbox as on or absent. It names the field it cannot read;
// rules.Check judges the rest.
func parseRuleForm(v map[string]string) (rules.Input, error) {
	in := rules.Input{Metric: v["metric"], Mount: v["mount"], Host: v["host"]}
	labels, err := rules.ParseSelector(v["labels"])
	if err != nil {
		return in, errBadParam("labels", "%v", err)
	}
	in.Labels = labels
	for _, f := range []struct {
		name string
		to   **float64
	}{{"warning", &in.Warning}, {"critical", &in.Critical}} {
		text := strings.TrimSpace(v[f.name])
		if text == "" {
			continue
		}
		n, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return in, errBadParam(f.name, "must be a number, not %q", text)
		}
		*f.to = &n
	}
	enabled := v["enabled"] != ""
	in.Enabled = &enabled
	return in, nil
}

// showRulesPage is GET /settings/alerts[?host=NAME]: the built-in levels, the effective ones of
// a host with where each comes from, the rules, and a form for a new one.
func (s *Server) showRulesPage(c echo.Context) error {
	return s.renderRulesPage(c, http.StatusOK, views.Form{})
}

func (s *Server) renderRulesPage(c echo.Context, status int, f views.Form) error {
	frame, err := s.settings(c, "alerts", "Alert rules")
	if err != nil {
		return err
	}
	if err := s.refreshRules(c.Request().Context()); err != nil {
		return err
	}
	page := views.RulesPage{Settings: frame, Form: f, Metrics: rules.Metrics, Hysteresis: s.cfg.AlertHysteresis}
	builtin := s.rules.Builtin()
	page.Builtin = effectiveRows(rules.Resolve(builtin, nil, "", nil), nil)
	for _, h := range s.fleet.Hosts() {
		page.Hosts = append(page.Hosts, h.Name)
	}
	if name := fleet.NormalizeName(strings.TrimSpace(c.QueryParam("host"))); name != "" {
		h, ok := s.fleet.Host(name)
		if !ok {
			return errBadParam("host", "no host %q is enrolled", name)
		}
		eff := s.rules.Resolve(h.Name, h.Labels)
		var mounts []string
		for _, fs := range h.Latest.System.Filesystems {
			mounts = append(mounts, fs.Mountpoint)
		}
		page.Host, page.Effective = h.Name, effectiveRows(eff, mounts)
	}
	for _, r := range s.rules.Rules() {
		page.Rules = append(page.Rules, ruleRow(r))
	}
	return s.render(c, status, views.Rules(page))
}

// effectiveRows are the effective levels of a host, a row per metric (and per filesystem a rule
// sets apart), each with its source.
func effectiveRows(eff rules.Effective, mounts []string) []views.EffectiveRow {
	th := eff.Thresholds
	levels := map[string]health.Level{rules.MetricCPU: th.CPU, rules.MetricMemory: th.Memory, rules.MetricSwap: th.Swap,
		rules.MetricDisk: th.Disk, rules.MetricLoadPerCore: th.Load, rules.MetricTemperature: th.Temperature}
	var out []views.EffectiveRow
	for _, m := range rules.Metrics {
		src := eff.Sources[m]
		row := views.EffectiveRow{Metric: m, Unit: views.RuleUnit(m), Source: src.Text, Scope: src.Scope}
		if m == rules.MetricHostDown {
			row.NoWarning, row.Critical = true, th.DownAfter.Seconds()
		} else {
			row.Warning, row.Critical = levels[m].Warning, levels[m].Critical
		}
		out = append(out, row)
		if m != rules.MetricDisk {
			continue
		}
		for _, mount := range mounts {
			if src, ok := eff.Sources[rules.Key(rules.MetricDisk, mount)]; ok {
				l := th.DiskFor(mount)
				out = append(out, views.EffectiveRow{Metric: m, Mount: mount, Unit: views.RuleUnit(m), Warning: l.Warning, Critical: l.Critical,
					Source: src.Text, Scope: src.Scope})
			}
		}
	}
	return out
}

func ruleRow(r rules.Rule) views.RuleRow {
	row := views.RuleRow{ID: r.ID, Metric: r.Metric, Mount: r.Mount, Scope: r.ScopeText(), ScopeKind: r.Scope(), Critical: r.Critical,
		Enabled: r.Enabled, Unit: views.RuleUnit(r.Metric), UpdatedAt: r.UpdatedAt}
	if r.Warning != nil {
		row.Warning, row.HasWarning = *r.Warning, true
	}
	return row
}

// createRuleFromPage is POST /settings/alerts.
func (s *Server) createRuleFromPage(c echo.Context) error {
	f, err := readForm(c, "add", ruleFormFields...)
	if err != nil {
		return err
	}
	show := func(status int, f views.Form) error { return s.renderRulesPage(c, status, f) }
	in, err := parseRuleForm(f.Values)
	if err != nil {
		return again(f, err, show)
	}
	r, err := s.saveRule(c, 0, in)
	if err != nil {
		return again(f, err, show)
	}
	return s.done(c, views.PathSettingsAlerts, fmt.Sprintf("Saved the %s rule for %s: it applies from the next evaluation.", r.Metric, r.ScopeText()))
}

// updateRuleFromPage is POST /settings/alerts/{id}: the row's levels and on/off; metric and
// scope stay (a rule for other hosts is another rule).
func (s *Server) updateRuleFromPage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	f, err := readForm(c, views.RuleRow{ID: id}.FormID(), "warning", "critical", "enabled")
	if err != nil {
		return err
	}
	show := func(status int, f views.Form) error { return s.renderRulesPage(c, status, f) }
	current, err := rules.Get(c.Request().Context(), s.pool, id)
	if err != nil {
		return again(f, settingsError(err, "rule"), show)
	}
	values := map[string]string{"metric": current.Metric, "mount": current.Mount, "host": current.Host,
		"labels": rules.Selector(current.Labels).String()}
	for _, k := range []string{"warning", "critical", "enabled"} {
		values[k] = f.Values[k]
	}
	in, err := parseRuleForm(values)
	if err != nil {
		return again(f, err, show)
	}
	r, err := s.saveRule(c, id, in)
	if err != nil {
		return again(f, err, show)
	}
	return s.done(c, views.PathSettingsAlerts, fmt.Sprintf("Saved the %s rule for %s.", r.Metric, r.ScopeText()))
}

// deleteRuleFromPage is POST /settings/alerts/{id}/delete.
func (s *Server) deleteRuleFromPage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	r, err := s.deleteRule(c, id)
	if err != nil {
		return again(views.NewForm(views.RuleRow{ID: id}.FormID()), err, func(status int, f views.Form) error { return s.renderRulesPage(c, status, f) })
	}
	return s.done(c, views.PathSettingsAlerts, fmt.Sprintf("Deleted the %s rule for %s: what it set comes from the next rule or the environment again.", r.Metric, r.ScopeText()))
}
