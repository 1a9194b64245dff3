package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
)

// agentProc is a running `platform agent`.
type agentProc struct {
	t       *testing.T
	region  string
	dir     string
	args    []string
	cmd     *exec.Cmd
	out     *testenv.Buffer
	gateway string
	exited  chan struct{}
}

var agentRE = regexp.MustCompile(`msg="agent started".* gateway=(\S+)`)

// startAgent registers region name on cp (once), issues it a token and starts its agent
// with its own data dir, NATS and gateway on 127.0.0.1:0.
func startAgent(t *testing.T, cp *serverProc, name string, extra ...string) *agentProc {
	t.Helper()
	cp.must(t, "regions", "create", name, "--provider", "local", "--location", "loopback")
	out := cp.must(t, "regions", "token", name)
	m := regexp.MustCompile(`--token (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("regions token printed no token:\n%s", out)
	}
	dir := t.TempDir()
	args := []string{"agent", "--region", name, "--control", cp.url(), "--token", m[1], "--data", dir,
		"--gateway-addr", "127.0.0.1:0"}
	args = append(args, extra...)
	testenv.RemoveCgroups(t, dir)
	if slices.Contains(extra, "kubernetes") {
		// The cluster runs the instances: no sandbox network.
	} else if bridge, subnet := testenv.SandboxNetwork(t, dir); bridge != "" {
		args = append(args, "--sandbox-bridge", bridge, "--sandbox-subnet", subnet)
	}
	a := &agentProc{t: t, region: name, dir: dir, args: args}
	a.start()
	t.Cleanup(func() {
		a.stop()
		testenv.KillInstances(t, dir)
		if t.Failed() {
			t.Logf("agent %s output:\n%s", name, a.out)
		}
	})
	return a
}

// start runs the agent's process and waits for its gateway address.
func (a *agentProc) start() {
	t := a.t
	t.Helper()
	if a.out == nil {
		a.out = &testenv.Buffer{}
	}
	out := a.out
	var addrc <-chan string
	a.cmd, a.exited, addrc = spawn(t, a.args, out, agentRE)
	exited := a.exited
	select {
	case a.gateway = <-addrc:
	case <-exited:
		t.Fatalf("agent %s exited at start:\n%s", a.region, out)
	case <-time.After(60 * time.Second):
		t.Fatalf("agent %s did not start:\n%s", a.region, out)
	}
}

func (a *agentProc) stop() { stopProcess(a.t, "agent "+a.region, a.cmd, a.exited) }

func (a *agentProc) kill9() {
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.exited
}

// call posts body to the region's gateway.
func (a *agentProc) call(token, ns, service, endpoint, body string) (int, string, error) {
	return gatewayCall("http://"+a.gateway, token, ns, service, endpoint, body)
}

func gatewayCall(base, token, ns, service, endpoint, body string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/api/"+service+"/"+endpoint, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Micro-Namespace", ns)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitServing waits until service answers through every given gateway.
func waitServing(t *testing.T, token, ns, service, endpoint, body, want string, gateways ...string) {
	t.Helper()
	for _, gw := range gateways {
		deadline := time.Now().Add(3 * time.Minute)
		for {
			code, out, err := gatewayCall(gw, token, ns, service, endpoint, body)
			if err == nil && code == 200 && strings.Contains(out, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s through %s: %d %s %v", service, gw, code, out, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// instancePIDs returns the pids of the instances of an agent's or server's data dir.
func instancePIDs(t *testing.T, dir string) map[int]bool {
	t.Helper()
	out := map[int]bool{}
	for _, p := range testenv.Instances(t, dir) {
		out[p.PID] = true
	}
	return out
}

// TestRegions runs a control plane and three agents, each its own process with its own
// data dir and NATS, and checks what an operator and a user see: services placed per
// region, answered by their regions' gateways, per-region status; a region killed and
// restarted converges without duplicates; the control plane killed leaves every region
// serving, and its restart restarts no instance.
func TestRegions(t *testing.T) {
	skipShort(t)
	t.Parallel()
	cp := startServer(t, t.TempDir())
	lon := startAgent(t, cp, "lon1")
	fra := startAgent(t, cp, "fra1")
	nyc := startAgent(t, cp, "nyc1")
	regions := map[string]*agentProc{"lon1": lon, "fra1": fra, "nyc1": nyc}

	eventually(t, "every region connected", func() bool {
		list := decode[[]platform.Region](t, cp.must(t, "regions", "-o", "json"))
		connected := 0
		for _, r := range list {
			if regions[r.Name] != nil && r.Health == platform.RegionConnected {
				connected++
			}
		}
		return connected == 3
	})

	cp.must(t, "namespaces", "create", "acme", "--regions", "lon1,fra1")
	cp.must(t, "deploy", "./examples/helloworld", "-n", "acme", "--replicas", "2")
	cp.must(t, "deploy", "./examples/helloworld", "-n", "acme", "--name", "hello-nyc", "--regions", "nyc1")

	// Each service answers through the gateways of the regions that run it.
	waitServing(t, cp.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Alice"}`, "Hello Alice", "http://"+lon.gateway, "http://"+fra.gateway)
	waitServing(t, cp.token, "acme", "hello-nyc", "Helloworld.Call", `{"name":"Bob"}`, "Hello Bob", "http://"+nyc.gateway)

	// Calls through a region agent's gateway are metered for billing, as that region's.
	for range 5 {
		if code, out, err := nyc.call(cp.token, "acme", "hello-nyc", "Helloworld.Call", `{"name":"Bob"}`); err != nil || code != 200 {
			t.Fatalf("call through nyc1: %d %s %v", code, out, err)
		}
	}
	eventually(t, "nyc1's calls in the usage", func() bool {
		for _, u := range decode[[]platform.UsageRollup](t, cp.must(t, "usage", "-n", "acme", "--region", "nyc1", "-o", "json")) {
			if u.Service == "hello-nyc" && u.Meter == platform.MeterRequests && u.Quantity >= 6 {
				return true
			}
		}
		return false
	})

	// An agent reaches the namespace's MCP endpoint at any region's gateway (nyc1's hands
	// it to the control plane's): the tools of the services of every region, each call
	// routed to a region that runs it.
	mctx, mcancel := context.WithTimeout(context.Background(), time.Minute)
	defer mcancel()
	sess, err := connectMCP(mctx, "http://"+nyc.gateway+"/mcp", cp.token, "acme", nil)
	must(t, err)
	tools, err := sess.ListTools(mctx, nil)
	must(t, err)
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if !slices.Contains(names, "helloworld.Helloworld.Call") || !slices.Contains(names, "hello-nyc.Helloworld.Call") {
		t.Errorf("tools through nyc1's gateway: %v, want helloworld's (lon1, fra1) and hello-nyc's (nyc1)", names)
	}
	for tool, want := range map[string]string{"helloworld.Helloworld.Call": "Hello Eve", "hello-nyc.Helloworld.Call": "Hello Eve"} {
		res, err := sess.CallTool(mctx, &sdk.CallToolParams{Name: tool, Arguments: map[string]any{"name": "Eve"}})
		if err != nil || res.IsError || !strings.Contains(toolText(res), want) {
			t.Errorf("%s through nyc1's MCP endpoint: %v %+v", tool, err, res)
		}
	}
	sess.Close()

	// The user sees where each service runs.
	svcs := decode[[]platform.ServiceView](t, cp.must(t, "services", "-n", "acme", "-o", "json"))
	placed := map[string][]string{}
	for _, s := range svcs {
		for _, r := range s.PerRegion {
			placed[s.Name] = append(placed[s.Name], fmt.Sprintf("%s:%s:%d", r.Region, r.Status, r.Running))
		}
	}
	if got := strings.Join(placed["helloworld"], " "); got != "lon1:running:2 fra1:running:2" {
		t.Errorf("helloworld per region = %q, want lon1 and fra1 running 2 each", got)
	}
	if got := strings.Join(placed["hello-nyc"], " "); got != "nyc1:running:1" {
		t.Errorf("hello-nyc per region = %q, want nyc1 running 1", got)
	}
	if n := len(instancePIDs(t, nyc.dir)); n != 1 {
		t.Errorf("nyc1 runs %d instances, want 1 (hello-nyc only)", n)
	}

	// kill -9 fra1's agent: lon1 keeps serving; the region is reported lost and the
	// service degraded; restarted, it re-adopts its instances (no duplicates).
	// Calls for helloworld through nyc1's gateway (which forwards them) keep going while
	// fra1 dies: any failures stop within the failover target.
	fraPIDs := instancePIDs(t, fra.dir)
	var lastFail atomic.Int64 // unix nanos of the last failed call
	var failures atomic.Int64
	stopCalls := make(chan struct{})
	callsDone := make(chan struct{})
	go func() {
		defer close(callsDone)
		for {
			select {
			case <-stopCalls:
				return
			default:
			}
			if code, _, err := nyc.call(cp.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Ivy"}`); err != nil || code != 200 {
				failures.Add(1)
				lastFail.Store(time.Now().UnixNano())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	fra.kill9()
	time.Sleep(5 * time.Second)
	close(stopCalls)
	<-callsDone
	if n := failures.Load(); n > 0 {
		if window := time.Unix(0, lastFail.Load()).Sub(killed); window > 3*time.Second {
			t.Errorf("calls through nyc1 failed until %s after fra1 died (%d failures), want under 3s", window, n)
		}
		t.Logf("%d calls through nyc1 failed while fra1 died", n)
	}
	eventually(t, "region.lost recorded", func() bool {
		evs := decode[[]platform.Event](t, cp.must(t, "events", "-n", "acme", "-o", "json"))
		for _, e := range evs {
			if e.Type == platform.EventRegionLost && e.Region == "fra1" {
				return true
			}
		}
		return false
	})
	svc := decode[platform.ServiceView](t, cp.must(t, "services", "get", "helloworld", "-n", "acme", "-o", "json"))
	if svc.Status != platform.ServiceDegraded {
		t.Errorf("helloworld with fra1 lost: status %s, want degraded", svc.Status)
	}
	waitServing(t, cp.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Carol"}`, "Hello Carol", "http://"+lon.gateway)
	fra.start()
	eventually(t, "helloworld running again in fra1", func() bool {
		svc := decode[platform.ServiceView](t, cp.must(t, "services", "get", "helloworld", "-n", "acme", "-o", "json"))
		return svc.Status == platform.ServiceRunning
	})
	waitServing(t, cp.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Dan"}`, "Hello Dan", "http://"+fra.gateway)
	if after := instancePIDs(t, fra.dir); !samePIDs(after, fraPIDs) {
		t.Errorf("fra1's instances after its agent's restart = %v, want the same processes %v", after, fraPIDs)
	}

	// kill -9 the control plane under continuous calls through every region: no call
	// fails; its restart converges without restarting an instance.
	before := map[string]map[int]bool{}
	for name, a := range regions {
		before[name] = instancePIDs(t, a.dir)
	}
	var failed atomic.Int64
	var calls atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, target := range []struct {
		a       *agentProc
		service string
	}{{lon, "helloworld"}, {fra, "helloworld"}, {nyc, "hello-nyc"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, out, err := target.a.call(cp.token, "acme", target.service, "Helloworld.Call", `{"name":"Eve"}`)
				calls.Add(1)
				if err != nil || code != 200 {
					failed.Add(1)
					t.Logf("call through %s during the control plane's outage: %d %s %v", target.a.region, code, out, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	cp.kill9()
	time.Sleep(3 * time.Second)
	cp2 := restartServer(t, cp)
	eventually(t, "every region connected again", func() bool {
		list := decode[[]platform.Region](t, cp2.must(t, "regions", "-o", "json"))
		connected := 0
		for _, r := range list {
			if regions[r.Name] != nil && r.Health == platform.RegionConnected {
				connected++
			}
		}
		return connected == 3
	})
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d calls failed while the control plane was down and restarting", n, calls.Load())
	}
	for name, a := range regions {
		if after := instancePIDs(t, a.dir); !samePIDs(after, before[name]) {
			t.Errorf("%s's instances after the control plane's restart = %v, want the same %v", name, after, before[name])
		}
	}
}

func samePIDs(a, b map[int]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for p := range a {
		if !b[p] {
			return false
		}
	}
	return true
}

// restartServer starts the server again on the same data dir and address.
func restartServer(t *testing.T, s *serverProc) *serverProc {
	t.Helper()
	return startServer(t, s.dir, "--addr", s.addr)
}

// TestRegionsMesh: with the regions' NATS joined (--mesh-gateway), a namespace spans
// regions — greeter in nyc1 calls helloworld placed only in lon1 through its own go-micro
// client — and another namespace's greeter in nyc1 reaches nothing of it.
func TestRegionsMesh(t *testing.T) {
	skipShort(t)
	t.Parallel()
	cp := startServer(t, t.TempDir(), "--mesh-gateway", "127.0.0.1:0")
	lon := startAgent(t, cp, "lon1", "--mesh-gateway", "127.0.0.1:0")
	nyc := startAgent(t, cp, "nyc1", "--mesh-gateway", "127.0.0.1:0")

	cp.must(t, "namespaces", "create", "acme")
	cp.must(t, "namespaces", "create", "globex")
	cp.must(t, "deploy", "./examples/helloworld", "-n", "acme", "--regions", "lon1")
	cp.must(t, "deploy", "./examples/greeter", "-n", "acme", "--regions", "nyc1")
	cp.must(t, "deploy", "./examples/greeter", "-n", "globex", "--regions", "nyc1")
	if n := len(instancePIDs(t, nyc.dir)); n != 2 {
		t.Errorf("nyc1 runs %d instances, want the two greeters", n)
	}
	if n := len(instancePIDs(t, lon.dir)); n != 1 {
		t.Errorf("lon1 runs %d instances, want helloworld", n)
	}

	// acme's greeter in nyc1 reaches acme's helloworld in lon1, through each gateway.
	waitServing(t, cp.token, "acme", "greeter", "Greeter.Hello", `{"name":"Mia"}`, "Hello Mia (via greeter)",
		"http://"+nyc.gateway, "http://"+lon.gateway, cp.url())

	// globex's greeter in the same region finds no helloworld: the namespace is its own
	// in every region.
	code, out, err := nyc.call(cp.token, "globex", "greeter", "Greeter.Hello", `{"name":"Zed"}`)
	if err != nil || code == 200 || strings.Contains(out, "Hello Zed") {
		t.Errorf("globex's greeter reached acme's helloworld: %d %s %v", code, out, err)
	}
	// And a globex token cannot call acme's services through any region.
	tok := decode[struct {
		Secret string `json:"secret"`
	}](t, cp.must(t, "tokens", "create", "globex-ci", "--role", "developer", "--namespace", "globex", "-o", "json"))
	for _, gw := range []string{"http://" + nyc.gateway, "http://" + lon.gateway} {
		if code, out, _ := gatewayCall(gw, tok.Secret, "acme", "helloworld", "Helloworld.Call", `{"name":"Eve"}`); code != http.StatusForbidden {
			t.Errorf("globex token on acme through %s: %d %s, want 403", gw, code, out)
		}
	}
}
