// Package runtime defines the contract between the control plane and the things that run
// service instances: a small Driver interface (start, stop, inspect, list, logs, stats,
// recover), the specs and statuses it speaks in, and the events it reports. Drivers live in
// subpackages (runtime/local runs OS processes; runtime/kubernetes runs Deployments);
// runtime/runtimetest is the conformance suite every driver passes and runtime/fake a
// scriptable driver for control-plane tests.
//
// A workload is one release of one service with a number of replicas. The reconciler
// starts a new workload for a new release, waits for it to be healthy and then stops the
// old one, so a driver never has to roll anything itself.
package runtime

import (
	"context"
	"maps"
	"time"

	platform "github.com/micro/platform"
)

// WorkloadSpec is what a driver must run.
type WorkloadSpec struct {
	// ID is unique and stable across restarts: the release ID.
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	Version   string `json:"version"`
	// Artifact is what the builder produced: a binary path (local), an image (kubernetes).
	Artifact string `json:"artifact"`
	Replicas int    `json:"replicas"`
	// Env is the environment of every instance of this workload: the release's own
	// variables and the platform's. Drivers add MICRO_SERVER_ID with the instance ID.
	Env map[string]string `json:"env,omitempty"`
	// NamespaceEnv is the environment every workload of the namespace shares: its mesh
	// wiring and credentials (MICRO_REGISTRY_ADDRESS and the like). A driver that can
	// keep it apart does (kubernetes: one Secret per namespace); the others run
	// Environ(). It wins over Env on a key both hold.
	NamespaceEnv map[string]string `json:"namespace_env,omitempty"`
	// Resources are the limits of one instance; zero means the driver's default.
	Resources Resources `json:"resources"`
}

// Environ returns the complete environment of an instance: Env with NamespaceEnv over
// it (MICRO_SERVER_ID excluded).
func (s *WorkloadSpec) Environ() map[string]string {
	env := make(map[string]string, len(s.Env)+len(s.NamespaceEnv))
	maps.Copy(env, s.Env)
	maps.Copy(env, s.NamespaceEnv)
	return env
}

// Resources bound one instance.
type Resources struct {
	CPUMillis   int64 `json:"cpu_millis,omitempty"`
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
}

// InstanceStatus is one instance as the driver sees it.
type InstanceStatus struct {
	ID         string                 `json:"id"`
	WorkloadID string                 `json:"workload_id"`
	State      platform.InstanceState `json:"state"`
	Restarts   int                    `json:"restarts"`
	ExitCode   int                    `json:"exit_code,omitempty"`
	// Message explains the state: the last exit, why it is in crashloop.
	Message   string    `json:"message,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// WorkloadStatus is a workload as the driver sees it.
type WorkloadStatus struct {
	Spec      WorkloadSpec     `json:"spec"`
	Instances []InstanceStatus `json:"instances"`
}

// Running returns how many instances are in state running.
func (w *WorkloadStatus) Running() int {
	n := 0
	for _, i := range w.Instances {
		if i.State == platform.InstanceRunning {
			n++
		}
	}
	return n
}

// InstanceStats is a resource sample of one instance.
type InstanceStats struct {
	InstanceID  string    `json:"instance_id"`
	CPUPercent  float64   `json:"cpu_percent"` // of one core, since the previous sample
	MemoryBytes uint64    `json:"memory_bytes"`
	Time        time.Time `json:"time"`
}

// EventKind is what happened to an instance.
type EventKind string

// Event kinds reported by drivers.
const (
	EventStarted   EventKind = "started"
	EventExited    EventKind = "exited"    // exited, will be restarted after a backoff
	EventCrashLoop EventKind = "crashloop" // restarted too often; backing off long
	EventStopped   EventKind = "stopped"   // stopped on request
	// Kinds only drivers that pull images or schedule onto nodes report.
	EventImagePullFailed EventKind = "image_pull_failed" // the artifact (image) cannot be pulled
	EventUnschedulable   EventKind = "unschedulable"     // no node can take the instance
	EventOOMKilled       EventKind = "oom_killed"        // killed for exceeding its memory limit
	// EventCreateFailed is about a workload, not an instance (InstanceID is empty): the
	// runtime refuses to create its instances, e.g. over the namespace's quota.
	EventCreateFailed EventKind = "create_failed"
)

// Event is a change of one instance, reported by a driver to the control plane.
type Event struct {
	Kind       EventKind `json:"kind"`
	WorkloadID string    `json:"workload_id"`
	Namespace  string    `json:"namespace"`
	Service    string    `json:"service"`
	InstanceID string    `json:"instance_id"`
	ExitCode   int       `json:"exit_code,omitempty"`
	Message    string    `json:"message"`
	Time       time.Time `json:"time"`
}

// Driver runs workloads. Every method is safe for concurrent use and idempotent: the
// reconciler may repeat any call after a crash.
type Driver interface {
	// Name is the driver's name, e.g. "local".
	Name() string
	// Recover re-adopts everything the driver started before the control plane
	// restarted, and removes what it cannot adopt. Called once, before any other method.
	Recover(ctx context.Context) error
	// Start makes the workload run with spec.Replicas instances. Called again with the
	// same ID it converges the replica count and leaves healthy instances alone.
	// Returns EINVALID for an unusable spec (missing artifact).
	Start(ctx context.Context, spec WorkloadSpec) error
	// Stop stops every instance of the workload (SIGTERM, grace, SIGKILL or the driver's
	// equivalent) and forgets it. Stopping an unknown workload is not an error.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Inspect returns ENOTFOUND for an unknown workload.
	Inspect(ctx context.Context, id string) (*WorkloadStatus, error)
	// List returns every workload the driver runs.
	List(ctx context.Context) ([]*WorkloadStatus, error)
	// Logs streams a service's output. The channel closes when the tail is sent (without
	// Follow) or when ctx ends.
	Logs(ctx context.Context, q platform.LogQuery) (<-chan platform.LogEntry, error)
	// Stats samples every instance of the workload. ENOTFOUND for an unknown workload.
	Stats(ctx context.Context, id string) ([]InstanceStats, error)
}

// EventFunc receives instance events from a driver. It must not block for long.
type EventFunc func(Event)

// Restarter is an optional capability of a driver: restart one instance in place (same
// instance ID, a new process or container), for an instance that runs but no longer
// serves — e.g. one whose connection to its namespace gave up during a long outage of the
// platform. Stop with grace, start again at once, no backoff. ENOTFOUND for an unknown
// workload or instance.
type Restarter interface {
	Restart(ctx context.Context, workloadID, instanceID string, grace time.Duration) error
}
