package local_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/micro/platform/internal/testenv"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/local"
	"github.com/micro/platform/runtime/local/sandbox"
	"github.com/micro/platform/runtime/local/sandbox/cgroup"
	"github.com/micro/platform/runtime/local/sandbox/network"
)

// needSandbox skips t where sandboxes cannot run.
func needSandbox(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("sandboxes need root")
	}
}

// testDrivers numbers the drivers of this test binary.
var testDrivers atomic.Int64

// sandboxHost returns a sandbox of this host for one driver in tests — namespaces and
// users, and cgroups and a network of its own where the host has them (a driver sweeps the
// cgroups it does not know, as the one driver of a data dir does) — skipping t where
// sandboxes cannot run (not root).
func sandboxHost(t *testing.T) local.Sandbox {
	t.Helper()
	needSandbox(t)
	box := local.Sandbox{Enabled: true}
	if h, _, err := cgroup.New(fmt.Sprintf("micro-platform-test-%d-%d", os.Getpid(), testDrivers.Add(1))); err == nil {
		box.Cgroups = h
		t.Cleanup(func() { _ = h.Destroy() })
	}
	if bridge, subnet := testenv.SandboxNetwork(t, t.TempDir()); bridge != "" {
		n, err := network.Setup(network.Options{Bridge: bridge, Subnet: netip.MustParsePrefix(subnet), Table: "micro_platform_" + bridge})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		box.Network = n
	}
	return box
}

// TestRecoverFindsUnrecordedSandboxedProcess: a platform that died right after releasing
// a sandbox, before recording its PID, finds the instance by its MICRO_SERVER_ID and its
// executable's path inside the sandbox, and does not start a second copy.
func TestRecoverFindsUnrecordedSandboxedProcess(t *testing.T) {
	skipShort(t)
	box := sandboxHost(t)
	t.Parallel()
	dir := t.TempDir()
	spec := runtime.WorkloadSpec{ID: "r-lost", Namespace: "acme", Service: "lost",
		Artifact: filepath.Join(binDir, "serve"), Replicas: 1}
	writeState(t, dir, spec, []map[string]any{{"id": "lost-1", "started_at": time.Now()}})
	root := t.TempDir()
	p, err := sandbox.Start(sandbox.Spec{Program: spec.Artifact, Name: spec.Service, UID: 200999, GID: 200999, Root: root,
		Env: []string{"MICRO_SERVER_ID=lost-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-p.Pid(), syscall.SIGKILL) })

	d := newDriverWith(t, dir, nil, box)
	if err := d.Recover(t.Context()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if pid, ok := d.PID("r-lost", "lost-1"); !ok || pid != p.Pid() {
		t.Fatalf("PID = %d, %v; want the sandboxed process %d", pid, ok, p.Pid())
	}
	if err := d.Stop(t.Context(), "r-lost", time.Second); err != nil {
		t.Fatal(err)
	}
	if alive(p.Pid()) {
		t.Fatalf("adopted process %d alive after Stop", p.Pid())
	}
}
