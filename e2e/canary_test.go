package e2e

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
)

// versionedHelloworld writes a copy of examples/helloworld whose answer names the
// version that gave it: "Hello NAME from vN" (MICRO_SERVER_VERSION, set by the platform).
func versionedHelloworld(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "helloworld")
	must(t, os.CopyFS(dir, os.DirFS("../examples/helloworld")))
	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	must(t, err)
	out := strings.Replace(string(src), `rsp.Message = "Hello " + req.Name`, `rsp.Message = "Hello " + req.Name + " from " + os.Getenv("MICRO_SERVER_VERSION")`, 1)
	out = strings.Replace(out, "\t\"log\"\n", "\t\"log\"\n\t\"os\"\n", 1)
	if out == string(src) || !strings.Contains(out, `"os"`) {
		t.Fatal("examples/helloworld/main.go changed: the test cannot make it name its version")
	}
	must(t, os.WriteFile(main, []byte(out), 0o644))
	return dir
}

// callVersion calls helloworld through the gateway, with header Micro-Version set when
// version is, and returns the version that answered.
func (s *serverProc) callVersion(version, name string) (string, error) {
	req, err := http.NewRequest(http.MethodPost, s.url()+"/api/helloworld/Helloworld.Call", strings.NewReader(fmt.Sprintf(`{"name":%q}`, name)))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Micro-Namespace", "acme")
	if version != "" {
		req.Header.Set("Micro-Version", version)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	_, v, ok := strings.Cut(string(b), "Hello "+name+" from ")
	if resp.StatusCode != 200 || !ok {
		return "", fmt.Errorf("%d %s", resp.StatusCode, b)
	}
	return strings.TrimSuffix(strings.TrimSpace(v), `"}`), nil
}

// countVersionsAnswering makes n calls from 4 callers and counts the versions that
// answered.
func (s *serverProc) countVersionsAnswering(t *testing.T, n int, version string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	calls := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range calls {
				v, err := s.callVersion(version, fmt.Sprintf("caller-%d", i))
				if err != nil {
					v = "error: " + err.Error()
				}
				mu.Lock()
				seen[v]++
				mu.Unlock()
			}
		})
	}
	for i := range n {
		calls <- i
	}
	close(calls)
	wg.Wait()
	return seen
}

// versionPID returns the pid of the instance process of version, 0 if none.
func versionPID(t *testing.T, dir, version string) int {
	for _, p := range testenv.Instances(t, dir) {
		if p.Env["MICRO_SERVER_VERSION"] == version {
			return p.PID
		}
	}
	return 0
}

// TestCanaryAndPromoteUnderLoad deploys v1, then v2 as a 10% canary: over 2,000 gateway
// calls v2 answers 10% (±3 points) and v1 the rest, a call with Micro-Version: v2 always
// reaches v2; then promote, under continuous load, loses no call and stops v1.
func TestCanaryAndPromoteUnderLoad(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.must(t, "namespaces", "create", "acme")
	src := versionedHelloworld(t)
	s.must(t, "deploy", src, "-n", "acme", "--name", "helloworld")
	if r := s.platform(t, "deploy", src, "-n", "acme", "--name", "helloworld", "--canary", "10"); r.code != 0 || !strings.Contains(r.stdout, "is a canary taking 10% of the calls") {
		t.Fatalf("canary deploy: %s", r)
	}
	ctx := context.Background()
	svc, err := s.client().GetService(ctx, "acme", "helloworld")
	must(t, err)
	canary, err := s.client().GetRelease(ctx, "acme", svc.DesiredRelease)
	must(t, err)
	if canary.Version != "v2" || canary.Status != platform.ReleaseCanary || canary.Canary != 10 || svc.Version != "v1" {
		t.Fatalf("canary release %s %s %d%%, service at %s", canary.Version, canary.Status, canary.Canary, svc.Version)
	}
	if n := countVersions(t, s.dir); n["v1"] != 1 || n["v2"] != 1 {
		t.Fatalf("instances by version: %v, want one of each", n)
	}

	seen := s.countVersionsAnswering(t, 2000, "")
	share := float64(seen["v2"]) * 100 / 2000
	t.Logf("2000 calls at 10%%: %v (v2 %.2f%%)", seen, share)
	if seen["v1"]+seen["v2"] != 2000 || math.Abs(share-10) > 3 {
		t.Errorf("2000 calls at a 10%% canary: %v (v2 %.2f%%), want v2 at 10±3%% and no failure", seen, share)
	}
	if pinned := s.countVersionsAnswering(t, 200, "v2"); pinned["v2"] != 200 {
		t.Errorf("Micro-Version: v2 reached %v, want v2 every time", pinned)
	}

	canaryPID := versionPID(t, s.dir, "v2")
	l := startLoad(s, "acme", 4)
	time.Sleep(time.Second)
	if r := s.platform(t, "promote", "helloworld", "-n", "acme"); r.code != 0 || !strings.Contains(r.stdout, "Promoted helloworld v2") {
		t.Fatalf("promote: %s", r)
	}
	eventually(t, "v1's instance is gone", func() bool {
		n := countVersions(t, s.dir)
		return n["v1"] == 0 && n["v2"] == 1
	})
	if pid := versionPID(t, s.dir, "v2"); pid != canaryPID {
		t.Errorf("v2's instance is pid %d after the promotion, want the canary's %d kept", pid, canaryPID)
	}
	// Calls still in flight when the load stops are not judged: they must not be
	// stuck either.
	atGone := l.ok.Load()
	time.Sleep(time.Second)
	if l.ok.Load() == atGone {
		t.Errorf("no call succeeded in the second after v1 stopped: calls are stuck")
	}
	ok, failed := l.stop()
	if len(failed) > 0 {
		t.Errorf("%d of %d calls failed across the promotion; first: %v", len(failed), ok+int64(len(failed)), failed[:min(5, len(failed))])
	}
	if ok < 50 {
		t.Errorf("only %d calls succeeded", ok)
	}
	t.Logf("%d calls across the promotion, none failed", ok)

	if after := s.countVersionsAnswering(t, 100, ""); after["v2"] != 100 {
		t.Errorf("after the promotion: %v, want v2 every time", after)
	}
	rels, err := s.client().ListReleases(ctx, "acme", "helloworld")
	must(t, err)
	status := map[string]platform.ReleaseStatus{}
	for _, r := range rels {
		status[r.Version] = r.Status
	}
	if status["v2"] != platform.ReleaseLive || status["v1"] != platform.ReleaseSuperseded {
		t.Errorf("releases after the promotion: %v", status)
	}
	if events := s.must(t, "events", "-n", "acme", "--type", "release.canary"); !strings.Contains(events, "v2 takes 10% of calls") {
		t.Errorf("release.canary events:\n%s", events)
	}
}
