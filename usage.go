package platform

import (
	"context"
	"math"
	"time"
)

// RequestUsage aggregates gateway requests to one service in one minute, the unit that
// billing, alerting and a service's metrics read.
type RequestUsage struct {
	Namespace string    `json:"namespace"`
	Service   string    `json:"service"`
	Minute    time.Time `json:"minute"` // start of the minute, UTC
	Requests  int64     `json:"requests"`
	Errors    int64     `json:"errors"` // responses with status >= 500
	// ClientErrors counts responses with 400 <= status < 500.
	ClientErrors int64 `json:"client_errors"`
	// LatencyMicros is the sum of request latencies, for the mean.
	LatencyMicros int64 `json:"latency_micros"`
	// MaxLatencyMicros is the slowest request of the minute.
	MaxLatencyMicros int64 `json:"max_latency_micros"`
	// LatencyBuckets counts requests by latency: element i counts those in bucket i of
	// LatencyBounds (see LatencyBucket), so it has LatencyBucketCount elements. The
	// buckets are the same everywhere, so rows of many gateways and flushes add up
	// exactly, element by element. nil when no request was counted in one (rows written
	// before the histogram).
	LatencyBuckets []int64 `json:"latency_buckets,omitempty"`
}

// LatencyBounds are the inclusive upper bounds of the latency buckets of RequestUsage:
// 125µs·2^k for k = 0..18, that is 1ms·2^k from 0.125 ms to about 33 s. A request
// slower than the last bound is counted in one more, the overflow bucket. Changing them
// changes what stored rows mean: it needs a migration.
var LatencyBounds = [...]time.Duration{
	125 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	1 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond,
	16 * time.Millisecond, 32 * time.Millisecond, 64 * time.Millisecond, 128 * time.Millisecond,
	256 * time.Millisecond, 512 * time.Millisecond, 1024 * time.Millisecond, 2048 * time.Millisecond,
	4096 * time.Millisecond, 8192 * time.Millisecond, 16384 * time.Millisecond, 32768 * time.Millisecond,
}

// LatencyBucketCount is the length of RequestUsage.LatencyBuckets: the buckets of
// LatencyBounds and the overflow bucket.
const LatencyBucketCount = len(LatencyBounds) + 1

// LatencyBucket returns the index in RequestUsage.LatencyBuckets of a request that took
// d: the first bucket whose bound is at least d, or the overflow bucket.
func LatencyBucket(d time.Duration) int {
	for i, b := range LatencyBounds {
		if d <= b {
			return i
		}
	}
	return len(LatencyBounds)
}

// MaxLatency is MaxLatencyMicros as a duration.
func (u *RequestUsage) MaxLatency() time.Duration {
	return time.Duration(u.MaxLatencyMicros) * time.Microsecond
}

// MeanLatency is the mean latency of the requests, 0 without requests.
func (u *RequestUsage) MeanLatency() time.Duration {
	if u.Requests <= 0 {
		return 0
	}
	return time.Duration(u.LatencyMicros) * time.Microsecond / time.Duration(u.Requests)
}

// Quantile estimates the latency under which a fraction q (0 < q <= 1) of the requests
// completed, from LatencyBuckets: the upper bound of the bucket holding the request of
// rank ⌈q·n⌉, capped by MaxLatency (which is also the answer in the overflow bucket).
// It overestimates by less than a factor of two within the bounds and never exceeds the
// slowest request. 0 when no request was counted in the buckets.
func (u *RequestUsage) Quantile(q float64) time.Duration {
	var n int64
	for _, c := range u.LatencyBuckets {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(min(max(q, 0), 1) * float64(n)))
	rank = max(rank, 1)
	var seen int64
	for i, c := range u.LatencyBuckets {
		seen += c
		if seen >= rank {
			if i < len(LatencyBounds) {
				return min(LatencyBounds[i], u.MaxLatency())
			}
			break
		}
	}
	return u.MaxLatency()
}

// Add adds o's counts to u's (the maximum takes the larger of both), as the store adds
// rows of the same minute; the buckets add up element by element.
func (u *RequestUsage) Add(o *RequestUsage) {
	u.Requests += o.Requests
	u.Errors += o.Errors
	u.ClientErrors += o.ClientErrors
	u.LatencyMicros += o.LatencyMicros
	u.MaxLatencyMicros = max(u.MaxLatencyMicros, o.MaxLatencyMicros)
	if len(o.LatencyBuckets) == 0 {
		return
	}
	if len(u.LatencyBuckets) < len(o.LatencyBuckets) {
		u.LatencyBuckets = append(u.LatencyBuckets, make([]int64, len(o.LatencyBuckets)-len(u.LatencyBuckets))...)
	}
	for i, c := range o.LatencyBuckets {
		u.LatencyBuckets[i] += c
	}
}

// UsageStore keeps metered usage.
type UsageStore interface {
	// AddRequestUsage adds each record to the stored row of the same namespace, service
	// and minute (counts and latency buckets add up, max takes the maximum), creating it
	// if needed. EINVALID for a record without a namespace, with a negative count, or
	// with latency buckets that are not LatencyBucketCount long.
	AddRequestUsage(ctx context.Context, records []*RequestUsage) error
	// ListRequestUsage returns a namespace's rows with from <= minute < to, ordered by
	// minute then service; service "" means all services.
	ListRequestUsage(ctx context.Context, namespace, service string, from, to time.Time) ([]*RequestUsage, error)
}

// ResourceUsage is a sample of what a service's instances use, summed over its
// instances in every region: at most one per service and minute, the minute's last.
type ResourceUsage struct {
	Namespace string    `json:"namespace"`
	Service   string    `json:"service"`
	Minute    time.Time `json:"minute"` // start of the minute, UTC
	// CPUMillicores is the CPU the instances used (1000 is one core), a rate over the
	// short time since the runtime's previous sample, not the minute's average.
	CPUMillicores int64 `json:"cpu_millicores"`
	// MemoryBytes is the memory the instances held when sampled.
	MemoryBytes int64 `json:"memory_bytes"`
}

// ResourceStore keeps samples of the resources services use.
type ResourceStore interface {
	// PutResourceUsage stores each sample as its service's sample of the minute,
	// replacing an earlier one of the same minute. EINVALID for a sample without a
	// namespace or with negative figures.
	PutResourceUsage(ctx context.Context, samples []*ResourceUsage) error
	// ListResourceUsage returns a service's samples with from <= minute < to, ordered by
	// minute.
	ListResourceUsage(ctx context.Context, namespace, service string, from, to time.Time) ([]*ResourceUsage, error)
}
