package handlers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/alerts"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/views"
)

// alertJSON is an alert as the API shows it.
type alertJSON struct {
	ID             int64      `json:"id"`
	Status         string     `json:"status"` // open or resolved
	Host           string     `json:"host"`
	Metric         string     `json:"metric"`
	Subject        string     `json:"subject"`
	Severity       string     `json:"severity"`
	Value          float64    `json:"value"`
	Threshold      float64    `json:"threshold"`
	Message        string     `json:"message"`
	StartedAt      time.Time  `json:"started_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	EscalatedAt    *time.Time `json:"escalated_at"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	Resolution     *string    `json:"resolution"` // recovered or no_data; null while open
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	AcknowledgedBy *string    `json:"acknowledged_by"` // the admin's email
	// SilencedUntil is when the silence that holds back its notices ends; null when none does
	// (a resolved alert is never silenced).
	Silenced      bool         `json:"silenced"`
	SilencedUntil *time.Time   `json:"silenced_until"`
	Notification  notification `json:"notification"`
}

// markSilencedJSON sets silenced on the open alerts a silence mutes.
func (s *Server) markSilencedJSON(ctx context.Context, list []alertJSON) {
	silences := s.activeSilences(ctx)
	for i := range list {
		if list[i].Status == "open" {
			list[i].SilencedUntil = s.silencedUntil(silences, list[i].Host, list[i].Metric)
			list[i].Silenced = list[i].SilencedUntil != nil
		}
	}
}

type notification struct {
	Pending        *string    `json:"pending"` // a notify.Kind: opened, escalated, deescalated, reminder, resolved; null when nothing waits
	Count          int32      `json:"count"`
	LastNotifiedAt *time.Time `json:"last_notified_at"`
	DeliveryStatus string     `json:"delivery_status"` // none, delivered, failed
	DeliveryError  string     `json:"delivery_error"`
	Attempts       int32      `json:"attempts"`
}

func toAlertJSON(a queries.InfrastructureAlert, ackEmail *string) alertJSON {
	status := "open"
	if a.ResolvedAt != nil {
		status = "resolved"
	}
	return alertJSON{
		ID: a.ID, Status: status, Host: a.Host, Metric: string(a.Metric), Subject: a.Subject, Severity: string(a.Severity),
		Value: a.Value, Threshold: a.Threshold, Message: a.Message, StartedAt: a.StartedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
		EscalatedAt: utcPtr(a.EscalatedAt), ResolvedAt: utcPtr(a.ResolvedAt), Resolution: textPtr(a.Resolution), AcknowledgedAt: utcPtr(a.AcknowledgedAt), AcknowledgedBy: ackEmail,
		Notification: notification{Pending: textPtr(a.PendingNotification), Count: a.NotificationCount, LastNotifiedAt: utcPtr(a.LastNotifiedAt),
			DeliveryStatus: a.DeliveryStatus, DeliveryError: a.DeliveryError, Attempts: a.DeliveryAttempts},
	}
}

// listAlerts answers GET /observability/infrastructure/alerts?status=&severity=&host=&label=&limit=&offset=.
// host= filters by name, so the alerts of a host no longer enrolled stay reachable; label= keeps
// the hosts enrolled with those labels.
func (s *Server) listAlerts(c echo.Context) error {
	f := queries.CountAlertsParams{Status: c.QueryParam("status"), Severity: c.QueryParam("severity"), Host: c.QueryParam("host")}
	labels, err := parseLabels(c)
	if err != nil {
		return err
	}
	if len(labels) > 0 {
		f.Hosts = hostsWithLabels(s.fleet.Hosts(), labels)
	}
	switch f.Status {
	case "":
		f.Status = "all"
	case "all", "open", "resolved":
	default:
		return errBadParam("status", "must be open, resolved or all, not %q", f.Status)
	}
	switch f.Severity {
	case "", "warning", "critical":
	default:
		return errBadParam("severity", "must be warning or critical, not %q", f.Severity)
	}
	limit, err := intParam(c, "limit", 50, 1, 500)
	if err != nil {
		return err
	}
	offset, err := intParam(c, "offset", 0, 0, 1_000_000)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	total, err := s.q.CountAlerts(ctx, f)
	if err != nil {
		return err
	}
	rows, err := s.q.ListAlerts(ctx, queries.ListAlertsParams{Status: f.Status, Severity: f.Severity, Host: f.Host, Hosts: f.Hosts,
		RowLimit: int32(limit), RowOffset: int32(offset)})
	if err != nil {
		return err
	}
	list := make([]alertJSON, 0, len(rows))
	for _, r := range rows {
		list = append(list, toAlertJSON(r.InfrastructureAlert, textPtr(r.AcknowledgedByEmail)))
	}
	s.markSilencedJSON(ctx, list)
	return s.ok(c, map[string]any{"alerts": list, "total": total, "limit": limit, "offset": offset})
}

