// Package alerts judges the recent samples against the thresholds, keeps one alert per host,
// metric and subject in the database, and sends what has to be said about them through the
// notifiers without repeating itself (PRODUCT.md section 10).
package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/queries"
	"github.com/infradash/infradash/rules"
)

// Rules are the thresholds and timings of alerting: a value, passed to every evaluation, so the
// thresholds of the alerts are always those of the health score and the charts.
type Rules struct {
	// Thresholds are the levels the health score uses too, for a host no rule speaks of (For
	// answers for the others); an alert's metric is a health kind (cpu, memory, swap, load,
	// temperature, disk).
	Thresholds health.Thresholds
	// For is a host's effective thresholds (the alert rules over Thresholds; DownAfter its
	// host_down delay); nil applies Thresholds and HostDownAfter to every host. Run sets it from
	// the Evaluator's resolver for the evaluation.
	For            func(host string) health.Thresholds
	Window         time.Duration // the mean is taken over this much recent history
	Cooldown       time.Duration // least time between two notices about one series
	RepeatInterval time.Duration // reminders while firing and unacknowledged
	// Hysteresis is how many points below a threshold the mean must fall to leave its level: a
	// critical alert steps back to warning below critical-Hysteresis, and resolves below
	// warning-Hysteresis.
	Hysteresis float64
	// HostDownAfter is HOST_DOWN_AFTER: an enrolled host that has sent nothing this long is down
	// (a host_down alert). 0 raises none.
	HostDownAfter time.Duration
}

// thresholdsOf is what host is judged against.
func (r Rules) thresholdsOf(host string) health.Thresholds {
	if r.For != nil {
		return r.For(host)
	}
	return r.Thresholds
}

// downAfterOf is how long host may be silent before it is down: its host_down rule, else
// HostDownAfter.
func (r Rules) downAfterOf(host string) time.Duration {
	if d := r.thresholdsOf(host).DownAfter; d > 0 && r.For != nil {
		return d
	}
	return r.HostDownAfter
}

// MetricHostDown is the alert of an enrolled host that has sent nothing for HostDownAfter.
const MetricHostDown = notify.MetricHostDown

// minCoverage is the share of the window a series' samples must speak for before its mean is
// judged. Right after a start (or when a host comes back) the window holds a few samples whose
// mean is noise: three of them once opened a critical alert.
const minCoverage = 0.8

// Covered reports whether m's samples speak for at least 80 % of the window: the time from the
// first sample to the last, plus the average spacing of the samples (each stands for one
// interval). It needs no collect interval, so it holds for every sender's; five samples a
// window are always enough (config asks ALERT_WINDOW for five COLLECT_INTERVALs).
func (r Rules) Covered(m Mean) bool {
	if m.Samples < 2 {
		return false
	}
	span := m.LastAt.Sub(m.FirstAt)
	return span+span/time.Duration(m.Samples-1) >= time.Duration(minCoverage*float64(r.Window))
}

// RulesFrom takes the rules out of the configuration.
func RulesFrom(cfg config.Config) Rules {
	return Rules{Thresholds: cfg.Thresholds, Window: cfg.AlertWindow,
		Cooldown: cfg.AlertCooldown, RepeatInterval: cfg.AlertRepeatInterval, Hysteresis: cfg.AlertHysteresis,
		HostDownAfter: cfg.HostDownAfter}
}

// Action is what an evaluation does to one series.
type Action string

// Actions.
const (
	Open       Action = "open"
	Escalate   Action = "escalate"   // warning to critical
	Deescalate Action = "deescalate" // critical back to warning
	Remind     Action = "remind"
	Update     Action = "update" // the latest mean of an open alert; nothing to tell
	Resolve    Action = "resolve"
	// Wait is a series at warning or critical with no open alert whose window is not yet
	// covered by samples (see Rules.Covered): it opens once it is, if it still fires.
	Wait Action = "wait"
)

