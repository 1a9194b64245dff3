package control_test

import (
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/fake"
)

// TestRollbackReusesTheArtifact: a rollback is a new release with the chosen release's
// build, so nothing is built; it goes live like any release; bad versions change nothing.
func TestRollbackReusesTheArtifact(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	if _, err := h.plane.CreateNamespace(h.admin, "acme-rb"); err != nil {
		t.Fatal(err)
	}
	v1 := h.deploy("acme-rb", "hello", digest("a1"))
	h.waitRelease(v1.ID, platform.ReleaseLive)
	v2 := h.deploy("acme-rb", "hello", digest("b2"))
	h.waitRelease(v2.ID, platform.ReleaseLive)
	builds, err := h.store.ListBuilds(t.Context(), "acme-rb", "hello", 0)
	if err != nil {
		t.Fatal(err)
	}

	_, err = h.plane.Rollback(h.admin, "acme-rb", "hello", "v9")
	if platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("rollback to an unknown version: %v", err)
	}
	_, err = h.plane.Rollback(h.admin, "acme-rb", "hello", v2.Version)
	if platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("rollback to the serving version: %v", err)
	}
	r, err := h.plane.Rollback(h.admin, "acme-rb", "hello", "")
	if err != nil {
		t.Fatal(err)
	}
	if r.BuildID != v1.BuildID || r.Version != "v3" || r.Origin == nil || r.Origin.Kind != platform.OriginRollback || r.Origin.RollbackOf != v1.Version {
		t.Fatalf("rollback release %+v origin %+v", r, r.Origin)
	}
	live := h.waitRelease(r.ID, platform.ReleaseLive)
	if live.Artifact == "" || live.Artifact != h.waitRelease(v1.ID, platform.ReleaseSuperseded).Artifact {
		t.Errorf("rollback artifact %q is not v1's", live.Artifact)
	}
	after, err := h.store.ListBuilds(t.Context(), "acme-rb", "hello", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(builds) {
		t.Errorf("rollback made %d builds, want none", len(after)-len(builds))
	}
	types := h.eventTypes("acme-rb", "hello")
	if n := count(types, platform.EventBuildStarted); n != 2 {
		t.Errorf("%d build.started events, want 2 (the rollback built nothing)", n)
	}
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
