package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/alerts"
	"github.com/infradash/infradash/audit"
	"github.com/infradash/infradash/channels"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/rules"
	"github.com/infradash/infradash/views"
)

// channelRequest is the JSON of POST /api/v1/notification-channels and PUT .../{id}.
type channelRequest struct {
	Name        string       `json:"name"`
	URL         string       `json:"url"`
	MinSeverity string       `json:"min_severity"`
	Host        string       `json:"host"`
	Labels      fleet.Labels `json:"labels"`
}

const channelFields = "name, url, min_severity, host, labels"

func (r channelRequest) input() channels.Input {
	return channels.Input{Name: r.Name, URL: r.URL, MinSeverity: r.MinSeverity, Host: r.Host, Labels: r.Labels}
}

// BuiltinChannel is a channel of the environment, as the page and the API show it (read-only).
type BuiltinChannel struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	URL         string `json:"url"` // masked
	MinSeverity string `json:"min_severity"`
	Variable    string `json:"variable"` // the environment variable that sets it
}

// BuiltinChannelsOf are the channels of SLACK_WEBHOOK_URL and ALERT_WEBHOOK_URL (either may be
// ""), their URLs masked: what Options.BuiltinChannels lists.
func BuiltinChannelsOf(slackURL, webhookURL string) []BuiltinChannel {
	var out []BuiltinChannel
	for _, b := range []struct{ variable, url, kind string }{
		{"SLACK_WEBHOOK_URL", slackURL, notify.KindSlack},
		{"ALERT_WEBHOOK_URL", webhookURL, notify.KindWebhook},
	} {
		if b.url != "" {
			out = append(out, BuiltinChannel{Name: b.kind, Kind: b.kind, URL: audit.MaskURL(b.url), MinSeverity: "warning", Variable: b.variable})
		}
	}
	return out
}

func (s *Server) builtinChannels() []BuiltinChannel {
	if s.cfg.BuiltinChannels == nil {
		return []BuiltinChannel{}
	}
	return s.cfg.BuiltinChannels
}

// channelError is settingsError, plus the refusal to store a URL with no key to seal it.
func (s *Server) channelError(err error) error {
	if errors.Is(err, channels.ErrNoKey) {
		msg := err.Error()
		if s.cfg.SecretGenerated {
			msg = "SECRET_KEY is not set, so this run uses a random key that the next start will not have: a channel saved now could not be read after a restart. Set SECRET_KEY (openssl rand -hex 32) in the environment or .env and restart"
		}
		return &Error{Status: http.StatusConflict, Code: "no_secret_key", Message: "url: " + msg, Field: "url", Detail: msg}
	}
	return settingsError(err, "channel")
}

// channelFacts is a channel as the audit log tells it: its URL masked, as everywhere.
func channelFacts(c channels.Channel) map[string]any {
	m := map[string]any{"name": c.Name, "kind": c.Kind, "url": c.URL, "min_severity": string(c.MinSeverity)}
	switch {
	case c.Host != "":
		m["scope"] = c.Host
	case len(c.Labels) > 0:
		m["scope"] = rules.Selector(c.Labels).String()
	default:
		m["scope"] = "every host"
	}
	return m
}

// saveChannel is the one way the page and the API store a channel (id 0: a new one), with its
// audit entry. The alerts job reads the channels at every run.
func (s *Server) saveChannel(c echo.Context, id int64, in channels.Input) (channels.Channel, error) {
	ctx := c.Request().Context()
	var out channels.Channel
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if id == 0 {
			var err error
			if out, err = s.channels.Create(ctx, tx, in, s.now()); err != nil {
				return err
			}
			return s.record(c, tx, audit.Entry{Action: audit.ChannelCreate, Target: audit.ChannelTarget(out.ID), Details: map[string]any{"after": channelFacts(out)}})
		}
		before, after, err := s.channels.Update(ctx, tx, id, in, s.now())
		if err != nil {
			return err
		}
		out = after
		details := audit.Change(channelFacts(before), channelFacts(after))
		if in.URL != "" {
			details["url_replaced"] = true // the masked URL may read the same
		}
		return s.record(c, tx, audit.Entry{Action: audit.ChannelUpdate, Target: audit.ChannelTarget(id), Details: details})
	})
	return out, s.channelError(err)
}