// Change is one decision of an evaluation.
type Change struct {
	Action   Action
	AlertID  int64 // 0 for Open and Wait
	Host     string
	Metric   string
	Subject  string
	Severity health.Status // of the alert after the change: health.Warning or health.Critical
	Value    float64
	// Threshold is the one of Severity under the rules of this evaluation; for Resolve, the
	// warning threshold it fell below (less the hysteresis).
	Threshold float64
	Since     time.Time
	NoData    bool // Resolve only: the series stopped reporting
}

// Resolutions of an alert (infrastructure_alerts.resolution).
const (
	resolutionRecovered = "recovered"
	resolutionNoData    = "no_data"
)

// noDataWindows is how many alert windows an open alert's series may send nothing before the
// alert resolves: a filesystem unmounted, a host renamed or gone, a recorder failing. Waiting a
// few windows keeps a short gap in the samples from closing and reopening the alert.
const noDataWindows = 3

// Mean is a series' mean over the alert window.
type Mean = queries.AlertWindowMeansRow

type seriesKey struct{ host, metric, subject string }

// Decide compares each series' mean with the thresholds and the open alerts. It is pure: the
// caller stores the changes. An alert leaves its level only ALERT_HYSTERESIS points below that
// level's threshold, so a mean wavering around a line changes the alert once, not on every
// crossing. A window its samples do not yet cover changes nothing. An open alert whose series
// has sent nothing for noDataWindows windows resolves with a "no data" notice.
func Decide(means []Mean, open []queries.InfrastructureAlert, r Rules, now time.Time) []Change {
	byKey := make(map[seriesKey]queries.InfrastructureAlert, len(open))
	for _, a := range open {
		if string(a.Metric) == MetricHostDown {
			continue // DecideHostsDown judges those
		}
		byKey[seriesKey{a.Host, string(a.Metric), a.Subject}] = a
	}
	var changes []Change
	reporting := make(map[seriesKey]bool, len(means))
	for _, m := range means {
		key := seriesKey{m.Host, m.Metric, m.Subject}
		reporting[key] = true
		th, ok := r.thresholdsOf(m.Host).Of(m.Metric, m.Subject)
		if !ok {
			continue
		}
		level := th.Classify(m.MeanValue)
		firing := level == health.Warning || level == health.Critical
		covered := r.Covered(m)
		c := Change{Host: m.Host, Metric: m.Metric, Subject: m.Subject, Value: m.MeanValue, Since: now}
		a, isOpen := byKey[key]
		if !isOpen {
			if firing {
				c.Action, c.Severity, c.Threshold = Open, level, thresholdOf(th, level)
				if !covered {
					c.Action = Wait
				}
				changes = append(changes, c)
			}
			continue
		}
		sev := health.Status(a.Severity)
		c.AlertID, c.Since, c.Severity, c.Threshold = a.ID, a.StartedAt, sev, thresholdOf(th, sev)
		switch {
		case !covered:
			c.Action = Update
		case level == health.Critical && sev == health.Warning:
			c.Action, c.Severity, c.Threshold = Escalate, health.Critical, th.Critical
		case m.MeanValue < th.Warning-r.Hysteresis:
			c.Action, c.Threshold = Resolve, th.Warning
		case sev == health.Critical && m.MeanValue < th.Critical-r.Hysteresis:
			c.Action, c.Severity, c.Threshold = Deescalate, health.Warning, th.Warning
		case firing:
			c.Action = stillFiring(a, r, now)
		default:
			c.Action = Update // below warning but inside the hysteresis band: still open, quiet
		}
		changes = append(changes, c)
	}
	for _, a := range open {
		// updated_at is the last evaluation that saw a sample of the series.
		if string(a.Metric) == MetricHostDown || reporting[seriesKey{a.Host, string(a.Metric), a.Subject}] || now.Before(a.UpdatedAt.Add(noDataWindows*r.Window)) {
			continue
		}
		threshold := a.Threshold
		if th, ok := r.thresholdsOf(a.Host).Of(string(a.Metric), a.Subject); ok {
			threshold = th.Warning
		}
		changes = append(changes, Change{Action: Resolve, NoData: true, AlertID: a.ID, Host: a.Host, Metric: string(a.Metric),
			Subject: a.Subject, Severity: health.Status(a.Severity), Value: a.Value, Threshold: threshold, Since: a.StartedAt})
	}
	return changes
}

