package audit_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/infradash/infradash/audit"
)

func TestMaskHidesEverySecretAndKeepsWhatNamesThings(t *testing.T) {
	in := map[string]any{
		"name": "ci-deploy", "token_id": 12, "token": "idt_abc", "password": "hunter2 hunter2", "new_password": "x",
		"agent_token": "idh_xyz", "client_secret": "s3cr3t", "api_key": "k", "token_hash": "deadbeef",
		"note":    "sent idt_live_token by mistake",
		"url":     "https://hooks.slack.com/services/T000/B000/XXXX",
		"webhook": "https://user:pw@example.com/hook?key=1",
		"labels":  map[string]any{"env": "prod"},
		"channels": []any{
			map[string]any{"url": "discord://token@webhookid"},
			map[string]any{"url": "smtp://user:pass@mail.example.com:587/?to=ops@example.com"},
		},
		"count": 3, "enabled": true,
	}
	out, _ := json.Marshal(audit.Mask(in))
	got := string(out)
	for _, secret := range []string{"idt_abc", "hunter2", "idh_xyz", "s3cr3t", "deadbeef", "idt_live_token", "T000", "XXXX",
		"user:pw", "key=1", "user:pass", "ops@example.com"} {
		if strings.Contains(got, secret) {
			t.Errorf("masked details still hold %q: %s", secret, got)
		}
	}
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	for k, want := range map[string]any{"name": "ci-deploy", "token_id": 12.0, "count": 3.0, "enabled": true,
		"url": "https://hooks.slack.com/" + audit.Masked, "webhook": "https://" + audit.Masked + "@example.com/" + audit.Masked + "?" + audit.Masked} {
		if m[k] != want {
			t.Errorf("%s: %v, want %v", k, m[k], want)
		}
	}
	if m["labels"].(map[string]any)["env"] != "prod" {
		t.Errorf("labels lost: %v", m["labels"])
	}
	// A shoutrrr URL keeps its host (for Discord, the webhook's id: which channel) and loses its credentials.
	if u := m["channels"].([]any)[0].(map[string]any)["url"]; u != "discord://"+audit.Masked+"@webhookid" {
		t.Errorf("discord URL masked as %v", u)
	}
	if m["note"] != "sent "+audit.Masked+" by mistake" {
		t.Errorf("a token inside a text: %v", m["note"])
	}
	if audit.MaskURL("not a url") != audit.Masked {
		t.Errorf("a value that is not a URL: %q", audit.MaskURL("not a url"))
	}
}

func TestChangeKeepsOnlyWhatDiffers(t *testing.T) {
	type host struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
		Note   string            `json:"note,omitempty"`
	}
	d := audit.Change(host{Name: "web-1", Labels: map[string]string{"env": "prod"}}, host{Name: "web-1", Labels: map[string]string{"env": "staging"}, Note: "moved"})
	b, _ := json.Marshal(d)
	if string(b) != `{"after":{"labels":{"env":"staging"},"note":"moved"},"before":{"labels":{"env":"prod"}}}` {
		t.Errorf("change: %s", b)
	}
}
