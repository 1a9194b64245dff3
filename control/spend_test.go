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

// spendPlans is a catalog whose default plan charges 10 cents a request and has a
// spend limit of 1.00 USD; plan large has neither.
func spendPlans(t *testing.T, limit bool) *billing.Plans {
	t.Helper()
	quotas := "{}"
	if limit {
		quotas = "{spend_limit: 100}"
	}
	ps, err := billing.ParsePlans([]byte(`
default: small
catalog:
  - name: small
    currency: usd
    prices:
      requests: {unit_amount: 10}
    quotas: ` + quotas + `
  - name: large
    currency: usd
`))
	if err != nil {
		t.Fatal(err)
	}
	return &ps
}

// spendEvents returns the thresholds of namespace ns's billing.spend_threshold events.
func (h *harness) spendEvents(ns string) []string {
	h.t.Helper()
	evs, err := h.plane.Events(h.admin, platform.EventFilter{Namespace: ns, Type: platform.EventSpendThreshold, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Data["threshold"])
	}
	return out
}

// previewOf records ns as the preview of pull request pr of a link to "acme".
func (h *harness) previewOf(ns string, pr int) {
	h.t.Helper()
	ctx := context.Background()
	link := &platform.RepoLink{ID: "link-" + ns, Org: platform.DefaultOrg, Namespace: "acme", Repo: "acme/app", Branch: "main", Previews: true}
	if err := h.store.CreateRepoLink(ctx, link); err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.PutPreview(ctx, &platform.Preview{Namespace: ns, Org: platform.DefaultOrg, LinkID: link.ID, PR: pr, CreatedAt: time.Now()}); err != nil {
		h.t.Fatal(err)
	}
}

// running counts the running instances of ns/svc the driver has.
func (h *harness) running(ns, svc string) int {
	n := 0
	for _, ids := range h.runningWorkloads(ns, svc) {
		n += len(ids)
	}
	return n
}

