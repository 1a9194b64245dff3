package control_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/fake"
)

// deployCanary deploys archive to svc as a canary taking percent of the calls.
func (h *harness) deployCanary(ns, svc, archive string, percent int) (*platform.Release, error) {
	h.t.Helper()
	h.upload(ns, archive)
	return h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: ns, Service: svc, Canary: percent,
		Source: platform.Source{Kind: platform.SourceArchive, Archive: archive}})
}

// TestCanaryRelease: a canary deploy needs a live release; once rolled out it runs
// beside it (status canary, event release.canary) while the live release keeps
// serving; a new deploy replaces it and its instances stop; Promote makes the next one
// live by keeping its instances and stopping the old release's.
func TestCanaryRelease(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	if _, err := h.plane.CreateNamespace(h.admin, "acme"); err != nil {
		t.Fatal(err)
	}

	t.Run("refused without a live release or with a bad share", func(t *testing.T) {
		_, err := h.deployCanary("acme", "hello", digest("aaaa0000"), 10)
		if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(platform.ErrorMessage(err), "nothing to canary against: deploy without --canary first") {
			t.Errorf("canary of a new service: %v", err)
		}
		for _, percent := range []int{-1, 100} {
			_, err := h.deployCanary("acme", "hello", digest("aaaa0000"), percent)
			if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(platform.ErrorMessage(err), "canary") {
				t.Errorf("canary %d: %v", percent, err)
			}
		}
		if svcs, _ := h.plane.ListServices(h.admin, "acme"); len(svcs) != 0 {
			t.Errorf("refused deploys stored %d services", len(svcs))
		}
	})

	r1 := h.deploy("acme", "hello", digest("aaaa1111"))
	h.waitRelease(r1.ID, platform.ReleaseLive)
	if _, err := h.plane.Promote(h.admin, "acme", "hello"); platform.ErrorCode(err) != platform.ENOTFOUND || !strings.Contains(platform.ErrorMessage(err), "no canary to promote") {
		t.Errorf("promote without a canary: %v", err)
	}

	r2, err := h.deployCanary("acme", "hello", digest("bbbb2222"), 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a canary runs beside the live release", func(t *testing.T) {
		got := h.waitRelease(r2.ID, platform.ReleaseCanary)
		if got.Canary != 10 {
			t.Errorf("canary share = %d, want 10", got.Canary)
		}
		evs, err := h.plane.Events(h.admin, platform.EventFilter{Namespace: "acme", Type: platform.EventReleaseCanary})
		if err != nil || len(evs) != 1 || !strings.HasPrefix(evs[0].Message, "v2 takes 10% of calls") || evs[0].Data["release"] != r2.ID {
			t.Errorf("release.canary events = %+v, %v", evs, err)
		}
		time.Sleep(500 * time.Millisecond) // a few reconcile rounds: it stays a canary
		h.waitRelease(r2.ID, platform.ReleaseCanary)
		if w := h.runningWorkloads("acme", "hello"); len(w) != 2 || len(w[r1.ID]) != 1 || len(w[r2.ID]) != 1 {
			t.Errorf("workloads = %v, want v1 and the canary", w)
		}
		v, err := h.plane.GetService(h.admin, "acme", "hello")
		if err != nil || v.CurrentRelease != r1.ID || v.Status != platform.ServiceRunning {
			t.Errorf("service = %+v, %v; want running with v1 current", v, err)
		}
		if r, _ := h.store.GetRelease(context.Background(), r1.ID); r.Status != platform.ReleaseLive {
			t.Errorf("v1 is %s, want live", r.Status)
		}
	})

	t.Run("a new deploy replaces the canary", func(t *testing.T) {
		r3 := h.deploy("acme", "hello", digest("cccc3333"))
		h.waitRelease(r2.ID, platform.ReleaseSuperseded)
		h.waitRelease(r3.ID, platform.ReleaseLive)
		h.eventually("only v3 runs", func() bool {
			w := h.runningWorkloads("acme", "hello")
			return len(w) == 1 && len(w[r3.ID]) == 1
		})
		r1 = r3
	})

	t.Run("promote", func(t *testing.T) {
		r4, err := h.deployCanary("acme", "hello", digest("dddd4444"), 50)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.plane.Promote(h.admin, "acme", "hello"); err == nil {
			// It may have become a canary already on a fast machine; otherwise it is
			// still on its way and promote says so.
			if r, _ := h.store.GetRelease(context.Background(), r4.ID); r.Status != platform.ReleaseLive {
				t.Fatalf("promote succeeded but %s is %s", r4.Version, r.Status)
			}
		} else if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(platform.ErrorMessage(err), "still") {
			t.Errorf("promote of a canary rolling out: %v", err)
		}
		h.waitRelease(r4.ID, platform.ReleaseCanary)
		canary := h.runningWorkloads("acme", "hello")[r4.ID]

		viewer := platform.NewContextWithToken(context.Background(), &platform.Token{Name: "viewer", Role: platform.RoleViewer, Namespaces: []string{"acme"}})
		if _, err := h.plane.Promote(viewer, "acme", "hello"); platform.ErrorCode(err) != platform.EFORBIDDEN {
			t.Errorf("viewer promote: %v, want forbidden", err)
		}
		got, err := h.plane.Promote(h.admin, "acme", "hello")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != r4.ID || got.Status != platform.ReleaseLive {
			t.Errorf("promote returned %s %s, want %s live", got.ID, got.Status, r4.ID)
		}
		h.waitRelease(r1.ID, platform.ReleaseSuperseded)
		h.eventually("only v4 runs", func() bool {
			w := h.runningWorkloads("acme", "hello")
			return len(w) == 1 && len(w[r4.ID]) == 1
		})
		if w := h.runningWorkloads("acme", "hello")[r4.ID]; !slices.Equal(w, canary) {
			t.Errorf("v4 instances %v, want the canary's %v kept", w, canary)
		}
		v, err := h.plane.GetService(h.admin, "acme", "hello")
		if err != nil || v.CurrentRelease != r4.ID {
			t.Errorf("service current = %v, %v; want %s", v.CurrentRelease, err, r4.ID)
		}
		types := h.eventTypes("acme", "hello")
		if !isSubsequence([]string{platform.EventReleaseCanary, platform.EventReleaseSuperseded, platform.EventReleaseRolledOut}, types) {
			t.Errorf("events = %v", types)
		}
		audit, err := h.store.ListAudit(context.Background(), platform.AuditFilter{Org: platform.DefaultOrg, Action: platform.AuditPromote})
		if err != nil || len(audit) != 1 || audit[0].Target != "service/acme/hello" || audit[0].Outcome != platform.AuditOK {
			t.Errorf("audit = %+v, %v", audit, err)
		}
		if _, err := h.plane.Promote(h.admin, "acme", "hello"); platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Errorf("promote again: %v, want not_found", err)
		}
	})
}
