package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/micro/platform"
)

// helperEnv makes the test binary a helper process instead of running tests; the helper
// waits for a line on stdin, so the test can move it into a group before it does anything.
const helperEnv = "CGROUP_TEST_HELPER"

func TestMain(m *testing.M) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		os.Exit(m.Run())
	}
	_, _ = os.Stdin.Read(make([]byte, 1))
	switch mode {
	case "alloc": // touch 200 MiB in 1 MiB steps
		var keep [][]byte
		for i := 0; i < 200; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
		}
		fmt.Printf("survived with %d MiB\n", len(keep))
	case "spin": // one busy CPU for at most 20 s
		deadline := time.Now().Add(20 * time.Second)
		for n := 0; time.Now().Before(deadline); n++ {
			for i := 0; i < 1_000_000; i++ {
				n ^= i
			}
		}
	}
	os.Exit(0)
}

// realHierarchy is a Hierarchy on this host's cgroups, named for this test process and
// destroyed after the test; the test is skipped where that cannot work.
func realHierarchy(tb testing.TB) (*Hierarchy, Support) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("real cgroups: skipped in -short mode")
	}
	if runtime.GOOS != "linux" {
		tb.Skip("real cgroups: not Linux")
	}
	if os.Geteuid() != 0 {
		tb.Skip("real cgroups: not root")
	}
	h, sup, err := New(fmt.Sprintf("micro-platform-test-%d", os.Getpid()))
	if err != nil {
		tb.Skipf("real cgroups: %v", err)
	}
	tb.Cleanup(func() {
		if err := h.Destroy(); err != nil {
			tb.Errorf("Destroy: %v", err)
		}
	})
	tb.Logf("cgroup v%d: cpu=%v memory=%v pids=%v problems=%q warnings=%q", sup.Version, sup.CPU, sup.Memory, sup.Pids, sup.Problems, sup.Warnings)
	return h, sup
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// helper is a process started for a test and already in its group.
type helper struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error // receives cmd.Wait's result
}

// startInGroup starts cmd, reaps it in the background, adds it to g and then lets it run.
func startInGroup(t testing.TB, g *Group, cmd *exec.Cmd) *helper {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { h.done <- cmd.Wait() }()
	if err := g.Add(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		<-h.done
		t.Fatalf("Add: %v", err)
	}
	_, _ = io.WriteString(stdin, "go\n")
	return h
}

// selfHelper is the test binary run as helper mode.
func selfHelper(mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

func (h *helper) wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-h.done:
		return err
	case <-time.After(timeout):
		_ = h.cmd.Process.Kill()
		<-h.done
		t.Fatalf("helper still running after %s; output: %s", timeout, h.out)
		return nil
	}
}

func signalOf(err error) syscall.Signal {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}

func TestRealMemoryLimitOOMKills(t *testing.T) {
	h, sup := realHierarchy(t)
	if !sup.Memory {
		t.Skipf("memory controller not usable: %q", sup.Problems)
	}
	g, err := h.Create("oom", Limits{MemoryBytes: 64 << 20, Pids: 64})
	if err != nil {
		t.Fatal(err)
	}
	before, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	p := startInGroup(t, g, selfHelper("alloc"))
	err = p.wait(t, 60*time.Second)
	if sig := signalOf(err); sig != syscall.SIGKILL {
		t.Fatalf("helper ended with %v (signal %v), want SIGKILL by the OOM killer; output: %s", err, sig, p.out)
	}
	s, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats after OOM: %+v", s)
	if !h.oomKill {
		t.Skip("kernel does not count OOM kills in memory.oom_control; SIGKILL seen")
	}
	if s.OOMKills < 1 || !g.OOMKilled(before) {
		t.Errorf("OOMKills = %d (before %d), OOMKilled = %v; want a kill counted", s.OOMKills, before.OOMKills, g.OOMKilled(before))
	}
}

