package kubernetes_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/micro/platform/internal/kubetest"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/kubernetes"
)

// BenchmarkReconcile1000Services converges 1,000 services across 50 namespaces from
// scratch against the test API server with 8 concurrent Starts (as the control plane's
// workers call it), then measures the steady state: full resync passes (a Start of every
// workload) with nothing changed, and the watches idling. It reports the time to converge,
// the API requests made and the steady-state requests per minute, and fails if the steady
// state writes anything.
func BenchmarkReconcile1000Services(b *testing.B) {
	const namespaces, perNamespace, workers = 50, 20, 8
	steady := 30 * time.Second
	if testing.Short() {
		b.Skip("needs a kube-apiserver")
	}
	for range b.N {
		var n counter
		d := newDriver(b, kubernetes.Options{Config: n.count(kubetest.Config(b))})
		var specs []runtime.WorkloadSpec
		for i := range namespaces {
			for j := range perNamespace {
				specs = append(specs, workload(fmt.Sprintf("ns%02d", i), fmt.Sprintf("svc%02d", j)))
			}
		}
		startAll := func() {
			work := make(chan runtime.WorkloadSpec)
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for s := range work {
						if err := d.Start(b.Context(), s); err != nil {
							b.Errorf("Start %s/%s: %v", s.Namespace, s.Service, err)
						}
					}
				}()
			}
			for _, s := range specs {
				work <- s
			}
			close(work)
			wg.Wait()
		}

		base := n.snapshot()
		began := time.Now()
		startAll()
		took := time.Since(began)
		scratch := diff(n.snapshot(), base)
		b.Logf("from scratch: %d services in %d namespaces converged in %v with %d API requests (%v)",
			len(specs), namespaces, took.Round(time.Millisecond), total(scratch), scratch)

		// Let the cache see the last writes, then count a steady period: resync passes
		// every 10s and the watches idling in between.
		waitFor(b, "a resync pass without writes", func() bool {
			before := writes(n.snapshot())
			startAll()
			return writes(n.snapshot()) == before
		})
		base = n.snapshot()
		began = time.Now()
		passes := 0
		var passTime time.Duration
		for time.Since(began) < steady {
			p := time.Now()
			startAll()
			passTime += time.Since(p)
			passes++
			time.Sleep(10 * time.Second)
		}
		elapsed := time.Since(began)
		idle := diff(n.snapshot(), base)
		perMinute := float64(total(idle)) / elapsed.Minutes()
		b.Logf("steady state: %d resync passes of %d Starts (%v each) in %v: %d API requests (%.1f/min), %d writes (%v)",
			passes, len(specs), (passTime / time.Duration(passes)).Round(time.Millisecond), elapsed.Round(time.Second), total(idle), perMinute, writes(idle), idle)
		if w := writes(idle); w != 0 {
			b.Errorf("steady state wrote %d times, want 0", w)
		}
		b.ReportMetric(took.Seconds(), "converge-s")
		b.ReportMetric(float64(total(scratch)), "scratch-requests")
		b.ReportMetric(perMinute, "steady-requests/min")
		b.ReportMetric(float64(writes(idle)), "steady-writes")

		b.StopTimer()
		for _, s := range specs {
			if err := d.Stop(b.Context(), s.ID, time.Second); err != nil {
				b.Fatalf("Stop: %v", err)
			}
		}
		b.StartTimer()
	}
}

func diff(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if v-before[k] != 0 {
			out[k] = v - before[k]
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
