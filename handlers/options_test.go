package handlers

import "github.com/infradash/infradash/config"

// optionsFrom takes the handlers' settings out of a configuration, as main does, so tests can
// state them as environment variables.
func optionsFrom(cfg config.Config) Options {
	return Options{
		Production: cfg.Production(), BaseURL: cfg.BaseURL, CollectInterval: cfg.CollectInterval,
		CORSOrigins: cfg.CORSOrigins, TrustedProxies: cfg.TrustedProxies, SessionLifetime: cfg.SessionLifetime,
		SecretKey: cfg.SecretKey, SecretGenerated: cfg.SecretGenerated, AlertHysteresis: cfg.AlertHysteresis,
		BuiltinChannels: BuiltinChannelsOf(cfg.SlackWebhookURL, cfg.AlertWebhookURL), MetricsToken: cfg.MetricsToken, HostDownAfter: cfg.HostDownAfter,
		RetentionDays: cfg.RetentionDays, LoginMaxFailures: cfg.LoginMaxFailures, LoginLockout: cfg.LoginLockout,
	}
}
