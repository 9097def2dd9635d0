package fleet_test

import (
	"context"
	"testing"

	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/fleet"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestAddOrRotateEnrolsOnceAndThenGivesANewToken(t *testing.T) {
	ctx := context.Background()
	reg := fleet.NewRegistry(dbtest.Pool(t), nil)
	first, err := reg.AddOrRotate(ctx, "web-1", fleet.Labels{"env": "prod"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := reg.AddOrRotate(ctx, "web-1", fleet.Labels{"env": "dev"})
	if err != nil {
		t.Fatalf("a second enrolment of the same host: %v, want a new token", err)
	}
	if first == second || first == "" || second == "" {
		t.Errorf("tokens %q then %q: want two different ones", first, second)
	}
	hosts, err := reg.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 1 || hosts[0].Labels["env"] != "prod" {
		t.Errorf("hosts after two enrolments: %+v, want web-1 once with its first labels", hosts)
	}
}
