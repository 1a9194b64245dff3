package control_test

import (
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/fake"
)

// usageRow is one gateway's flush for a minute: requests of the given latencies, with
// errors of them failing.
func usageRow(svc string, minute time.Time, errors int64, latencies ...time.Duration) *platform.RequestUsage {
	u := &platform.RequestUsage{Namespace: "acme", Service: svc, Minute: minute, Errors: errors,
		LatencyBuckets: make([]int64, platform.LatencyBucketCount)}
	for _, d := range latencies {
		u.Requests++
		u.LatencyMicros += d.Microseconds()
		u.MaxLatencyMicros = max(u.MaxLatencyMicros, d.Microseconds())
		u.LatencyBuckets[platform.LatencyBucket(d)]++
	}
	return u
}

// repeat returns n times d.
func repeat(n int, d time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// TestServiceMetrics records usage through the real store as two gateways would and
// reads it back: a point for every minute of the window (zeros where nothing was
// recorded), percentiles from the merged latency buckets, totals, the window's bounds,
// and the same authorisation as reading the service.
func TestServiceMetrics(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	ctx := t.Context()
	h.namespace("acme")
	if _, err := h.plane.Deploy(h.owner, platform.DeployRequest{Namespace: "acme", Service: "api", Source: platform.Source{Kind: platform.SourceGit, URL: "https://example.com/x.git"}}); err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	now := h.clock.Now().UTC().Truncate(time.Minute) // the current minute
	busy := now.Add(-2 * time.Minute)
	// The busy minute comes from two gateways: 90 requests of 3 ms, 9 of 50 ms and one of
	// 3 s, two of which failed.
	must(t, h.store.AddRequestUsage(ctx, []*platform.RequestUsage{
		usageRow("api", busy, 1, append(repeat(60, 3*ms), repeat(9, 50*ms)...)...),
		usageRow("api", now.Add(-5*time.Minute).Add(30*time.Second), 0, 10*ms),
		usageRow("api", now.Add(-61*time.Minute), 0, 10*ms), // before the window
		usageRow("web", busy, 0, repeat(1000, ms)...),       // another service
	}))
	must(t, h.store.AddRequestUsage(ctx, []*platform.RequestUsage{
		usageRow("api", busy, 1, append(repeat(30, 3*ms), 3*time.Second)...),
		usageRow("api", now, 0, 700*time.Microsecond),
	}))

	m, err := h.plane.ServiceMetrics(h.owner, "acme", "api", 0)
	if err := err; err != nil {
		t.Fatal(err)
	}
	if len(m.Points) != 60 || !m.From.Equal(now.Add(-59*time.Minute)) || !m.To.Equal(now.Add(time.Minute)) || m.Namespace != "acme" || m.Service != "api" {
		t.Fatalf("window %s to %s with %d points, want the 60 minutes up to and with %s", m.From, m.To, len(m.Points), now)
	}
	want := map[time.Time]platform.MetricPoint{
		busy:                      {Requests: 100, Errors: 2, P50: 4 * ms, P99: 64 * ms, Mean: (90*3*ms + 9*50*ms + 3*time.Second) / 100, Max: 3 * time.Second},
		now.Add(-5 * time.Minute): {Requests: 1, P50: 10 * ms, P99: 10 * ms, Mean: 10 * ms, Max: 10 * ms},
		now:                       {Requests: 1, P50: 700 * time.Microsecond, P99: 700 * time.Microsecond, Mean: 700 * time.Microsecond, Max: 700 * time.Microsecond},
	}
	for i, p := range m.Points {
		minute := m.From.Add(time.Duration(i) * time.Minute)
		w := want[minute]
		w.Minute = minute
		if *p != w {
			t.Errorf("point %d = %+v, want %+v", i, *p, w)
		}
	}
	wantTotal := platform.MetricPoint{Minute: m.From, Requests: 102, Errors: 2, P50: 4 * ms, P99: 64 * ms,
		Mean: (90*3*ms + 9*50*ms + 3*time.Second + 10*ms + 700*time.Microsecond) / 102, Max: 3 * time.Second}
	if *m.Total != wantTotal {
		t.Errorf("total = %+v, want %+v", *m.Total, wantTotal)
	}

	t.Run("window", func(t *testing.T) {
		m, err := h.plane.ServiceMetrics(h.owner, "acme", "api", 4*time.Minute+time.Second) // rounded up to 5
		must(t, err)
		if len(m.Points) != 5 || !m.From.Equal(now.Add(-4*time.Minute)) || m.Total.Requests != 101 {
			t.Fatalf("%d points from %s with %d requests, want 5 from %s with 101", len(m.Points), m.From, m.Total.Requests, now.Add(-4*time.Minute))
		}
		m, err = h.plane.ServiceMetrics(h.owner, "acme", "api", platform.MaxMetricsWindow)
		must(t, err)
		if len(m.Points) != 1440 || m.Total.Requests != 103 {
			t.Fatalf("a day: %d points with %d requests, want 1440 with 103", len(m.Points), m.Total.Requests)
		}
	})
	tests := []struct {
		name     string
		ns, svc  string
		since    time.Duration
		wantCode string
	}{
		{name: "a day and a minute", ns: "acme", svc: "api", since: platform.MaxMetricsWindow + time.Minute, wantCode: platform.EINVALID},
		{name: "negative window", ns: "acme", svc: "api", since: -time.Hour, wantCode: platform.EINVALID},
		{name: "unknown service", ns: "acme", svc: "nope", wantCode: platform.ENOTFOUND},
		{name: "unknown namespace", ns: "nope", svc: "api", wantCode: platform.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.plane.ServiceMetrics(h.owner, tt.ns, tt.svc, tt.since)
			if platform.ErrorCode(err) != tt.wantCode {
				t.Fatalf("err = %v, want %s", err, tt.wantCode)
			}
		})
	}
	t.Run("authorised as reading the service", func(t *testing.T) {
		viewer, _ := h.member("vera", platform.RoleViewer)
		if _, err := h.plane.ServiceMetrics(viewer, "acme", "api", 0); err != nil {
			t.Fatalf("a viewer of the org reads the metrics: %v", err)
		}
		// Another organisation's owner is refused as GetService refuses them, and learns
		// nothing of the service's traffic.
		globex := h.orgOwner("globex", "gina")
		_, getErr := h.plane.GetService(globex, "acme", "api")
		m, err := h.plane.ServiceMetrics(globex, "acme", "api", 0)
		if m != nil || platform.ErrorCode(err) != platform.ErrorCode(getErr) || platform.ErrorCode(err) != platform.EFORBIDDEN {
			t.Fatalf("another organisation: %+v, %v; GetService says %v", m, err, getErr)
		}
		_, getErr = h.plane.GetService(globex, "globex-only", "api")
		_, err = h.plane.ServiceMetrics(globex, "globex-only", "api", 0)
		if platform.ErrorCode(err) != platform.ENOTFOUND || platform.ErrorCode(getErr) != platform.ENOTFOUND {
			t.Fatalf("a namespace that does not exist: %v; GetService says %v", err, getErr)
		}
	})
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// TestServiceMetricsSamplesResources: the plane samples the running instances through
// their region (the runtime's Stats) and a service's points carry their CPU and memory,
// summed over its instances.
func TestServiceMetricsSamplesResources(t *testing.T) {
	t.Parallel()
	h := openHarness(t, t.TempDir(), fake.NewHost(), harnessOptions{rollout: 5 * time.Second, sample: 20 * time.Millisecond})
	h.start()
	if _, err := h.plane.CreateNamespace(h.admin, "acme"); err != nil {
		t.Fatal(err)
	}
	h.host.SetScript("bin-cccc3333", fake.Script{CPUPercent: 25, MemoryBytes: 64 << 20})
	h.upload("acme", digest("cccc3333"))
	r, err := h.plane.Deploy(h.admin, platform.DeployRequest{Namespace: "acme", Service: "helloworld", Replicas: 2,
		Source: platform.Source{Kind: platform.SourceArchive, Archive: digest("cccc3333")}})
	must(t, err)
	h.waitRelease(r.ID, platform.ReleaseLive)
	var m *platform.ServiceMetrics
	h.eventually("a sample of both instances", func() bool {
		m, err = h.plane.ServiceMetrics(h.admin, "acme", "helloworld", time.Minute)
		must(t, err)
		last := m.Points[len(m.Points)-1]
		return last.CPU == 0.5 && last.Memory == 128<<20
	})
	if m.Total.CPU != 0.5 || m.Total.Memory != 128<<20 {
		t.Fatalf("total CPU %v, memory %d; want 0.5 cores and 128 MiB", m.Total.CPU, m.Total.Memory)
	}
}
