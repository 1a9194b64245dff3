package platform_test

import (
	"testing"
	"time"

	"github.com/micro/platform"
)

// histogram makes a RequestUsage of requests with the given latencies, as a gateway
// records them.
func histogram(latencies ...time.Duration) *platform.RequestUsage {
	u := &platform.RequestUsage{LatencyBuckets: make([]int64, platform.LatencyBucketCount)}
	for _, d := range latencies {
		u.Requests++
		u.LatencyMicros += d.Microseconds()
		u.MaxLatencyMicros = max(u.MaxLatencyMicros, d.Microseconds())
		u.LatencyBuckets[platform.LatencyBucket(d)]++
	}
	return u
}

func TestLatencyBucket(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{0, 0},
		{125 * time.Microsecond, 0},
		{126 * time.Microsecond, 1},
		{time.Millisecond, 3},
		{time.Millisecond + 1, 4},
		{32768 * time.Millisecond, len(platform.LatencyBounds) - 1},
		{time.Minute, len(platform.LatencyBounds)},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			if got := platform.LatencyBucket(tt.d); got != tt.want {
				t.Fatalf("LatencyBucket(%s) = %d, want %d", tt.d, got, tt.want)
			}
		})
	}
	for i := 1; i < len(platform.LatencyBounds); i++ {
		if platform.LatencyBounds[i] != 2*platform.LatencyBounds[i-1] {
			t.Fatalf("bound %d = %s, want twice %s", i, platform.LatencyBounds[i], platform.LatencyBounds[i-1])
		}
	}
}

func TestQuantile(t *testing.T) {
	ms := time.Millisecond
	// 90 fast requests, 9 of 50 ms, 1 of 3 s.
	var mixed []time.Duration
	for range 90 {
		mixed = append(mixed, 3*ms)
	}
	for range 9 {
		mixed = append(mixed, 50*ms)
	}
	mixed = append(mixed, 3*time.Second)
	tests := []struct {
		name  string
		usage *platform.RequestUsage
		q     float64
		want  time.Duration
	}{
		{"no requests", &platform.RequestUsage{}, 0.5, 0},
		{"rows from before the histogram", &platform.RequestUsage{Requests: 10, LatencyMicros: 100, MaxLatencyMicros: 50}, 0.5, 0},
		{"one request: capped by the max", histogram(3 * ms), 0.99, 3 * ms},
		{"p50 is the bucket's upper bound", histogram(mixed...), 0.5, 4 * ms},
		{"p90 is the 90th request", histogram(mixed...), 0.9, 4 * ms},
		{"p91 is the 91st", histogram(mixed...), 0.91, 64 * ms},
		{"p99", histogram(mixed...), 0.99, 64 * ms},
		{"p100 is the slowest", histogram(mixed...), 1, 3 * time.Second},
		{"q above 1 is the slowest", histogram(mixed...), 2, 3 * time.Second},
		{"q 0 is the first bucket", histogram(mixed...), 0, 4 * ms},
		{"overflow bucket: the max", histogram(time.Minute, 2*time.Minute), 0.5, 2 * time.Minute},
		{"sub-millisecond", histogram(100*time.Microsecond, 200*time.Microsecond), 0.5, 125 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.usage.Quantile(tt.q); got != tt.want {
				t.Fatalf("Quantile(%v) = %s, want %s", tt.q, got, tt.want)
			}
		})
	}
}

// TestUsageAdd: rows of the same minute add up exactly, whichever way they are split.
func TestUsageAdd(t *testing.T) {
	ms := time.Millisecond
	all := histogram(1*ms, 2*ms, 3*ms, 700*ms, 5*time.Second)
	sum := &platform.RequestUsage{}
	sum.Add(histogram(1*ms, 700*ms))
	sum.Add(&platform.RequestUsage{}) // no buckets: nothing to add
	sum.Add(histogram(2*ms, 3*ms, 5*time.Second))
	if sum.Requests != all.Requests || sum.LatencyMicros != all.LatencyMicros || sum.MaxLatencyMicros != all.MaxLatencyMicros {
		t.Fatalf("sum = %+v, want %+v", sum, all)
	}
	for i := range all.LatencyBuckets {
		if sum.LatencyBuckets[i] != all.LatencyBuckets[i] {
			t.Fatalf("bucket %d = %d, want %d", i, sum.LatencyBuckets[i], all.LatencyBuckets[i])
		}
	}
	if sum.Quantile(0.5) != 4*ms || sum.MeanLatency() != all.MeanLatency() {
		t.Fatalf("p50 %s mean %s, want 4ms and %s", sum.Quantile(0.5), sum.MeanLatency(), all.MeanLatency())
	}
}
