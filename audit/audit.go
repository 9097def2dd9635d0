// Package audit keeps the audit log: who changed what, when, from where (PRODUCT.md section 16).
// The settings pages, the API and the commands record an entry with Record, in the transaction of
// the change it describes, so a change is never stored without its entry. Every entry goes
// through Mask first: a password or a token never reaches the log, only their names and ids.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/infradash/infradash/auth"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/queries"
)

// How a change was made (the via column).
const (
	ViaPage = "page" // the settings pages or the login form
	ViaAPI  = "api"  // the JSON API
	ViaCLI  = "cli"  // a command run with the database's credentials
)

// Actors that are not users.
const (
	ActorCLI       = "cli"
	ActorAnonymous = "anonymous" // nobody proved who they are (a failed login)
)

// Actions. Each is resource.verb; a filter on the resource ("user") matches all of its verbs.
const (
	UserCreate   = "user.create"
	UserRole     = "user.role"
	UserDisable  = "user.disable"
	UserEnable   = "user.enable"
	UserPassword = "user.password"
	Login        = "login"
	LoginLocked  = "login.locked"

	TokenCreate     = "token.create"
	TokenRevoke     = "token.revoke"
	TokenNewAddress = "token.new_address"

	HostEnrol  = "host.enrol"
	HostRotate = "host.rotate"
	HostLabels = "host.labels"
	HostRemove = "host.remove"

	RuleCreate = "rule.create"
	RuleUpdate = "rule.update"
	RuleDelete = "rule.delete"

	ChannelCreate = "channel.create"
	ChannelUpdate = "channel.update"
	ChannelDelete = "channel.delete"
	ChannelTest   = "channel.test"

	SilenceCreate = "silence.create"
	SilenceDelete = "silence.delete"
)

// Actions are every action, in the order the audit page offers them as a filter. A new kind of
// change adds its constant above and here.
var Actions = []string{
	UserCreate, UserRole, UserDisable, UserEnable, UserPassword, Login, LoginLocked,
	TokenCreate, TokenRevoke, TokenNewAddress,
	HostEnrol, HostRotate, HostLabels, HostRemove,
	RuleCreate, RuleUpdate, RuleDelete,
	ChannelCreate, ChannelUpdate, ChannelDelete, ChannelTest,
	SilenceCreate, SilenceDelete,
}

// Targets: what an entry is about, as kind:name.
func UserTarget(email string) string { return "user:" + email }
func TokenTarget(id int64) string    { return fmt.Sprintf("token:%d", id) }
func HostTarget(name string) string  { return "host:" + name }
func RuleTarget(id int64) string     { return fmt.Sprintf("rule:%d", id) }
func ChannelTarget(id int64) string  { return fmt.Sprintf("channel:%d", id) }
func SilenceTarget(id int64) string  { return fmt.Sprintf("silence:%d", id) }

// Actor is who made a change, how and from where.
type Actor struct {
	// Name is the user's email, ActorCLI or ActorAnonymous.
	Name string `json:"name"`
	// UserID is the acting user's id; 0 for none.
	UserID int64  `json:"user_id,omitempty"`
	Via    string `json:"via"`
	// OSUser is the operating-system user who ran a command.
	OSUser string `json:"os_user,omitempty"`
	// Address is the client's address, or for a command the machine it ran on.
	Address string `json:"address"`
}

