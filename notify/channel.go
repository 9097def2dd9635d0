package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"

	"github.com/infradash/infradash/health"
)

// Channel is one destination of notices with its filters: a built-in one (SLACK_WEBHOOK_URL,
// ALERT_WEBHOOK_URL: every host, every severity) or one an admin set in /settings/channels.
type Channel struct {
	// Key is what the delivery state of each notice is kept under: env:slack, env:webhook, or
	// channel:ID.
	Key  string
	Name string
	// Notifier sends; nil when the channel cannot be used, and Err says why (its URL does not
	// decrypt under this SECRET_KEY, or no longer parses).
	Notifier *Notifier
	Err      error
	// MinSeverity is the least severity it is told about: warning (everything) or critical.
	MinSeverity health.Status
	// Host, or else Labels (every key=value must match), limit it to some hosts; neither is all.
	Host   string
	Labels map[string]string
	// Builtin is a channel of the environment, shown read-only.
	Builtin bool
}

// Kinds of channel, by URL.
const (
	KindSlack    = "slack"
	KindWebhook  = "webhook"
	KindShoutrrr = "shoutrrr"
)

// KindOf says which notifier a channel URL takes: a Slack incoming webhook
// (https://hooks.slack.com/...) is Slack as SLACK_WEBHOOK_URL is; any other http(s) URL is the
// generic JSON webhook; any other scheme (discord://, telegram://, smtp://, ntfy://...) is a
// service of shoutrrr. It checks the URL's form, not that it works (Send does that).
func KindOf(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" {
		return "", errors.New("must be a URL such as https://hooks.slack.com/services/..., https://example.com/hook or discord://token@id")
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "http":
		if u.Host == "" {
			return "", errors.New("an http(s) URL needs a host")
		}
		if strings.EqualFold(u.Hostname(), "hooks.slack.com") {
			return KindSlack, nil
		}
		return KindWebhook, nil
	}
	if !router.SupportsSchema(strings.ToLower(u.Scheme)) {
		return "", fmt.Errorf("%q is not a service infradash can send to (http(s), or one of: %s)", u.Scheme, strings.Join(router.SupportedSchemas(), ", "))
	}
	return KindShoutrrr, nil
}

// ForURL is the notifier of a channel URL (KindOf): its errors say what is wrong with the URL
// without repeating it (it is a secret).
func ForURL(name, raw string, opts Options) (*Notifier, error) {
	raw = strings.TrimSpace(raw)
	kind, err := KindOf(raw)
	if err != nil {
		return nil, err
	}
	var n *Notifier
	switch kind {
	case KindSlack:
		n = NewSlack(raw, opts)
	case KindWebhook:
		n = NewWebhook(raw, opts)
	default:
		if n, err = NewShoutrrr(raw, opts); err != nil {
			return nil, err
		}
	}
	if name != "" {
		n.name = name
	}
	return n, nil
}

// NewShoutrrr sends through the shoutrrr service the URL's scheme names: the message is the
// notice's text (Title and the facts), its title the notice's title.
func NewShoutrrr(raw string, opts Options) (*Notifier, error) {
	opts = opts.withDefaults()
	r, err := router.NewWithOptions(nil, types.SenderOptions{Timeout: opts.Client.Timeout, HTTPClient: opts.Client})
	if err != nil {
		return nil, fmt.Errorf("shoutrrr: %s", scrub(err.Error()))
	}
	svc, err := r.Locate(raw)
	if err != nil {
		return nil, fmt.Errorf("the %s URL does not parse: %s", schemeOf(raw), scrub(err.Error()))
	}
	n := &Notifier{name: schemeOf(raw), opts: opts}
	n.deliver = func(ctx context.Context, m Message) (retryAfter time.Duration, err error) {
		params := types.Params{types.TitleKey: m.Title()}
		ctx, cancel := context.WithTimeout(ctx, opts.Client.Timeout)
		defer cancel()
		if cs, ok := svc.(types.ContextSender); ok {
			err = cs.SendContext(ctx, plainText(m), &params)
		} else {
			err = svc.Send(plainText(m), &params)
		}
		if err != nil {
			return 0, errors.New(scrub(err.Error()))
		}
		return 0, nil
	}
	return n, nil
}

func schemeOf(raw string) string {
	if i := strings.Index(raw, "://"); i > 0 {
		return strings.ToLower(raw[:i])
	}
	return "shoutrrr"
}

// anyURL finds URLs inside an error text: a service's HTTP error names the URL it posted to,
// which holds its token (Discord's, Telegram's bot token).
var anyURL = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"']+`)

// scrub keeps of each URL in an error text its scheme and host.
func scrub(s string) string {
	return anyURL.ReplaceAllStringFunc(s, func(v string) string {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			return "[url]"
		}
		return u.Scheme + "://" + u.Hostname() + "/…"
	})
}

// plainText is a notice for services that take text: the title, then the facts on their own
// lines, then the link.
func plainText(m Message) string {
	var b strings.Builder
	b.WriteString(m.Title())
	if m.Kind != Test {
		fmt.Fprintf(&b, "\nHost: %s, metric: %s", m.Host, m.Metric)
		if m.Subject != "" {
			fmt.Fprintf(&b, " %s", m.Subject)
		}
		fmt.Fprintf(&b, "\nValue %s, threshold %s, severity %s, since %s", m.format(m.Value), m.format(m.Threshold), m.Severity,
			m.Since.UTC().Format("2006-01-02 15:04 MST"))
	} else {
		b.WriteString("\nNotifications from infradash reach this channel.")
	}
	if m.URL != "" {
		b.WriteString("\n" + m.URL)
	}
	return b.String()
}
