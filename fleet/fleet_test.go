package fleet_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
	"github.com/infradash/infradash/health"
)

// heldRead is the real database, except that the hosts' list, once read, is handed to the caller
// only when release is closed: a Refresh whose read was made before a change this replica
// commits and shows meanwhile.
type heldRead struct {
	fleet.DB
	read    chan struct{}
	release chan struct{}
}

func (h *heldRead) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := h.DB.Query(ctx, sql, args...)
	if strings.Contains(sql, "-- name: ListHosts") {
		// The rows are the statement's snapshot, taken when it ran, whenever they are read.
		close(h.read)
		<-h.release
	}
	return rows, err
}

func TestRefreshReadBeforeALocalChangeDoesNotUndoIt(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	reg := fleet.NewRegistry(pool, nil)
	if _, _, err := reg.Add(ctx, "old-1", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Add(ctx, "web-1", fleet.Labels{"role": "web"}); err != nil {
		t.Fatal(err)
	}
	db := &heldRead{DB: pool, read: make(chan struct{}), release: make(chan struct{})}
	// Hosts labelled role=db are judged by a lower CPU level, as an alert rule for them would set.
	levels := func(_ string, labels map[string]string) health.Thresholds {
		th := health.DefaultThresholds()
		if labels["role"] == "db" {
			th.CPU.Warning = 10
		}
		return th
	}
	held := fleet.New(fleet.Options{DB: db, Thresholds: levels})

	// held's first Refresh reads old-1 and web-1 and is held there.
	done := make(chan error, 1)
	go func() { done <- held.Refresh(ctx) }()
	<-db.read
	// Meanwhile this replica enrols new-1, relabels web-1 and removes old-1, each committed and
	// then shown, as the handlers do.
	added, _, err := reg.Add(ctx, "new-1", fleet.Labels{"env": "prod"})
	if err != nil {
		t.Fatal(err)
	}
	held.Enrol(added)
	relabelled, err := reg.SetLabels(ctx, "web-1", fleet.Labels{"role": "db"})
	if err != nil {
		t.Fatal(err)
	}
	held.Enrol(relabelled)
	if _, err := reg.Remove(ctx, "old-1", false); err != nil {
		t.Fatal(err)
	}
	held.Forget("old-1")
	close(db.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	check := func(when string) {
		t.Helper()
		if _, ok := held.Host("new-1"); !ok {
			t.Errorf("%s: new-1, enrolled here, is not shown", when)
		}
		if h, ok := held.Host("web-1"); !ok || h.Labels["role"] != "db" || h.Thresholds.CPU.Warning != 10 {
			t.Errorf("%s: web-1 shows labels %v and a CPU warning at %v, want role=db as relabelled and 10",
				when, h.Labels, h.Thresholds.CPU.Warning)
		}
		if _, ok := held.Host("old-1"); ok {
			t.Errorf("%s: old-1, removed here, is shown again", when)
		}
	}
	check("after a refresh read before the changes")
	// The next refresh reads them from the database: the same view.
	db.read, db.release = make(chan struct{}), make(chan struct{})
	close(db.release)
	if err := held.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check("after the next refresh")
}
