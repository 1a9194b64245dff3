package local_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/local"
	"github.com/micro/platform/runtime/local/sandbox"
	"github.com/micro/platform/runtime/runtimetest"
)

// binDir holds the testdata programs, built once per test binary.
var binDir string

func TestMain(m *testing.M) {
	sandbox.Init()
	flag.Parse()
	if !testing.Short() {
		dir, err := os.MkdirTemp("", "local-driver-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
			"./testdata/serve", "./testdata/exit3", "./testdata/ignoreterm", "./testdata/stderr")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build testdata programs: %v\n%s", err, out)
			os.Exit(1)
		}
		binDir = dir
		code := m.Run()
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs real processes")
	}
}

// newDriver returns a driver on dir with fast restarts, closed at cleanup.
func newDriver(t testing.TB, dir string, onEvent runtime.EventFunc) *local.Driver {
	t.Helper()
	return newDriverWith(t, dir, onEvent, local.Sandbox{})
}

// newDriverWith is newDriver with a sandbox.
func newDriverWith(t testing.TB, dir string, onEvent runtime.EventFunc, box local.Sandbox) *local.Driver {
	t.Helper()
	d, err := local.New(local.Options{
		Sandbox:   box,
		Dir:       dir,
		OnEvent:   onEvent,
		Backoff:   local.Backoff{Initial: 100 * time.Millisecond, Max: 800 * time.Millisecond, Factor: 2, ResetAfter: 5 * time.Second},
		CrashLoop: local.CrashLoop{Restarts: 4, Window: 30 * time.Second},
		StopGrace: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

func TestConformance(t *testing.T) {
	skipShort(t)
	conformance(t, func(*testing.T) local.Sandbox { return local.Sandbox{} })
}

// TestConformanceSandboxed runs the suite with every instance in its sandbox: namespaces,
// its namespace's user, and the cgroups and network of sandboxHost where this host has them.
func TestConformanceSandboxed(t *testing.T) {
	skipShort(t)
	needSandbox(t)
	conformance(t, sandboxHost)
}

// conformance runs the suite on drivers with the sandbox box(t) returns for each.
func conformance(t *testing.T, box func(*testing.T) local.Sandbox) {
	runtimetest.Run(t, runtimetest.Harness{
		New: func(t *testing.T, dir string, onEvent runtime.EventFunc) runtime.Driver {
			return newDriverWith(t, dir, onEvent, box(t))
		},
		Abandon: func(t *testing.T, d runtime.Driver) {
			if err := d.(*local.Driver).Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		},
		Artifact: func(t *testing.T, b runtimetest.Behaviour) string {
			return filepath.Join(binDir, string(b))
		},
		PID: func(d runtime.Driver, workloadID, instanceID string) (int, bool) {
			return d.(*local.Driver).PID(workloadID, instanceID)
		},
		Alive: alive,
		Kill: func(t *testing.T, pid int) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill %d: %v", pid, err)
			}
		},
		CrashLoopRestarts: 4,
	})
}

func TestValidation(t *testing.T) {
	t.Parallel()
	d := newDriver(t, t.TempDir(), nil)
	notExec := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec runtime.WorkloadSpec
		want []string
	}{
		{"everything wrong", runtime.WorkloadSpec{ID: "../x", Namespace: "A", Service: "", Replicas: -1},
			[]string{"workload id", "namespace", "service", "replicas", "missing artifact"}},
		{"relative artifact", runtime.WorkloadSpec{ID: "r-1", Namespace: "a", Service: "s", Artifact: "bin/x"},
			[]string{"not an absolute path"}},
		{"missing artifact file", runtime.WorkloadSpec{ID: "r-1", Namespace: "a", Service: "s", Artifact: "/nonexistent/x"},
			[]string{"no such file"}},
		{"not executable", runtime.WorkloadSpec{ID: "r-1", Namespace: "a", Service: "s", Artifact: notExec},
			[]string{"not an executable file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.Start(t.Context(), tt.spec)
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("Start = %v, want %s", err, platform.EINVALID)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestEnvironment shows that an instance sees exactly the spec's environment plus
// MICRO_SERVER_ID, a minimal PATH and HOME, and nothing of the platform's.
func TestEnvironment(t *testing.T) {
	skipShort(t)
	t.Setenv("PLATFORM_SECRET", "leak") // would be inherited by a careless driver
	env, err := exec.LookPath("env")
	if err != nil {
		t.Skip("no env binary")
	}
	dir := t.TempDir()
	d := newDriver(t, dir, nil)
	spec := runtime.WorkloadSpec{ID: "r-env", Namespace: "acme", Service: "env", Artifact: env, Replicas: 1,
		Env: map[string]string{"FOO": "bar", "MICRO_SERVER_ID": "overridden"}}
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background(), spec.ID, time.Second) })
	var got []string
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		ch, err := d.Logs(t.Context(), platform.LogQuery{Namespace: "acme", Service: "env", Tail: 4})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for e := range ch {
			got = append(got, e.Line)
		}
	}
	st, err := d.Inspect(t.Context(), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	id := st.Instances[0].ID
	want := []string{"FOO=bar", "HOME=" + filepath.Join(dir, "run", spec.ID, id), "MICRO_SERVER_ID=" + id, "PATH=/usr/local/bin:/usr/bin:/bin"}
	if !slices.Equal(got, want) {
		t.Fatalf("environment = %q, want %q", got, want)
	}
}

// startLoose starts the serve program as instance id outside any driver, in its own
// process group, killed at cleanup.
func startLoose(t *testing.T, id string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "serve"))
	cmd.Env = []string{"MICRO_SERVER_ID=" + id}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd
}

