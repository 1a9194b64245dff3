package region

import (
	"context"
	"errors"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/fake"
)

// sickMesh is a splitMesh whose nodes of one version never answer their health check.
type sickMesh struct {
	*splitMesh
	version string
}

func (m sickMesh) Health(_ context.Context, _ string, n platform.RegistryNode) error {
	if n.Version == m.version {
		return errors.New("no answer")
	}
	return nil
}

// startSlowRegion is startRegion with a MinReady and a DrainDelay long enough to tell a
// rollout that waits for them from one that does not; nodes of version sick never
// answer their health check.
func startSlowRegion(t *testing.T, wait time.Duration, sick string) *regionHarness {
	t.Helper()
	h := &regionHarness{t: t, host: fake.NewHost()}
	h.driver = fake.New(fake.Options{Host: h.host, OnEvent: func(e runtime.Event) {
		if h.rec != nil {
			h.rec.HandleRuntimeEvent(e)
		}
	}})
	h.mesh = &splitMesh{driver: h.driver}
	rec, err := New(Options{
		Name: "local", Driver: h.driver, Mesh: sickMesh{h.mesh, sick}, RolloutTimeout: 5 * time.Second,
		MinReady: wait, DrainDelay: wait, StopGrace: 100 * time.Millisecond, ResyncInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.rec = rec
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Start(ctx) }()
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("reconciler: %v", err)
		}
		h.driver.Close()
	}
	t.Cleanup(h.stop)
	return h
}

func (h *regionHarness) applyDev(current, next *runtime.WorkloadSpec, dev bool) {
	h.t.Helper()
	h.gen++
	err := h.rec.Apply(context.Background(), Desired{
		Generation: h.gen, Namespaces: []string{"acme"},
		Services: []ServiceSpec{{Namespace: "acme", Service: "hello", Current: current, Next: next, Dev: dev}},
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// TestDevRollout: in a dev namespace a release replaces the serving one as soon as its
// instances are registered and healthy, without MinReady or the drain delay (an
// ordinary namespace waits for both), the old nodes still drained before they stop; a
// release that crashes never takes the serving one down.
func TestDevRollout(t *testing.T) {
	t.Parallel()
	const wait = 600 * time.Millisecond
	tests := []struct {
		name    string
		dev     bool
		atLeast time.Duration
		atMost  time.Duration
	}{
		{"dev namespace", true, 0, wait},
		{"ordinary namespace", false, 2 * wait, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := startSlowRegion(t, wait, "")
			v1, v2 := workload("r1", "v1"), workload("r2", "v2")
			h.applyDev(nil, v1, tt.dev)
			h.eventually("v1 live", func() bool { s := h.status(); return s.Serving == "r1" })
			h.applyDev(v1, nil, tt.dev)

			start := time.Now()
			h.applyDev(v1, v2, tt.dev)
			h.eventually("v2 serves and v1 stopped", func() bool {
				return h.status().Serving == "r2" && len(h.instances()["r1"]) == 0
			})
			took := time.Since(start)
			if took < tt.atLeast || took > tt.atMost {
				t.Errorf("v2 replaced v1 in %s, want between %s and %s", took, tt.atLeast, tt.atMost)
			}
			h.mesh.mu.Lock()
			drained := len(h.mesh.drained)
			h.mesh.mu.Unlock()
			if drained != 2 {
				t.Errorf("%d nodes drained, want v1's 2", drained)
			}
		})
	}
	t.Run("a dev release that never answers leaves the old one serving", func(t *testing.T) {
		t.Parallel()
		h := startSlowRegion(t, wait, "v2")
		v1, v2 := workload("r1", "v1"), workload("r2", "v2")
		h.host.SetScript(v2.Artifact, fake.Script{Exit: true, ExitAfter: 50 * time.Millisecond, ExitCode: 2,
			Output: []fake.Line{{Stream: platform.Stderr, Text: "panic: boom"}}})
		h.applyDev(nil, v1, true)
		h.eventually("v1 live", func() bool { return h.status().Serving == "r1" })
		h.applyDev(v1, v2, true)
		h.eventually("v2 failed", func() bool {
			s := h.status()
			return s.Rollout != nil && s.Rollout.Release == "r2" && s.Rollout.State == RolloutFailed
		})
		if s := h.status(); s.Serving != "r1" || len(h.instances()["r1"]) != 2 {
			t.Errorf("after v2 failed: %+v %v, want v1 serving with its 2 instances", s, h.instances())
		}
	})
}
