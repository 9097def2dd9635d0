package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/views"
)

// Routes declares every route of infradash, so the whole surface is visible in one place.
func (s *Server) Routes(e *echo.Echo) {
	e.HTTPErrorHandler = s.HTTPErrorHandler
	e.IPExtractor = clientAddress(s.cfg.TrustedProxies)
	// Every request gets an ID first, so every later line about it carries the ID. The access
	// log sits outside the panic recovery so a panic is logged and counted as the 500 it became.
	e.Use(requestID, s.observe, s.recoverPanics)

	e.Use(s.securityHeaders, limitBody, refuseMalformedText, s.crossOriginProtection())
	if len(s.cfg.CORSOrigins) > 0 {
		e.Use(s.cors())
	}

	// Operational endpoints: no login.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.serveMetrics)
	e.GET("/static/*", echo.WrapHandler(s.assets))
	if !s.cfg.Production {
		e.GET("/api/docs", s.showAPIDocsPage)
	}

	// Logging in: no credentials yet.
	e.GET("/login", s.showLoginPage)
	e.POST("/login", s.submitLogin)
	e.POST("/api/v1/auth/login", s.apiLogin)
	e.GET("/api/v1/openapi.json", s.showOpenAPI)

	// Pages: without a login they redirect to /login.
	e.GET("/", s.showHome, s.requirePageAuth)
	e.POST("/logout", s.logout, s.requirePageAuth)
	pages := e.Group(views.PathObservability, s.requirePageAuth)
	pages.GET("", s.showObservabilityPage)
	pages.GET("/hosts/:name", s.showHostPage)
	pages.GET("/fragments/hosts", s.showHostsFragment)
	pages.GET("/fragments/live", s.showLiveFragment)
	pages.GET("/fragments/charts", s.showChartFragment)
	pages.POST("/alerts/:id/acknowledge", s.acknowledgeAlertFromPage, requireAdmin)
	pages.POST("/alerts/test", s.testAlertFromPage, requireAdmin)
	pages.POST("/alerts/:id/silence", s.silenceAlertFromPage, requireAdmin, s.limitWrites)

	// Settings: admins only; a viewer gets a 403 page (and sees no link to it).
	// Every change there (and in the admin API below) counts against the user's write limit.
	settings := e.Group(views.PathSettings, s.requirePageAuth, requireAdmin)
	write := s.limitWrites
	settings.GET("", s.showSettings)
	settings.GET("/users", s.showUsersPage)
	settings.POST("/users", s.addUserFromPage, write)
	settings.POST("/users/:id", s.updateUserFromPage, write)
	settings.GET("/tokens", s.showTokensPage)
	settings.POST("/tokens", s.createTokenFromPage, write)
	settings.POST("/tokens/:id/revoke", s.revokeTokenFromPage, write)
	settings.GET("/hosts", s.showHostsPage)
	settings.POST("/hosts", s.enrolHostFromPage, write)
	settings.POST("/hosts/:name/rotate", s.rotateHostFromPage, write)
	settings.POST("/hosts/:name/labels", s.relabelHostFromPage, write)
	settings.POST("/hosts/:name/remove", s.removeHostFromPage, write)
	settings.GET("/alerts", s.showRulesPage)
	settings.POST("/alerts", s.createRuleFromPage, write)
	settings.POST("/alerts/:id", s.updateRuleFromPage, write)
	settings.POST("/alerts/:id/delete", s.deleteRuleFromPage, write)
	settings.GET("/channels", s.showChannelsPage)
	settings.POST("/channels", s.createChannelFromPage, write)
	settings.POST("/channels/:id", s.updateChannelFromPage, write)
	settings.POST("/channels/:id/delete", s.deleteChannelFromPage, write)
	settings.POST("/channels/:id/test", s.testChannelFromPage, write)
	settings.GET("/silences", s.showSilencesPage)
	settings.POST("/silences", s.createSilenceFromPage, write)
	settings.POST("/silences/:id/delete", s.deleteSilenceFromPage, write)
	settings.GET("/audit", s.showAuditPage)

	// The JSON API: every route needs credentials. requireAuth goes on each route, not on the
	// group, because a group middleware makes Echo route every unknown method to a catch-all,
	// and a wrong method must answer 405 with Allow (and OPTIONS 204) before any login.
	// Agents send samples with their host's token, which opens nothing else.
	e.POST(PathIngest, s.ingest)

	api := e.Group("/api/v1")
	api.RouteNotFound("/*", s.apiRouteNotFound)
	auth := s.requireAuth
	api.POST("/auth/logout", s.apiLogout, auth)
	api.GET("/auth/me", s.showMe, auth)
	api.GET("/users", s.listUsers, auth, requireAdmin)
	api.POST("/users", s.createUser, auth, requireAdmin, write)
	api.PATCH("/users/:id", s.updateUserFromAPI, auth, requireAdmin, write)
	api.GET("/tokens", s.listTokens, auth, requireAdmin)
	api.POST("/tokens", s.createTokenFromAPI, auth, requireAdmin, write)
	api.DELETE("/tokens/:id", s.revokeTokenFromAPI, auth, requireAdmin, write)
	api.GET("/audit", s.listAudit, auth, requireAdmin)
	api.GET("/alert-rules", s.listRules, auth, requireAdmin)
	api.POST("/alert-rules", s.createRuleFromAPI, auth, requireAdmin, write)
	api.PUT("/alert-rules/:id", s.updateRuleFromAPI, auth, requireAdmin, write)
	api.DELETE("/alert-rules/:id", s.deleteRuleFromAPI, auth, requireAdmin, write)
	api.GET("/notification-channels", s.listChannels, auth, requireAdmin)
	api.POST("/notification-channels", s.createChannelFromAPI, auth, requireAdmin, write)
	api.PUT("/notification-channels/:id", s.updateChannelFromAPI, auth, requireAdmin, write)
	api.DELETE("/notification-channels/:id", s.deleteChannelFromAPI, auth, requireAdmin, write)
	api.POST("/notification-channels/:id/test", s.testChannelFromAPI, auth, requireAdmin, write)
	api.GET("/silences", s.listSilences, auth, requireAdmin)
	api.POST("/silences", s.createSilenceFromAPI, auth, requireAdmin, write)
	api.DELETE("/silences/:id", s.deleteSilenceFromAPI, auth, requireAdmin, write)
	api.GET("/hosts", s.listHosts, auth)
	api.POST("/hosts", s.enrolHost, auth, requireAdmin, write)
	api.GET("/hosts/:name", s.showHost, auth)
	api.PATCH("/hosts/:name", s.updateHost, auth, requireAdmin, write)
	api.DELETE("/hosts/:name", s.removeHost, auth, requireAdmin, write)
	api.POST("/hosts/:name/token", s.rotateHostToken, auth, requireAdmin, write)
	infra := api.Group("/observability/infrastructure")
	infra.GET("/system", s.showSystem, auth)
	infra.GET("/process", s.showProcess, auth)
	infra.GET("/platform", s.showPlatform, auth)
	infra.GET("/summary", s.showSummary, auth)
	infra.GET("/health", s.showHealth, auth)
	infra.GET("/report", s.showReport, auth)
	infra.GET("/history", s.showHistory, auth)
	infra.GET("/alerts", s.listAlerts, auth)
	infra.POST("/alerts/test", s.testAlert, auth, requireAdmin)
	infra.POST("/alerts/:id/acknowledge", s.acknowledgeAlert, auth, requireAdmin)
}