// Entry is one line of the audit log.
type Entry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  Actor     `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	// Details say how it changed: Change(before, after) and any other facts. Masked when recorded.
	Details map[string]any `json:"details"`
}

// Record writes an entry at its At (now when zero), through db: the transaction of the change it
// records (or a pool, for what is not a change of stored state, like a login). Its details are
// masked first, whatever the caller passed.
func Record(ctx context.Context, db queries.DBTX, e Entry) (int64, error) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if e.Actor.Name == "" || e.Action == "" {
		return 0, fmt.Errorf("audit: an entry needs an actor and an action (%q, %q)", e.Actor.Name, e.Action)
	}
	details := []byte("{}")
	if len(e.Details) > 0 {
		b, err := json.Marshal(Mask(e.Details))
		if err != nil {
			return 0, fmt.Errorf("audit: encode the details of %s: %w", e.Action, err)
		}
		details = b
	}
	uid := pgtype.Int8{Int64: e.Actor.UserID, Valid: e.Actor.UserID != 0}
	id, err := queries.New(db).InsertAuditEntry(ctx, queries.InsertAuditEntryParams{
		At: e.At.UTC(), Actor: e.Actor.Name, ActorUserID: uid, Via: e.Actor.Via, OsUser: e.Actor.OSUser,
		Address: e.Actor.Address, Action: e.Action, Target: e.Target, Details: details,
	})
	if err != nil {
		return 0, fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return id, nil
}

// Change is the details of a change from before to after (structs or maps, as their JSON): only
// the fields that differ, each side masked when recorded.
func Change(before, after any) map[string]any {
	b, a := asMap(before), asMap(after)
	outB, outA := map[string]any{}, map[string]any{}
	for k, v := range b {
		if w, ok := a[k]; !ok || !reflect.DeepEqual(v, w) {
			outB[k] = v
		}
	}
	for k, w := range a {
		if v, ok := b[k]; !ok || !reflect.DeepEqual(v, w) {
			outA[k] = w
		}
	}
	return map[string]any{"before": outB, "after": outA}
}

func asMap(v any) map[string]any {
	if v == nil {
		return map[string]any{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]any{"error": "not representable: " + err.Error()}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]any{"value": string(b)}
	}
	return m
}

// Masked replaces a secret in the log.
const Masked = "[masked]"

// infradashToken is a credential infradash makes (auth.TokenPrefix, fleet.TokenPrefix): it is
// masked wherever it appears, also inside a text.
var infradashToken = regexp.MustCompile(`\bid[th]_[A-Za-z0-9_-]+`)

// Mask returns v (as its JSON) with every secret replaced: the value of any key that names a
// password, token, secret or key; any URL's credentials, path and query (channel URLs carry their
// secrets there: Slack's webhook path, a bot token); any string that looks like an infradash
// token. It is the one place that decides what a secret is: the log, the pages and the API all
// show what it leaves.
func Mask(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return Masked
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return Masked
	}
	return mask("", x)
}

func mask(key string, v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, w := range t {
			t[k] = mask(k, w)
		}
		return t
	case []any:
		for i, w := range t {
			t[i] = mask(key, w)
		}
		return t
	case string:
		switch {
		case t == "":
			return t
		case secretKey(key):
			return Masked
		case urlKey(key) || strings.Contains(t, "://"):
			return MaskURL(t)
		}
		return infradashToken.ReplaceAllString(t, Masked)
	default:
		if secretKey(key) && v != nil {
			return Masked
		}
		return v
	}
}

// secretKey: password, new_password, token, agent_token, secret, client_secret, api_key,
// token_hash... but not token_id or token_name, which say which token without being it.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"password", "token", "secret", "key", "hash", "passphrase", "credential"} {
		if k == s || strings.HasSuffix(k, "_"+s) {
			return true
		}
	}
	return false
}

func urlKey(k string) bool {
	k = strings.ToLower(k)
	return k == "url" || strings.HasSuffix(k, "_url")
}

// MaskURL keeps what tells a URL apart (scheme and host) and masks what may be a secret: the
// user and password, the path, the query and the fragment. A value that is not a URL is masked
// whole.
func MaskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return Masked
	}
	out := u.Scheme + "://"
	if u.User != nil {
		out += Masked + "@"
	}
	out += u.Host
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") {
		out += "/" + Masked
	}
	if u.RawQuery != "" || u.ForceQuery {
		out += "?" + Masked
	}
	return out
}

// Filter selects entries: each field that is set must match. Action and Target match themselves
// and what they are the prefix of up to the separator ("user" matches user.create; "host" matches
// host:web-1). From is inclusive, To exclusive.
type Filter struct {
	Actor, Action, Target string
	From, To              *time.Time
	Limit, Offset         int32
}

// List returns the entries the filter selects, newest first, one page of them, and how many
// there are in all.
func List(ctx context.Context, db queries.DBTX, f Filter) ([]Entry, int64, error) {
	q := queries.New(db)
	total, err := q.CountAuditEntries(ctx, queries.CountAuditEntriesParams{
		Actor: f.Actor, Action: f.Action, Target: f.Target, FromAt: f.From, ToAt: f.To})
	if err != nil {
		return nil, 0, fmt.Errorf("audit: count: %w", err)
	}
	rows, err := q.ListAuditEntries(ctx, queries.ListAuditEntriesParams{
		Actor: f.Actor, Action: f.Action, Target: f.Target, FromAt: f.From, ToAt: f.To,
		RowLimit: f.Limit, RowOffset: f.Offset})
	if err != nil {
		return nil, 0, fmt.Errorf("audit: list: %w", err)
	}
	out := make([]Entry, 0, len(rows))
	for _, r := range rows {
		e := Entry{ID: r.ID, At: r.At.UTC(), Action: r.Action, Target: r.Target, Details: map[string]any{},
			Actor: Actor{Name: r.Actor, Via: r.Via, OSUser: r.OsUser, Address: r.Address}}
		if r.ActorUserID.Valid {
			e.Actor.UserID = r.ActorUserID.Int64
		}
		_ = json.Unmarshal(r.Details, &e.Details) // the column's CHECK keeps it an object
		out = append(out, e)
	}
	return out, total, nil
}

// The entries of each kind of change, shared by the pages, the API and the commands. Their actor
// and time are the caller's to fill in.

// UserCreated is a new account (never its password; whether one was generated).
func UserCreated(u auth.User, generatedPassword bool) Entry {
	return Entry{Action: UserCreate, Target: UserTarget(u.Email),
		Details: map[string]any{"after": map[string]any{"email": u.Email, "role": u.Role}, "password_generated": generatedPassword}}
}

// UserChanges are the entries of one auth.Store.UpdateUser: one per thing that changed (role,
// disabled or enabled, password), so each can be filtered on.
func UserChanges(up auth.UserUpdate, passwordChanged bool) []Entry {
	target := UserTarget(up.After.Email)
	var out []Entry
	if up.Before.Role != up.After.Role {
		out = append(out, Entry{Action: UserRole, Target: target,
			Details: Change(map[string]any{"role": up.Before.Role}, map[string]any{"role": up.After.Role})})
	}
	was, is := up.Before.DisabledAt != nil, up.After.DisabledAt != nil
	revoked := map[string]any{"revoked_tokens": up.RevokedTokens}
	switch {
	case is && !was:
		out = append(out, Entry{Action: UserDisable, Target: target, Details: revoked})
	case was && !is:
		out = append(out, Entry{Action: UserEnable, Target: target})
	}
	if passwordChanged {
		out = append(out, Entry{Action: UserPassword, Target: target, Details: revoked})
	}
	return out
}

// TokenCreated is a new API token: its id, name, owner and expiry, never the token.
func TokenCreated(t auth.Token, owner string) Entry {
	return Entry{Action: TokenCreate, Target: TokenTarget(t.ID),
		Details: map[string]any{"name": t.Name, "user": owner, "expires_at": t.ExpiresAt.UTC().Truncate(time.Second)}}
}

// TokenRevoked is a token revoked.
func TokenRevoked(t auth.Token) Entry {
	return Entry{Action: TokenRevoke, Target: TokenTarget(t.ID), Details: map[string]any{"name": t.Name, "user": t.UserEmail}}
}

// HostEnrolled is a host enrolled (its token is never logged).
func HostEnrolled(h fleet.Enrolled) Entry {
	return Entry{Action: HostEnrol, Target: HostTarget(h.Name), Details: map[string]any{"after": map[string]any{"labels": h.Labels}}}
}

// HostRotated is a host given a new token: the old one is refused from then on.
func HostRotated(h fleet.Enrolled) Entry {
	return Entry{Action: HostRotate, Target: HostTarget(h.Name)}
}

// HostLabelsChanged is a host's labels replaced.
func HostLabelsChanged(before, after fleet.Enrolled) Entry {
	return Entry{Action: HostLabels, Target: HostTarget(after.Name),
		Details: map[string]any{"before": map[string]any{"labels": before.Labels}, "after": map[string]any{"labels": after.Labels}}}
}

// HostRemoved is a host removed, with what went with it.
func HostRemoved(r fleet.Removed) Entry {
	d := map[string]any{"purge": r.Purged != nil, "resolved_alerts": r.ResolvedAlerts}
	if r.Purged != nil {
		d["purged_rows"] = r.Purged
	}
	return Entry{Action: HostRemove, Target: HostTarget(r.Name), Details: d}
}
