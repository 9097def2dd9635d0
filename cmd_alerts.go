package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/alerts"
	"github.com/infradash/infradash/config"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/units"
)

var alertsCommand = command{
	summary: "Evaluate the alert rules once and send what is due (the scheduled alerts job), or send a test notification.",
	usage:   "[--slack-webhook URL] [--dry-run] [--test]",
	run:     alertsRun,
}

func alertsRun(ctx context.Context, env *environment, args []string) error {
	fs := flags(env, "alerts")
	slackURL := fs.String("slack-webhook", "", "Slack incoming webhook to notify (default SLACK_WEBHOOK_URL)")
	dryRun := fs.Bool("dry-run", false, "decide and print; store and send nothing")
	test := fs.Bool("test", false, "send a test notification through each configured notifier and report")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	if *slackURL != "" {
		if u, err := url.Parse(*slackURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return exitError{code: 2, err: errors.New("--slack-webhook must be an absolute http(s) URL")}
		}
	}
	// The flag wins over SLACK_WEBHOOK_URL.
	notifiersFor := func(cfg config.Config) []*notify.Notifier {
		if *slackURL != "" {
			cfg.SlackWebhookURL = *slackURL
		}
		return notify.FromURLs(cfg.SlackWebhookURL, cfg.AlertWebhookURL, notify.Options{})
	}
	if *test {
		cfg, err := loadConfig(env)
		if err != nil {
			return err
		}
		return sendTest(ctx, env, cfg.BaseURL, notifiersFor(cfg))
	}
	return withDatabase(ctx, env, func(cfg config.Config, log *slog.Logger, pool *pgxpool.Pool) error {
		resolver, err := newResolver(ctx, cfg, pool, log)
		if err != nil {
			return err
		}
		ev := alerts.New(alerts.Deps{DB: pool, Rules: alerts.RulesFrom(cfg), Resolver: resolver, Notifiers: notifiersFor(cfg),
			Channels: newChannelStore(ctx, cfg, pool, log).Load, BaseURL: cfg.BaseURL, Logger: log})
		rep, err := ev.Run(ctx, *dryRun)
		for _, c := range rep.Changes {
			if c.Action == alerts.Update {
				continue
			}
			what := c.Metric
			if c.Subject != "" {
				what += " " + c.Subject
			}
			fmt.Fprintf(env.stdout, "%-8s %s %s: %s (%s, threshold %s)\n", c.Action, c.Host, what,
				units.Format(c.Value, notify.MetricUnit(c.Metric)), c.Severity, units.Format(c.Threshold, notify.MetricUnit(c.Metric)))
		}
		for _, e := range rep.Errors {
			fmt.Fprintf(env.stdout, "delivery failed (kept for the next run): %s\n", e)
		}
		if err != nil {
			return err
		}
		prefix := "alerts: "
		if *dryRun {
			prefix = "alerts (dry run, nothing stored or sent): "
		}
		fmt.Fprintln(env.stdout, prefix+rep.String())
		return nil
	})
}

// sendTest sends a test notification through each notifier and reports how each went.
func sendTest(ctx context.Context, env *environment, baseURL string, notifiers []*notify.Notifier) error {
	if len(notifiers) == 0 {
		return errors.New("no notifier is configured: set SLACK_WEBHOOK_URL or ALERT_WEBHOOK_URL, or pass --slack-webhook")
	}
	failed := 0
	for _, r := range alerts.SendTest(ctx, notifiers, baseURL, time.Now()) {
		if r.Err != nil {
			failed++
			fmt.Fprintf(env.stdout, "%-8s failed after %d attempts: %v\n", r.Notifier, r.Attempts, r.Err)
			continue
		}
		fmt.Fprintf(env.stdout, "%-8s delivered (%d attempts)\n", r.Notifier, r.Attempts)
	}
	if failed > 0 {
		return exitError{code: 1, err: fmt.Errorf("%d of %d notifiers failed", failed, len(notifiers))}
	}
	return nil
}
