package control_test

import (
	"context"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
	"github.com/micro/platform/runtime/fake"
)

// quotaPlans is a catalog whose default plan has small quotas and a spend limit of
// 1.00 USD, charging 10 cents a request beyond none included.
func quotaPlans(t *testing.T) *billing.Plans {
	t.Helper()
	ps, err := billing.ParsePlans([]byte(`
default: small
catalog:
  - name: small
    currency: usd
    prices:
      requests: {unit_amount: 10}
    quotas: {namespaces: 2, instances: 3, build_minutes: 1, requests_per_second: 7, spend_limit: 100}
  - name: large
    currency: usd
`))
	if err != nil {
		t.Fatal(err)
	}
	return &ps
}

// commitUsage adds events to the default organisation's rollups, as the folder would.
func commitUsage(t *testing.T, h *harness, stream string, events ...*platform.UsageEvent) {
	t.Helper()
	for i, e := range events {
		e.Org, e.Time = platform.DefaultOrg, time.Now().UTC()
		if e.ID == "" {
			e.ID = stream + "/" + string(rune('a'+i))
		}
	}
	if _, err := h.store.CommitUsage(context.Background(), &platform.UsageCommit{Stream: stream, From: 0, To: 1, Events: events}); err != nil {
		t.Fatal(err)
	}
}

func wantQuota(t *testing.T, err error, says string) {
	t.Helper()
	if platform.ErrorCode(err) != platform.EQUOTA || !strings.Contains(platform.ErrorMessage(err), says) || platform.ErrorHint(err) == "" {
		t.Fatalf("got %v, want quota_exceeded saying %q with a hint", err, says)
	}
}

// TestQuotas: with billing on, the organisation's plan bounds its namespaces,
// instances, build minutes and spend at the entry points; each refusal is
// quota_exceeded and changes nothing; the gateway's rate limit reads the plan.
func TestQuotas(t *testing.T) {
	t.Parallel()
	h := openHarness(t, t.TempDir(), fake.NewHost(), harnessOptions{rollout: 5 * time.Second, plans: quotaPlans(t)})
	h.start()
	ctx := h.admin

	for _, ns := range []string{"acme", "globex"} {
		if _, err := h.plane.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	_, err := h.plane.CreateNamespace(ctx, "initech")
	wantQuota(t, err, "quota namespaces exceeded: plan small allows 2 namespaces")
	if _, err := h.store.GetNamespace(context.Background(), "initech"); !platform.IsNotFound(err) {
		t.Fatalf("a refused namespace was created: %v", err)
	}

	h.upload("acme", digest("a1b2c3d4"))
	deploy := func(svc string, replicas int) (*platform.Release, error) {
		return h.plane.Deploy(ctx, platform.DeployRequest{Namespace: "acme", Service: svc, Replicas: replicas,
			Source: platform.Source{Kind: platform.SourceArchive, Archive: digest("a1b2c3d4")}})
	}
	if _, err := deploy("api", 2); err != nil {
		t.Fatal(err)
	}
	_, err = deploy("web", 2)
	wantQuota(t, err, "quota instances exceeded: plan small allows 3 instances; 2 in use and 2 more would make 4")
	if _, err := h.store.GetService(context.Background(), "acme", "web"); !platform.IsNotFound(err) {
		t.Fatalf("a refused deploy created its service: %v", err)
	}
	if _, err := deploy("api", 3); err != nil { // a redeploy replaces its own instances
		t.Fatalf("scaling api to 3: %v", err)
	}

	if got := h.plane.RequestsPerSecond(""); got != 7 {
		t.Fatalf("RequestsPerSecond = %d, want the plan's 7", got)
	}

	// The period's build minutes used up: deploys that build are refused.
	commitUsage(t, h, "builds", &platform.UsageEvent{Namespace: "acme", Service: "api", Meter: platform.MeterBuildSeconds, Quantity: 61})
	_, err = deploy("api", 1)
	wantQuota(t, err, "quota build_minutes exceeded")

	// Spend: 10 requests at 10 cents reach the 1.00 USD limit.
	h2 := openHarness(t, t.TempDir(), fake.NewHost(), harnessOptions{rollout: 5 * time.Second, plans: quotaPlans(t)})
	h2.start()
	if _, err := h2.plane.CreateNamespace(h2.admin, "acme"); err != nil {
		t.Fatal(err)
	}
	h2.upload("acme", digest("a1b2c3d4"))
	commitUsage(t, h2, "gw", &platform.UsageEvent{Namespace: "acme", Service: "api", Meter: platform.MeterRequests, Quantity: 10})
	_, err = h2.plane.Deploy(h2.admin, platform.DeployRequest{Namespace: "acme", Service: "api",
		Source: platform.Source{Kind: platform.SourceArchive, Archive: digest("a1b2c3d4")}})
	wantQuota(t, err, "spend limit reached")
}
