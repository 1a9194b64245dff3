package kubernetes_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/micro/platform/internal/kubetest"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/kubernetes"
	"github.com/micro/platform/runtime/runtimetest"
)

// TestConformanceSimulatedKubelet runs the shared driver suite against the real API server
// with a simulated kubelet creating and updating the pods and serving their logs through
// the API server's pod log proxy. Cases about processes (PIDs, signals, kills), separate
// stdout and stderr, and stats (no metrics-server) are skipped with their reasons.
func TestConformanceSimulatedKubelet(t *testing.T) {
	cfg := kubetest.Config(t)
	const crashLoop = 4
	startSimKubelet(t, "conf", crashLoop)
	var mu sync.Mutex
	owners := map[string]string{} // state dir → owner: a platform and its restart share one
	runtimetest.Run(t, runtimetest.Harness{
		New: func(t *testing.T, dir string, onEvent runtime.EventFunc) runtime.Driver {
			mu.Lock()
			owner, ok := owners[dir]
			if !ok {
				owner = unique("conf")
				owners[dir] = owner
			}
			mu.Unlock()
			d, err := kubernetes.New(kubernetes.Options{
				Config: cfg, Owner: owner, NamespacePrefix: owner + "-", OnEvent: onEvent,
				CrashLoopRestarts: crashLoop, StopGrace: 2 * time.Second,
			})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { _ = d.Close() })
			return d
		},
		Abandon: func(t *testing.T, d runtime.Driver) { _ = d.(*kubernetes.Driver).Close() },
		Artifact: func(t *testing.T, b runtimetest.Behaviour) string {
			return fmt.Sprintf("registry.invalid/conformance/%s:v1", b)
		},
		CrashLoopRestarts: crashLoop,
		Timeout:           time.Minute,
		Skip: map[string]string{
			"logs":  "the pod log API has one stream per container: stdout and stderr cannot be told apart",
			"stats": "the test cluster has no metrics-server; Stats returns unavailable there (TestStatsUnavailable)",
		},
	})
}