func TestRealCPULimitThrottles(t *testing.T) {
	h, sup := realHierarchy(t)
	if !sup.CPU {
		t.Skipf("cpu controller not usable: %q", sup.Problems)
	}
	if _, ok := h.dirs[cpuacct]; !ok && sup.Version == 1 {
		t.Skip("no cpuacct: CPU time cannot be measured")
	}
	g, err := h.Create("cpu", Limits{CPUMillis: 100})
	if err != nil {
		t.Fatal(err)
	}
	p := startInGroup(t, g, selfHelper("spin"))
	time.Sleep(300 * time.Millisecond) // past start-up and the first periods
	s0, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	time.Sleep(time.Second)
	s1, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(t0)
	share := float64(s1.CPUNanos-s0.CPUNanos) / float64(wall.Nanoseconds())
	t.Logf("CPU share with a 100m limit: %.3f of a CPU over %s", share, wall)
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if sig := signalOf(p.wait(t, 10*time.Second)); sig != syscall.SIGKILL {
		t.Errorf("helper not killed by Remove (signal %v)", sig)
	}
	// 10% is the quota; 20% leaves room for accounting slack. Any time at all shows the
	// helper ran: on a host saturated by other tests it may get far less than its quota.
	if share > 0.20 || share <= 0 {
		t.Errorf("CPU share = %.3f, want about 0.10 (above 0, at most 0.20)", share)
	}
}

func TestRealPidsLimitStopsForks(t *testing.T) {
	h, sup := realHierarchy(t)
	if !sup.Pids {
		t.Skipf("pids controller not usable: %q", sup.Problems)
	}
	const limit = 16
	g, err := h.Create("pids", Limits{Pids: limit})
	if err != nil {
		t.Fatal(err)
	}
	script := `read x; i=0; while [ $i -lt 100 ]; do sleep 60 & i=$((i+1)); done; wait`
	p := startInGroup(t, g, exec.Command("/bin/sh", "-c", script))
	// The shell either gives up at the first failed fork or keeps failing; either way the
	// group settles at the limit.
	// The group reaches the limit, and the fork after it is refused (counted in
	// pids.events); on a loaded machine that fork may come a while after the last one
	// that worked.
	var n int
	var events []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ps, err := g.Pids()
		if err != nil {
			t.Fatal(err)
		}
		n = len(ps)
		if events, err = os.ReadFile(path.Join(g.dirs[pids], "pids.events")); err != nil {
			t.Fatal(err)
		}
		if max, ok := keyed(events, "max"); ok && max > 0 && n >= limit-1 { // the shell may have given up and exited
			break
		}
	}
	t.Logf("processes in group: %d; pids.events: %s; shell output: %q", n, strings.TrimSpace(string(events)), p.out.String())
	if n > limit || n < limit/2 {
		t.Errorf("%d processes in the group, want at most %d and not far below", n, limit)
	}
	if max, ok := keyed(events, "max"); !ok || max == 0 {
		t.Errorf("pids.events max = %d, want forks refused", max)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 10*time.Second)
}

