package control_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/fake"
	"github.com/micro/platform/runtimeapi/tunnel"
)

// fanOutRegions and fanOutServices size BenchmarkRegionFanOut: 500 services in 10
// remote regions.
const (
	fanOutRegions  = 10
	fanOutServices = 500
	// fanOutSteady is how long the restarted plane is watched once converged: two of
	// control's desired-state resends (5s) and ten of the plane's and the regions'
	// resyncs (fanOutResync).
	fanOutSteady = 11 * time.Second
	fanOutResync = time.Second
)

// BenchmarkRegionFanOut restarts the control plane of 10 live remote regions running 500
// services and measures how it takes them over again:
//
//   - ms/converge: from the new plane's Start until every region is connected, has applied
//     a desired state from it that knows every region's gateway, and every service is
//     stored running with exactly the instances the regions run (ms/connect: until all
//     are connected; ms/down: from the old plane's stop to the new one's Start);
//   - sends/converge: the desired states the remote regions applied meanwhile (want one
//     each), and local-sends those of the in-process region over the whole restart (1);
//   - over fanOutSteady after that: the desired states the regions applied (steady-sends,
//     want 0) and the tunnels that dropped (steady-drops); over the whole run the instances
//     restarted or replaced (restarts, want 0) and the most services stored with another
//     status than running at any time (max-not-running, want 0).
//
// The regions' agents keep running across the restart and find the new plane at the same
// URL through tunnel.Agent.Start's backoff. Each service runs one instance in spread
// regions (adjacent ones, round the ring): spread=2 is 100 services per region. With every
// service in every region (500 per region) the fake driver and mesh, whose List and
// Services walk every workload on every reconcile, saturate two cores before the deploys
// finish. "gateways" has the agents report a gateway endpoint of their own, as `platform
// agent` does. Run it with a fixed count of restarts: -benchtime 1x -count 5, or 3x.
func BenchmarkRegionFanOut(b *testing.B) {
	if testing.Short() {
		b.Skip("restarts a control plane of 10 regions; not under -short")
	}
	for _, bc := range []struct {
		name     string
		spread   int
		gateways bool
	}{
		{"spread=2", 2, false},
		{"spread=2/gateways", 2, true},
	} {
		b.Run(bc.name, func(b *testing.B) { benchFanOut(b, bc.spread, bc.gateways) })
	}
}

func benchFanOut(b *testing.B, spread int, gateways bool) {
	f := newFanOut(b, spread, gateways)
	calls := restartCalls(f.regions)
	var sum fanOutSample
	b.ResetTimer()
	for i := range b.N {
		s := f.restart(i)
		sum.converge += s.converge
		sum.connect += s.connect
		sum.down += s.down
		sum.sends += s.sends
		sum.steady += s.steady
		sum.local += s.local
		sum.drops += s.drops
		sum.notRunning = max(sum.notRunning, s.notRunning)
	}
	b.StopTimer()

	restarted := changedInstances(f.want, workloadsOf(f.regions))
	for i, rr := range f.regions {
		restarted += restartCallsOf(rr) - calls[i]
	}
	n := float64(b.N)
	b.ReportMetric(float64(sum.converge.Milliseconds())/n, "ms/converge")
	b.ReportMetric(float64(sum.connect.Milliseconds())/n, "ms/connect")
	b.ReportMetric(float64(sum.down.Milliseconds())/n, "ms/down")
	b.ReportMetric(float64(sum.sends)/n, "sends/converge")
	b.ReportMetric(float64(sum.local)/n, "local-sends")
	b.ReportMetric(float64(sum.steady)/n, "steady-sends")
	b.ReportMetric(float64(sum.drops)/n, "steady-drops")
	b.ReportMetric(float64(restarted), "restarts")
	b.ReportMetric(float64(sum.notRunning), "max-not-running")
	if w := f.logs.warnings(); len(w) > 0 {
		b.Logf("warnings and errors logged: %v", w)
	}
}

