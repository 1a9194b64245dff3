package fake_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/fake"
	"github.com/micro/platform/runtime/local"
	"github.com/micro/platform/runtime/runtimetest"
)

// conformanceScripts are the suite's behaviours as scripts.
var conformanceScripts = map[runtimetest.Behaviour]fake.Script{
	runtimetest.Serve: {
		Output: []fake.Line{{Stream: platform.Stdout, Text: "started $MICRO_SERVER_ID"}},
		Tick:   time.Second,
	},
	runtimetest.Exit3: {
		Output: []fake.Line{{Stream: platform.Stderr, Text: "exiting with 3"}},
		Exit:   true, ExitCode: 3,
	},
	runtimetest.IgnoreTerm: {
		Output:     []fake.Line{{Stream: platform.Stdout, Text: "ready"}},
		IgnoreTerm: true,
	},
	runtimetest.Stderr: {
		Output: []fake.Line{{Stream: platform.Stdout, Text: "to stdout"}, {Stream: platform.Stderr, Text: "to stderr"}},
	},
}

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	hosts := map[string]*fake.Host{} // by state dir: the "machine" both drivers of a test share
	host := func(dir string) *fake.Host {
		mu.Lock()
		defer mu.Unlock()
		if hosts[dir] == nil {
			hosts[dir] = fake.NewHost()
			for b, s := range conformanceScripts {
				hosts[dir].SetScript(string(b), s)
			}
		}
		return hosts[dir]
	}
	var last sync.Map // pid → host, for Alive and Kill
	runtimetest.Run(t, runtimetest.Harness{
		New: func(t *testing.T, dir string, onEvent runtime.EventFunc) runtime.Driver {
			h := host(dir)
			d := fake.New(fake.Options{
				Host: h, OnEvent: onEvent,
				Backoff:   local.Backoff{Initial: 100 * time.Millisecond, Max: 800 * time.Millisecond, Factor: 2, ResetAfter: 5 * time.Second},
				CrashLoop: local.CrashLoop{Restarts: 4, Window: 30 * time.Second},
			})
			t.Cleanup(func() { _ = d.Close() })
			return d
		},
		Abandon:  func(t *testing.T, d runtime.Driver) { _ = d.(*fake.Driver).Close() },
		Artifact: func(t *testing.T, b runtimetest.Behaviour) string { return string(b) },
		PID: func(d runtime.Driver, workloadID, instanceID string) (int, bool) {
			fd := d.(*fake.Driver)
			pid, ok := fd.PID(workloadID, instanceID)
			if ok {
				last.Store(pid, fd.Host())
			}
			return pid, ok
		},
		Alive: func(pid int) bool {
			h, ok := last.Load(pid)
			return ok && h.(*fake.Host).Alive(pid)
		},
		Kill: func(t *testing.T, pid int) {
			h, ok := last.Load(pid)
			if !ok {
				t.Fatalf("unknown pid %d", pid)
			}
			h.(*fake.Host).Kill(pid)
		},
		CrashLoopRestarts: 4,
	})
}

func TestScripts(t *testing.T) {
	t.Parallel()
	boom := errors.New("registry unreachable")
	tests := []struct {
		name    string
		script  fake.Script
		wantErr error
		wait    func(*runtime.WorkloadStatus) bool
	}{
		{"start fails", fake.Script{StartErr: boom}, boom, nil},
		{"runs forever", fake.Script{}, nil, func(st *runtime.WorkloadStatus) bool {
			return st.Running() == 2
		}},
		{"exits after a while with a code", fake.Script{Exit: true, ExitAfter: 20 * time.Millisecond, ExitCode: 7}, nil,
			func(st *runtime.WorkloadStatus) bool {
				in := st.Instances[0]
				return in.Restarts >= 2 && in.ExitCode == 7 && in.Message == "exited with code 7"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := fake.New(fake.Options{})
			t.Cleanup(func() { _ = d.Close() })
			d.Host().SetWorkloadScript("r-1", tt.script)
			err := d.Start(t.Context(), runtime.WorkloadSpec{ID: "r-1", Namespace: "acme", Service: "s", Artifact: "bin", Replicas: 2})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Start = %v, want %v", err, tt.wantErr)
			}
			if tt.wait == nil {
				if _, err := d.Inspect(t.Context(), "r-1"); !platform.IsNotFound(err) {
					t.Fatalf("Inspect after failed Start = %v, want not found", err)
				}
				return
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				st, err := d.Inspect(t.Context(), "r-1")
				if err != nil {
					t.Fatal(err)
				}
				if tt.wait(st) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("status never matched: %+v", st)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := d.Stop(context.Background(), "r-1", 0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCalls(t *testing.T) {
	t.Parallel()
	d := fake.New(fake.Options{})
	t.Cleanup(func() { _ = d.Close() })
	spec := runtime.WorkloadSpec{ID: "r-1", Namespace: "acme", Service: "s", Artifact: "bin", Replicas: 1}
	_ = d.Start(t.Context(), spec)
	spec.Replicas = 3
	_ = d.Start(t.Context(), spec)
	_ = d.Stop(t.Context(), "r-1", time.Millisecond)
	var got []string
	for _, c := range d.Calls() {
		got = append(got, fmt.Sprintf("%s %s %d", c.Method, c.WorkloadID, c.Replicas))
	}
	want := []string{"Start r-1 1", "Start r-1 3", "Stop r-1 0"}
	if len(got) != len(want) {
		t.Fatalf("Calls = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Calls = %q, want %q", got, want)
		}
	}
}
