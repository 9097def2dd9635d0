package sample

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidHostName is wrapped by every CheckHostName error.
var ErrInvalidHostName = errors.New("invalid host name")

// NormalizeHostName lower-cases a host name: DNS names are case-insensitive, and Web-1 and web-1
// must not become two hosts.
func NormalizeHostName(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// CheckHostName says what is wrong with a host name, or nil: a DNS label or a fully qualified domain
// name (labels of letters, digits and hyphens, 1 to 63 characters, not starting or ending with a
// hyphen, joined by dots; 253 characters at most; a trailing dot is not part of the name).
func CheckHostName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidHostName, name, why) }
	switch {
	case name == "":
		return bad("a host name is required")
	case !utf8.ValidString(name) || strings.IndexByte(name, 0) >= 0:
		return bad("only letters, digits, hyphens and dots are allowed")
	case len(name) > 253:
		return bad(fmt.Sprintf("is %d characters long, at most 253", len(name)))
	}
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return bad("has an empty label (two dots in a row, or a leading or trailing dot)")
		case len(label) > 63:
			return bad(fmt.Sprintf("label %q is longer than 63 characters", label))
		case label[0] == '-' || label[len(label)-1] == '-':
			return bad(fmt.Sprintf("label %q starts or ends with a hyphen", label))
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return bad(fmt.Sprintf("%q is not allowed; use letters, digits, hyphens and dots", r))
			}
		}
	}
	return nil
}
