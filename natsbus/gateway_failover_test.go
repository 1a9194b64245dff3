package natsbus

import (
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// callRecord is the outcome of one call made by a caller loop.
type callRecord struct {
	start, end time.Time
	answer     string
	err        error
}

// callers runs n loops calling service in ns through b with a 2s timeout until stop is
// called, which returns every call's record.
func callers(b *Bus, ns, service string, n int) (stop func() []callRecord) {
	var (
		mu   sync.Mutex
		recs []callRecord
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				start := time.Now()
				answer, err := callGreeter(b, ns, service, "x")
				mu.Lock()
				recs = append(recs, callRecord{start: start, end: time.Now(), answer: answer, err: err})
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return func() []callRecord {
		close(done)
		wg.Wait()
		return recs
	}
}

// failoverReport summarises the calls around t0, when a region went away.
type failoverReport struct {
	calls, lostInFlight, failedAfter int
	lastFailedStart                  time.Duration // of a call started after t0, since t0
	firstErr                         error
}

func summarise(recs []callRecord, t0 time.Time) failoverReport {
	var r failoverReport
	for _, c := range recs {
		if c.end.Before(t0) {
			continue
		}
		r.calls++
		if c.err == nil {
			continue
		}
		if r.firstErr == nil {
			r.firstErr = c.err
		}
		if c.start.Before(t0) {
			r.lostInFlight++
			continue
		}
		r.failedAfter++
		r.lastFailedStart = max(r.lastFailedStart, c.start.Sub(t0))
	}
	return r
}

// mustWarmBothNodes starts greeter on a and b in acme and waits until b lists and
// reaches both; it returns b's node ID.
func mustWarmBothNodes(t *testing.T, a, b *region) (nodeB string) {
	t.Helper()
	srvA, _ := MustStartService(t, MustNamespaceURL(t, a.Bus, "acme"), "greeter", "v1", &Greeter{Tag: a.Region()})
	nodeA := "greeter-" + srvA.Options().Id
	// b's first registry query may leave out a's node if a's subscriptions have not
	// crossed the gateway yet; b keeps asking while it finds no node at all.
	mustListNodes := func(want ...string) {
		slices.Sort(want)
		eventually(t, 10*time.Second, b.Region()+" lists greeter nodes", func() error {
			ids, err := nodeIDs(b.Bus, "acme", "greeter")
			if err != nil {
				return err
			}
			if !slices.Equal(ids, want) {
				return fmt.Errorf("nodes %v, want %v", ids, want)
			}
			return nil
		})
	}
	mustListNodes(nodeA)
	srvB, _ := MustStartService(t, MustNamespaceURL(t, b.Bus, "acme"), "greeter", "v1", &Greeter{Tag: b.Region()})
	nodeB = "greeter-" + srvB.Options().Id
	mustListNodes(nodeA, nodeB)
	MustCallAcross(t, b.Bus, "acme", "greeter", a.Region())
	MustCallAcross(t, b.Bus, "acme", "greeter", b.Region())
	return nodeB
}

// mustOnlyNode waits until b lists nodeB as greeter's only node and returns how long
// after t0 that was.
func mustOnlyNode(t *testing.T, b *region, nodeB string, t0 time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	eventually(t, timeout, b.Region()+" drops the lost region's node", func() error {
		ids, err := nodeIDs(b.Bus, "acme", "greeter")
		if err != nil {
			return err
		}
		if !slices.Equal(ids, []string{nodeB}) {
			return fmt.Errorf("nodes %v", ids)
		}
		return nil
	})
	return time.Since(t0)
}

// TestSuperclusterFailover shuts down region A's server while region B calls a service
// that runs in both: B's calls fail over to its own node, and B's registry drops A's
// node, within a moment.
func TestSuperclusterFailover(t *testing.T) {
	t.Parallel()
	a := MustStartRegion(t, "fra1", testGatewaySecret, nil, "acme")
	b := MustStartRegion(t, "nyc1", testGatewaySecret, a.seed(), "acme")
	MustConnectRegions(t, a, b)
	nodeB := mustWarmBothNodes(t, a, b)

	stop := callers(b.Bus, "acme", "greeter", 4)
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	a.stop()
	shutdown := time.Since(t0)
	stale := mustOnlyNode(t, b, nodeB, t0, 10*time.Second)
	time.Sleep(time.Second)
	r := summarise(stop(), t0)
	t.Logf("region fra1 shut down in %v; nyc1: %d calls from then, %d in flight lost, %d started later failed (last %v after the shutdown began; first error: %v); fra1's node listed for %v",
		shutdown.Round(time.Millisecond), r.calls, r.lostInFlight, r.failedAfter, r.lastFailedStart.Round(time.Millisecond), r.firstErr, stale.Round(time.Millisecond))
	if r.lastFailedStart > shutdown+time.Second {
		t.Errorf("calls started %v after the shutdown began still failed", r.lastFailedStart)
	}
	if stale > shutdown+2*time.Second {
		t.Errorf("nyc1 listed fra1's node for %v", stale)
	}
	for range 10 {
		if got, err := callGreeter(b.Bus, "acme", "greeter", "x"); err != nil || got != "Hello x from nyc1" {
			t.Fatalf("after the failover: %q, %v", got, err)
		}
	}
}

// blackhole is a TCP proxy that can stop delivering anything while keeping its
// connections open, as a network partition does.
type blackhole struct {
	l      net.Listener
	target atomic.Value // string
	frozen atomic.Bool
}

func newBlackhole(tb testing.TB) *blackhole {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &blackhole{l: l}
	tb.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *blackhole) addr() string { return p.l.Addr().String() }

func (p *blackhole) serve(in net.Conn) {
	target, _ := p.target.Load().(string)
	if target == "" || p.frozen.Load() {
		p.pipe(io.Discard, in)
		return
	}
	out, err := net.Dial("tcp", target)
	if err != nil {
		_ = in.Close()
		return
	}
	go p.pipe(out, in)
	p.pipe(in, out)
}

// pipe copies src to dst, dropping everything once frozen; it closes both ends when
// src ends unless frozen (a partition delivers no close either).
func (p *blackhole) pipe(dst io.Writer, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			_ = src.Close()
			if c, ok := dst.(net.Conn); ok && !p.frozen.Load() {
				_ = c.Close()
			}
			return
		}
	}
}

