package gateway

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// staticRouter routes every service to a fixed list of gateways and records what it is
// told about them.
type staticRouter struct {
	remotes   []string
	elsewhere bool                     // the service is placed only in other regions
	starting  bool                     // no desired state yet
	down      map[string]chan struct{} // closed by the test: that gateway is found hanging

	mu     sync.Mutex
	failed []string
	ok     []string
}

func (r *staticRouter) Remotes(string, string) []string { return slices.Clone(r.remotes) }
func (r *staticRouter) Local(string, string) bool       { return !r.elsewhere }
func (r *staticRouter) Ready() bool                     { return !r.starting }
func (r *staticRouter) Down(gw string) <-chan struct{}  { return r.down[gw] }

func (r *staticRouter) Observe(gw string, _ time.Duration, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if failed {
		r.failed = append(r.failed, gw)
	} else {
		r.ok = append(r.ok, gw)
	}
}

// closedURL is the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// TestForwardToAnotherRegion: a gateway whose region does not run a service forwards the
// call to the first region that answers, skipping one that is gone and one that is
// unavailable, and the serving region meters it for usage, not the forwarding one.
func TestForwardToAnotherRegion(t *testing.T) {
	t.Parallel()
	// fra1 runs helloworld.
	fraBill, lonBill := &fakePublisher{}, &fakePublisher{}
	fra := newTestGateway(t, func(o *Options) { o.Region = "fra1"; o.Router = &staticRouter{}; o.Metering = fraBill })
	fraSrv := httptest.NewServer(fra)
	t.Cleanup(fraSrv.Close)
	// A region whose gateway answers 503 (draining, overloaded).
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(busy.Close)
	gone := closedURL(t)

	router := &staticRouter{remotes: []string{gone, busy.URL, fraSrv.URL}}
	lon := newTestGateway(t, func(o *Options) { o.Region = "lon1"; o.Router = router; o.Metering = lonBill })
	lon.mesh.unregistered["helloworld"] = true

	w := lon.do(req{headers: acme()})
	if w.Code != http.StatusOK || w.Body.String() != `{"msg":"Hello Alice"}` {
		t.Fatalf("forwarded call: %d %s", w.Code, w.Body)
	}
	calls := fra.mesh.Calls()
	if len(calls) != 1 || calls[0].Namespace != "acme" || calls[0].Service != "helloworld" || string(calls[0].Body) != `{"name":"Alice"}` {
		t.Fatalf("fra1's mesh got %+v", calls)
	}
	if !slices.Equal(router.failed, []string{gone, busy.URL}) || !slices.Equal(router.ok, []string{fraSrv.URL}) {
		t.Errorf("observed failed %v ok %v", router.failed, router.ok)
	}

	// Usage: fra1 served it and meters it; lon1 does not. lon1, where the call entered,
	// bills it; fra1 does not.
	ctx := context.Background()
	if err := lon.meter.flush(ctx, lon.usage); err != nil {
		t.Fatal(err)
	}
	if err := fra.meter.flush(ctx, fra.usage); err != nil {
		t.Fatal(err)
	}
	if rows := lon.usage.Rows(); len(rows) != 0 {
		t.Errorf("the forwarding region metered %+v", rows)
	}
	if rows := fra.usage.Rows(); len(rows) != 1 || rows[0].Requests != 1 || rows[0].Service != "helloworld" {
		t.Errorf("the serving region metered %+v, want one helloworld request", rows)
	}
	if len(lonBill.events) != 1 || lonBill.events[0].Meter != platform.MeterRequests || lonBill.events[0].Quantity != 1 {
		t.Errorf("the entering region billed %+v, want one request", lonBill.events)
	}
	if len(fraBill.events) != 0 {
		t.Errorf("the serving region billed %+v too", fraBill.events)
	}
}