// acknowledgeAlert answers POST /observability/infrastructure/alerts/{id}/acknowledge (admins).
func (s *Server) acknowledgeAlert(c echo.Context) error {
	row, err := s.acknowledge(c)
	if err != nil {
		return err
	}
	list := []alertJSON{toAlertJSON(row.InfrastructureAlert, textPtr(row.AcknowledgedByEmail))}
	s.markSilencedJSON(c.Request().Context(), list)
	return s.ok(c, list[0])
}

// acknowledge is the one acknowledgement step of the API and the Alerts tab: it acknowledges
// the alert named by the :id parameter for the current admin and reads it back.
func (s *Server) acknowledge(c echo.Context) (queries.GetAlertWithAcknowledgerRow, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return queries.GetAlertWithAcknowledgerRow{}, errBadParam("id", "must be a positive alert number, not %q", c.Param("id"))
	}
	a, err := alerts.Acknowledge(c.Request().Context(), s.pool, id, principal(c).UserID, s.now())
	switch {
	case errors.Is(err, alerts.ErrNotFound):
		return queries.GetAlertWithAcknowledgerRow{}, errNotFound
	case errors.Is(err, alerts.ErrResolved):
		return queries.GetAlertWithAcknowledgerRow{}, &Error{Status: http.StatusConflict, Code: "alert_resolved", Message: "alert " + c.Param("id") + " is already resolved; there is nothing to acknowledge"}
	case err != nil:
		return queries.GetAlertWithAcknowledgerRow{}, err
	}
	// Acknowledging again keeps the first admin, who may not be this one.
	return s.q.GetAlertWithAcknowledger(c.Request().Context(), a.ID)
}

// testAlert answers POST /observability/infrastructure/alerts/test (admins): one test message
// through every configured notifier, with each outcome.
func (s *Server) testAlert(c echo.Context) error {
	results, err := s.sendTestAlert(c.Request().Context())
	if err != nil {
		return err
	}
	return s.ok(c, map[string]any{"results": results})
}

// sendTestAlert is the one test-notification step of the API and the Alerts tab: every channel,
// the environment's and those of /settings/channels.
func (s *Server) sendTestAlert(ctx context.Context) ([]views.TestResult, error) {
	chans, err := s.allChannels(ctx)
	if err != nil {
		return nil, err
	}
	if len(chans) == 0 {
		return nil, &Error{Status: http.StatusConflict, Code: "no_notifier", Message: "no notifier is configured: set SLACK_WEBHOOK_URL or ALERT_WEBHOOK_URL, or add a channel in /settings/channels"}
	}
	var ns []*notify.Notifier
	out := []views.TestResult{}
	for _, c := range chans {
		if c.Notifier == nil {
			out = append(out, views.TestResult{Notifier: c.Name, Error: c.Err.Error()})
			continue
		}
		ns = append(ns, c.Notifier)
	}
	for _, r := range alerts.SendTest(ctx, ns, s.cfg.BaseURL, s.now()) {
		res := views.TestResult{Notifier: r.Notifier, Delivered: r.Err == nil, Attempts: r.Attempts}
		if r.Err != nil {
			res.Error = r.Err.Error()
		}
		out = append(out, res)
	}
	return out, nil
}

// intParam reads an optional integer query parameter within [lo, hi].
func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errBadParam(name, "must be a whole number from %d to %d, not %q", lo, hi, v)
	}
	return n, nil
}

func textPtr(t pgtype.Text) *string {
	if !t.Valid {
		return nil
	}
	return &t.String
}
