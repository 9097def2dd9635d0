package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/views"
)

// showHostsPage is GET /settings/hosts.
func (s *Server) showHostsPage(c echo.Context) error {
	return s.renderHostsPage(c, http.StatusOK, views.Form{}, nil)
}

func (s *Server) renderHostsPage(c echo.Context, status int, f views.Form, secret *views.Secret) error {
	frame, err := s.settings(c, "hosts", "Hosts")
	if err != nil {
		return err
	}
	hosts := s.fleet.Hosts()
	rows := make([]views.EnrolledHost, 0, len(hosts))
	for _, h := range hosts {
		r := views.EnrolledHost{Name: h.Name, Labels: h.Labels.String(), Status: h.Status, AgentVersion: h.AgentVersion,
			CreatedAt: h.CreatedAt, Local: h.Local}
		if !h.LastSeen.IsZero() {
			t := h.LastSeen
			r.LastSeen = &t
		}
		rows = append(rows, r)
	}
	return s.render(c, status, views.Hosts(views.HostsPage{Settings: frame, Hosts: rows, Form: f, Secret: secret}))
}

func (s *Server) hostsPageAgain(c echo.Context) func(int, views.Form) error {
	return func(status int, f views.Form) error { return s.renderHostsPage(c, status, f, nil) }
}

// agentSecret shows a new agent token with the lines that start the agent, as `host add` prints.
func (s *Server) agentSecret(title, token string) *views.Secret {
	var lines strings.Builder
	fleet.WriteStartLines(&lines, s.cfg.BaseURL, token)
	return &views.Secret{Title: title, Label: "Agent token", Value: token, Lines: lines.String(), Back: views.PathSettingsHosts}
}

// enrolHostFromPage is POST /settings/hosts: name and labels (env=prod,role=web).
func (s *Server) enrolHostFromPage(c echo.Context) error {
	f, err := readForm(c, "add", "name", "labels")
	if err != nil {
		return err
	}
	labels, err := fleet.ParseLabels(f.Values["labels"])
	if err != nil {
		return again(f, errBadParam("labels", "%v", err), s.hostsPageAgain(c))
	}
	h, token, err := s.enrol(c, f.Values["name"], labels)
	if err != nil {
		return again(f, err, s.hostsPageAgain(c))
	}
	return s.renderHostsPage(c, http.StatusCreated, views.Form{}, s.agentSecret("Enrolled "+h.Name, token))
}

// rotateHostFromPage is POST /settings/hosts/{name}/rotate.
func (s *Server) rotateHostFromPage(c echo.Context) error {
	h, token, err := s.rotate(c, c.Param("name"))
	if err != nil {
		f := views.NewForm(views.EnrolledHost{Name: c.Param("name")}.FormID())
		return again(f, err, s.hostsPageAgain(c))
	}
	sec := s.agentSecret("New token for "+h.Name, token)
	sec.Notes = "The old token is refused from now on: put this one in /etc/infradash/agent-token on " + h.Name +
		" and restart its agent (systemctl restart infradash-agent). Until then it keeps its samples."
	sec.Lines = ""
	return s.renderHostsPage(c, http.StatusOK, views.Form{}, sec)
}

// relabelHostFromPage is POST /settings/hosts/{name}/labels.
func (s *Server) relabelHostFromPage(c echo.Context) error {
	f, err := readForm(c, views.EnrolledHost{Name: c.Param("name")}.FormID(), "labels")
	if err != nil {
		return err
	}
	labels, err := fleet.ParseLabels(f.Values["labels"])
	if err == nil {
		_, err = s.relabel(c, c.Param("name"), labels)
	} else {
		err = errBadParam("labels", "%v", err)
	}
	if err != nil {
		return again(f, err, s.hostsPageAgain(c))
	}
	return s.done(c, views.PathSettingsHosts, "Saved the labels of "+fleet.NormalizeName(c.Param("name"))+".")
}

// removeHostFromPage is POST /settings/hosts/{name}/remove with history=keep or history=purge:
// the choice is explicit, never a default.
func (s *Server) removeHostFromPage(c echo.Context) error {
	f, err := readForm(c, views.EnrolledHost{Name: c.Param("name")}.FormID(), "history")
	if err != nil {
		return err
	}
	var purge bool
	switch f.Values["history"] {
	case "keep":
	case "purge":
		purge = true
	default:
		return again(f, errBadParam("history", "choose whether to keep the host's history or delete it"), s.hostsPageAgain(c))
	}
	r, err := s.remove(c, c.Param("name"), purge)
	if err != nil {
		return again(f, err, s.hostsPageAgain(c))
	}
	msg := "Removed " + r.Name + ": its token is refused; " + strconv.FormatInt(r.ResolvedAlerts, 10) + " open alerts closed; its history stays."
	if purge {
		var rows int64
		for _, n := range r.Purged {
			rows += n
		}
		msg = "Removed " + r.Name + " and deleted its history (" + strconv.FormatInt(rows, 10) + " rows)."
	}
	return s.done(c, views.PathSettingsHosts, msg)
}
