package builder_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/builder"
)

// fakeGo is a go command for the warm-up's tests: `go env` answers what builder.New
// asks; every other invocation appends its arguments to DIR/calls, writes its pid to
// DIR/pid.N and its nice value to DIR/nice.N (N counting invocations from 1), then, for
// `go build`, sleeps FAKE_GO_SLEEP seconds (0 by default), and exits FAKE_GO_EXIT (0 by
// default).
const fakeGo = `#!/bin/sh
dir="$(dirname "$0")"
if [ "$1" = env ]; then
	echo go1.26.0; echo "$dir/cache"; echo "$dir/modcache"
	exit 0
fi
echo "$*" >>"$dir/calls"
n=$(wc -l <"$dir/calls")
echo $$ >"$dir/pid.$n"
cut -d' ' -f19 /proc/$$/stat >"$dir/nice.$n" 2>/dev/null
if [ "$1" = build ] && [ "${FAKE_GO_SLEEP:-0}" != 0 ]; then exec sleep "$FAKE_GO_SLEEP"; fi
echo "fake go output"
exit "${FAKE_GO_EXIT:-0}"
`

// newFakeGoBuilder returns a builder whose go command is fakeGo, with env added to the go
// command's environment, and the directory that holds fakeGo and its records.
func newFakeGoBuilder(t *testing.T, env ...string) (*builder.Builder, string) {
	t.Helper()
	goDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(goDir, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	b := newBuilder(t, func(o *builder.Options) {
		o.GoBinary = filepath.Join(goDir, "go")
		o.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	})
	return b, goDir
}

// calls returns the fake go command's invocations so far.
func calls(t *testing.T, goDir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goDir, "calls"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

var warmMicro = builder.WarmOptions{Module: "go-micro.dev/v5", Version: "v5.30.0"}

func TestWarmRunsOnceThenSkips(t *testing.T) {
	t.Parallel()
	b, goDir := newFakeGoBuilder(t)
	res, err := b.Warm(context.Background(), warmMicro)
	if err != nil {
		t.Fatalf("Warm: %v", err)
	}
	if res.Skipped {
		t.Fatal("first Warm skipped")
	}
	want := []string{"list -deps -f {{.ImportPath}} go-micro.dev/v5", "build -trimpath go-micro.dev/v5"}
	if got := calls(t, goDir); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("go invocations = %q, want %q", got, want)
	}
	if runtime.GOOS == "linux" {
		// The download holds module locks a real build may wait for: normal priority.
		for i, want := range []string{"0", "19"} {
			got, _ := os.ReadFile(filepath.Join(goDir, "nice."+strconv.Itoa(i+1)))
			if strings.TrimSpace(string(got)) != want {
				t.Errorf("nice value of `go %s` = %q, want %s", strings.Fields(calls(t, goDir)[i])[0], got, want)
			}
		}
	}
	dir := filepath.Join(b.Options().Dir, "warm")
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !strings.Contains(string(gomod), "\nrequire go-micro.dev/v5 v5.30.0\n") || !strings.Contains(string(gomod), "\ngo 1.26.0\n") {
		t.Errorf("go.mod = %q, %v; want it to require go-micro.dev/v5 v5.30.0 at go 1.26.0", gomod, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		t.Errorf("no marker after a warm-up: %v", err)
	}

	res, err = b.Warm(context.Background(), warmMicro)
	if err != nil || !res.Skipped {
		t.Fatalf("second Warm = %+v, %v; want skipped", res, err)
	}
	if got := calls(t, goDir); len(got) != 2 {
		t.Errorf("second Warm ran the go command: %q", got)
	}

	// Another version is another warm-up; so is a marker older than WarmMaxAge.
	other := warmMicro
	other.Version = "v5.31.0"
	if res, err := b.Warm(context.Background(), other); err != nil || res.Skipped {
		t.Fatalf("Warm of another version = %+v, %v; want it run", res, err)
	}
	if gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod")); !strings.Contains(string(gomod), "go-micro.dev/v5 v5.31.0") {
		t.Errorf("go.mod not rewritten for the new version: %q", gomod)
	}
	old := time.Now().Add(-builder.WarmMaxAge - time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "done"), old, old); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Warm(context.Background(), other); err != nil || res.Skipped {
		t.Fatalf("Warm after the marker expired = %+v, %v; want it run", res, err)
	}
	if got := calls(t, goDir); len(got) != 6 {
		t.Errorf("go invocations = %d, want 6: %q", len(got), got)
	}
}