func (s *Server) deleteChannel(c echo.Context, id int64) (channels.Channel, error) {
	ctx := c.Request().Context()
	var out channels.Channel
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if out, err = s.channels.Delete(ctx, tx, id); err != nil {
			return err
		}
		return s.record(c, tx, audit.Entry{Action: audit.ChannelDelete, Target: audit.ChannelTarget(id), Details: map[string]any{"before": channelFacts(out)}})
	})
	return out, s.channelError(err)
}

// testChannel sends the test message through one stored channel, once, and records that it did.
func (s *Server) testChannel(c echo.Context, id int64) (channels.Channel, views.TestResult, error) {
	ctx := c.Request().Context()
	ch, err := s.channels.Get(ctx, s.pool, id)
	if err != nil {
		return ch, views.TestResult{}, s.channelError(err)
	}
	res := views.TestResult{Notifier: ch.Name}
	n, err := s.channels.Notifier(ch)
	if err != nil {
		res.Error = err.Error()
	} else {
		r := alerts.SendTest(ctx, []*notify.Notifier{n}, s.cfg.BaseURL, s.now())[0]
		res.Delivered, res.Attempts = r.Err == nil, r.Attempts
		if r.Err != nil {
			res.Error = r.Err.Error()
		}
	}
	err = s.record(c, s.pool, audit.Entry{Action: audit.ChannelTest, Target: audit.ChannelTarget(id),
		Details: map[string]any{"name": ch.Name, "delivered": res.Delivered, "error": res.Error}})
	return ch, res, err
}

// listChannels is GET /api/v1/notification-channels (admins): the stored channels and the
// environment's, their URLs masked.
func (s *Server) listChannels(c echo.Context) error {
	items, err := s.channels.List(c.Request().Context(), s.pool)
	if err != nil {
		return err
	}
	return s.ok(c, map[string]any{"items": items, "builtin": s.builtinChannels()})
}

func (s *Server) createChannelFromAPI(c echo.Context) error {
	var req channelRequest
	if err := decodeStrictJSON(c, &req, channelFields); err != nil {
		return err
	}
	ch, err := s.saveChannel(c, 0, req.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, envelope{Status: "success", Data: ch, Timestamp: s.now().UTC()})
}

func (s *Server) updateChannelFromAPI(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	var req channelRequest
	if err := decodeStrictJSON(c, &req, channelFields); err != nil {
		return err
	}
	ch, err := s.saveChannel(c, id, req.input())
	if err != nil {
		return err
	}
	return s.ok(c, ch)
}

func (s *Server) deleteChannelFromAPI(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ch, err := s.deleteChannel(c, id)
	if err != nil {
		return err
	}
	return s.ok(c, ch)
}

// testChannelFromAPI is POST /api/v1/notification-channels/{id}/test: 200 with the outcome,
// delivered or not (the channel's answer is the result, not an error of this request).
func (s *Server) testChannelFromAPI(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	_, res, err := s.testChannel(c, id)
	if err != nil {
		return err
	}
	return s.ok(c, map[string]any{"delivered": res.Delivered, "attempts": res.Attempts, "error": res.Error})
}

// channelFormFields are the fields of the channel forms of /settings/channels.
var channelFormFields = []string{"name", "url", "min_severity", "host", "labels"}

// parseChannelForm reads a channel form: the labels as env=prod,role=db; channels.Store judges
// the rest.
func parseChannelForm(v map[string]string) (channels.Input, error) {
	in := channels.Input{Name: v["name"], URL: v["url"], MinSeverity: v["min_severity"], Host: v["host"]}
	labels, err := rules.ParseSelector(v["labels"])
	if err != nil {
		return in, errBadParam("labels", "%v", err)
	}
	in.Labels = labels
	return in, nil
}

