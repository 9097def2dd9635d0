package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/authtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/sample"
	"github.com/infradash/infradash/store"
)

func TestHostsAPIEnrolsListsRotatesAndRemoves(t *testing.T) {
	a := newTestApp(t, nil)
	admin := authtest.Token(t, a.pool, auth.RoleAdmin)
	viewer := authtest.Token(t, a.pool, auth.RoleViewer)
	enrol := func(body string, status int, code string) enrolledJSON {
		t.Helper()
		rec := serveDocumented(t, a.e, jsonRequest(http.MethodPost, "/api/v1/hosts", body, admin), status, code)
		var out struct{ Data enrolledJSON }
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return out.Data
	}
	web := enrol(`{"name": "Web-1", "labels": {"env": "prod", "role": "web"}}`, http.StatusCreated, "")
	if web.Name != "web-1" || !strings.HasPrefix(web.Token, fleet.TokenPrefix) || web.Labels["env"] != "prod" {
		t.Fatalf("enrolled %+v", web)
	}
	db := enrol(`{"name": "db-1", "labels": {"env": "staging"}}`, http.StatusCreated, "")
	enrol(`{"name": "web-1"}`, http.StatusConflict, "host_exists")
	for body, field := range map[string]string{
		`{"name": "web_1"}`: "name:", `{"name": ""}`: "name:", `{"name": "` + strings.Repeat("a", 64) + `"}`: "name:",
		`{"name": "ok-1", "labels": {"Env": "x"}}`: "labels:", `{"name": "ok-1", "labels": {"env": "a=b"}}`: "labels:",
	} {
		rec := serveDocumented(t, a.e, jsonRequest(http.MethodPost, "/api/v1/hosts", body, admin), http.StatusBadRequest, "invalid_parameter")
		if !strings.Contains(rec.Body.String(), field) {
			t.Errorf("%s: %s, want the error to name %s", body, rec.Body, field)
		}
	}
	serveDocumented(t, a.e, jsonRequest(http.MethodPost, "/api/v1/hosts", `{"name": "x-1"}`, viewer), http.StatusForbidden, "forbidden")

	// web-1 sends a sample; the list shows it up with its numbers, db-1 never seen.
	s := sample.Snapshot{CollectedAt: time.Now().UTC()}
	s.System.CPU.TotalPercent = 42
	s.System.Filesystems = []sample.Filesystem{{Mountpoint: "/", UsedPercent: 30}, {Mountpoint: "/data", UsedPercent: 91}}
	st := store.New(a.pool, store.Options{Observe: a.srv.fleet.Observe})
	if _, err := st.Write(context.Background(), store.Writer{TokenHash: fleet.HashToken(web.Token)},
		sample.Batch{Version: 1, Agent: sample.Agent{Version: "1.2.3"}, Samples: []sample.Snapshot{s}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.fleet.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	list := func(query string) []hostJSON {
		t.Helper()
		rec := serveDocumented(t, a.e, jsonRequest(http.MethodGet, "/api/v1/hosts"+query, "", viewer), http.StatusOK, "")
		var out struct{ Data struct{ Items []hostJSON } }
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return out.Data.Items
	}
	names := func(hs []hostJSON) string {
		var n []string
		for _, h := range hs {
			n = append(n, h.Name)
		}
		return strings.Join(n, ",")
	}
	all := list("")
	if names(all) != "db-1,web-1" {
		t.Fatalf("GET /hosts: %s, want db-1,web-1", names(all))
	}
	w := all[1]
	if w.Status != fleet.StatusUp || w.CPUPercent != 42 || w.DiskPercent != 91 || w.DiskMountpoint != "/data" || w.AgentVersion != "1.2.3" ||
		w.OpenAlerts == nil || *w.OpenAlerts != 0 || all[0].Status != fleet.StatusNeverSeen {
		t.Errorf("rows: %+v", all)
	}
	for query, want := range map[string]string{
		"?label=env=prod": "web-1", "?label=env=prod,role=db": "", "?status=never_seen": "db-1", "?q=WEB": "web-1",
		"?sort=-name": "web-1,db-1", "?sort=cpu": "web-1,db-1", "?sort=disk": "web-1,db-1",
	} {
		if got := names(list(query)); got != want {
			t.Errorf("GET /hosts%s: %q, want %q", query, got, want)
		}
	}
	for query, param := range map[string]string{"?status=sideways": "status", "?sort=color": "sort", "?label=novalue": "label"} {
		rec := serveDocumented(t, a.e, jsonRequest(http.MethodGet, "/api/v1/hosts"+query, "", viewer), http.StatusBadRequest, "invalid_parameter")
		if !strings.Contains(rec.Body.String(), param+":") {
			t.Errorf("%s: %s", query, rec.Body)
		}
	}
	serveDocumented(t, a.e, jsonRequest(http.MethodGet, "/api/v1/hosts/web-1", "", viewer), http.StatusOK, "")
	serveDocumented(t, a.e, jsonRequest(http.MethodGet, "/api/v1/hosts/nope", "", viewer), http.StatusNotFound, "host_not_found")

	rotated := serveDocumented(t, a.e, jsonRequest(http.MethodPost, "/api/v1/hosts/web-1/token", "", admin), http.StatusOK, "")
	if strings.Contains(rotated.Body.String(), web.Token) {
		t.Error("rotation answered the old token")
	}
	if _, err := st.Write(context.Background(), store.Writer{TokenHash: fleet.HashToken(web.Token)}, sample.Batch{Version: 1, Samples: []sample.Snapshot{s}}, time.Now()); err == nil {
		t.Error("the rotated token still writes")
	}
	serveDocumented(t, a.e, jsonRequest(http.MethodDelete, "/api/v1/hosts/db-1", "", viewer), http.StatusForbidden, "forbidden")
	serveDocumented(t, a.e, jsonRequest(http.MethodDelete, "/api/v1/hosts/db-1?purge=true", "", admin), http.StatusOK, "")
	serveDocumented(t, a.e, jsonRequest(http.MethodDelete, "/api/v1/hosts/db-1", "", admin), http.StatusNotFound, "host_not_found")
	if got := names(list("")); got != "web-1" {
		t.Errorf("after removing db-1: %s", got)
	}
	_ = db
}
