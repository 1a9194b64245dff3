package region

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/fake"
)

// splitMesh registers every running instance of its fake driver, as go-micro services
// that called service.Init() do, and records the drains and splits it is told.
type splitMesh struct {
	driver *fake.Driver

	mu      sync.Mutex
	drained []string // node IDs, in order
	splits  []string // "stable/canary/percent" of each SplitCalls, in order
}

func (m *splitMesh) EnsureNamespace(context.Context, string) error { return nil }
func (m *splitMesh) RemoveNamespace(context.Context, string) error { return nil }
func (m *splitMesh) InstanceEnv(string) (map[string]string, error) {
	return map[string]string{"MICRO_REGISTRY": "nats"}, nil
}
func (m *splitMesh) Call(context.Context, platform.CallRequest) ([]byte, error)  { return nil, nil }
func (m *splitMesh) Health(context.Context, string, platform.RegistryNode) error { return nil }

func (m *splitMesh) Services(ctx context.Context, ns, service string) ([]*platform.RegisteredService, error) {
	ws, err := m.driver.List(ctx)
	if err != nil {
		return nil, err
	}
	s := &platform.RegisteredService{Name: service}
	for _, w := range ws {
		if w.Spec.Namespace != ns || w.Spec.Service != service {
			continue
		}
		for _, i := range w.Instances {
			if i.State == platform.InstanceRunning {
				s.Nodes = append(s.Nodes, platform.RegistryNode{ID: service + "-" + i.ID, Version: w.Spec.Version})
			}
		}
	}
	if len(s.Nodes) == 0 {
		return nil, platform.Errorf(platform.ENOTFOUND, "service %s not found", service)
	}
	return []*platform.RegisteredService{s}, nil
}

func (m *splitMesh) DrainNode(_, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drained = append(m.drained, id)
}

func (m *splitMesh) SplitCalls(_, _, stable, canary string, percent int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := fmt.Sprintf("%s/%s/%d", stable, canary, percent)
	if len(m.splits) == 0 || m.splits[len(m.splits)-1] != s {
		m.splits = append(m.splits, s)
	}
}

// split is the last split the mesh was told ("//0": none).
func (m *splitMesh) split() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.splits) == 0 {
		return "//0"
	}
	return m.splits[len(m.splits)-1]
}

// regionHarness is a Reconciler on a fake driver and a splitMesh.
type regionHarness struct {
	t      *testing.T
	host   *fake.Host
	driver *fake.Driver
	mesh   *splitMesh
	rec    *Reconciler
	gen    int64
	// stop ends the reconciler and leaves the instances running, as a killed agent
	// does; the test's cleanup calls it too.
	stop func()
}

func startRegion(t *testing.T, host *fake.Host) *regionHarness {
	t.Helper()
	h := &regionHarness{t: t, host: host}
	h.driver = fake.New(fake.Options{Host: host, OnEvent: func(e runtime.Event) {
		if h.rec != nil {
			h.rec.HandleRuntimeEvent(e)
		}
	}})
	h.mesh = &splitMesh{driver: h.driver}
	rec, err := New(Options{
		Name: "local", Driver: h.driver, Mesh: h.mesh, RolloutTimeout: 5 * time.Second,
		MinReady: 50 * time.Millisecond, DrainDelay: 20 * time.Millisecond, StopGrace: 100 * time.Millisecond,
		ResyncInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.rec = rec
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Start(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("reconciler: %v", err)
			}
			h.driver.Close()
		})
	}
	t.Cleanup(h.stop)
	return h
}

func workload(id, version string) *runtime.WorkloadSpec {
	return &runtime.WorkloadSpec{ID: id, Namespace: "acme", Service: "hello", Version: version, Artifact: "bin-" + id, Replicas: 2}
}

