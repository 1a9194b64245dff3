package local_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	p := startLooseSandboxed(t, spec.Artifact, spec.Service, "lost-1", 200999)

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

// TestRecoverKeepsLiveAddresses: after a restart, an instance restarted by Recover never
// gets the address of a live instance that Recover re-adopts later.
func TestRecoverKeepsLiveAddresses(t *testing.T) {
	skipShort(t)
	box := sandboxHost(t)
	if box.Network == nil {
		t.Skip("no sandbox network on this host")
	}
	t.Parallel()
	dir := t.TempDir()
	n := box.Network.(*network.Network)
	first := n.Gateway().Next() // what Allocate hands out first
	serve := filepath.Join(binDir, "serve")
	// r-a's instance died while the platform was down; r-b's lives, on the first address.
	writeState(t, dir, runtime.WorkloadSpec{ID: "r-a", Namespace: "acme", Service: "a", Artifact: serve, Replicas: 1},
		[]map[string]any{{"id": "a-1", "pid": 1 << 22, "start_ticks": 1, "started_at": time.Now()}})
	p := startLooseSandboxed(t, serve, "b", "b-1", 200998)
	writeState(t, dir, runtime.WorkloadSpec{ID: "r-b", Namespace: "acme", Service: "b", Artifact: serve, Replicas: 1},
		[]map[string]any{{"id": "b-1", "pid": p.Pid(), "start_ticks": startTicks(t, p.Pid()), "started_at": time.Now(), "addr": first.String()}})

	d := newDriverWith(t, dir, nil, box)
	if err := d.Recover(t.Context()); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if pid, ok := d.PID("r-b", "b-1"); !ok || pid != p.Pid() {
		t.Fatalf("b-1 not re-adopted: %d %v", pid, ok)
	}
	var a string
	for deadline := time.Now().Add(10 * time.Second); a == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		a = persistedAddr(t, dir, "r-a")
	}
	if a == "" || a == first.String() {
		t.Fatalf("a-1 restarted on %q; b-1 holds %s", a, first)
	}
	if err := d.Stop(t.Context(), "r-a", time.Second); err != nil {
		t.Fatal(err)
	}
}

// startLooseSandboxed starts program in a sandbox as instance id, as a platform that died
// before recording it would have left it, and kills it when t ends.
func startLooseSandboxed(t *testing.T, program, name, id string, uid int) *sandbox.Process {
	t.Helper()
	p, err := sandbox.Start(sandbox.Spec{Program: program, Name: name, UID: uid, GID: uid, Root: t.TempDir(),
		Env: []string{"MICRO_SERVER_ID=" + id}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Release(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-p.Pid(), syscall.SIGKILL) })
	return p
}

// startTicks reads a process's start time from /proc, as the driver records it.
func startTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	v, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// persistedAddr returns the address the state file of workload id records for its first
// instance.
func persistedAddr(t *testing.T, dir, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "workloads", id+".json"))
	if err != nil {
		return ""
	}
	var sf struct {
		Instances []struct {
			Addr string `json:"addr"`
		} `json:"instances"`
	}
	if json.Unmarshal(b, &sf) != nil || len(sf.Instances) == 0 {
		return ""
	}
	return sf.Instances[0].Addr
}