func (s *Server) showChannelsPage(c echo.Context) error {
	return s.renderChannelsPage(c, http.StatusOK, views.Form{})
}

func (s *Server) renderChannelsPage(c echo.Context, status int, f views.Form) error {
	frame, err := s.settings(c, "channels", "Notification channels")
	if err != nil {
		return err
	}
	list, err := s.channels.List(c.Request().Context(), s.pool)
	if err != nil {
		return err
	}
	page := views.ChannelsPage{Settings: frame, Form: f, NoKey: s.cfg.SecretGenerated || s.cfg.SecretKey == ""}
	for _, b := range s.builtinChannels() {
		page.Builtin = append(page.Builtin, views.ChannelRow{Name: b.Name, Kind: b.Kind, URL: b.URL, MinSeverity: b.MinSeverity, Scope: "every host", Variable: b.Variable})
	}
	for _, ch := range list {
		facts := channelFacts(ch)
		page.Channels = append(page.Channels, views.ChannelRow{ID: ch.ID, Name: ch.Name, Kind: ch.Kind, URL: ch.URL, MinSeverity: string(ch.MinSeverity),
			Scope: facts["scope"].(string), Host: ch.Host, Labels: rules.Selector(ch.Labels).String(), Unreadable: ch.Unreadable})
	}
	return s.render(c, status, views.Channels(page))
}

func (s *Server) channelsPageAgain(c echo.Context) func(int, views.Form) error {
	return func(status int, f views.Form) error { return s.renderChannelsPage(c, status, f) }
}

func (s *Server) createChannelFromPage(c echo.Context) error {
	f, err := readForm(c, "add", channelFormFields...)
	if err != nil {
		return err
	}
	in, err := parseChannelForm(f.Values)
	if err == nil {
		var ch channels.Channel
		if ch, err = s.saveChannel(c, 0, in); err == nil {
			return s.done(c, views.PathSettingsChannels, "Saved channel "+ch.Name+". Send it a test message to check it.")
		}
	}
	f.Values["url"] = "" // a secret is never written back into a page
	return again(f, err, s.channelsPageAgain(c))
}

func (s *Server) updateChannelFromPage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	f, err := readForm(c, views.ChannelRow{ID: id}.FormID(), channelFormFields...)
	if err != nil {
		return err
	}
	in, err := parseChannelForm(f.Values)
	if err == nil {
		var ch channels.Channel
		if ch, err = s.saveChannel(c, id, in); err == nil {
			return s.done(c, views.PathSettingsChannels, "Saved channel "+ch.Name+".")
		}
	}
	f.Values["url"] = ""
	return again(f, err, s.channelsPageAgain(c))
}

func (s *Server) deleteChannelFromPage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ch, err := s.deleteChannel(c, id)
	if err != nil {
		return again(views.NewForm(views.ChannelRow{ID: id}.FormID()), err, s.channelsPageAgain(c))
	}
	return s.done(c, views.PathSettingsChannels, "Deleted channel "+ch.Name+".")
}

func (s *Server) testChannelFromPage(c echo.Context) error {
	id, err := idParam(c, "id")
	if err != nil {
		return err
	}
	ch, res, err := s.testChannel(c, id)
	if err != nil {
		return again(views.NewForm(views.ChannelRow{ID: id}.FormID()), err, s.channelsPageAgain(c))
	}
	msg := fmt.Sprintf("Test message delivered to %s.", ch.Name)
	if !res.Delivered {
		msg = fmt.Sprintf("The test message to %s failed: %s", ch.Name, res.Error)
	}
	return s.done(c, views.PathSettingsChannels, msg)
}

// allChannels are the channels the alerts send to, the environment's first, for the Alerts
// tab's test button.
func (s *Server) allChannels(ctx context.Context) ([]notify.Channel, error) {
	stored, err := s.channels.Load(ctx)
	if err != nil {
		return nil, err
	}
	return append(alerts.BuiltinChannels(s.notifiers), stored...), nil
}