func (h *regionHarness) apply(current, next *runtime.WorkloadSpec, canary int) {
	h.t.Helper()
	h.gen++
	err := h.rec.Apply(context.Background(), Desired{
		Generation: h.gen, Namespaces: []string{"acme"},
		Services: []ServiceSpec{{Namespace: "acme", Service: "hello", Current: current, Next: next, Canary: canary}},
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *regionHarness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; observed %+v, split %s", what, h.status(), h.mesh.split())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *regionHarness) status() ServiceStatus {
	for _, s := range h.rec.Observed().Services {
		if s.Service == "hello" {
			return s
		}
	}
	return ServiceStatus{}
}

// instances returns the running instances of each workload of hello.
func (h *regionHarness) instances() map[string][]string {
	h.t.Helper()
	ws, err := h.driver.List(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, w := range ws {
		for _, i := range w.Instances {
			if i.State == platform.InstanceRunning {
				out[w.Spec.ID] = append(out[w.Spec.ID], i.ID)
			}
		}
		slices.Sort(out[w.Spec.ID])
	}
	return out
}

// TestCanaryLifecycle drives a canary through the region: rolled out beside the serving
// release and kept there once live with its share of the calls, promoted by adopting its
// instances while the old release is drained and stopped, replaced by another canary
// that is then withdrawn, and re-adopted after the region's restart.
func TestCanaryLifecycle(t *testing.T) {
	t.Parallel()
	host := fake.NewHost()
	h := startRegion(t, host)
	v1, v2, v3 := workload("r1", "v1"), workload("r2", "v2"), workload("r3", "v3")

	h.apply(v1, nil, 0)
	h.eventually("v1 serves", func() bool { s := h.status(); return s.Serving == "r1" && len(h.instances()["r1"]) == 2 })

	t.Run("canary runs beside the serving release", func(t *testing.T) {
		h.apply(v1, v2, 10)
		h.eventually("v2 live as a canary", func() bool {
			s := h.status()
			return s.Rollout != nil && s.Rollout.Release == "r2" && s.Rollout.State == RolloutLive
		})
		h.eventually("10% split", func() bool { return h.mesh.split() == "v1/v2/10" })
		time.Sleep(300 * time.Millisecond) // a few resyncs: nothing moves
		s := h.status()
		if s.Serving != "r1" || s.Rollout.State != RolloutLive {
			t.Errorf("status = %+v, want r1 serving and r2 live", s)
		}
		if got := h.instances(); len(got["r1"]) != 2 || len(got["r2"]) != 2 {
			t.Errorf("instances = %v, want both releases", got)
		}
		h.mesh.mu.Lock()
		if len(h.mesh.drained) > 0 {
			t.Errorf("drained %v, want nothing", h.mesh.drained)
		}
		if !slices.Contains(h.mesh.splits, "v1/v2/0") {
			t.Errorf("splits %v: the canary must take no call before it is live", h.mesh.splits)
		}
		h.mesh.mu.Unlock()
	})

	t.Run("promotion adopts the canary's instances", func(t *testing.T) {
		canary := h.instances()["r2"]
		stable := h.instances()["r1"]
		h.apply(v2, nil, 0)
		h.eventually("v1 stopped, v2 serves", func() bool {
			s := h.status()
			return s.Serving == "r2" && len(h.instances()["r1"]) == 0
		})
		if got := h.instances()["r2"]; !slices.Equal(got, canary) {
			t.Errorf("v2 instances %v, want the canary's %v kept", got, canary)
		}
		if h.mesh.split() != "//0" {
			t.Errorf("split = %s, want none", h.mesh.split())
		}
		h.mesh.mu.Lock()
		for _, id := range stable {
			if !slices.Contains(h.mesh.drained, "hello-"+id) {
				t.Errorf("v1 node %s was not drained before it stopped: %v", id, h.mesh.drained)
			}
		}
		h.mesh.mu.Unlock()
		for _, c := range h.driver.Calls() {
			if c.WorkloadID == "r2" && c.Method == "Stop" {
				t.Errorf("the canary's workload was stopped")
			}
		}
	})

	t.Run("a withdrawn canary stops", func(t *testing.T) {
		h.apply(v2, v3, 50)
		h.eventually("v3 canary at 50%", func() bool { return h.mesh.split() == "v2/v3/50" })
		h.apply(v2, nil, 0)
		h.eventually("v3 stopped", func() bool { return len(h.instances()["r3"]) == 0 && h.mesh.split() == "//0" })
		if s := h.status(); s.Serving != "r2" || len(h.instances()["r2"]) != 2 {
			t.Errorf("after the withdrawal: %+v %v", s, h.instances())
		}
	})

	t.Run("a restarted region keeps the canary", func(t *testing.T) {
		v4 := workload("r4", "v4")
		h.apply(v2, v4, 25)
		h.eventually("v4 canary at 25%", func() bool { return h.mesh.split() == "v2/v4/25" })
		before := h.instances()
		h.stop()

		h2 := startRegion(t, host)
		h2.gen = h.gen
		h2.apply(v2, v4, 25)
		h2.eventually("v4 live again at 25%", func() bool {
			s := h2.status()
			return s.Serving == "r2" && s.Rollout != nil && s.Rollout.State == RolloutLive && h2.mesh.split() == "v2/v4/25"
		})
		if after := h2.instances(); !slices.Equal(after["r2"], before["r2"]) || !slices.Equal(after["r4"], before["r4"]) {
			t.Errorf("after the restart instances = %v, want the same as before %v", after, before)
		}
	})
}