// Silence is when the hub last heard from an enrolled host (host_state.received_at).
type Silence = queries.HostsLastSeenRow

// DecideHostsDown compares how long each host that has ever sent something has been silent with
// HostDownAfter and the open host_down alerts. It is pure, like Decide. A host silent longer opens
// a critical alert (a host never seen is not among seen: it raises nothing); while it stays
// silent, the alert reminds as any does (RepeatInterval, unless acknowledged); the first run that
// finds it sending again resolves it, its value the longest silence it measured. A removed host
// is not among seen either: removing it closed its alerts.
func DecideHostsDown(seen []Silence, open []queries.InfrastructureAlert, r Rules, now time.Time) []Change {
	if r.HostDownAfter <= 0 && r.For == nil {
		return nil
	}
	byHost := map[string]queries.InfrastructureAlert{}
	for _, a := range open {
		if string(a.Metric) == MetricHostDown {
			byHost[a.Host] = a
		}
	}
	var changes []Change
	for _, h := range seen {
		after := r.downAfterOf(h.Name)
		silent := now.Sub(h.ReceivedAt)
		c := Change{Host: h.Name, Metric: MetricHostDown, Severity: health.Critical, Value: silent.Seconds(),
			Threshold: after.Seconds(), Since: now}
		a, isOpen := byHost[h.Name]
		if isOpen {
			c.AlertID, c.Since = a.ID, a.StartedAt
		}
		if after <= 0 && !isOpen {
			continue
		}
		switch down := after > 0 && silent > after; {
		case down && !isOpen:
			c.Action = Open
		case down:
			c.Action = stillFiring(a, r, now)
		case isOpen:
			c.Action, c.Value = Resolve, a.Value
		default:
			continue
		}
		changes = append(changes, c)
	}
	return changes
}

// stillFiring is what an open alert that still fires gets: a reminder once RepeatInterval has
// passed since the last notice (or its start), unless it is acknowledged; else a quiet update.
func stillFiring(a queries.InfrastructureAlert, r Rules, now time.Time) Action {
	last := a.StartedAt
	if a.LastNotifiedAt != nil {
		last = *a.LastNotifiedAt
	}
	if a.AcknowledgedAt == nil && !now.Before(last.Add(r.RepeatInterval)) {
		return Remind
	}
	return Update
}

// thresholdOf is the threshold of a level: the critical one for critical, else the warning one.
func thresholdOf(l health.Level, s health.Status) float64 {
	if s == health.Critical {
		return l.Critical
	}
	return l.Warning
}

// Report is what one Run did.
type Report struct {
	Changes    []Change
	Notified   int // notices delivered to every channel they were for
	Failed     int // notices some channel could not get; retried next run on those only
	Suppressed int // notifications held back by the cooldown
	Silenced   int // notices held back by a silence; they go out once it ends, if still due
	Dropped    int // notifications dropped because no channel is configured, or none is for them
	Errors     []string
}

// String is one line about a run, for logs and the command line.
func (r Report) String() string {
	counts := map[Action]int{}
	for _, c := range r.Changes {
		counts[c.Action]++
	}
	return fmt.Sprintf("opened %d, escalated %d, de-escalated %d, reminders %d, resolved %d, waiting for a covered window %d; notifications sent %d, failed %d, held by cooldown %d, held by silences %d, dropped (no channel) %d",
		counts[Open], counts[Escalate], counts[Deescalate], counts[Remind], counts[Resolve], counts[Wait], r.Notified, r.Failed, r.Suppressed, r.Silenced, r.Dropped)
}

