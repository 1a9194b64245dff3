package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/micro/platform"
)

func testUsage(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	m0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m1, m2 := m0.Add(time.Minute), m0.Add(2*time.Minute)
	usage := func(svc string, minute time.Time, req, errs, client, lat, maxLat int64) *platform.RequestUsage {
		return &platform.RequestUsage{Namespace: "acme", Service: svc, Minute: minute, Requests: req, Errors: errs,
			ClientErrors: client, LatencyMicros: lat, MaxLatencyMicros: maxLat}
	}
	must(t, s.AddRequestUsage(ctx, []*platform.RequestUsage{
		usage("api", m0.Add(30*time.Second), 3, 1, 1, 300, 200), // lands on m0
		usage("api", m0, 2, 0, 1, 100, 150),                     // same row in the same batch
		usage("web", m0, 1, 0, 0, 10, 10),
		usage("api", m1, 4, 0, 0, 40, 20),
		{Namespace: "globex", Service: "api", Minute: m0, Requests: 100},
	}))
	// A later flush adds to the rows; its max replaces the stored one only when larger.
	must(t, s.AddRequestUsage(ctx, []*platform.RequestUsage{
		usage("api", m0, 5, 2, 0, 500, 250),
		usage("api", m1, 1, 0, 0, 5, 5),
	}))
	// Rows carry the minute in the local zone of the caller too.
	must(t, s.AddRequestUsage(ctx, []*platform.RequestUsage{usage("web", m1.In(time.FixedZone("X", 3600)), 1, 0, 0, 1, 1)}))

	apiM0 := usage("api", m0, 10, 3, 2, 900, 250)
	webM0 := usage("web", m0, 1, 0, 0, 10, 10)
	apiM1 := usage("api", m1, 5, 0, 0, 45, 20)
	webM1 := usage("web", m1, 1, 0, 0, 1, 1)
	tests := []struct {
		service  string
		from, to time.Time
		want     []*platform.RequestUsage
	}{
		{"", m0, m2, []*platform.RequestUsage{apiM0, webM0, apiM1, webM1}},
		{"api", m0, m2, []*platform.RequestUsage{apiM0, apiM1}},
		{"", m0, m1, []*platform.RequestUsage{apiM0, webM0}},
		{"", m1, m2, []*platform.RequestUsage{apiM1, webM1}},
		{"", m2, m2.Add(time.Hour), []*platform.RequestUsage{}},
		{"nope", m0, m2, []*platform.RequestUsage{}},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("%q from %s to %s", tc.service, tc.from.Format("15:04"), tc.to.Format("15:04"))
		t.Run(name, func(t *testing.T) {
			got, err := s.ListRequestUsage(ctx, "acme", tc.service, tc.from, tc.to)
			must(t, err)
			sameJSON(t, "usage", got, tc.want)
		})
	}
	t.Run("invalid records write nothing", func(t *testing.T) {
		err := s.AddRequestUsage(ctx, []*platform.RequestUsage{
			usage("api", m0, 1, 0, 0, 1, 1),
			{Service: "api", Minute: m0, Requests: 1},
			usage("api", m0, -1, 0, 0, 0, 0),
		})
		wantCode(t, err, platform.EINVALID)
		got, err := s.ListRequestUsage(ctx, "acme", "api", m0, m1)
		must(t, err)
		sameJSON(t, "usage after a rejected batch", got, []*platform.RequestUsage{apiM0})
	})
	t.Run("empty batch", func(t *testing.T) {
		must(t, s.AddRequestUsage(ctx, nil))
	})
	t.Run("latency buckets add up", func(t *testing.T) {
		testLatencyBuckets(t, h)
	})
}

