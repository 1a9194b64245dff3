package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go-micro.dev/v5/broker"
	natsbroker "go-micro.dev/v5/broker/nats"
	"go-micro.dev/v5/logger"
	"go-micro.dev/v5/registry"
	natsreg "go-micro.dev/v5/registry/nats"
	"go-micro.dev/v5/server"
	"go-micro.dev/v5/transport"
	natstr "go-micro.dev/v5/transport/nats"

	platform "github.com/micro/platform"
	"github.com/micro/platform/natsbus"
)

// Bounds of TestUnknownServicesDoNotLeak: how far above its baseline the process may
// stay once the flood is over, and how far it may go during it before the test gives up
// (a leak of one registry watcher per name would otherwise take gigabytes).
const (
	leakNames           = 5000
	leakGoroutineSlack  = 20
	leakHeapSlack       = 16 << 20
	floodGoroutineLimit = 1000
	floodHeapLimit      = 512 << 20
)

// LeakService is the handler of the one real service of TestUnknownServicesDoNotLeak.
type LeakService struct{}

type LeakRequest struct {
	Name string `json:"name"`
}

type LeakResponse struct {
	Message string `json:"message"`
}

func (LeakService) Hello(_ context.Context, req *LeakRequest, rsp *LeakResponse) error {
	rsp.Message = "Hello " + req.Name
	return nil
}

// startLeakBus starts an embedded NATS mesh with namespace ns, whose registry queries
// wait only 10ms so thousands of lookups of unknown names finish quickly.
func startLeakBus(t *testing.T, ns string) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.New(natsbus.Options{
		Dir: t.TempDir(), Secret: []byte("0123456789abcdef0123456789abcdef"), RegistryTimeout: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bus: %v", err)
		}
	})
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := b.WaitReady(rctx); err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return b
}

// startLeakService runs a go-micro service in ns the way service.Init() wires one.
func startLeakService(t *testing.T, b *natsbus.Bus, ns, name string) {
	t.Helper()
	env, err := b.InstanceEnv(ns)
	if err != nil {
		t.Fatal(err)
	}
	u := env["MICRO_REGISTRY_ADDRESS"]
	srv := server.NewRPCServer(
		server.Name(name),
		server.Id("leak-"+name),
		server.Version("v1"),
		server.WithLogger(logger.NewLogger(logger.WithLevel(logger.ErrorLevel))),
		server.Registry(natsreg.NewNatsRegistry(registry.Addrs(u))),
		server.Transport(natstr.NewTransport(transport.Addrs(u))),
		server.Broker(natsbroker.NewNatsBroker(broker.Addrs(u))),
	)
	if err := srv.Handle(srv.NewHandler(LeakService{})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
}

// processUse is what the leak test watches.
type processUse struct {
	goroutines int
	heap       uint64
}

func measure() processUse {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return processUse{goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc}
}

func (u processUse) String() string {
	return fmt.Sprintf("%d goroutines, %.1f MB heap", u.goroutines, float64(u.heap)/(1<<20))
}

// seriesOf lists the time series reg exposes, one string each (histogram buckets, sum
// and count included), as /metrics would show them.
func seriesOf(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			id := f.GetName() + "{" + strings.Join(labels, ",") + "}"
			if h := m.GetHistogram(); h != nil {
				for range len(h.GetBucket()) + 3 { // + the +Inf bucket, _sum and _count
					out = append(out, id)
				}
				continue
			}
			out = append(out, id)
		}
	}
	return out
}

