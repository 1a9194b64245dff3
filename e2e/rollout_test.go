package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
)

// load calls helloworld through the gateway from n callers until stop is called, and
// reports how many calls succeeded and the failures.
type load struct {
	ok     atomic.Int64
	mu     sync.Mutex
	failed []string
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startLoad(s *serverProc, ns string, n int) *load {
	l := &load{}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for i := range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for ctx.Err() == nil {
				status, body, err := s.gateway(s.token, ns, "helloworld", "Helloworld.Call", fmt.Sprintf(`{"name":"caller-%d"}`, i))
				if ctx.Err() != nil {
					return
				}
				if err != nil || status != 200 || !strings.Contains(body, "Hello caller") {
					l.mu.Lock()
					l.failed = append(l.failed, fmt.Sprintf("%s: %d %s %v", time.Now().Format("15:04:05.000"), status, strings.TrimSpace(body), err))
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	return l
}

func (l *load) stop() (ok int64, failed []string) {
	l.cancel()
	l.wg.Wait()
	return l.ok.Load(), l.failed
}

// crashingService writes a service that exits at once with an error.
func crashingService(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "crasher")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/crasher\n\ngo 1.24\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(`package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "panic: cannot connect to the database")
	os.Exit(3)
}
`), 0o644))
	return dir
}

// TestRolloutUnderLoad: calls through the gateway never fail while a new version rolls
// out, and a version that exits at once leaves the old one serving.
func TestRolloutUnderLoad(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := startServer(t, t.TempDir(), "--rollout-timeout", "40s")
	s.must(t, "namespaces", "create", "acme")
	s.must(t, "deploy", "./examples/helloworld", "-n", "acme", "--replicas", "2")

	l := startLoad(s, "acme", 4)
	time.Sleep(time.Second)
	s.must(t, "deploy", "./examples/helloworld", "-n", "acme", "--replicas", "2", "--env", "ROLLOUT=2")

	r := s.platform(t, "deploy", crashingService(t), "-n", "acme", "--name", "helloworld")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "cannot connect to the database") {
		t.Errorf("deploying a crashing version: want a failure with the crash output, got %s", r)
	}
	broken := crashingService(t)
	must(t, os.WriteFile(filepath.Join(broken, "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644))
	r = s.platform(t, "deploy", broken, "-n", "acme", "--name", "helloworld")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "undefined: undefinedThing") {
		t.Errorf("deploying a version that does not compile: want the compiler's error, got %s", r)
	}
	time.Sleep(time.Second)
	ok, failed := l.stop()
	if len(failed) > 0 {
		t.Errorf("%d of %d calls failed during the rollouts; first: %v", len(failed), ok+int64(len(failed)), failed[:min(5, len(failed))])
	}
	if ok < 50 {
		t.Errorf("only %d calls succeeded", ok)
	}
	t.Logf("%d calls, none failed, across a rollout, a crashing release and a broken build", ok)

	views := decode[[]platform.ServiceView](t, s.must(t, "services", "-n", "acme", "-o", "json"))
	if len(views) != 1 || views[0].Version != "v2" || views[0].Status != platform.ServiceRunning {
		t.Fatalf("after the failed release: %+v", views)
	}
	if events := s.must(t, "events", "-n", "acme", "--type", "release.failed"); !strings.Contains(events, "v3") || !strings.Contains(events, "v4") {
		t.Errorf("release.failed events:\n%s", events)
	}
	if events := s.must(t, "events", "-n", "acme", "--type", "build.failed"); !strings.Contains(events, "undefinedThing") {
		t.Errorf("build.failed events:\n%s", events)
	}
	eventually(t, "exactly the two v2 instances run", func() bool {
		return countVersions(t, s.dir)["v2"] == 2 && len(testenv.Instances(t, s.dir)) == 2
	})
}

// countVersions counts the instance processes of a data dir by MICRO_SERVER_VERSION.
func countVersions(t *testing.T, dir string) map[string]int {
	n := map[string]int{}
	for _, p := range testenv.Instances(t, dir) {
		n[p.Env["MICRO_SERVER_VERSION"]]++
	}
	return n
}

// TestKill9Converges kills the server with SIGKILL mid-rollout and mid-build; after a
// restart exactly the desired instances run: none twice, none orphaned.
func TestKill9Converges(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	s.must(t, "namespaces", "create", "acme")
	s.must(t, "deploy", "./examples/helloworld", "-n", "acme", "--replicas", "2")
	ctx := context.Background()

	deployDetached := func(s *serverProc, args ...string) *platform.Release {
		t.Helper()
		s.must(t, append([]string{"deploy", "./examples/helloworld", "-n", "acme", "--replicas", "2", "--detach"}, args...)...)
		svc, err := s.client().GetService(ctx, "acme", "helloworld")
		must(t, err)
		r, err := s.client().GetRelease(ctx, "acme", svc.DesiredRelease)
		must(t, err)
		return r
	}
	waitStatus := func(s *serverProc, id string, want platform.ReleaseStatus) {
		t.Helper()
		eventually(t, "release "+string(want), func() bool {
			r, err := s.client().GetRelease(ctx, "acme", id)
			return err == nil && r.Status == want
		})
	}

	// Mid-rollout.
	r2 := deployDetached(s, "--env", "V=2")
	waitStatus(s, r2.ID, platform.ReleaseRollingOut)
	s.kill9()
	s = startServer(t, dir)
	waitStatus(s, r2.ID, platform.ReleaseLive)
	eventually(t, "exactly two v2 instances", func() bool {
		n := countVersions(t, dir)
		return n["v2"] == 2 && len(n) == 1
	})

	// Mid-build: a changed source compiles for real.
	src := filepath.Join(t.TempDir(), "helloworld")
	must(t, os.CopyFS(src, os.DirFS("../examples/helloworld")))
	f, err := os.OpenFile(filepath.Join(src, "main.go"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	fmt.Fprintln(f, "\n// changed for the kill -9 test")
	f.Close()
	s.must(t, "deploy", src, "-n", "acme", "--name", "helloworld", "--replicas", "2", "--detach")
	svc, err := s.client().GetService(ctx, "acme", "helloworld")
	must(t, err)
	waitStatus(s, svc.DesiredRelease, platform.ReleaseBuilding)
	s.kill9()
	s = startServer(t, dir)
	waitStatus(s, svc.DesiredRelease, platform.ReleaseLive)
	eventually(t, "exactly two v3 instances", func() bool {
		n := countVersions(t, dir)
		return n["v3"] == 2 && len(n) == 1
	})
	time.Sleep(2 * time.Second) // a few reconcile rounds: nothing else appears
	if n := countVersions(t, dir); n["v3"] != 2 || len(n) != 1 {
		t.Errorf("instances by version after settling: %v", n)
	}
	if out, err := s.client().Call(ctx, "acme", "helloworld", "Helloworld.Call", []byte(`{"name":"again"}`), ""); err != nil || !strings.Contains(string(out), "Hello again") {
		t.Errorf("call after restarts: %s %v", out, err)
	}
}
