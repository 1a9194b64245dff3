package control_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/region"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/fake"
	"github.com/micro/platform/runtimeapi"
	pb "github.com/micro/platform/runtimeapi/runtimev1"
	"github.com/micro/platform/runtimeapi/tunnel"
)

// remoteRegion is a region as an agent runs it — a region Reconciler and its
// AgentService over a fake driver — connected to the plane through the real tunnel
// endpoint with its region token.
type remoteRegion struct {
	name   string
	host   *fake.Host
	driver *fake.Driver
	mesh   *fakeMesh
	cancel context.CancelFunc
	done   chan struct{}
	// applied counts the desired states its agent applied; last is the last one.
	applied atomic.Int64
	last    atomic.Pointer[region.Desired]
}

// startRegion registers region name, issues its token and connects an agent for it to h's
// plane through srv (the plane's RegionHandler).
func (h *harness) startRegion(srv *httptest.Server, name string) *remoteRegion {
	h.t.Helper()
	if _, err := h.plane.RegisterRegion(h.admin, &platform.Region{Name: name, Provider: "local"}); err != nil {
		h.t.Fatal(err)
	}
	token, err := h.plane.IssueRegionToken(h.admin, name)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.connectRegion(srv, name, token, fake.NewHost())
}

func (h *harness) connectRegion(srv *httptest.Server, name, token string, host *fake.Host) *remoteRegion {
	h.t.Helper()
	rr := &remoteRegion{name: name, host: host, done: make(chan struct{})}
	var rec *region.Reconciler
	rr.driver = fake.New(fake.Options{Host: host, OnEvent: func(e runtime.Event) {
		if rec != nil {
			rec.HandleRuntimeEvent(e)
		}
	}})
	rr.mesh = &fakeMesh{driver: rr.driver, silent: map[string]bool{}, callResp: []byte(`{"message":"from ` + name + `"}`)}
	var api *runtimeapi.Agent
	rec, err := region.New(region.Options{
		Name: name, Driver: rr.driver, Mesh: rr.mesh,
		Notify: func() { api.Notify() }, Event: func(e *platform.Event) { api.Event(e) },
		RolloutTimeout: 5 * time.Second, StopGrace: 200 * time.Millisecond, ResyncInterval: h.opts.resync,
		Logger: h.opts.logger.With("region", name),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	info := &pb.InfoResponse{Region: name, AgentVersion: "test", Runtime: "fake"}
	if h.opts.gateways {
		info.GatewayEndpoint = "http://" + name + ".gateway.test"
	}
	api = runtimeapi.NewAgent(runtimeapi.AgentOptions{
		Info: info, Reconciler: rec, Driver: rr.driver, Mesh: rr.mesh,
		Applied: func(d region.Desired) {
			rr.last.Store(&d)
			rr.applied.Add(1)
		},
	})
	path, handler := api.Handler()
	mux := httpMux(path, handler)
	ta := &tunnel.Agent{URL: srv.URL, Token: token, Region: name, Handler: mux, Options: h.opts.pings}
	ctx, cancel := context.WithCancel(context.Background())
	rr.cancel = cancel
	go func() {
		defer close(rr.done)
		go rec.Start(ctx)
		_ = ta.Start(ctx)
	}()
	h.t.Cleanup(rr.kill)
	return rr
}

// kill ends the region's agent, leaving its simulated instances running (kill -9).
func (rr *remoteRegion) kill() {
	rr.cancel()
	<-rr.done
}

func (rr *remoteRegion) running(ns, svc string) int {
	ws, _ := rr.driver.List(context.Background())
	n := 0
	for _, w := range ws {
		if w.Spec.Namespace == ns && w.Spec.Service == svc {
			n += w.Running()
		}
	}
	return n
}

func httpMux(path string, h http.Handler) http.Handler {
	mux := http.NewServeMux()
	if h != nil {
		mux.Handle(path, h)
	}
	return mux
}

func (h *harness) regionServer() *httptest.Server {
	srv := httptest.NewServer(h.plane.RegionHandler())
	h.t.Cleanup(srv.Close)
	return srv
}

func (h *harness) health(name string) platform.RegionHealth {
	list, err := h.plane.ListRegions(h.admin)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range list {
		if r.Name == name {
			return r.Health
		}
	}
	return ""
}

// TestServicesArePlacedInRegions: a service placed in two remote regions runs in both
// and nowhere else, rolls out when both serve it, shows per region, and a region whose
// agent is lost makes it degraded until the agent returns, with its instances re-adopted.
func TestServicesArePlacedInRegions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	srv := h.regionServer()
	lon := h.startRegion(srv, "lon1")
	fra := h.startRegion(srv, "fra1")
	h.eventually("both regions connected", func() bool {
		return h.health("lon1") == platform.RegionConnected && h.health("fra1") == platform.RegionConnected
	})
	if _, err := h.plane.CreateNamespace(h.admin, "acme", "lon1", "fra1"); err != nil {
		t.Fatal(err)
	}
	h.upload("acme", digest("aaaa1111"))
	r, err := h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: "acme", Service: "helloworld", Replicas: 2,
		Source: platform.Source{Kind: platform.SourceArchive, Archive: digest("aaaa1111")}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitRelease(r.ID, platform.ReleaseLive)
	if lon.running("acme", "helloworld") != 2 || fra.running("acme", "helloworld") != 2 {
		t.Errorf("instances lon1=%d fra1=%d, want 2 each", lon.running("acme", "helloworld"), fra.running("acme", "helloworld"))
	}
	if n := len(h.runningWorkloads("acme", "helloworld")); n != 0 {
		t.Errorf("the in-process region runs %d workloads of a service placed elsewhere", n)
	}
	var v *platform.ServiceView
	h.eventually("per-region status", func() bool {
		v, err = h.plane.GetService(h.admin, "acme", "helloworld")
		return err == nil && len(v.PerRegion) == 2 && v.PerRegion[0].Running == 2 && v.PerRegion[1].Running == 2
	})
	if got := []string{v.PerRegion[0].Region, v.PerRegion[1].Region}; !slices.Equal(got, []string{"lon1", "fra1"}) {
		t.Errorf("regions %v, want lon1 fra1 (placement order)", got)
	}
	if len(v.Instances) != 4 {
		t.Errorf("%d instances, want 4", len(v.Instances))
	}
	out, err := h.plane.Call(h.admin, platform.CallRequest{Namespace: "acme", Service: "helloworld", Endpoint: "Helloworld.Call", Body: []byte(`{}`)})
	if err != nil || !strings.Contains(string(out), "from lon1") {
		t.Errorf("call = %s %v, want an answer from lon1 (the first region of the placement)", out, err)
	}

	// A bad placement is refused and changes nothing.
	if _, err := h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: "acme", Service: "helloworld", Regions: []string{"mars1"},
		Source: platform.Source{Kind: platform.SourceArchive, Archive: digest("aaaa1111")}}); platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(platform.ErrorMessage(err), "mars1") {
		t.Errorf("deploy to an unknown region = %v, want invalid naming it", err)
	}

	// fra1's agent dies: the service is degraded and region.lost is recorded; lon1 serves.
	fra.kill()
	h.eventually("fra1 lost", func() bool { return h.health("fra1") == platform.RegionLost })
	h.eventually("helloworld degraded", func() bool {
		v, err := h.plane.GetService(h.admin, "acme", "helloworld")
		return err == nil && v.Status == platform.ServiceDegraded
	})
	h.eventually("region.lost recorded", func() bool {
		evs, _ := h.plane.Events(h.admin, platform.EventFilter{Namespace: "acme", Type: platform.EventRegionLost, Region: "fra1"})
		return len(evs) == 1
	})

	// A new deploy meanwhile goes live in lon1; fra1 gets it when it returns.
	h.upload("acme", digest("bbbb2222"))
	r2, err := h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: "acme", Service: "helloworld",
		Source: platform.Source{Kind: platform.SourceArchive, Archive: digest("bbbb2222")}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitRelease(r2.ID, platform.ReleaseLive)

	// Its agent returns on the same machine: the instances it left running are
	// re-adopted, then replaced by r2.
	token, err := h.plane.IssueRegionToken(h.admin, "fra1")
	if err != nil {
		t.Fatal(err)
	}
	fra2 := h.connectRegion(srv, "fra1", token, fra.host)
	h.eventually("fra1 serves r2", func() bool {
		ws, _ := fra2.driver.List(context.Background())
		return len(ws) == 1 && ws[0].Spec.ID == r2.ID && ws[0].Running() == 2
	})
	h.eventually("helloworld running again", func() bool {
		v, err := h.plane.GetService(h.admin, "acme", "helloworld")
		return err == nil && v.Status == platform.ServiceRunning
	})
	h.eventually("region.returned recorded", func() bool {
		evs, _ := h.plane.Events(h.admin, platform.EventFilter{Namespace: "acme", Type: platform.EventRegionReturned, Region: "fra1"})
		return len(evs) == 1
	})
}