// Evaluator runs the alert job.
type Evaluator struct {
	q         *queries.Queries
	db        queries.DBTX
	rules     Rules
	resolver  *rules.Resolver
	notifiers []*notify.Notifier
	channels  func(context.Context) ([]notify.Channel, error)
	baseURL   string
	now       func() time.Time
	log       *slog.Logger
}

// Deps are an Evaluator's collaborators.
type Deps struct {
	DB    queries.DBTX
	Rules Rules
	// Resolver gives each host's thresholds (the alert rules over Rules.Thresholds); nil judges
	// every host by Rules.Thresholds.
	Resolver *rules.Resolver
	// Notifiers are the built-in channels (SLACK_WEBHOOK_URL, ALERT_WEBHOOK_URL): every host, every
	// severity.
	Notifiers []*notify.Notifier
	// Channels, when set, reads the channels set in /settings/channels at each run.
	Channels func(context.Context) ([]notify.Channel, error)
	BaseURL  string // links in notifications point to the host's page under BaseURL
	Now      func() time.Time
	Logger   *slog.Logger
}

// New builds an Evaluator.
func New(d Deps) *Evaluator {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Evaluator{q: queries.New(d.DB), db: d.DB, rules: d.Rules, resolver: d.Resolver, notifiers: d.Notifiers, channels: d.Channels,
		baseURL: d.BaseURL, now: d.Now, log: d.Logger}
}

// BuiltinChannels are the notifiers of the environment as channels: for every host and severity,
// their delivery state kept under env:NAME.
func BuiltinChannels(ns []*notify.Notifier) []notify.Channel {
	out := make([]notify.Channel, 0, len(ns))
	seen := map[string]int{}
	for _, n := range ns {
		key := "env:" + n.Name()
		if seen[n.Name()]++; seen[n.Name()] > 1 {
			key += fmt.Sprintf("-%d", seen[n.Name()])
		}
		out = append(out, notify.Channel{Key: key, Name: n.Name(), Notifier: n, MinSeverity: health.Warning, Builtin: true})
	}
	return out
}

// AlertsURL is the page where the alerts are listed.
func AlertsURL(baseURL string) string { return baseURL + "/observability?tab=alerts" }

// HostURL is a host's page, where a notification about it links: its numbers, charts and open
// alerts. The path is views.HostURL's, which alerts may not import.
func HostURL(baseURL, host string) string {
	return baseURL + "/observability/hosts/" + url.PathEscape(host)
}

// world is what a run knows beyond the samples: the hosts' labels, the silences in force, the
// channels.
type world struct {
	labels   map[string]map[string]string
	silences []rules.Silence
	channels []notify.Channel
}

// Run evaluates the window ending now, stores the changes and delivers pending notifications.
// A dry run decides and reports but writes and sends nothing. Delivery failures are recorded
// on the alerts and in the report; only a database failure is an error.
func (e *Evaluator) Run(ctx context.Context, dryRun bool) (Report, error) {
	now := e.now().UTC()
	means, err := e.q.AlertWindowMeans(ctx, queries.AlertWindowMeansParams{Since: now.Add(-e.rules.Window), Until: now})
	if err != nil {
		return Report{}, fmt.Errorf("alerts: window means: %w", err)
	}
	seen, err := e.q.HostsLastSeen(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("alerts: hosts last seen: %w", err)
	}
	open, err := e.q.OpenAlerts(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("alerts: open alerts: %w", err)
	}
	w, err := e.world(ctx, now)
	if err != nil {
		return Report{}, err
	}
	r := e.rules
	if e.resolver != nil {
		// The rules as they are now, whichever replica changed them: the next evaluation after a
		// change already judges by it.
		if err := e.resolver.Refresh(ctx); err != nil {
			return Report{}, fmt.Errorf("alerts: %w", err)
		}
		r.For = func(host string) health.Thresholds { return e.resolver.Thresholds(host, w.labels[host]) }
	}
	rep := Report{Changes: append(Decide(means, open, r, now), DecideHostsDown(seen, open, r, now)...)}
	if dryRun {
		return rep, nil
	}
	for _, c := range rep.Changes {
		if err := e.apply(ctx, c, now); err != nil {
			return rep, fmt.Errorf("alerts: %s %s %s on %s: %w", c.Action, c.Metric, c.Subject, c.Host, err)
		}
	}
	return rep, e.deliver(ctx, now, w, &rep)
}