// TestSpendLimit: the thresholds 75, 90 and 100 % are each announced once in every
// namespace of the organisation, however often the spend is checked and across a
// restart; at 100 % the previews scale to zero (other namespaces keep running) and stay
// there, and they come back once the limit is no longer reached.
func TestSpendLimit(t *testing.T) {
	t.Parallel()
	dir, host := t.TempDir(), fake.NewHost()
	opts := harnessOptions{rollout: 5 * time.Second, plans: spendPlans(t, true), spend: 30 * time.Millisecond}
	h := openHarness(t, dir, host, opts)
	h.start()
	nss := []string{"acme", "acme-pr-7"}
	for _, ns := range nss {
		if _, err := h.plane.CreateNamespace(h.admin, ns); err != nil {
			t.Fatal(err)
		}
	}
	h.previewOf("acme-pr-7", 7)
	api := h.deploy("acme", "api", digest("aaaa1111"))
	web := h.deploy("acme-pr-7", "web", digest("bbbb2222"))
	h.waitRelease(api.ID, platform.ReleaseLive)
	h.waitRelease(web.ID, platform.ReleaseLive)
	h.eventually("web runs in the preview", func() bool { return h.running("acme-pr-7", "web") == 1 })

	// 80 %: the 75 % threshold, once in each namespace.
	commitUsage(t, h, "gw1", &platform.UsageEvent{Namespace: "acme", Service: "api", Meter: platform.MeterRequests, Quantity: 8})
	for _, ns := range nss {
		h.eventually("75 % announced in "+ns, func() bool { return len(h.spendEvents(ns)) > 0 })
	}
	time.Sleep(150 * time.Millisecond) // a few more checks
	for _, ns := range nss {
		if got := strings.Join(h.spendEvents(ns), ","); got != "75" {
			t.Fatalf("%s: thresholds %s, want 75 once", ns, got)
		}
	}
	evs, _ := h.plane.Events(h.admin, platform.EventFilter{Namespace: "acme", Type: platform.EventSpendThreshold})
	want := "organisation default has spent 0.80 USD of its 1.00 USD limit this period (80 %)"
	if e := evs[0]; e.Message != want || e.Data["amount"] != "80" || e.Data["limit"] != "100" || e.Data["currency"] != "usd" {
		t.Errorf("75 %% event = %q %v, want %q with amount 80, limit 100, usd", e.Message, e.Data, want)
	}
	if h.running("acme-pr-7", "web") != 1 {
		t.Fatal("the preview stopped below the limit")
	}

	// 100 %: 90 and 100 announced, the preview scales to zero, api keeps running.
	commitUsage(t, h, "gw2", &platform.UsageEvent{Namespace: "acme", Service: "api", Meter: platform.MeterRequests, Quantity: 2})
	for _, ns := range nss {
		h.eventually("90 and 100 % announced in "+ns, func() bool { return len(h.spendEvents(ns)) == 3 })
	}
	h.eventually("the preview scaled to zero", func() bool { return h.running("acme-pr-7", "web") == 0 })
	h.eventually("the preview's instances recorded stopped", func() bool {
		v, err := h.plane.GetService(h.admin, "acme-pr-7", "web")
		return err == nil && len(v.Instances) == 0 && strings.Contains(v.Reason, "spend limit")
	})
	evs, _ = h.plane.Events(h.admin, platform.EventFilter{Namespace: "acme-pr-7", Type: platform.EventSpendThreshold})
	if last := evs[len(evs)-1]; last.Data["threshold"] != "100" || !strings.Contains(last.Message, "reached its spend limit: new deploys are refused and previews are scaled to zero") {
		t.Errorf("100 %% event = %q %v", last.Message, last.Data)
	}
	if h.running("acme", "api") != 1 {
		t.Error("api stopped: only previews scale to zero")
	}
	if r, err := h.store.GetRelease(context.Background(), web.ID); err != nil || r.Status != platform.ReleaseLive {
		t.Errorf("web's release after scaling to zero: %v, %v; want it live still", r, err)
	}

	// A restart announces nothing again and keeps the preview at zero.
	h.stop()
	h = openHarness(t, dir, host, opts)
	h.start()
	time.Sleep(300 * time.Millisecond)
	for _, ns := range nss {
		if got := strings.Join(h.spendEvents(ns), ","); got != "75,90,100" {
			t.Fatalf("%s after a restart: thresholds %s, want 75,90,100 once each", ns, got)
		}
	}
	if n := h.running("acme-pr-7", "web"); n != 0 {
		t.Fatalf("the preview runs %d instances after a restart at the limit", n)
	}
	if h.running("acme", "api") != 1 {
		t.Error("api stopped across the restart")
	}

	// A plan without a limit: the preview runs again, with its release.
	if _, err := h.plane.SetPlan(h.admin, "large"); err != nil {
		t.Fatal(err)
	}
	h.eventually("the preview back", func() bool { return h.running("acme-pr-7", "web") == 1 })
	if w := h.runningWorkloads("acme-pr-7", "web"); len(w[web.ID]) != 1 {
		t.Errorf("preview workloads = %v, want release %s", w, web.ID)
	}
	h.eventually("the preview's service without the reason", func() bool {
		v, err := h.plane.GetService(h.admin, "acme-pr-7", "web")
		return err == nil && v.Reason == "" && v.Status == platform.ServiceRunning
	})
}

// TestSpendLimitOff: with billing off, or a plan without a spend limit, spending
// announces nothing and previews keep running.
func TestSpendLimitOff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		plans *billing.Plans
	}{
		{"billing off", nil},
		{"no limit", spendPlans(t, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := openHarness(t, t.TempDir(), fake.NewHost(), harnessOptions{rollout: 5 * time.Second, plans: tc.plans, spend: 30 * time.Millisecond})
			h.start()
			for _, ns := range []string{"acme", "acme-pr-7"} {
				if _, err := h.plane.CreateNamespace(h.admin, ns); err != nil {
					t.Fatal(err)
				}
			}
			h.previewOf("acme-pr-7", 7)
			web := h.deploy("acme-pr-7", "web", digest("bbbb2222"))
			h.waitRelease(web.ID, platform.ReleaseLive)
			h.eventually("web runs", func() bool { return h.running("acme-pr-7", "web") == 1 })
			commitUsage(t, h, "gw", &platform.UsageEvent{Namespace: "acme", Service: "api", Meter: platform.MeterRequests, Quantity: 1000})
			time.Sleep(300 * time.Millisecond)
			for _, ns := range []string{"acme", "acme-pr-7"} {
				if got := h.spendEvents(ns); len(got) > 0 {
					t.Errorf("%s: spend events %v", ns, got)
				}
			}
			if n := h.running("acme-pr-7", "web"); n != 1 {
				t.Errorf("the preview runs %d instances, want 1", n)
			}
		})
	}
}