// writeState writes a workload state file as an earlier platform run would have.
func writeState(t *testing.T, dir string, spec runtime.WorkloadSpec, instances []map[string]any) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"spec": spec, "instances": instances})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "workloads"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "workloads", spec.ID+".json"), b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestRecoverFinishesScaleDown shows that an instance the platform was stopping when it
// died is stopped by Recover, not adopted.
func TestRecoverFinishesScaleDown(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	spec := runtime.WorkloadSpec{ID: "r-down", Namespace: "acme", Service: "down",
		Artifact: filepath.Join(binDir, "serve"), Replicas: 1}
	keep, drop := startLoose(t, "down-keep"), startLoose(t, "down-drop")
	writeState(t, dir, spec, []map[string]any{
		{"id": "down-keep", "started_at": time.Now()},
		{"id": "down-drop", "started_at": time.Now(), "stopping": true},
	})
	d := newDriver(t, dir, nil)
	if err := d.Recover(t.Context()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background(), spec.ID, time.Second) })
	if alive(drop.Process.Pid) {
		t.Errorf("instance being stopped is alive after Recover")
	}
	st, err := d.Inspect(t.Context(), spec.ID)
	if err != nil || len(st.Instances) != 1 || st.Instances[0].ID != "down-keep" {
		t.Fatalf("Inspect = %+v, %v; want only down-keep", st, err)
	}
	if pid, ok := d.PID(spec.ID, "down-keep"); !ok || pid != keep.Process.Pid {
		t.Fatalf("PID(down-keep) = %d, %v; want the adopted %d", pid, ok, keep.Process.Pid)
	}
}

