package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/infradash/infradash/health"
	"github.com/infradash/infradash/units"
)

// MetricHostDown is the alert of a host that has sent nothing for HOST_DOWN_AFTER; its value is
// how long it has been silent and its threshold HOST_DOWN_AFTER, both in seconds.
const MetricHostDown = "host_down"

// MetricUnit is the unit of an alert's value and threshold: a share for the resource alerts, a
// load per core, degrees for temperature, a length of time for host_down.
func MetricUnit(metric string) units.Unit {
	switch metric {
	case MetricHostDown:
		return units.Seconds
	case "load":
		return units.Load
	case "temperature":
		return units.Celsius
	}
	return units.Percent
}

// format writes one of m's values in its metric's unit.
func (m Message) format(v float64) string { return units.Format(v, MetricUnit(m.Metric)) }

// Title is a one-line summary of m, in the operator's words.
func (m Message) Title() string {
	if m.Metric == MetricHostDown && m.Kind != Test {
		return m.hostDownTitle()
	}
	what := m.Metric
	if m.Subject != "" {
		what += " " + m.Subject
	}
	switch m.Kind {
	case Test:
		return "Test notification from infradash"
	case Resolved:
		if m.NoData {
			return fmt.Sprintf("Resolved (no data): %s on %s stopped reporting; last value %s", what, m.Host, m.format(m.Value))
		}
		return fmt.Sprintf("Resolved: %s on %s is back to %s (warning threshold %s)", what, m.Host, m.format(m.Value), m.format(m.Threshold))
	case Escalated:
		return fmt.Sprintf("Escalated to CRITICAL: %s on %s at %s (threshold %s)", what, m.Host, m.format(m.Value), m.format(m.Threshold))
	case Deescalated:
		return fmt.Sprintf("De-escalated to WARNING: %s on %s at %s (threshold %s)", what, m.Host, m.format(m.Value), m.format(m.Threshold))
	case Reminder:
		return fmt.Sprintf("Still %s: %s on %s at %s (threshold %s)", upper(m.Severity), what, m.Host, m.format(m.Value), m.format(m.Threshold))
	default:
		return fmt.Sprintf("%s: %s on %s at %s (threshold %s)", upper(m.Severity), what, m.Host, m.format(m.Value), m.format(m.Threshold))
	}
}

// hostDownTitle says that a host went silent, still is, or is back.
func (m Message) hostDownTitle() string {
	switch m.Kind {
	case Resolved:
		return fmt.Sprintf("Resolved: %s is sending again, after %s without a sample", m.Host, m.format(m.Value))
	case Reminder:
		return fmt.Sprintf("Still %s: %s is down: nothing received for %s (HOST_DOWN_AFTER %s)", upper(m.Severity), m.Host, m.format(m.Value), m.format(m.Threshold))
	default:
		return fmt.Sprintf("%s: %s is down: nothing received for %s (HOST_DOWN_AFTER %s)", upper(m.Severity), m.Host, m.format(m.Value), m.format(m.Threshold))
	}
}

func upper(s health.Status) string { return strings.ToUpper(string(s)) }

func slackPayload(m Message) any {
	icon := map[health.Status]string{health.Critical: ":red_circle:", health.Warning: ":large_yellow_circle:"}[m.Severity]
	if m.Kind == Resolved {
		icon = ":large_green_circle:"
	}
	if m.Kind == Test {
		icon = ":wave:"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s *%s*", icon, m.Title())
	if m.Kind != Test {
		fmt.Fprintf(&b, "\n*Host:* %s   *Metric:* %s", m.Host, m.Metric)
		if m.Subject != "" {
			fmt.Fprintf(&b, "   *Filesystem:* %s", m.Subject)
		}
		fmt.Fprintf(&b, "\n*Value:* %s   *Threshold:* %s   *Severity:* %s", m.format(m.Value), m.format(m.Threshold), m.Severity)
		fmt.Fprintf(&b, "\n*Since:* %s", m.Since.UTC().Format("2006-01-02 15:04 MST"))
	} else {
		b.WriteString("\nNotifications from infradash reach this channel.")
	}
	if m.URL != "" && m.Kind == Test {
		fmt.Fprintf(&b, "\n<%s|Open the alerts>", m.URL)
	} else if m.URL != "" {
		fmt.Fprintf(&b, "\n<%s|Open %s>", m.URL, m.Host)
	}
	return map[string]string{"text": b.String()}
}

type webhookAlert struct {
	ID        int64     `json:"id,omitempty"`
	Host      string    `json:"host"`
	Metric    string    `json:"metric"`
	Subject   string    `json:"subject"`
	Severity  string    `json:"severity"`
	Value     float64   `json:"value"`
	Threshold float64   `json:"threshold"`
	StartedAt time.Time `json:"started_at"`
}

type webhookBody struct {
	Event string        `json:"event"`
	Title string        `json:"title"`
	Alert *webhookAlert `json:"alert,omitempty"`
	At    time.Time     `json:"at"`
	URL   string        `json:"url,omitempty"`
}

func webhookPayload(m Message) any {
	b := webhookBody{Event: string(m.Kind), Title: m.Title(), At: m.At.UTC(), URL: m.URL}
	if m.Kind != Test {
		b.Alert = &webhookAlert{ID: m.AlertID, Host: m.Host, Metric: m.Metric, Subject: m.Subject, Severity: string(m.Severity),
			Value: m.Value, Threshold: m.Threshold, StartedAt: m.Since.UTC()}
	}
	return b
}
