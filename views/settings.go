package views

import (
	"strconv"
	"strings"
	"time"
)

// Paths of the settings section (admins only); the handlers register the same ones.
const (
	PathSettings         = "/settings"
	PathSettingsUsers    = "/settings/users"
	PathSettingsTokens   = "/settings/tokens"
	PathSettingsHosts    = "/settings/hosts"
	PathSettingsAlerts   = "/settings/alerts"
	PathSettingsChannels = "/settings/channels"
	PathSettingsSilences = "/settings/silences"
	PathSettingsAudit    = "/settings/audit"
)

// SettingsSection is one page of /settings as its navigation links it.
type SettingsSection struct {
	ID    string
	Title string
	Path  string
}

// SettingsSections are the pages of /settings, in the order the navigation shows them. A new
// settings page is one line here, one route and one templ component built on SettingsLayout.
var SettingsSections = []SettingsSection{
	{ID: "users", Title: "Users", Path: PathSettingsUsers},
	{ID: "tokens", Title: "API tokens", Path: PathSettingsTokens},
	{ID: "hosts", Title: "Hosts", Path: PathSettingsHosts},
	{ID: "alerts", Title: "Alert rules", Path: PathSettingsAlerts},
	{ID: "channels", Title: "Channels", Path: PathSettingsChannels},
	{ID: "silences", Title: "Silences", Path: PathSettingsSilences},
	{ID: "audit", Title: "Audit log", Path: PathSettingsAudit},
}

// Settings is what every settings page shows around its content.
type Settings struct {
	Page
	// Section is the SettingsSection.ID of the page.
	Section string
	// Flash says what the last form did, once, after its redirect.
	Flash string
}

// Form is a submitted form shown again: what was typed, and what is wrong with each field, so
// the page can say it beside the field. Every settings form is shown through one.
type Form struct {
	// ID tells the forms of a page apart ("add", "user-7"): only the submitted one shows the
	// values and errors.
	ID     string
	Values map[string]string
	// Errors maps a field's name to what is wrong with it.
	Errors map[string]string
	// Error is what is wrong with the form as a whole (no single field to blame).
	Error string
}

// NewForm is an empty form with the given ID, to be filled in by a handler.
func NewForm(id string) Form {
	return Form{ID: id, Values: map[string]string{}, Errors: map[string]string{}}
}

// Value is what was typed in a field of form id, or def when that form was not submitted.
func (f Form) Value(id, name, def string) string {
	if f.ID != id {
		return def
	}
	if v, ok := f.Values[name]; ok {
		return v
	}
	return def
}

// FieldError is what is wrong with a field of form id, if that form was submitted.
func (f Form) FieldError(id, name string) string {
	if f.ID != id {
		return ""
	}
	return f.Errors[name]
}

// FormError is what is wrong with form id as a whole, if it was submitted.
func (f Form) FormError(id string) string {
	if f.ID != id {
		return ""
	}
	return f.Error
}

// Field is one labelled input of a settings form.
type Field struct {
	Form  string // the Form.ID it belongs to
	Name  string
	Label string
	Type  string // "text", "email", "password", "number", "datetime-local", "search"
	Hint  string
	// Value is shown when the form was not just submitted.
	Value       string
	Required    bool
	Placeholder string
	// Autocomplete is the autocomplete attribute ("off", "new-password", "username"...).
	Autocomplete string
	// HideLabel keeps the label for screen readers only (a field in a table row, whose column
	// header says what it is).
	HideLabel bool
}

func (fl Field) labelClass() string {
	if fl.HideLabel {
		return "visually-hidden"
	}
	return ""
}

func (fl Field) id() string { return fl.Form + "-" + fl.Name }

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// Secret is a credential shown once, right after it was made, with what to do with it.
type Secret struct {
	Title string // e.g. "Token for ci-deploy"
	Label string // what the value is, e.g. "API token"
	Value string
	// Notes say what to do with it; Lines are commands to copy (the agent's start lines).
	Notes string
	Lines string
	// Back is where to go once it is copied.
	Back string
}

// Pager is the position of a paged list.
type Pager struct {
	Total, Limit, Offset int64
	// Link builds the URL of the page at an offset, keeping the filters.
	Link func(offset int64) string
}

// Newer is the URL of the previous page, or "" on the first.
func (p Pager) Newer() string {
	if p.Offset <= 0 || p.Link == nil {
		return ""
	}
	return p.Link(max(p.Offset-p.Limit, 0))
}

// Older is the URL of the next page, or "" on the last.
func (p Pager) Older() string {
	if p.Offset+p.Limit >= p.Total || p.Link == nil {
		return ""
	}
	return p.Link(p.Offset + p.Limit)
}

// Range says which rows are shown, e.g. "51-100 of 240".
func (p Pager) Range() string {
	if p.Total == 0 {
		return "none"
	}
	last := min(p.Offset+p.Limit, p.Total)
	return strconv.FormatInt(p.Offset+1, 10) + "–" + strconv.FormatInt(last, 10) + " of " + strconv.FormatInt(p.Total, 10)
}

// when shows a time to the minute, or "never".
func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return stamp(*t)
}

// datetime is a time as the datetime attribute of <time> wants it.
func datetime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func idPath(base string, id int64, action string) string {
	p := base + "/" + strconv.FormatInt(id, 10)
	if action != "" {
		p += "/" + action
	}
	return p
}

func orText(t string) string {
	if t == "" {
		return "text"
	}
	return t
}

// describedBy links a field to its hint and error, so a screen reader reads them with it.
func describedBy(fl Field, f Form) string {
	var ids []string
	if fl.Hint != "" {
		ids = append(ids, fl.id()+"-hint")
	}
	if f.FieldError(fl.Form, fl.Name) != "" {
		ids = append(ids, fl.id()+"-error")
	}
	return strings.Join(ids, " ")
}