func (e *Evaluator) world(ctx context.Context, now time.Time) (world, error) {
	var w world
	var err error
	if w.labels, err = rules.HostLabels(ctx, e.db); err != nil {
		return w, fmt.Errorf("alerts: %w", err)
	}
	if w.silences, err = rules.ActiveSilences(ctx, e.db, now); err != nil {
		return w, fmt.Errorf("alerts: %w", err)
	}
	w.channels = BuiltinChannels(e.notifiers)
	if e.channels != nil {
		more, err := e.channels(ctx)
		if err != nil {
			return w, fmt.Errorf("alerts: channels: %w", err)
		}
		w.channels = append(w.channels, more...)
	}
	return w, nil
}

func (e *Evaluator) apply(ctx context.Context, c Change, now time.Time) error {
	msg := message(c, e.baseURL, now).Title()
	switch c.Action {
	case Open:
		_, err := e.q.OpenAlert(ctx, queries.OpenAlertParams{Host: c.Host, Metric: queries.Metrictype(c.Metric), Subject: c.Subject,
			Severity: queries.Healthstatus(c.Severity), Value: c.Value, Threshold: c.Threshold, Message: msg, Now: now})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // another run opened it first
		}
		return err
	case Escalate:
		return e.q.EscalateAlert(ctx, queries.EscalateAlertParams{ID: c.AlertID, Value: c.Value, Threshold: c.Threshold, Message: msg, Now: now})
	case Deescalate:
		return e.q.DeescalateAlert(ctx, queries.DeescalateAlertParams{ID: c.AlertID, Value: c.Value, Threshold: c.Threshold, Message: msg, Now: now})
	case Update, Remind:
		return e.q.UpdateAlertValue(ctx, queries.UpdateAlertValueParams{ID: c.AlertID, Value: c.Value, Threshold: c.Threshold,
			Message: msg, Now: now, Remind: c.Action == Remind})
	case Resolve:
		resolution := resolutionRecovered
		if c.NoData {
			resolution = resolutionNoData
		}
		return e.q.ResolveAlert(ctx, queries.ResolveAlertParams{ID: c.AlertID, Value: c.Value, Threshold: c.Threshold,
			Message: msg, Resolution: resolution, Now: now})
	case Wait:
		return nil
	}
	return fmt.Errorf("unknown action %q", c.Action)
}

// claimLease is how long a claimed notice is left to its claimant: longer than the slowest
// send (every try timing out, the longest Retry-After), short enough that a notice whose
// claimant died goes out a few minutes late rather than never.
const claimLease = 5 * time.Minute

// Wants reports whether channel c is to be told notice kind about an alert of severity on the
// host with these labels: its severity and scope, or (for the step back to warning and the end
// of an alert) that it was told about the alert before, whatever its minimum severity.
func Wants(c notify.Channel, kind notify.Kind, severity health.Status, host string, labels map[string]string, told bool) bool {
	if told && (kind == notify.Deescalated || kind == notify.Resolved) {
		return true
	}
	if c.MinSeverity == health.Critical && severity != health.Critical {
		return false
	}
	if c.Host != "" && c.Host != host {
		return false
	}
	return rules.Selector(c.Labels).Matches(labels)
}