// fanOut is BenchmarkRegionFanOut's set-up: a plane, its store and the remote regions,
// whose services all run.
type fanOut struct {
	b        *testing.B
	dir      string
	host     *fake.Host
	opts     harnessOptions
	logs     *logCount
	sw       *switchHandler
	h        *harness // the plane of the moment
	regions  []*remoteRegion
	names    []string
	gateways map[string]string // what every region's desired state must say, once converged
	want     placedInstances   // what the regions run
}

// fanOutSample is what one restart measured.
type fanOutSample struct {
	converge, connect, down                 time.Duration
	sends, steady, local, drops, notRunning int64
}

// newFanOut starts a plane and fanOutRegions regions, deploys fanOutServices services in
// spread regions each and waits until all run and are recorded.
func newFanOut(b *testing.B, spread int, gateways bool) *fanOut {
	b.Helper()
	f := &fanOut{b: b, dir: b.TempDir(), host: fake.NewHost(), logs: &logCount{n: map[string]int{}}, sw: &switchHandler{}, gateways: map[string]string{}}
	f.opts = harnessOptions{
		rollout: 30 * time.Second, resync: fanOutResync, logger: slog.New(f.logs), gateways: gateways,
		pings: tunnel.Options{PingInterval: tunnel.DefaultPingInterval, PingTimeout: tunnel.DefaultPingTimeout},
	}
	// One URL for both planes, as a restarted process listens on the same address.
	srv := httptest.NewServer(f.sw)
	b.Cleanup(srv.Close)

	f.h = openHarness(b, f.dir, f.host, f.opts)
	f.sw.set(f.h.plane.RegionHandler())
	f.h.start()
	for i := range fanOutRegions {
		f.names = append(f.names, fmt.Sprintf("r%02d", i))
		f.regions = append(f.regions, f.h.startRegion(srv, f.names[i]))
		if gateways {
			f.gateways[f.names[i]] = "http://" + f.names[i] + ".gateway.test"
		}
	}
	waitFor(b, "every region connected", time.Minute, func() bool { return allConnected(f.h, f.names) })
	deployed := time.Now()
	deployFanOut(b, f.h, f.names, spread)
	// A service goes live once its connected regions serve it; one whose tunnel dropped
	// meanwhile catches up when it is back.
	waitFor(b, "every instance running and recorded", time.Minute, func() bool {
		f.want = workloadsOf(f.regions)
		return instanceCount(f.want) == fanOutServices*spread && storeMatches(f.h, f.want) == nil
	})
	b.Logf("%d services in %d regions live %s after the first deploy", fanOutServices, fanOutRegions, time.Since(deployed).Round(time.Millisecond))
	return f
}

// restart stops the plane, starts a new one on the same store behind the same URL, times
// its convergence (the benchmark's timer runs only then) and watches fanOutSteady of
// steady state.
func (f *fanOut) restart(i int) fanOutSample {
	b := f.b
	b.StopTimer()
	var s fanOutSample
	stopped := time.Now()
	f.h.stop()
	f.sw.set(nil) // agents dialling meanwhile are refused, as by a plane that is down
	f.h = openHarness(b, f.dir, f.host, f.opts)
	f.sw.set(f.h.plane.RegionHandler())
	applied := make([]int64, len(f.regions))
	for j, rr := range f.regions {
		applied[j] = rr.applied.Load()
	}

	load := loadavg()
	b.StartTimer()
	f.h.start()
	var connectedAt time.Time
	for {
		if connectedAt.IsZero() && allConnected(f.h, f.names) {
			connectedAt = time.Now()
		}
		if n, example := servicesNotRunning(f.h); n > s.notRunning {
			s.notRunning = n
			b.Logf("restart %d: %d services not running, e.g. %s", i, n, example)
		}
		if !connectedAt.IsZero() && allApplied(f.regions, applied, f.gateways) && storeMatches(f.h, f.want) == nil {
			break
		}
		if time.Since(f.h.started) > 2*time.Minute {
			b.Fatalf("not converged after 2m: %v", storeMatches(f.h, f.want))
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	s.converge = time.Since(f.h.started)
	s.connect = connectedAt.Sub(f.h.started)
	s.down = f.h.started.Sub(stopped)
	// Counted as the regions applied them: the plane counts a send once the answer is
	// back, which may be just after the region applied it.
	s.sends = appliedSince(f.regions, applied)

	dropped := f.logs.count("region disconnected")
	time.Sleep(fanOutSteady)
	all := appliedSince(f.regions, applied)
	s.steady = all - s.sends
	s.local = f.h.plane.DesiredStatesSent() - all
	s.drops = int64(f.logs.count("region disconnected") - dropped)
	b.Logf("restart %d at load %s: converged in %s (all connected after %s), %d desired states sent, then %d in %s",
		i, load, s.converge.Round(time.Millisecond), s.connect.Round(time.Millisecond), s.sends, s.steady, fanOutSteady)
	if err := storeMatches(f.h, f.want); err != nil {
		b.Errorf("after %s: %v", fanOutSteady, err)
	}
	b.StartTimer()
	return s
}

// logCount discards the plane's and the regions' logs but counts them by message, so a
// run can say what went wrong.
type logCount struct {
	mu sync.Mutex
	n  map[string]int // "LEVEL msg" → count
}

func (c *logCount) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (c *logCount) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[r.Level.String()+" "+r.Message]++
	return nil
}

func (c *logCount) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *logCount) WithGroup(string) slog.Handler      { return c }