// TestSuperclusterRegionVanishes cuts region A off without closing any connection (its
// gateways run through proxies that stop delivering): region B's gateway notices after
// about three ping intervals, but B's calls fail over sooner: a call that times out on
// A's node makes the node suspect and B's registry cache ask again, which drops it.
func TestSuperclusterRegionVanishes(t *testing.T) {
	t.Parallel()
	const ping = time.Second
	pa, pb := newBlackhole(t), newBlackhole(t)
	a := mustStartRegionWith(t, Options{Gateway: GatewayOptions{Name: "fra1", Secret: testGatewaySecret, Advertise: pa.addr(), PingInterval: ping}}, "acme")
	pa.target.Store(a.server().GatewayAddr().String())
	b := mustStartRegionWith(t, Options{Gateway: GatewayOptions{Name: "nyc1", Secret: testGatewaySecret, Advertise: pb.addr(), PingInterval: ping, Seeds: a.seed()}}, "acme")
	pb.target.Store(b.server().GatewayAddr().String())
	if got := a.GatewayURL(); got != "nats://"+pa.addr() {
		t.Fatalf("GatewayURL = %q, want the advertised nats://%s", got, pa.addr())
	}
	MustConnectRegions(t, a, b)
	nodeB := mustWarmBothNodes(t, a, b)

	stop := callers(b.Bus, "acme", "greeter", 4)
	// Past the caches' second look after the regions connected, so that the cut alone
	// decides what the callers meet.
	time.Sleep(1500 * time.Millisecond)
	t0 := time.Now()
	pa.frozen.Store(true)
	pb.frozen.Store(true)
	// The first call that times out on fra1's node makes nyc1 ask the registry again,
	// where the node cannot answer: nyc1 drops it before its gateway notices the cut.
	stale := mustOnlyNode(t, b, nodeB, t0, 10*ping+5*time.Second)
	eventually(t, 10*ping+5*time.Second, "nyc1 notices fra1 is gone", func() error {
		if got := b.ConnectedRegions(); len(got) != 0 {
			return fmt.Errorf("connected to %v", got)
		}
		return nil
	})
	noticed := time.Since(t0)
	time.Sleep(time.Second)
	r := summarise(stop(), t0)
	t.Logf("fra1 cut off (ping interval %v): nyc1 noticed after %v and stopped listing fra1's node after %v; %d calls from then, %d in flight lost, %d started later failed (last %v after the cut; first error: %v)",
		ping, noticed.Round(time.Millisecond), stale.Round(time.Millisecond), r.calls, r.lostInFlight, r.failedAfter, r.lastFailedStart.Round(time.Millisecond), r.firstErr)
	if noticed > 4*ping+2*time.Second {
		t.Errorf("nyc1 noticed the cut after %v, want about 3 ping intervals", noticed)
	}
	// A call that timed out on fra1's node makes its caller prefer nyc1's node: each
	// of the 4 callers loses at most one call before nyc1 notices.
	if n := r.lostInFlight + r.failedAfter; n > 8 {
		t.Errorf("%d calls failed, want at most about one per caller", n)
	}
	if r.lastFailedStart > time.Second {
		t.Errorf("calls started %v after the cut still failed", r.lastFailedStart)
	}
	if stale > 2*time.Second+time.Second {
		t.Errorf("nyc1 listed fra1's node for %v, want it dropped after the first call timed out (2s)", stale)
	}
	for range 10 {
		if got, err := callGreeter(b.Bus, "acme", "greeter", "x"); err != nil || got != "Hello x from nyc1" {
			t.Fatalf("after the cut: %q, %v", got, err)
		}
	}
}