// deliver sends each pending notice to every channel it is for that does not have it yet. A
// notice is done when every one of them has it; one that reached some channels and failed on
// others stays pending, and the next run tries those others only (alert_deliveries keeps each
// channel's outcome), so nobody gets it twice.
func (e *Evaluator) deliver(ctx context.Context, now time.Time, w world, rep *Report) error {
	pending, err := e.q.PendingNotifications(ctx, now.Add(-e.rules.Cooldown))
	if err != nil {
		return fmt.Errorf("alerts: pending notifications: %w", err)
	}
	for _, p := range pending {
		kind := notify.Kind(p.PendingNotification.String)
		if len(w.channels) == 0 {
			rep.Dropped++
			if err := e.q.DropPendingNotification(ctx, p.ID); err != nil {
				return fmt.Errorf("alerts: drop notification of alert %d: %w", p.ID, err)
			}
			continue
		}
		labels := w.labels[p.Host]
		if rules.Matching(w.silences, p.Host, labels, string(p.Metric), now) != nil {
			rep.Silenced++
			continue
		}
		// A change of severity (either way) and the resolution notice go out at once: they correct
		// what the operator was last told. Hysteresis keeps them from flapping. The rest wait out
		// the cooldown, unless the notice already went out on some channel: finishing its round
		// is not a new notice.
		finishing := p.NotifiedSeq == p.NoticeSeq
		if p.InCooldown && !finishing && (kind == notify.Opened || kind == notify.Reminder) {
			rep.Suppressed++
			continue
		}
		// Another evaluator may be sending this very notice (a manual `infradash alerts` while
		// serve runs, a leader handover): only the one that claims it sends it.
		if _, err := e.q.ClaimNotification(ctx, queries.ClaimNotificationParams{ID: p.ID, Kind: p.PendingNotification,
			Now: now, Until: now.Add(claimLease)}); errors.Is(err, pgx.ErrNoRows) {
			continue
		} else if err != nil {
			return fmt.Errorf("alerts: claim notification of alert %d: %w", p.ID, err)
		}
		if err := e.deliverOne(ctx, now, w, p, kind, labels, rep); err != nil {
			return err
		}
	}
	return nil
}

