// Package runtimetest is the conformance suite every runtime.Driver passes. A driver's test
// calls Run with a Harness that creates drivers and provides artifacts with the behaviours
// the suite needs; the suite then checks replicas, scaling, stopping, restarts with
// backoff, crash loops, logs, stats, graceful stop and recovery after the platform dies.
//
// A harness declares what it can observe. With PID, Alive and Kill set, every case also
// checks the processes behind the instances (signals, kills, PIDs kept across a platform
// restart); a driver whose instances are not processes of this machine (kubernetes) leaves
// them nil, and the cases that only make sense for processes are skipped with that reason
// while the rest run on instance IDs and states. Harness.Skip names further cases a driver
// cannot run in its test environment, with the reason.
package runtimetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
)

// Behaviour names what an artifact does. Each prints exactly the lines documented, so the
// suite can check logs.
type Behaviour string

// Behaviours the harness must provide.
const (
	// Serve prints "started <MICRO_SERVER_ID>" on stdout, then "tick <n>" every second,
	// and exits 0 on SIGTERM.
	Serve Behaviour = "serve"
	// Exit3 prints "exiting with 3" on stderr and exits with code 3 at once.
	Exit3 Behaviour = "exit3"
	// IgnoreTerm prints "ready" on stdout once it ignores SIGTERM, then runs until killed.
	IgnoreTerm Behaviour = "ignoreterm"
	// Stderr prints "to stdout" on stdout and "to stderr" on stderr, then runs until
	// SIGTERM.
	Stderr Behaviour = "stderr"
)

// Harness adapts a driver to the suite.
type Harness struct {
	// New returns a driver keeping its state in dir and reporting events to onEvent. The
	// suite calls Recover itself, and calls New again with the same dir after Abandon to
	// test recovery. The harness stops nothing at cleanup: the suite does.
	New func(t *testing.T, dir string, onEvent runtime.EventFunc) runtime.Driver
	// Abandon drops d without stopping its instances, as a kill -9 of the platform would.
	Abandon func(t *testing.T, d runtime.Driver)
	// Artifact returns an artifact behaving as b.
	Artifact func(t *testing.T, b Behaviour) string
	// PID returns the process of a running instance of d. Nil when instances are not
	// processes the test can see: the process-level checks are then skipped.
	PID func(d runtime.Driver, workloadID, instanceID string) (int, bool)
	// Alive reports whether process pid still exists. Required with PID.
	Alive func(pid int) bool
	// Kill kills process pid from outside the driver, as a crash would. Required with PID.
	Kill func(t *testing.T, pid int)
	// NoLogs, when set, says why the harness's instances produce no output the driver can
	// read (no kubelet): the log cases are skipped with it and other cases check no logs.
	NoLogs string
	// Skip names cases (as in Run's subtests, e.g. "stats") the harness cannot run, each
	// with the reason the skip reports.
	Skip map[string]string
	// CrashLoopRestarts is how many exits in a row the harness's driver takes to report a
	// crash loop; the driver's backoff must start at 50ms or more and double.
	CrashLoopRestarts int
	// Timeout bounds every wait of the suite; 15s when zero.
	Timeout time.Duration
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 15 * time.Second
	}
	tests := []struct {
		name string
		fn   func(*testing.T, *suite)
	}{
		{"replicas and scaling", testReplicas},
		{"stop", testStop},
		{"unknown and invalid", testUnknown},
		{"crash loop", testCrashLoop},
		{"logs", testLogs},
		{"follow", testFollow},
		{"stats", testStats},
		{"sigkill after grace", testGrace},
		{"recover live instances", testRecoverLive},
		{"recover dead instances", testRecoverDead},
		{"restart in place", testRestart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if reason, ok := h.Skip[tt.name]; ok {
				t.Skip(reason)
			}
			t.Parallel()
			tt.fn(t, newSuite(t, h))
		})
	}
}

