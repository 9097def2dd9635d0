package handlers

import (
	"testing"
	"time"

	"github.com/infradash/infradash/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// waitFor polls cond until it holds, or fails the test naming what never happened. The deadline
// only keeps a broken test from hanging until the test binary's timeout; it is not a speed
// requirement.
func waitFor(t *testing.T, what string, deadline time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("waited %s for %s", deadline, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