// TestRecoverFindsUnrecordedProcess shows that an instance whose PID never reached the
// state file (the platform died right after starting it) is adopted, not started twice.
func TestRecoverFindsUnrecordedProcess(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	spec := runtime.WorkloadSpec{ID: "r-lost", Namespace: "acme", Service: "lost",
		Artifact: filepath.Join(binDir, "serve"), Replicas: 1}
	writeState(t, dir, spec, []map[string]any{{"id": "lost-1", "started_at": time.Now()}})
	cmd := startLoose(t, "lost-1")

	d := newDriver(t, dir, nil)
	if err := d.Recover(t.Context()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if pid, ok := d.PID("r-lost", "lost-1"); !ok || pid != cmd.Process.Pid {
		t.Fatalf("PID = %d, %v; want the existing process %d", pid, ok, cmd.Process.Pid)
	}
	st, err := d.Inspect(t.Context(), "r-lost")
	if err != nil || len(st.Instances) != 1 {
		t.Fatalf("Inspect = %+v, %v; want one instance", st, err)
	}
	if err := d.Stop(t.Context(), "r-lost", time.Second); err != nil {
		t.Fatal(err)
	}
	if alive(cmd.Process.Pid) {
		t.Fatalf("adopted process %d alive after Stop", cmd.Process.Pid)
	}
	if _, err := os.Stat(filepath.Join(dir, "workloads", "r-lost.json")); !os.IsNotExist(err) {
		t.Fatalf("state file left after Stop: %v", err)
	}
}

func BenchmarkStartStop(b *testing.B) {
	skipShort(b)
	d := newDriver(b, b.TempDir(), nil)
	spec := runtime.WorkloadSpec{Namespace: "bench", Service: "serve", Artifact: filepath.Join(binDir, "serve"), Replicas: 1}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		spec.ID = "r-" + strconv.Itoa(i)
		if err := d.Start(ctx, spec); err != nil {
			b.Fatal(err)
		}
		for {
			st, err := d.Inspect(ctx, spec.ID)
			if err != nil {
				b.Fatal(err)
			}
			if st.Running() == 1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err := d.Stop(ctx, spec.ID, 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStats(b *testing.B) {
	skipShort(b)
	d := newDriver(b, b.TempDir(), nil)
	spec := runtime.WorkloadSpec{ID: "r-stats", Namespace: "bench", Service: "serve", Artifact: filepath.Join(binDir, "serve"), Replicas: 4}
	ctx := context.Background()
	if err := d.Start(ctx, spec); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Stop(ctx, spec.ID, time.Second) })
	for b.Loop() {
		stats, err := d.Stats(ctx, spec.ID)
		if err != nil || len(stats) != 4 {
			b.Fatalf("Stats = %v, %v", stats, err)
		}
	}
}

// TestStateFilesSealTheEnvironment: the release's environment and the namespace's mesh
// credentials are sealed in the workload's state file (0600), and a new driver on the same
// dir opens them again.
func TestStateFilesSealTheEnvironment(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	d := newDriver(t, dir, nil)
	spec := runtime.WorkloadSpec{ID: "r-sealed", Namespace: "acme", Service: "sealed",
		Artifact: filepath.Join(binDir, "serve"), Replicas: 1,
		Env:          map[string]string{"API_KEY": "hunter2-release-secret"},
		NamespaceEnv: map[string]string{"MICRO_REGISTRY_ADDRESS": "nats://ns-acme:mesh-password-42@127.0.0.1:4222"}}
	if err := d.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "workloads", "r-sealed.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hunter2-release-secret", "mesh-password-42", "API_KEY"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("state file holds %q in the clear:\n%s", secret, b)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode: %v %v", fi.Mode(), err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d2 := newDriver(t, dir, nil)
	if err := d2.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	st, err := d2.Inspect(t.Context(), "r-sealed")
	if err != nil {
		t.Fatal(err)
	}
	if st.Spec.Env["API_KEY"] != "hunter2-release-secret" || !strings.Contains(st.Spec.NamespaceEnv["MICRO_REGISTRY_ADDRESS"], "mesh-password-42") {
		t.Errorf("recovered spec env = %v / %v", st.Spec.Env, st.Spec.NamespaceEnv)
	}
	if err := d2.Stop(t.Context(), "r-sealed", time.Second); err != nil {
		t.Fatal(err)
	}
}
