package control_test

import (
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/fake"
)

// TestDevNamespace: SetNamespaceDev makes a namespace a dev namespace; a dev deploy
// (DeployRequest.Dev) is refused elsewhere with nothing stored, and rolls out in one.
func TestDevNamespace(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	for _, name := range []string{"acme", "acme-dev"} {
		if _, err := h.plane.CreateNamespace(h.admin, name); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := h.plane.SetNamespaceDev(h.admin, "acme-dev", true)
	if err != nil || !ns.Dev || ns.Name != "acme-dev" {
		t.Fatalf("SetNamespaceDev = %+v, %v; want acme-dev in dev mode", ns, err)
	}
	if _, err := h.plane.SetNamespaceDev(h.admin, "nope", true); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("SetNamespaceDev of an unknown namespace: %v, want not found", err)
	}
	list, err := h.plane.ListNamespaces(h.admin)
	if err != nil || len(list) != 2 || list[0].Dev || !list[1].Dev {
		t.Fatalf("ListNamespaces = %+v, %v; want acme-dev alone in dev mode", list, err)
	}

	devDeploy := func(ns, archive string) (*platform.Release, error) {
		h.upload(ns, archive)
		return h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: ns, Service: "hello", Dev: true,
			Source: platform.Source{Kind: platform.SourceArchive, Archive: archive}})
	}
	t.Run("refused outside a dev namespace", func(t *testing.T) {
		_, err := devDeploy("acme", digest("aaaa1111"))
		if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(platform.ErrorMessage(err), "namespace acme is not a dev namespace") {
			t.Errorf("dev deploy into acme: %v, want invalid", err)
		}
		if svcs, _ := h.plane.ListServices(h.admin, "acme"); len(svcs) != 0 {
			t.Errorf("a refused dev deploy stored %d services", len(svcs))
		}
	})
	t.Run("rolls out in a dev namespace", func(t *testing.T) {
		r1, err := devDeploy("acme-dev", digest("aaaa1111"))
		if err != nil {
			t.Fatal(err)
		}
		h.waitRelease(r1.ID, platform.ReleaseLive)
		r2, err := devDeploy("acme-dev", digest("bbbb2222"))
		if err != nil {
			t.Fatal(err)
		}
		h.waitRelease(r2.ID, platform.ReleaseLive)
		h.waitRelease(r1.ID, platform.ReleaseSuperseded)
	})
}
