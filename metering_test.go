package platform_test

import (
	"testing"
	"time"

	"github.com/micro/platform"
)

func TestSizeWeight(t *testing.T) {
	tests := []struct {
		size platform.Size
		want int64
	}{
		{"", 1},
		{platform.SizeNano, 1},
		{platform.SizeSmall, 2}, // 250m is 2.5 nanos, rounded down
		{platform.SizeMedium, 5},
		{platform.SizeLarge, 10},
		{platform.SizeXLarge, 20},
		{"huge", 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.size), func(t *testing.T) {
			if got := tt.size.Weight(); got != tt.want {
				t.Fatalf("Weight() = %d, want %d", got, tt.want)
			}
		})
	}
	// Never more than the CPU: a weight of w stands for w·100m.
	for _, s := range platform.Sizes() {
		cpu, _ := s.Resources()
		if w := s.Weight(); w < 1 || w*100 > cpu {
			t.Errorf("%s: weight %d for %dm CPU", s, w, cpu)
		}
	}
}

func TestSumUsage(t *testing.T) {
	h := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := func(svc string, m platform.Meter, q int64, at time.Time) *platform.UsageEvent {
		return &platform.UsageEvent{ID: "x", Org: "o", Namespace: "acme", Service: svc, Meter: m, Quantity: q, Time: at}
	}
	got := platform.SumUsage([]*platform.UsageEvent{
		ev("web", platform.MeterRequests, 1, h.Add(time.Hour)),
		ev("api", platform.MeterRequests, 2, h.Add(59*time.Minute)),
		ev("api", platform.MeterRequests, 3, h.In(time.FixedZone("X", -3*3600))),
		ev("api", platform.MeterEgressBytes, 4, h),
	})
	want := []platform.UsageRollup{
		{Org: "o", Namespace: "acme", Service: "api", Meter: platform.MeterEgressBytes, Hour: h, Quantity: 4},
		{Org: "o", Namespace: "acme", Service: "api", Meter: platform.MeterRequests, Hour: h, Quantity: 5},
		{Org: "o", Namespace: "acme", Service: "web", Meter: platform.MeterRequests, Hour: h.Add(time.Hour), Quantity: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("SumUsage = %d rollups, want %d", len(got), len(want))
	}
	for i := range want {
		if *got[i] != want[i] {
			t.Errorf("rollup %d = %+v, want %+v", i, *got[i], want[i])
		}
	}
}
