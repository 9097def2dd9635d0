package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/rules"
	"github.com/infradash/infradash/views"
)

// silenceRequest is the JSON of POST /api/v1/silences.
type silenceRequest struct {
	Host     string       `json:"host"`
	Labels   fleet.Labels `json:"labels"`
	Metric   string       `json:"metric"`
	StartsAt string       `json:"starts_at"`
	EndsAt   string       `json:"ends_at"`
	Comment  string       `json:"comment"`
}

const silenceFields = "host, labels, metric, starts_at, ends_at, comment"

// silenceJSON is a silence as the API lists it, with whether it is in force now.
type silenceJSON struct {
	rules.Silence
	Status string `json:"status"` // active, pending (starts later) or ended
}

func (s *Server) toSilenceJSON(x rules.Silence) silenceJSON {
	now := s.now()
	status := "active"
	switch {
	case now.Before(x.StartsAt):
		status = "pending"
	case !now.Before(x.EndsAt):
		status = "ended"
	}
	return silenceJSON{Silence: x, Status: status}
}

func silenceFacts(x rules.Silence) map[string]any {
	m := map[string]any{"starts_at": x.StartsAt, "ends_at": x.EndsAt, "comment": x.Comment}
	if x.Host != "" {
		m["host"] = x.Host
	}
	if len(x.Labels) > 0 {
		m["labels"] = rules.Selector(x.Labels).String()
	}
	if x.Metric != "" {
		m["metric"] = x.Metric
	}
	return m
}

// createSilence is the one way the page, the alert buttons and the API mute alerts, with its
// audit entry: the author is the one who asks.
func (s *Server) createSilence(c echo.Context, in rules.SilenceInput) (rules.Silence, error) {
	x, err := rules.CheckSilence(in, principal(c).Email, s.now())
	if err != nil {
		return x, settingsError(err, "silence")
	}
	ctx := c.Request().Context()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if x, err = rules.CreateSilence(ctx, tx, x, s.now()); err != nil {
			return err
		}
		return s.record(c, tx, audit.Entry{Action: audit.SilenceCreate, Target: audit.SilenceTarget(x.ID), Details: map[string]any{"after": silenceFacts(x)}})
	})
	return x, settingsError(err, "silence")
}

// deleteSilence ends a silence at once: what it held back goes out at the next evaluation.
func (s *Server) deleteSilence(c echo.Context, id int64) (rules.Silence, error) {
	ctx := c.Request().Context()
	var x rules.Silence
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if x, err = rules.DeleteSilence(ctx, tx, id); err != nil {
			return err
		}
		return s.record(c, tx, audit.Entry{Action: audit.SilenceDelete, Target: audit.SilenceTarget(id), Details: map[string]any{"before": silenceFacts(x)}})
	})
	return x, settingsError(err, "silence")
}

func (s *Server) listSilences(c echo.Context) error {
	list, err := rules.ListSilences(c.Request().Context(), s.pool, false, s.now())
	if err != nil {
		return err
	}
	items := make([]silenceJSON, 0, len(list))
	for _, x := range list {
		items = append(items, s.toSilenceJSON(x))
	}
	return s.ok(c, map[string]any{"items": items})
}

func (s *Server) createSilenceFromAPI(c echo.Context) error {
	var req silenceRequest
	if err := decodeStrictJSON(c, &req, silenceFields); err != nil {
		return err
	}
	in := rules.SilenceInput{Host: req.Host, Labels: req.Labels, Metric: req.Metric, Comment: req.Comment}
	for _, t := range []struct {
		name, text string
		to         **time.Time
	}{{"starts_at", req.StartsAt, &in.StartsAt}, {"ends_at", req.EndsAt, &in.EndsAt}} {
		if strings.TrimSpace(t.text) == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339, strings.TrimSpace(t.text))
		if err != nil {
			return errBadParam(t.name, "%q is not an RFC 3339 time like 2026-01-01T10:00:00Z", t.text)
		}
		*t.to = &at
	}
	x, err := s.createSilence(c, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, envelope{Status: "success", Data: s.toSilenceJSON(x), Timestamp: s.now().UTC()})
}

func (s *Server) deleteSilenceFromAPI(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	x, err := s.deleteSilence(c, id)
	if err != nil {
		return err
	}
	return s.ok(c, s.toSilenceJSON(x))
}

// silenceFormFields are the fields of the silence form of /settings/silences.
var silenceFormFields = []string{"host", "labels", "metric", "starts_at", "ends_at", "duration", "comment"}

// silenceDurations are the form's choices of how long a silence lasts, when no end is given.
var silenceDurations = map[string]time.Duration{"1h": time.Hour, "2h": 2 * time.Hour, "4h": 4 * time.Hour, "8h": 8 * time.Hour,
	"24h": 24 * time.Hour, "168h": 7 * 24 * time.Hour}

// parseSilenceForm reads a silence form: times as the page's datetime-local fields send them
// (UTC) or RFC 3339; no start is now; no end is the start plus the chosen duration.
func parseSilenceForm(v map[string]string, now time.Time) (rules.SilenceInput, error) {
	in := rules.SilenceInput{Host: v["host"], Metric: v["metric"], Comment: v["comment"]}
	labels, err := rules.ParseSelector(v["labels"])
	if err != nil {
		return in, errBadParam("labels", "%v", err)
	}
	in.Labels = labels
	start := now.UTC()
	if t := strings.TrimSpace(v["starts_at"]); t != "" {
		if start, err = parseWhen(t); err != nil {
			return in, errBadParam("starts_at", "%q is not a time like 2026-01-01T10:00 (UTC)", t)
		}
		in.StartsAt = &start
	}
	if t := strings.TrimSpace(v["ends_at"]); t != "" {
		end, err := parseWhen(t)
		if err != nil {
			return in, errBadParam("ends_at", "%q is not a time like 2026-01-01T12:00 (UTC)", t)
		}
		in.EndsAt = &end
		return in, nil
	}
	d, ok := silenceDurations[strings.TrimSpace(v["duration"])]
	if !ok {
		return in, errBadParam("duration", "choose how long the silence lasts, or when it ends")
	}
	end := start.Add(d)
	in.EndsAt = &end
	return in, nil
}