// count returns how many lines said msg, at any level.
func (c *logCount) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.n {
		if _, m, _ := strings.Cut(k, " "); m == msg {
			n += v
		}
	}
	return n
}

// warnings returns the counts of the warnings and errors.
func (c *logCount) warnings() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		if !strings.HasPrefix(k, "INFO ") {
			out[k] = v
		}
	}
	return out
}

// switchHandler serves the region handler of the plane of the moment; without one it
// answers 503, as an address nobody listens on would fail.
type switchHandler struct{ h atomic.Pointer[http.Handler] }

func (s *switchHandler) set(h http.Handler) {
	if h == nil {
		s.h.Store(nil)
		return
	}
	s.h.Store(&h)
}

func (s *switchHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.Error(w, "control plane restarting", http.StatusServiceUnavailable)
}

// deployFanOut deploys fanOutServices services, each placed in spread adjacent regions,
// and waits until all are running.
func deployFanOut(b *testing.B, h *harness, regions []string, spread int) {
	b.Helper()
	const namespaces = 5
	archive := digest("aaaa1111")
	for i := range namespaces {
		ns := fmt.Sprintf("ns%d", i)
		if _, err := h.plane.CreateNamespace(h.admin, ns); err != nil {
			b.Fatal(err)
		}
		h.upload(ns, archive)
	}
	var wg sync.WaitGroup
	errs := make(chan error, fanOutServices)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				var placed []string
				for j := range spread {
					placed = append(placed, regions[(i+j)%len(regions)])
				}
				_, err := h.plane.Deploy(h.admin, platform.DeployRequest{
					Namespace: fmt.Sprintf("ns%d", i%namespaces), Service: fmt.Sprintf("svc%03d", i), Regions: placed,
					Source: platform.Source{Kind: platform.SourceArchive, Archive: archive},
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range fanOutServices {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("deploy: %v", err)
	}
	waitFor(b, "every service running", 5*time.Minute, func() bool {
		svcs, err := h.store.ListServices(context.Background(), "")
		if err != nil || len(svcs) != fanOutServices {
			return false
		}
		for _, s := range svcs {
			if s.Status != platform.ServiceRunning || s.CurrentRelease == "" {
				return false
			}
		}
		return true
	})
}

// waitFor waits up to within for cond, checking every 20ms.
func waitFor(b *testing.B, what string, within time.Duration, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allConnected(h *harness, names []string) bool {
	list, err := h.plane.ListRegions(h.admin)
	if err != nil {
		return false
	}
	connected := map[string]bool{}
	for _, r := range list {
		connected[r.Name] = r.Health == platform.RegionConnected
	}
	for _, n := range names {
		if !connected[n] {
			return false
		}
	}
	return true
}

// allApplied reports whether every region applied a desired state since before, one
// that has every region's gateway.
func allApplied(regions []*remoteRegion, before []int64, gateways map[string]string) bool {
	for i, rr := range regions {
		if rr.applied.Load() <= before[i] || !maps.Equal(rr.last.Load().RegionGateways, gateways) {
			return false
		}
	}
	return true
}

// servicesNotRunning returns how many services are stored with another status than
// running, and one of them.
// loadavg returns the 1, 5 and 15 minute load averages, where the system says them.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// appliedSince returns how many desired states the regions applied since before.
func appliedSince(regions []*remoteRegion, before []int64) int64 {
	var n int64
	for i, rr := range regions {
		n += rr.applied.Load() - before[i]
	}
	return n
}

func servicesNotRunning(h *harness) (int64, string) {
	svcs, err := h.store.ListServices(context.Background(), "")
	if err != nil {
		return 0, ""
	}
	var n int64
	var example string
	for _, s := range svcs {
		if s.Status != platform.ServiceRunning {
			n++
			example = fmt.Sprintf("%s/%s %s: %s", s.Namespace, s.Name, s.Status, s.Reason)
		}
	}
	return n, example
}

// placedInstances maps region → service key → the IDs of its running instances.
type placedInstances map[string]map[string][]string

// workloadsOf returns what the regions' drivers run.
func workloadsOf(regions []*remoteRegion) placedInstances {
	out := placedInstances{}
	for _, rr := range regions {
		ws, _ := rr.driver.List(context.Background())
		m := map[string][]string{}
		for _, w := range ws {
			k := w.Spec.Namespace + "/" + w.Spec.Service
			for _, i := range w.Instances {
				if i.State == platform.InstanceRunning {
					m[k] = append(m[k], i.ID)
				}
			}
			slices.Sort(m[k])
		}
		out[rr.name] = m
	}
	return out
}

func instanceCount(p placedInstances) int {
	n := 0
	for _, m := range p {
		for _, ids := range m {
			n += len(ids)
		}
	}
	return n
}

// changedInstances counts the instances of want no longer running in got.
func changedInstances(want, got placedInstances) int {
	n := 0
	for region, m := range want {
		for k, ids := range m {
			for _, id := range ids {
				if !slices.Contains(got[region][k], id) {
					n++
				}
			}
		}
	}
	return n
}

// storeMatches checks that every service is stored running with exactly the instances
// the regions run.
func storeMatches(h *harness, want placedInstances) error {
	ctx := context.Background()
	svcs, err := h.store.ListServices(ctx, "")
	if err != nil {
		return err
	}
	for _, s := range svcs {
		if s.Status != platform.ServiceRunning {
			return fmt.Errorf("%s/%s is %s: %s", s.Namespace, s.Name, s.Status, s.Reason)
		}
	}
	all, err := h.store.ListInstances(ctx, "", "")
	if err != nil {
		return err
	}
	got := placedInstances{}
	for _, i := range all {
		if i.State != platform.InstanceRunning {
			return fmt.Errorf("instance %s of %s/%s in %s stored %s", i.ID, i.Namespace, i.Service, i.Region, i.State)
		}
		if got[i.Region] == nil {
			got[i.Region] = map[string][]string{}
		}
		k := i.Namespace + "/" + i.Service
		got[i.Region][k] = append(got[i.Region][k], i.ID)
	}
	for region, m := range want {
		for k, ids := range m {
			g := slices.Sorted(slices.Values(got[region][k]))
			if !slices.Equal(g, ids) {
				return fmt.Errorf("%s in %s: stored instances %v, running %v", k, region, g, ids)
			}
		}
		if len(got[region]) != len(m) {
			return fmt.Errorf("region %s: %d services stored, %d run", region, len(got[region]), len(m))
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("instances stored in regions %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	return nil
}

// restartCalls counts, per region, the driver calls that stop or restart instances.
func restartCalls(regions []*remoteRegion) []int {
	out := make([]int, len(regions))
	for i, rr := range regions {
		out[i] = restartCallsOf(rr)
	}
	return out
}

func restartCallsOf(rr *remoteRegion) int {
	n := 0
	for _, c := range rr.driver.Calls() {
		if c.Method == "Stop" || c.Method == "Restart" {
			n++
		}
	}
	return n
}