func TestWarmFailureLeavesNoMarker(t *testing.T) {
	t.Parallel()
	b, _ := newFakeGoBuilder(t, "FAKE_GO_EXIT=1")
	_, err := b.Warm(context.Background(), warmMicro)
	if platform.ErrorCode(err) != platform.EUNAVAILABLE || !strings.Contains(err.Error(), "fake go output") {
		t.Fatalf("Warm error = %v, want EUNAVAILABLE quoting the go command", err)
	}
	if _, err := os.Stat(filepath.Join(b.Options().Dir, "warm", "done")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marker after a failed warm-up: %v", err)
	}
	if _, err := b.Warm(context.Background(), builder.WarmOptions{Module: "go-micro.dev/v5"}); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("Warm without a version: %v, want EINVALID", err)
	}
}

// TestWarmIdleAndCancelled checks that the go command runs at idle priority (read from
// /proc while it runs), that the server's own threads keep theirs, and that cancelling
// the context kills it and marks nothing. It does not run in parallel: it counts this
// process's threads, and other warm-ups would lower some.
func TestWarmIdleAndCancelled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("idle priority is Linux only")
	}
	b, goDir := newFakeGoBuilder(t, "FAKE_GO_SLEEP=60")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		res builder.WarmResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := b.Warm(ctx, warmMicro)
		done <- result{res, err}
	}()

	pid := waitPid(t, filepath.Join(goDir, "pid.2")) // go build
	nice, policy := schedOf(t, "/proc/"+strconv.Itoa(pid)+"/stat")
	if nice != 19 || policy != 5 { // SCHED_IDLE
		t.Errorf("go command: nice %d, policy %d; want 19 and 5 (SCHED_IDLE)", nice, policy)
	}
	if n := lowThreads(); n != 1 {
		t.Errorf("%d threads of this process at low priority while the go command runs, want 1 (the one waiting for it)", n)
	}

	start := time.Now()
	cancel()
	select {
	case r := <-done:
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("Warm after cancel = %+v, %v; want context.Canceled", r.res, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Warm did not return within 10s of the cancel")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Warm took %s to stop", d)
	}
	if err := processGone(pid); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(b.Options().Dir, "warm", "done")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marker after a cancelled warm-up: %v", err)
	}
	// Every thread of this process is back at normal priority: the waiting one is gone.
	for deadline := time.Now().Add(2 * time.Second); lowThreads() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := lowThreads(); n != 0 {
		t.Errorf("%d threads of this process at low priority after the warm-up, want 0", n)
	}
}

// lowThreads counts this process's threads whose nice value or policy is not the normal
// one.
func lowThreads() int {
	n := 0
	tasks, _ := filepath.Glob("/proc/self/task/*/stat")
	for _, task := range tasks {
		if nice, policy, ok := trySchedOf(task); ok && (nice != 0 || policy != 0) {
			n++
		}
	}
	return n
}

// waitPid waits for the fake go command to write its pid to path.
func waitPid(t *testing.T, path string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return pid
		}
	}
	t.Fatalf("no pid in %s after 10s", path)
	return 0
}

// schedOf returns the nice value and scheduling policy in a /proc stat file.
func schedOf(t *testing.T, stat string) (nice, policy int) {
	t.Helper()
	nice, policy, ok := trySchedOf(stat)
	if !ok {
		t.Fatalf("read %s", stat)
	}
	return nice, policy
}

func trySchedOf(stat string) (nice, policy int, ok bool) {
	b, err := os.ReadFile(stat)
	if err != nil {
		return 0, 0, false
	}
	// Fields after the command's ")": state is field 3, nice 19, policy 41.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 39 {
		return 0, 0, false
	}
	nice, err1 := strconv.Atoi(f[19-3])
	policy, err2 := strconv.Atoi(f[41-3])
	return nice, policy, err1 == nil && err2 == nil
}

// processGone waits up to 5 s for pid to be gone (or a zombie nobody waits for).
func processGone(pid int) error {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return nil
		}
		if s := string(b); strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0] == "Z" {
			return nil
		}
	}
	return errors.New("the go command still runs 5s after the cancel")
}