func (s *Server) showSilencesPage(c echo.Context) error {
	return s.renderSilencesPage(c, http.StatusOK, views.Form{})
}

func (s *Server) renderSilencesPage(c echo.Context, status int, f views.Form) error {
	frame, err := s.settings(c, "silences", "Silences")
	if err != nil {
		return err
	}
	list, err := rules.ListSilences(c.Request().Context(), s.pool, false, s.now())
	if err != nil {
		return err
	}
	page := views.SilencesPage{Settings: frame, Form: f, Metrics: rules.Metrics, Durations: views.SilenceDurations}
	for _, h := range s.fleet.Hosts() {
		page.Hosts = append(page.Hosts, h.Name)
	}
	for _, x := range list {
		j := s.toSilenceJSON(x)
		page.Silences = append(page.Silences, views.SilenceRow{ID: x.ID, Host: x.Host, Labels: rules.Selector(x.Labels).String(), Metric: x.Metric,
			StartsAt: x.StartsAt, EndsAt: x.EndsAt, Comment: x.Comment, CreatedBy: x.CreatedBy, Status: j.Status})
	}
	return s.render(c, status, views.Silences(page))
}

func (s *Server) createSilenceFromPage(c echo.Context) error {
	f, err := readForm(c, "add", silenceFormFields...)
	if err != nil {
		return err
	}
	show := func(status int, f views.Form) error { return s.renderSilencesPage(c, status, f) }
	in, err := parseSilenceForm(f.Values, s.now())
	if err != nil {
		return again(f, err, show)
	}
	x, err := s.createSilence(c, in)
	if err != nil {
		return again(f, err, show)
	}
	return s.done(c, views.PathSettingsSilences, fmt.Sprintf("Silenced %s until %s.", silenceText(x), x.EndsAt.Format("2006-01-02 15:04 UTC")))
}

func (s *Server) deleteSilenceFromPage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	x, err := s.deleteSilence(c, id)
	if err != nil {
		return again(views.NewForm(views.SilenceRow{ID: id}.FormID()), err, func(status int, f views.Form) error { return s.renderSilencesPage(c, status, f) })
	}
	return s.done(c, views.PathSettingsSilences, "Ended the silence of "+silenceText(x)+": what it held back goes out at the next evaluation.")
}

// silenceText says what a silence mutes: "cpu on web-1", "every alert of env=prod".
func silenceText(x rules.Silence) string {
	what := "every alert"
	if x.Metric != "" {
		what = x.Metric
	}
	switch {
	case x.Host != "":
		return what + " on " + x.Host
	case len(x.Labels) > 0:
		return what + " of " + rules.Selector(x.Labels).String()
	}
	return what + " of every host"
}

// silenceAlertFromPage is the "silence for 1 h" button of an open alert (the Alerts tab, a
// host's page): its host and metric, from now for an hour; back to where it was pressed.
func (s *Server) silenceAlertFromPage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	if err := parseForm(c.Request()); err != nil {
		return err
	}
	a, err := s.q.GetAlert(c.Request().Context(), id)
	if err != nil {
		return errNotFound
	}
	if a.ResolvedAt != nil {
		return &Error{Status: http.StatusConflict, Code: "alert_resolved", Message: fmt.Sprintf("alert %d is already resolved; there is nothing to silence", id)}
	}
	end := s.now().Add(time.Hour)
	if _, err := s.createSilence(c, rules.SilenceInput{Host: a.Host, Metric: rules.MetricOf(string(a.Metric)), EndsAt: &end,
		Comment: fmt.Sprintf("silenced for 1 h from alert %d", id)}); err != nil {
		return err
	}
	back := views.PathObservability + "?tab=" + views.TabAlerts
	if r := c.Request().PostForm.Get("back"); r == views.HostURL(a.Host) {
		back = r
	}
	return c.Redirect(http.StatusSeeOther, back)
}

// activeSilences are the silences in force now and the hosts' labels, to mark alerts silenced;
// none when they cannot be read (the alerts still show).
func (s *Server) activeSilences(ctx context.Context) []rules.Silence {
	list, err := rules.ActiveSilences(ctx, s.pool, s.now())
	if err != nil {
		s.log.Warn("silences unavailable; alerts are shown without them", "err", err)
		return nil
	}
	return list
}

// silencedUntil is when the silence that mutes an alert ends; nil when none does.
func (s *Server) silencedUntil(silences []rules.Silence, host, metric string) *time.Time {
	if len(silences) == 0 {
		return nil
	}
	var labels map[string]string
	if h, ok := s.fleet.Host(host); ok {
		labels = h.Labels
	}
	if x := rules.Matching(silences, host, labels, metric, s.now()); x != nil {
		end := x.EndsAt
		return &end
	}
	return nil
}

// markSilenced sets Silenced on the open alerts a silence mutes.
func (s *Server) markSilenced(ctx context.Context, list []views.Alert) {
	silences := s.activeSilences(ctx)
	for i := range list {
		if list[i].Open() {
			list[i].SilencedUntil = s.silencedUntil(silences, list[i].Host, list[i].Metric)
		}
	}
}