// needLogs skips a case that reads instance output when the harness has none.
func (s *suite) needLogs(t *testing.T) {
	t.Helper()
	if s.h.NoLogs != "" {
		t.Skip(s.h.NoLogs)
	}
}

// processes reports whether the harness sees instances as processes.
func (s *suite) processes() bool { return s.h.PID != nil }

// needProcesses skips a case that only makes sense for instances that are processes.
func (s *suite) needProcesses(t *testing.T) {
	t.Helper()
	if !s.processes() {
		t.Skip("the harness has no process access (Harness.PID is nil): this case checks signals and processes")
	}
}

// suite is the state of one test: a harness, a state dir and the events seen.
type suite struct {
	h      Harness
	dir    string
	events *recorder
}

func newSuite(t *testing.T, h Harness) *suite {
	return &suite{h: h, dir: t.TempDir(), events: &recorder{}}
}

// driver creates and recovers a driver on the suite's dir; its workloads are stopped at
// cleanup.
func (s *suite) driver(t *testing.T) runtime.Driver {
	t.Helper()
	d := s.h.New(t, s.dir, s.events.record)
	if err := d.Recover(t.Context()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
		defer cancel()
		list, _ := d.List(ctx)
		for _, w := range list {
			_ = d.Stop(ctx, w.Spec.ID, time.Second)
		}
	})
	return d
}

func (s *suite) spec(t *testing.T, b Behaviour, service string, replicas int) runtime.WorkloadSpec {
	return runtime.WorkloadSpec{
		ID: platform.NewID("r"), Namespace: "conformance", Service: service, Version: "v1",
		Artifact: s.h.Artifact(t, b), Replicas: replicas, Env: map[string]string{"CONFORMANCE": "1"},
	}
}

// waitFor polls cond until it holds or the suite's timeout passes.
func (s *suite) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(s.h.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", s.h.Timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRunning waits until the workload has exactly n instances, all running, and returns
// its status.
func (s *suite) waitRunning(t *testing.T, d runtime.Driver, id string, n int) *runtime.WorkloadStatus {
	t.Helper()
	var st *runtime.WorkloadStatus
	s.waitFor(t, "running instances", func() bool {
		var err error
		st, err = d.Inspect(t.Context(), id)
		if err != nil {
			t.Fatalf("Inspect(%s): %v", id, err)
		}
		return len(st.Instances) == n && st.Running() == n
	})
	return st
}

// pids returns the process of each instance; without process access it returns every
// instance with pid 0, so comparisons fall back to instance IDs.
func (s *suite) pids(t *testing.T, d runtime.Driver, st *runtime.WorkloadStatus) map[string]int {
	t.Helper()
	out := map[string]int{}
	if !s.processes() {
		for _, in := range st.Instances {
			out[in.ID] = 0
		}
		return out
	}
	for _, in := range st.Instances {
		pid, ok := s.h.PID(d, st.Spec.ID, in.ID)
		if !ok || pid <= 0 {
			t.Fatalf("no process for running instance %s", in.ID)
		}
		out[in.ID] = pid
	}
	return out
}

func (s *suite) waitDead(t *testing.T, pids ...int) {
	t.Helper()
	if !s.processes() {
		return
	}
	s.waitFor(t, "processes to be gone", func() bool {
		return !slices.ContainsFunc(pids, s.h.Alive)
	})
}

func ids(st *runtime.WorkloadStatus) []string {
	out := make([]string, len(st.Instances))
	for i, in := range st.Instances {
		out[i] = in.ID
	}
	slices.Sort(out)
	return out
}

// recorder keeps the events a driver reports.
type recorder struct {
	mu     sync.Mutex
	events []runtime.Event
}

func (r *recorder) record(e runtime.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// matching returns the events of a workload (and of one kind unless kind is "").
func (r *recorder) matching(workloadID string, kind runtime.EventKind) []runtime.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []runtime.Event
	for _, e := range r.events {
		if e.WorkloadID == workloadID && (kind == "" || e.Kind == kind) {
			out = append(out, e)
		}
	}
	return out
}
