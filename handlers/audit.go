package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/views"
)

// actor is who a request acts for, as the audit log names them: the user (or p, when the request
// has no principal yet, as at login), how (the pages or the API) and from where.
func (s *Server) actor(c echo.Context, p *Principal) audit.Actor {
	if p == nil {
		p = principal(c)
	}
	a := audit.Actor{Name: audit.ActorAnonymous, Via: audit.ViaPage, Address: c.RealIP()}
	if strings.HasPrefix(c.Request().URL.Path, "/api/") {
		a.Via = audit.ViaAPI
	}
	if p != nil {
		a.Name, a.UserID = p.Email, p.UserID
	}
	return a
}

// record writes what a request changed in the audit log, as the request's actor, now: entries
// from the audit package's constructors (audit.UserCreated...) or built with an action, a target
// and details (audit.Change(before, after); secrets are masked whatever is passed). db is the
// transaction of the change (s.inTx), so that a change is never stored without its entry. It is
// the one helper every handler that changes something calls.
func (s *Server) record(c echo.Context, db queries.DBTX, entries ...audit.Entry) error {
	for _, e := range entries {
		e.At, e.Actor = s.now(), s.actor(c, nil)
		if _, err := audit.Record(c.Request().Context(), db, e); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs fn in one transaction: a change and its audit entry commit together or not at all.
func (s *Server) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// auditFilter reads the filters of GET /api/v1/audit and /settings/audit: actor, action,
// target, from, to (RFC 3339, or the page's 2026-01-01T10:00 and 2026-01-01, in UTC), limit
// and offset.
func auditFilter(c echo.Context) (audit.Filter, error) {
	f := audit.Filter{Actor: strings.TrimSpace(c.QueryParam("actor")), Action: strings.TrimSpace(c.QueryParam("action")),
		Target: strings.TrimSpace(c.QueryParam("target"))}
	for _, t := range []struct {
		name string
		to   **time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := strings.TrimSpace(c.QueryParam(t.name))
		if v == "" {
			continue
		}
		at, err := parseWhen(v)
		if err != nil {
			return f, errBadParam(t.name, "%q is not a time like 2026-01-01T10:00:00Z, 2026-01-01T10:00 (UTC) or 2026-01-01", v)
		}
		*t.to = &at
	}
	if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
		return f, errBadParam("to", "must be after from")
	}
	limit, err := intParam(c, "limit", 50, 1, 500)
	if err != nil {
		return f, err
	}
	offset, err := intParam(c, "offset", 0, 0, 1_000_000)
	if err != nil {
		return f, err
	}
	f.Limit, f.Offset = int32(limit), int32(offset)
	return f, nil
}

func parseWhen(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("not a time")
}

// listAudit is GET /api/v1/audit (admins): the audit log, newest first, filtered and paged.
func (s *Server) listAudit(c echo.Context) error {
	f, err := auditFilter(c)
	if err != nil {
		return err
	}
	items, total, err := audit.List(c.Request().Context(), s.pool, f)
	if err != nil {
		return err
	}
	return s.ok(c, map[string]any{"items": items, "total": total, "limit": f.Limit, "offset": f.Offset})
}

// showAuditPage is GET /settings/audit: the audit log with the API's filters, as a form.
func (s *Server) showAuditPage(c echo.Context) error {
	frame, err := s.settings(c, "audit", "Audit log")
	if err != nil {
		return err
	}
	page := views.AuditPage{Settings: frame, Actions: audit.Actions, Filter: views.NewForm("filter")}
	for _, k := range []string{"actor", "action", "target", "from", "to"} {
		page.Filter.Values[k] = strings.TrimSpace(c.QueryParam(k))
	}
	f, err := auditFilter(c)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return err
		}
		page.Filter.Errors[e.Field] = e.Detail
		return s.render(c, e.Status, views.Audit(page))
	}
	items, total, err := audit.List(c.Request().Context(), s.pool, f)
	if err != nil {
		return err
	}
	for _, e := range items {
		page.Rows = append(page.Rows, auditRow(e))
	}
	q := c.QueryParams()
	page.Pager = views.Pager{Total: total, Limit: int64(f.Limit), Offset: int64(f.Offset), Link: func(offset int64) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "offset" && len(vs) > 0 && vs[0] != "" {
				v.Set(k, vs[0])
			}
		}
		if offset > 0 {
			v.Set("offset", strconv.FormatInt(offset, 10))
		}
		if len(v) == 0 {
			return views.PathSettingsAudit
		}
		return views.PathSettingsAudit + "?" + v.Encode()
	}}
	return s.render(c, http.StatusOK, views.Audit(page))
}

// auditRow is an entry as the page shows it: who in words, and its details one per line.
func auditRow(e audit.Entry) views.AuditRow {
	who := e.Actor.Name
	if e.Actor.OSUser != "" {
		who += " (" + e.Actor.OSUser + ")"
	}
	return views.AuditRow{ID: e.ID, At: e.At, Who: who, Via: e.Actor.Via, Address: e.Actor.Address, Action: e.Action,
		Target: e.Target, Details: detailLines(e.Details)}
}

// detailLines shows a change as "field: before → after" and any other fact as "field: value".
func detailLines(d map[string]any) []string {
	before, _ := d["before"].(map[string]any)
	after, _ := d["after"].(map[string]any)
	var out []string
	fields := map[string]bool{}
	for k := range before {
		fields[k] = true
	}
	for k := range after {
		fields[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		b, hasB := before[k]
		a, hasA := after[k]
		switch {
		case hasB && hasA:
			out = append(out, k+": "+compact(b)+" → "+compact(a))
		case hasA:
			out = append(out, k+": "+compact(a))
		default:
			out = append(out, k+": "+compact(b)+" → (none)")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if k != "before" && k != "after" {
			out = append(out, k+": "+compact(d[k]))
		}
	}
	return out
}

func compact(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}
