// Package notify delivers alert notifications: to a Slack incoming webhook, to a generic JSON
// webhook, and through the services of shoutrrr (channel.go). Each send has a timeout and a few
// tries with back-off that honours Retry-After; the caller records the outcome and tries again
// later when every try failed.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/infradash/infradash/health"
)

// Kind is what a notification says about its alert; also the webhook's "event" and the values
// of infrastructure_alerts.pending_notification.
type Kind string

// Kinds of notification.
const (
	Opened    Kind = "opened"
	Escalated Kind = "escalated" // warning to critical
	// Deescalated is critical back to warning: the mean fell ALERT_HYSTERESIS points below the
	// critical threshold while staying at or near warning.
	Deescalated Kind = "deescalated"
	Reminder    Kind = "reminder"
	Resolved    Kind = "resolved"
	Test        Kind = "test"
)

// Message is one notification about one alert.
type Message struct {
	Kind     Kind
	AlertID  int64
	Host     string
	Metric   string        // cpu, memory, disk, host_down
	Subject  string        // the filesystem's mountpoint for disk; "" otherwise
	Severity health.Status // warning or critical
	Value    float64
	// Threshold is the one of Severity as the rules stand now; for Resolved, the warning
	// threshold it fell below (less the hysteresis).
	Threshold float64
	Since     time.Time // when the alert started
	At        time.Time // when this notification was made
	URL       string    // where to see it: the host's page, or for a test the alerts
	NoData    bool      // Resolved only: closed because the series stopped reporting
}

// Options tune delivery; the zero value gives the production behaviour.
type Options struct {
	Client        *http.Client  // default: 10 s timeout
	Tries         int           // default 3
	Backoff       time.Duration // first wait between tries, doubled each time; default 1 s
	MaxRetryAfter time.Duration // a longer Retry-After is cut to this; default 30 s
}

func (o Options) withDefaults() Options {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Tries <= 0 {
		o.Tries = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 30 * time.Second
	}
	return o
}

// Notifier sends messages to one destination: a webhook (Slack's, or the generic JSON one), or a
// service of shoutrrr (channel.go).
type Notifier struct {
	name string
	// deliver makes one try; a permanent error is not tried again.
	deliver func(ctx context.Context, m Message) (retryAfter time.Duration, err error)
	opts    Options
}

// NewSlack posts to a Slack incoming webhook.
func NewSlack(url string, opts Options) *Notifier {
	return newHTTP("slack", url, slackPayload, opts)
}

// NewWebhook posts the alert as JSON to any HTTP endpoint.
func NewWebhook(url string, opts Options) *Notifier {
	return newHTTP("webhook", url, webhookPayload, opts)
}

func newHTTP(name, url string, encode func(Message) any, opts Options) *Notifier {
	n := &Notifier{name: name, opts: opts.withDefaults()}
	n.deliver = func(ctx context.Context, m Message) (time.Duration, error) {
		body, err := json.Marshal(encode(m))
		if err != nil {
			return 0, permanent{fmt.Errorf("encode: %w", err)}
		}
		return n.post(ctx, url, body)
	}
	return n
}

// Name says which notifier this is, for logs and reports (never the URL: it is a secret).
func (n *Notifier) Name() string { return n.name }

// Result is the outcome of one Send.
type Result struct {
	Notifier string
	Attempts int
	Err      error // nil when delivered
}

// Send delivers m, trying up to Options.Tries times.
func (n *Notifier) Send(ctx context.Context, m Message) Result { return n.send(ctx, m, n.opts.Tries) }

func (n *Notifier) send(ctx context.Context, m Message, tries int) Result {
	res := Result{Notifier: n.name}
	wait := n.opts.Backoff
	for res.Attempts < tries {
		res.Attempts++
		retryAfter, err := n.deliver(ctx, m)
		if err == nil {
			res.Err = nil
			return res
		}
		res.Err = fmt.Errorf("%s: %w", n.name, err)
		var p permanent
		if errors.As(err, &p) || res.Attempts == tries {
			break
		}
		d := wait
		if retryAfter > 0 {
			d = min(retryAfter, n.opts.MaxRetryAfter)
		}
		wait *= 2
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			res.Err = fmt.Errorf("%s: %w (last error: %v)", n.name, ctx.Err(), err)
			return res
		case <-t.C:
		}
	}
	return res
}

// permanent marks an answer no retry will change (a 4xx other than 408 and 429).
type permanent struct{ error }

func (n *Notifier) post(ctx context.Context, url string, body []byte) (retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, permanent{fmt.Errorf("bad webhook URL: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "infradash")
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		// The error text contains the URL, which is a secret for Slack webhooks.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(snippet))
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
		return 0, permanent{err}
	}
	return parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), err
}

// parseRetryAfter reads seconds or an HTTP date; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// FromURLs returns the notifiers that are configured: Slack and the generic webhook, each only
// when its URL is set.
func FromURLs(slackURL, webhookURL string, opts Options) []*Notifier {
	var ns []*Notifier
	if slackURL != "" {
		ns = append(ns, NewSlack(slackURL, opts))
	}
	if webhookURL != "" {
		ns = append(ns, NewWebhook(webhookURL, opts))
	}
	return ns
}

// SendAll sends m through every notifier and reports each outcome.
func SendAll(ctx context.Context, ns []*Notifier, m Message) []Result {
	results := make([]Result, 0, len(ns))
	for _, n := range ns {
		results = append(results, n.Send(ctx, m))
	}
	return results
}

// TestTimeout bounds SendTest as a whole.
const TestTimeout = 15 * time.Second

// SendTest sends m once through every notifier at the same time, and gives up on all of them
// after TestTimeout: someone is waiting for the answer (at a terminal, or an HTTP request with
// a write timeout), and a test that needs retries has found what it was looking for.
func SendTest(ctx context.Context, ns []*Notifier, m Message) []Result {
	ctx, cancel := context.WithTimeout(ctx, TestTimeout)
	defer cancel()
	results := make([]Result, len(ns))
	var wg sync.WaitGroup
	for i, n := range ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = n.send(ctx, m, 1)
		}()
	}
	wg.Wait()
	return results
}