// TestUnknownServicesDoNotLeak is issue 9's finding 2 against the real embedded NATS:
// 5,000 distinct names of services that are not registered, called through the gateway
// and through the mesh call that /v1/namespaces/{ns}/call makes (control.Plane.Call is
// the policy check and then Mesh.Call), must leave no registry watcher, goroutine, heap
// or metric series behind. The one real service keeps its own label and exact usage.
func TestUnknownServicesDoNotLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server and makes 10,000 calls")
	}
	const ns = "a"
	bus := startLeakBus(t, ns)
	startLeakService(t, bus, ns, "greeter")
	reg := prometheus.NewRegistry()
	usage := newMemUsage()
	g := New(Options{
		Mesh:    bus,
		Auth:    fakeAuth{adminSecret: {ID: "t-admin", Name: "root", Admin: true}},
		Usage:   usage,
		Metrics: reg,
		Logger:  slog.New(slog.DiscardHandler),
		Timeout: 10 * time.Second,
	})
	gatewayCall := func(service string) int {
		r := httptest.NewRequest(http.MethodPost, "/api/"+service+"/LeakService.Hello", strings.NewReader(`{"name":"x"}`))
		r.Header.Set("Authorization", "Bearer "+adminSecret)
		r.Header.Set(HeaderNamespace, ns)
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w.Code
	}
	meshCall := func(service string) error {
		_, err := bus.Call(context.Background(), platform.CallRequest{
			Namespace: ns, Service: service, Endpoint: "LeakService.Hello", Body: []byte(`{"name":"x"}`), Timeout: 10 * time.Second,
		})
		return err
	}

	// Warm up: the namespace's client, the real service's series and the one series of
	// unknown services exist before the baseline.
	// A service registered an instant ago may not have answered the first registry
	// query; those attempts count as calls to an unknown service.
	var warmupMisses int64
	deadline := time.Now().Add(10 * time.Second)
	for code := gatewayCall("greeter"); code != http.StatusOK; code = gatewayCall("greeter") {
		if code != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("greeter answered %d through the gateway", code)
		}
		warmupMisses++
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 20 {
		if code := gatewayCall(fmt.Sprintf("gwwarmup%d", i)); code != http.StatusNotFound {
			t.Fatalf("unknown service answered %d, want 404", code)
		}
		if err := meshCall(fmt.Sprintf("meshwarmup%d", i)); !platform.IsNotFound(err) {
			t.Fatalf("mesh call of an unknown service: %v, want not found", err)
		}
	}
	base, baseSeries := measure(), seriesOf(t, reg)
	t.Logf("baseline: %v, %d metric series", base, len(baseSeries))

	// The flood: 5,000 names through each path, 32 at a time, with a check of the
	// process between batches so that a leak fails the test before it eats the machine.
	const batch = 500
	var greeted atomic.Int64
	var failed atomic.Value
	peak := base
	for start := 0; start < 2*leakNames; start += batch {
		var next atomic.Int64
		next.Store(int64(start))
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(start+batch) {
						return
					}
					if i%2 == 0 {
						name := fmt.Sprintf("gw%d", i/2)
						if code := gatewayCall(name); code != http.StatusNotFound {
							failed.CompareAndSwap(nil, fmt.Sprintf("gateway call of %s answered %d, want 404", name, code))
						}
					} else if name := fmt.Sprintf("mesh%d", i/2); !platform.IsNotFound(meshCall(name)) {
						failed.CompareAndSwap(nil, fmt.Sprintf("mesh call of %s: %v, want not found", name, meshCall(name)))
					}
					if i%100 == 0 && gatewayCall("greeter") == http.StatusOK {
						greeted.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if msg := failed.Load(); msg != nil {
			t.Fatal(msg)
		}
		use := measure()
		peak.goroutines, peak.heap = max(peak.goroutines, use.goroutines), max(peak.heap, use.heap)
		if use.goroutines > base.goroutines+floodGoroutineLimit || use.heap > base.heap+floodHeapLimit {
			t.Fatalf("after %d unknown names through each path: %v (baseline %v): every unknown name leaves something behind",
				(start+batch)/2, use, base)
		}
	}

	// Within a minute the process is back at its baseline.
	var use processUse
	deadline = time.Now().Add(time.Minute)
	for {
		use = measure()
		if use.goroutines <= base.goroutines+leakGoroutineSlack && use.heap <= base.heap+leakHeapSlack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after %d unknown names through each path: %v, baseline %v (peak %v)", leakNames, use, base, peak)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("after %d unknown names through each path: %v (peak %v)", leakNames, use, peak)

	if got := seriesOf(t, reg); !slices.Equal(got, baseSeries) {
		t.Errorf("metric series went from %d to %d; new ones: %v", len(baseSeries), len(got), newSeries(baseSeries, got))
	}

	// Usage: the real service billed exactly, every unknown name under one row per minute.
	if err := g.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var greeterRequests, unknownRequests int64
	for _, r := range usage.Rows() {
		switch r.Service {
		case "greeter":
			greeterRequests += r.Requests
		case UnknownService:
			unknownRequests += r.Requests
		default:
			t.Errorf("usage row for service %q: unregistered names must not get rows of their own", r.Service)
		}
	}
	if want := 1 + greeted.Load(); greeterRequests != want {
		t.Errorf("greeter billed %d requests, want %d", greeterRequests, want)
	}
	if want := warmupMisses + 20 + leakNames; unknownRequests != want {
		t.Errorf("%d requests counted under %q, want %d", unknownRequests, UnknownService, want)
	}
}

// newSeries returns the series of after that before did not have.
func newSeries(before, after []string) []string {
	had := map[string]int{}
	for _, s := range before {
		had[s]++
	}
	var out []string
	for _, s := range after {
		if had[s] > 0 {
			had[s]--
			continue
		}
		if len(out) == 10 {
			return append(out, "...")
		}
		out = append(out, s)
	}
	return out
}

// TestWrongJSONTypeIsBadRequest is issue 9's finding 6 on a real service: a body that
// is JSON but does not fit the endpoint's request type (a number for a string field)
// is the caller's mistake, 400 with go-micro's decoding message, not a 500.
func TestWrongJSONTypeIsBadRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	const ns = "a"
	bus := startLeakBus(t, ns)
	startLeakService(t, bus, ns, "greeter")
	tg := newTestGateway(t, func(o *Options) { o.Mesh = bus })
	call := func(body string) *httptest.ResponseRecorder {
		return tg.do(req{path: "/api/greeter/LeakService.Hello", body: body,
			headers: map[string]string{"Authorization": "Bearer " + adminSecret, HeaderNamespace: ns}})
	}
	deadline := time.Now().Add(10 * time.Second)
	// Until it serves: not registered yet (404), or registered before its transport
	// subscription reached NATS (503, "its nodes are gone": go-micro announces the
	// registration on another connection).
	for w := call(`{"name":"x"}`); w.Code != http.StatusOK; w = call(`{"name":"x"}`) {
		if (w.Code != http.StatusNotFound && w.Code != http.StatusServiceUnavailable) || time.Now().After(deadline) {
			t.Fatalf("greeter answered %d: %s", w.Code, w.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, body := range []string{`{"name":123}`, `{"name":{"first":"x"}}`, `["x"]`, `"x"`} {
		w := call(body)
		e := errorOf(t, w)
		if w.Code != http.StatusBadRequest || e.Code != platform.EINVALID ||
			!strings.Contains(e.Message, "request body does not fit LeakService.Hello: cannot unmarshal") || e.Hint == "" {
			t.Errorf("body %s: status %d, error %+v: want 400 invalid naming the endpoint, with a hint", body, w.Code, e)
		}
	}
}
