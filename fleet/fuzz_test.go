package fleet

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzLabels reads labels as `infradash host add --label` takes them, one KEY=VALUE per line,
// and checks them as enrolment, the API and the overview's filter do. A label refused is named
// in the error (its key, or the line as written); labels accepted are what the selector syntax
// (env=prod,role=db) and a table row can carry: printable, without = or , in a value, keys of
// lower-case letters, digits and . _ - /. The seeds are in testdata/fuzz/FuzzLabels.
func FuzzLabels(f *testing.F) {
	f.Fuzz(func(t *testing.T, args string) {
		labels := Labels{}
		for _, arg := range strings.Split(args, "\n") {
			k, v, err := ParseLabel(arg)
			if err != nil {
				if !strings.Contains(err.Error(), fmt.Sprintf("%q", arg)) {
					t.Fatalf("ParseLabel(%q) = %v: the error must quote the label", arg, err)
				}
				return
			}
			if strings.Contains(k, "=") {
				t.Fatalf("ParseLabel(%q) gave the key %q", arg, k)
			}
			labels[k] = v
		}
		err := CheckLabels(labels)
		if err != nil {
			if !errors.Is(err, ErrInvalidLabels) || !strings.Contains(err.Error(), "label") {
				t.Fatalf("CheckLabels(%q) = %v: it must wrap ErrInvalidLabels and name the label", labels, err)
			}
			return
		}
		if len(labels) > maxLabels {
			t.Fatalf("accepted %d labels", len(labels))
		}
		for k, v := range labels {
			if k == "" || len(k) > maxLabelKeyLen || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz0123456789._-/") != "" {
				t.Fatalf("accepted the key %q", k)
			}
			if len(v) > maxLabelValueLen || !utf8.ValidString(v) || strings.ContainsAny(v, "=,") ||
				strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsGraphic(r) }) {
				t.Fatalf("accepted the value %q of %s", v, k)
			}
		}
	})
}