// testLatencyBuckets: the latency histograms of many gateways and flushes add up element
// by element, in one batch and across batches; a record without buckets adds none; a
// histogram of the wrong length is refused.
func testLatencyBuckets(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	m0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m1 := m0.Add(time.Minute)
	buckets := func(counts map[int]int64) []int64 {
		b := make([]int64, platform.LatencyBucketCount)
		for i, c := range counts {
			b[i] = c
		}
		return b
	}
	last := platform.LatencyBucketCount - 1
	rec := func(minute time.Time, req int64, b []int64) *platform.RequestUsage {
		return &platform.RequestUsage{Namespace: "acme", Service: "api", Minute: minute, Requests: req, LatencyBuckets: b}
	}
	must(t, s.AddRequestUsage(ctx, []*platform.RequestUsage{
		rec(m0, 3, buckets(map[int]int64{0: 1, 3: 2})),
		rec(m0, 2, buckets(map[int]int64{3: 1, last: 1})), // same row, same batch
		rec(m1, 1, nil),
	}))
	must(t, s.AddRequestUsage(ctx, []*platform.RequestUsage{
		rec(m0, 4, buckets(map[int]int64{0: 1, 7: 3})),
		rec(m0, 1, nil), // a record without a histogram adds none
	}))
	err := s.AddRequestUsage(ctx, []*platform.RequestUsage{rec(m0, 1, []int64{1})})
	wantCode(t, err, platform.EINVALID)
	err = s.AddRequestUsage(ctx, []*platform.RequestUsage{rec(m0, 1, buckets(map[int]int64{2: -1}))})
	wantCode(t, err, platform.EINVALID)

	got, err := s.ListRequestUsage(ctx, "acme", "api", m0, m1.Add(time.Minute))
	must(t, err)
	sameJSON(t, "usage with latency buckets", got, []*platform.RequestUsage{
		rec(m0, 10, buckets(map[int]int64{0: 2, 3: 3, 7: 3, last: 1})),
		rec(m1, 1, nil), // no request in a bucket: no histogram
	})
}

func testResourceUsage(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	m0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m1 := m0.Add(time.Minute)
	sample := func(svc string, minute time.Time, cpu, mem int64) *platform.ResourceUsage {
		return &platform.ResourceUsage{Namespace: "acme", Service: svc, Minute: minute, CPUMillicores: cpu, MemoryBytes: mem}
	}
	must(t, s.PutResourceUsage(ctx, []*platform.ResourceUsage{
		sample("api", m0.Add(10*time.Second), 100, 1<<20), // lands on m0
		sample("api", m1, 300, 3<<20),
		sample("web", m0, 7, 7),
		{Namespace: "globex", Service: "api", Minute: m0, CPUMillicores: 9},
	}))
	// A later sample of the same minute replaces the earlier one.
	must(t, s.PutResourceUsage(ctx, []*platform.ResourceUsage{sample("api", m0.Add(40*time.Second).In(time.FixedZone("X", 3600)), 250, 2<<20)}))
	err := s.PutResourceUsage(ctx, []*platform.ResourceUsage{sample("api", m0, 1, 1), {Service: "api", Minute: m0}, sample("api", m0, -1, 0)})
	wantCode(t, err, platform.EINVALID)

	tests := []struct {
		name     string
		service  string
		from, to time.Time
		want     []*platform.ResourceUsage
	}{
		{"both minutes", "api", m0, m1.Add(time.Minute), []*platform.ResourceUsage{sample("api", m0, 250, 2<<20), sample("api", m1, 300, 3<<20)}},
		{"to is exclusive", "api", m0, m1, []*platform.ResourceUsage{sample("api", m0, 250, 2<<20)}},
		{"another service", "web", m0, m1, []*platform.ResourceUsage{sample("web", m0, 7, 7)}},
		{"none", "nope", m0, m1, []*platform.ResourceUsage{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListResourceUsage(ctx, "acme", tc.service, tc.from, tc.to)
			must(t, err)
			sameJSON(t, "resource usage", got, tc.want)
		})
	}
	must(t, s.PutResourceUsage(ctx, nil))
}
