package database_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// migrate status is a table a person reads down: each column starts at the same place on every
// row, however long a migration's name, applied or pending.
func TestStatusColumnsAlign(t *testing.T) {
	ctx := context.Background()
	_, m := migrator(t)
	if _, err := m.Down(ctx); err != nil { // the latest is pending again
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Status(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")[1:] // after "current version"
	header := lines[0]
	stateCol := strings.Index(header, "state")
	if stateCol < 0 || len(lines) < 3 {
		t.Fatalf("status:\n%s", buf.String())
	}
	states := map[string]int{}
	for _, l := range lines[1:] {
		state, _, _ := strings.Cut(l[min(stateCol, len(l)):], " ")
		if state != "applied" && state != "pending" {
			t.Errorf("state column of %q starts at byte %d of the header, but the row has %q there:\n%s", l, stateCol, state, buf.String())
		}
		states[state]++
	}
	if states["applied"] == 0 || states["pending"] != 1 {
		t.Errorf("states %v, want every migration applied but the last:\n%s", states, buf.String())
	}
}
