package database_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/database"
	"github.com/infradash/infradash/dbtest"
)

// migrate status is a table a person reads down: each column starts at the same place on every
// row, however long a migration's name, applied or pending.
func TestStatusColumnsAlign(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	m, err := database.NewMigrator(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
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