func (e *Evaluator) deliverOne(ctx context.Context, now time.Time, w world, p queries.PendingNotificationsRow, kind notify.Kind,
	labels map[string]string, rep *Report) error {
	past, err := e.q.NoticeDeliveries(ctx, queries.NoticeDeliveriesParams{AlertID: p.ID, Seq: p.NoticeSeq})
	if err != nil {
		return fmt.Errorf("alerts: deliveries of alert %d: %w", p.ID, err)
	}
	told, has := map[string]bool{}, map[string]bool{}
	for _, d := range past {
		if d.Status == "delivered" {
			told[d.Channel] = true
			if d.NoticeSeq == p.NoticeSeq {
				has[d.Channel] = true
			}
		}
	}
	var undelivered []notify.Channel // channels that want this notice and have not had it
	targets := 0
	for _, c := range w.channels {
		if !Wants(c, kind, health.Status(p.Severity), p.Host, labels, told[c.Key]) {
			continue
		}
		targets++
		if !has[c.Key] {
			undelivered = append(undelivered, c)
		}
	}
	if targets == 0 {
		rep.Dropped++
		return e.q.DropPendingNotification(ctx, p.ID)
	}
	m := notify.Message{Kind: kind, AlertID: p.ID, Host: p.Host, Metric: string(p.Metric), Subject: p.Subject,
		Severity: health.Status(p.Severity), Value: p.Value, Threshold: p.Threshold, Since: p.StartedAt, At: now, URL: HostURL(e.baseURL, p.Host),
		NoData: kind == notify.Resolved && p.Resolution.String == resolutionNoData}
	attempts, errText, delivered := 0, "", len(has) > 0
	for _, c := range undelivered {
		r := notify.Result{Notifier: c.Name}
		if c.Notifier == nil {
			r.Err = fmt.Errorf("%s: %w", c.Name, c.Err)
		} else {
			r = c.Notifier.Send(ctx, m)
		}
		attempts += r.Attempts
		status, msg := "delivered", ""
		if r.Err != nil {
			status, msg = "failed", r.Err.Error()
			errText = joinErr(errText, msg)
			e.log.Warn("alert notification failed", "alert", p.ID, "channel", c.Name, "attempts", r.Attempts, "err", r.Err)
		} else {
			delivered = true
		}
		if err := e.q.RecordDelivery(ctx, queries.RecordDeliveryParams{AlertID: p.ID, Seq: p.NoticeSeq, Channel: c.Key, Kind: string(kind),
			Status: status, Attempts: int32(r.Attempts), Error: msg, Now: now}); err != nil {
			return fmt.Errorf("alerts: record delivery of alert %d to %s: %w", p.ID, c.Name, err)
		}
	}
	if delivered {
		// The first channel to get it counts it (notification_count, the cooldown).
		if err := e.q.MarkNotified(ctx, queries.MarkNotifiedParams{ID: p.ID, Seq: p.NoticeSeq, Now: now}); err != nil {
			return fmt.Errorf("alerts: record notice of alert %d: %w", p.ID, err)
		}
	}
	if errText == "" {
		rep.Notified++
		err = e.q.MarkDelivered(ctx, queries.MarkDeliveredParams{ID: p.ID, Seq: p.NoticeSeq, Error: "", Attempts: int32(attempts)})
	} else {
		if delivered {
			e.log.Warn("alert notification reached only some notifiers; the next run tries the others again, not those that have it",
				"alert", p.ID, "kind", kind, "err", errText)
		}
		rep.Failed++
		rep.Errors = append(rep.Errors, fmt.Sprintf("alert %d: %s", p.ID, errText))
		err = e.q.MarkDeliveryFailed(ctx, queries.MarkDeliveryFailedParams{ID: p.ID, Error: errText, Attempts: int32(attempts)})
	}
	if err != nil {
		return fmt.Errorf("alerts: record delivery of alert %d: %w", p.ID, err)
	}
	return nil
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func message(c Change, baseURL string, now time.Time) notify.Message {
	kind := map[Action]notify.Kind{Open: notify.Opened, Wait: notify.Opened, Escalate: notify.Escalated, Deescalate: notify.Deescalated,
		Remind: notify.Reminder, Update: notify.Reminder, Resolve: notify.Resolved}[c.Action]
	return notify.Message{Kind: kind, AlertID: c.AlertID, Host: c.Host, Metric: c.Metric, Subject: c.Subject, Severity: c.Severity,
		Value: c.Value, Threshold: c.Threshold, Since: c.Since, At: now, URL: HostURL(baseURL, c.Host), NoData: c.NoData}
}

// ErrNotFound and ErrResolved are the reasons an acknowledgement is refused.
var (
	ErrNotFound = errors.New("no such alert")
	ErrResolved = errors.New("the alert is already resolved")
)

// Acknowledge records that userID has seen alert id: it sends no more reminders. Acknowledging
// twice keeps the first who and when.
func Acknowledge(ctx context.Context, db queries.DBTX, id, userID int64, now time.Time) (queries.InfrastructureAlert, error) {
	q := queries.New(db)
	a, err := q.AcknowledgeAlert(ctx, queries.AcknowledgeAlertParams{ID: id, UserID: userID, Now: now.UTC()})
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := q.GetAlert(ctx, id); errors.Is(err, pgx.ErrNoRows) {
			return a, ErrNotFound
		} else if err != nil {
			return a, fmt.Errorf("acknowledge alert %d: %w", id, err)
		}
		return a, ErrResolved
	}
	if err != nil {
		return a, fmt.Errorf("acknowledge alert %d: %w", id, err)
	}
	return a, nil
}

// SendTest sends the test notification of `alerts --test` and the admin's test button: once
// through each notifier, all at once, within notify.TestTimeout.
func SendTest(ctx context.Context, ns []*notify.Notifier, baseURL string, now time.Time) []notify.Result {
	return notify.SendTest(ctx, ns, notify.Message{Kind: notify.Test, At: now.UTC(), URL: AlertsURL(baseURL)})
}