// TestRegionFailureFailsTheRelease: a release that fails in one region fails, with that
// region's reason, and the other regions go back to the current release.
func TestRegionFailureFailsTheRelease(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	srv := h.regionServer()
	lon := h.startRegion(srv, "lon1")
	fra := h.startRegion(srv, "fra1")
	h.eventually("both regions connected", func() bool {
		return h.health("lon1") == platform.RegionConnected && h.health("fra1") == platform.RegionConnected
	})
	h.plane.CreateNamespace(h.admin, "acme")
	h.upload("acme", digest("aaaa1111"))
	r1, err := h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: "acme", Service: "helloworld", Regions: []string{"lon1", "fra1"},
		Source: platform.Source{Kind: platform.SourceArchive, Archive: digest("aaaa1111")}})
	if err != nil {
		t.Fatal(err)
	}
	h.waitRelease(r1.ID, platform.ReleaseLive)

	// v2 never registers in fra1.
	fra.mesh.mu.Lock()
	fra.mesh.silent["bin-bbbb2222"] = true
	fra.mesh.mu.Unlock()
	h.upload("acme", digest("bbbb2222"))
	r2, err := h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: "acme", Service: "helloworld",
		Source: platform.Source{Kind: platform.SourceArchive, Archive: digest("bbbb2222")}})
	if err != nil {
		t.Fatal(err)
	}
	var failed *platform.Release
	h.eventually("r2 failed", func() bool {
		failed, err = h.store.GetRelease(context.Background(), r2.ID)
		return err == nil && failed.Status == platform.ReleaseFailed
	})
	if !strings.HasPrefix(failed.Reason, "in region fra1: ") {
		t.Errorf("reason %q, want fra1's", failed.Reason)
	}
	h.eventually("both regions back on r1 only", func() bool {
		for _, rr := range []*remoteRegion{lon, fra} {
			ws, _ := rr.driver.List(context.Background())
			if len(ws) != 1 || ws[0].Spec.ID != r1.ID {
				return false
			}
		}
		return true
	})
}

// TestRegionTokens: an agent needs its region's current token; a revoked one is refused.
func TestRegionTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), fake.NewHost(), 5*time.Second)
	srv := h.regionServer()
	if _, err := h.plane.RegisterRegion(h.admin, &platform.Region{Name: "lon1", Provider: "local"}); err != nil {
		t.Fatal(err)
	}
	old, err := h.plane.IssueRegionToken(h.admin, "lon1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.plane.IssueRegionToken(h.admin, "lon1"); err != nil {
		t.Fatal(err)
	}
	dev := platform.NewContextWithToken(context.Background(), &platform.Token{Name: "dev", Role: platform.RoleDeveloper})
	if _, err := h.plane.IssueRegionToken(dev, "lon1"); platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Errorf("developer issues a region token: %v, want forbidden", err)
	}
	ta := &tunnel.Agent{URL: srv.URL, Token: old, Region: "lon1", Handler: httpMux("/", nil)}
	err = ta.ServeOnce(context.Background())
	if platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
		t.Errorf("revoked token: %v, want unauthenticated", err)
	}
	if h.health("lon1") != platform.RegionWaiting {
		t.Errorf("lon1 health %s, want waiting", h.health("lon1"))
	}
}
