package runtimeapi_test

import (
	"reflect"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtimeapi"
)

// TestUsageRoundTrip: a region's gateway sends its usage to the control plane with the
// latency histogram, so that percentiles survive the trip; a record without one stays
// without.
func TestUsageRoundTrip(t *testing.T) {
	t.Parallel()
	buckets := make([]int64, platform.LatencyBucketCount)
	buckets[0], buckets[5], buckets[platform.LatencyBucketCount-1] = 3, 2, 1
	minute := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	in := []*platform.RequestUsage{
		{Namespace: "acme", Service: "api", Minute: minute, Requests: 6, Errors: 1, ClientErrors: 2,
			LatencyMicros: 61000, MaxLatencyMicros: 60000, LatencyBuckets: buckets},
		{Namespace: "acme", Service: "web", Minute: minute, Requests: 1},
	}
	out := runtimeapi.UsageFromProto(runtimeapi.UsageToProto(in))
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("round trip\n got %+v\nwant %+v", out, in)
	}
}
