package e2e

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/micro/platform/internal/testenv"
)

// workloadState is the part of the local runtime's state files the attack needs.
type workloadState struct {
	Spec struct {
		Namespace string `json:"namespace"`
		Service   string `json:"service"`
		Artifact  string `json:"artifact"`
	} `json:"spec"`
	Instances []struct {
		Addr string `json:"addr"`
	} `json:"instances"`
}

// TestTenantCodeIsConfined deploys a hostile service into namespace a and a victim with
// fixed ports into namespace b on the embedded default, and has the hostile one go after
// the platform's keys and database, b's processes, files and ports, the platform's API and
// the host's services, and more memory than its size. Every attempt must be refused,
// while the namespace's own mesh stays reachable.
func TestTenantCodeIsConfined(t *testing.T) {
	skipShort(t)
	if os.Geteuid() != 0 {
		t.Skip("the sandbox needs root")
	}
	t.Parallel()
	s := startServer(t, t.TempDir())
	if regions := s.must(t, "regions"); !containsRow(regions, "local", "sandboxed") {
		t.Fatalf("the local region is not sandboxed on this host:\n%s", regions)
	}
	for _, ns := range []string{"a", "b"} {
		s.must(t, "namespaces", "create", ns)
	}
	s.must(t, "deploy", "./e2e/testdata/attacker", "-n", "a")
	s.must(t, "deploy", "./examples/orders", "-n", "b", "--replicas", "2")

	// What the attacker goes after, as the host sees it.
	var victimPID int
	var natsAddr string
	for _, p := range testenv.Instances(t, s.dir) {
		u, err := url.Parse(p.Env["MICRO_REGISTRY_ADDRESS"])
		must(t, err)
		natsAddr = u.Host
		if strings.HasPrefix(u.User.Username(), "ns-b") {
			victimPID = p.PID
		}
	}
	if victimPID == 0 {
		t.Fatal("no instance of b found")
	}
	var victimArtifact, victimAddr string
	states, _ := filepath.Glob(filepath.Join(s.dir, "runtime", "workloads", "*.json"))
	for _, path := range states {
		b, err := os.ReadFile(path)
		must(t, err)
		var st workloadState
		must(t, json.Unmarshal(b, &st))
		if st.Spec.Namespace == "b" && len(st.Instances) > 0 {
			victimArtifact, victimAddr = st.Spec.Artifact, st.Instances[0].Addr
		}
	}
	if victimArtifact == "" || victimAddr == "" {
		t.Fatalf("no state of b's workload with an address in %v", states)
	}
	gw, _, err := net.SplitHostPort(natsAddr)
	must(t, err)
	// A host service on every interface: reachable from the host's network, not from an
	// instance's.
	wild, err := net.Listen("tcp", ":0")
	must(t, err)
	defer wild.Close()
	go func() {
		for {
			c, err := wild.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	wildPort := strconv.Itoa(wild.Addr().(*net.TCPAddr).Port)
	_, apiPort, _ := net.SplitHostPort(s.addr)

	targets := map[string]any{
		"read": []string{
			s.dir, filepath.Join(s.dir, "admin.token"), filepath.Join(s.dir, "secret.key"),
			filepath.Join(s.dir, "platform.db"), victimArtifact, filepath.Dir(victimArtifact),
			"/proc/" + strconv.Itoa(victimPID) + "/environ", "/root", "/etc/shadow",
		},
		"write":  []string{victimArtifact, "/app/attacker", "/etc/passwd"},
		"signal": []int{victimPID, os.Getpid()},
		"escape": true,
		"dial": []string{
			s.addr, net.JoinHostPort(gw, apiPort), net.JoinHostPort(gw, wildPort), "127.0.0.1:" + wildPort,
			net.JoinHostPort(victimAddr, "9090"), net.JoinHostPort(victimAddr, "8081"), natsAddr,
		},
	}
	body, _ := json.Marshal(targets)
	out := s.must(t, "call", "attacker", "Attack.Run", string(body), "-n", "a")
	var got struct {
		Results map[string]string `json:"results"`
		Procs   int               `json:"procs"`
		UID     int               `json:"uid"`
	}
	must(t, json.Unmarshal([]byte(out), &got))
	t.Logf("attack results: %s", out)
	if got.UID == 0 {
		t.Error("the tenant's code runs as root")
	}
	if got.Procs != 1 {
		t.Errorf("the tenant's code sees %d processes, want only its own", got.Procs)
	}
	for what, res := range got.Results {
		allowed := what == "dial "+natsAddr // its namespace's mesh
		if ok := strings.HasPrefix(res, "ok:"); ok != allowed {
			t.Errorf("%s: %s (want refused: %v)", what, res, !allowed)
		}
	}
	// The victim is untouched.
	if alive := testenv.Instances(t, s.dir); len(alive) != 3 {
		t.Errorf("%d instances alive after the attack, want 3", len(alive))
	}
	if out := s.must(t, "call", "orders", "Status.Check", `{}`, "-n", "b"); !strings.Contains(out, "200 OK") {
		t.Errorf("victim after the attack: %s", out)
	}

	// More CPU than its size (nano: 100m): the cgroup's quota holds it to a tenth of a core.
	checkCPULimit(t, s, "a")

	// More memory than its size (nano, 128 MiB): the kernel kills it, the event says why.
	if r := s.platform(t, "call", "attacker", "Attack.Hog", `{"mib":400}`, "-n", "a"); r.code == 0 {
		t.Errorf("allocating 400 MiB in a 128 MiB instance succeeded: %s", r.stdout)
	}
	eventually(t, "an out-of-memory event", func() bool {
		return strings.Contains(s.must(t, "events", "-n", "a"), "out of memory")
	})
}

// checkCPULimit has the attacker of namespace ns spin two threads for 3 s: a nano instance
// (100m) must get no more than about a tenth of a core.
func checkCPULimit(t *testing.T, s *serverProc, ns string) {
	t.Helper()
	var burn struct {
		CPU  int64 `json:"cpu_millis"`
		Wall int64 `json:"wall_millis"`
	}
	must(t, json.Unmarshal([]byte(s.must(t, "call", "attacker", "Attack.Burn", `{"threads":2,"millis":3000}`, "-n", ns)), &burn))
	cores := float64(burn.CPU) / float64(burn.Wall)
	if burn.Wall < 2900 || cores > 0.2 {
		t.Errorf("two spinning threads got %d ms of CPU in %d ms (%.2f cores), want at most ~0.1 core (nano)", burn.CPU, burn.Wall, cores)
		return
	}
	t.Logf("CPU limit: two spinning threads got %d ms of CPU in %d ms (%.2f cores)", burn.CPU, burn.Wall, cores)
}