// TestForwardedCallsAreNotForwardedAgain: a call that was forwarded once is answered where
// it arrives, so two regions that each think the other runs a service never loop.
func TestForwardedCallsAreNotForwardedAgain(t *testing.T) {
	t.Parallel()
	var loops int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		loops++
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(other.Close)
	g := newTestGateway(t, func(o *Options) { o.Region = "lon1"; o.Router = &staticRouter{remotes: []string{other.URL}} })
	g.mesh.unregistered["helloworld"] = true
	h := acme()
	h[HeaderForwardedBy] = "fra1"
	w := g.do(req{headers: h})
	if w.Code != http.StatusNotFound || loops != 0 {
		t.Errorf("forwarded call: %d %s, forwarded again %d times; want 404 here", w.Code, w.Body, loops)
	}
}

// TestForwardNowhere: when no other region runs the service, or none answers, the caller
// gets the local answer (not found) or unavailable, with a hint.
func TestForwardNowhere(t *testing.T) {
	t.Parallel()
	g := newTestGateway(t, func(o *Options) { o.Region = "lon1"; o.Router = &staticRouter{} })
	g.mesh.unregistered["helloworld"] = true
	if w := g.do(req{headers: acme()}); w.Code != http.StatusNotFound {
		t.Errorf("no other region: %d %s, want 404", w.Code, w.Body)
	}
	g2 := newTestGateway(t, func(o *Options) { o.Region = "lon1"; o.Router = &staticRouter{remotes: []string{closedURL(t)}} })
	g2.mesh.unregistered["helloworld"] = true
	w := g2.do(req{headers: acme()})
	if e := errorOf(t, w); w.Code != http.StatusServiceUnavailable || e.Code != "unavailable" || e.Hint == "" {
		t.Errorf("no region answers: %d %+v, want 503 unavailable with a hint", w.Code, e)
	}
}

// TestForwardAroundAHungRegion: a region that accepts connections but never answers (a
// stopped machine) is left for the next one as soon as it is found failing, and a
// service placed only elsewhere is not looked up here first.
func TestForwardAroundAHungRegion(t *testing.T) {
	t.Parallel()
	fra := newTestGateway(t, func(o *Options) { o.Region = "fra1"; o.Router = &staticRouter{} })
	fraSrv := httptest.NewServer(fra)
	t.Cleanup(fraSrv.Close)
	hung := make(chan struct{})
	hungSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(hung); hungSrv.Close() })

	down := make(chan struct{})
	router := &staticRouter{remotes: []string{hungSrv.URL, fraSrv.URL}, elsewhere: true, down: map[string]chan struct{}{hungSrv.URL: down}}
	nyc := newTestGateway(t, func(o *Options) { o.Region = "nyc1"; o.Router = router })
	time.AfterFunc(200*time.Millisecond, func() { close(down) })
	start := time.Now()
	w := nyc.do(req{headers: acme()})
	if w.Code != http.StatusOK || time.Since(start) > 5*time.Second {
		t.Fatalf("call with the first region hung: %d %s after %s", w.Code, w.Body, time.Since(start))
	}
	if n := len(nyc.mesh.Calls()); n != 0 {
		t.Errorf("the local mesh was asked %d times for a service placed elsewhere", n)
	}
	if !slices.Equal(router.failed, []string{hungSrv.URL}) {
		t.Errorf("failed %v, want the hung region", router.failed)
	}
}

// TestStartingRegionSaysSo: a region that has had no desired state yet answers 503 for a
// service it does not know, so callers and forwarding gateways go elsewhere.
func TestStartingRegionSaysSo(t *testing.T) {
	t.Parallel()
	g := newTestGateway(t, func(o *Options) { o.Region = "fra1"; o.Router = &staticRouter{starting: true} })
	g.mesh.unregistered["helloworld"] = true
	h := acme()
	h[HeaderForwardedBy] = "nyc1"
	w := g.do(req{headers: h})
	if e := errorOf(t, w); w.Code != http.StatusServiceUnavailable || e.Hint == "" {
		t.Errorf("starting region: %d %+v, want 503 with a hint", w.Code, e)
	}
}