func TestRealRemoveKillsAndCleansUp(t *testing.T) {
	h, _ := realHierarchy(t)
	g, err := h.Create("remove", Limits{CPUMillis: 500, MemoryBytes: 128 << 20, Pids: 32})
	if err != nil {
		t.Fatal(err)
	}
	p := startInGroup(t, g, exec.Command("/bin/sh", "-c", "read x; sleep 60 & sleep 60 & wait"))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ps, err := g.Pids()
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes in group: %v, want the shell and two sleeps", ps)
		}
	}
	if ids, err := h.List(); err != nil || len(ids) != 1 || ids[0] != "remove" {
		t.Fatalf("List = %v, %v; want [remove]", ids, err)
	}
	start := time.Now()
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Remove with 3 processes took %s", time.Since(start))
	if sig := signalOf(p.wait(t, 5*time.Second)); sig != syscall.SIGKILL {
		t.Errorf("shell ended with signal %v, want SIGKILL", sig)
	}
	for _, d := range g.Paths() {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still exists (%v)", d, err)
		}
	}
	if ids, err := h.List(); err != nil || len(ids) != 0 {
		t.Errorf("List after Remove = %v, %v; want none", ids, err)
	}
	if _, err := h.Open("remove"); !platform.IsNotFound(err) {
		t.Errorf("Open after Remove: %v, want not_found", err)
	}
	if err := g.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestRealCreateUpdatesLimits(t *testing.T) {
	h, sup := realHierarchy(t)
	for _, l := range []Limits{
		{CPUMillis: 250, MemoryBytes: 256 << 20, Pids: 100},
		{CPUMillis: 2000, MemoryBytes: 2 << 30, Pids: 1000}, // raise: memsw must go first
		{CPUMillis: 100, MemoryBytes: 128 << 20, Pids: 10},  // lower again
		{}, // no limits
	} {
		g, err := h.Create("update", l)
		if err != nil {
			t.Fatalf("Create(%+v): %v", l, err)
		}
		if sup.Version != 1 {
			continue
		}
		want := map[string]string{}
		if sup.Memory {
			mem := fmt.Sprint(l.MemoryBytes)
			if l.MemoryBytes == 0 {
				mem = "9223372036854771712" // the kernel's "no limit", page aligned
			}
			want[path.Join(g.dirs[memory], "memory.limit_in_bytes")] = mem
			if h.memsw {
				want[path.Join(g.dirs[memory], "memory.memsw.limit_in_bytes")] = mem
			}
		}
		if sup.CPU {
			want[path.Join(g.dirs[cpu], "cpu.cfs_quota_us")] = map[bool]string{true: "-1", false: fmt.Sprint(l.CPUMillis * 100)}[l.CPUMillis == 0]
		}
		if sup.Pids {
			want[path.Join(g.dirs[pids], "pids.max")] = maxOr(l.Pids)
		}
		for file, v := range want {
			b, err := os.ReadFile(file)
			if got := strings.TrimSpace(string(b)); err != nil || got != v {
				t.Errorf("after Create(%+v): %s = %q, %v; want %q", l, file, got, err, v)
			}
		}
	}
	if _, err := h.Open("update"); err != nil {
		t.Errorf("Open: %v", err)
	}
}

// BenchmarkCreateAddRemove is the cgroup cost of one instance start and stop: create the
// group with limits, move a process in, kill it and remove the group. Starting the process
// is not timed.
func BenchmarkCreateAddRemove(b *testing.B) {
	h, _ := realHierarchy(b)
	l := Limits{CPUMillis: 250, MemoryBytes: 256 << 20, Pids: 256}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		b.StartTimer()
		g, err := h.Create(fmt.Sprintf("bench-%d", i), l)
		if err != nil {
			b.Fatal(err)
		}
		if err := g.Add(cmd.Process.Pid); err != nil {
			b.Fatal(err)
		}
		if err := g.Remove(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		<-done
		b.StartTimer()
	}
}

// BenchmarkCreateRemove is Create and Remove of an empty group.
func BenchmarkCreateRemove(b *testing.B) {
	h, _ := realHierarchy(b)
	l := Limits{CPUMillis: 250, MemoryBytes: 256 << 20, Pids: 256}
	for i := 0; b.Loop(); i++ {
		g, err := h.Create(fmt.Sprintf("bench-%d", i), l)
		if err != nil {
			b.Fatal(err)
		}
		if err := g.Remove(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStats is one Stats sample, the runtime's periodic cost per instance.
func BenchmarkStats(b *testing.B) {
	h, _ := realHierarchy(b)
	g, err := h.Create("stats", Limits{MemoryBytes: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := g.Stats(); err != nil {
			b.Fatal(err)
		}
	}
}
