package platform_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/micro/platform"
)

// TestMetricPointJSON: latencies travel as fractional milliseconds and come back to the
// microsecond.
func TestMetricPointJSON(t *testing.T) {
	p := platform.MetricPoint{Minute: time.Date(2026, 3, 1, 12, 4, 0, 0, time.UTC), Requests: 120, Errors: 3, ClientErrors: 2,
		P50: 500 * time.Microsecond, P99: 64 * time.Millisecond, Mean: 5501 * time.Microsecond, Max: 80250 * time.Microsecond,
		CPU: 0.25, Memory: 64 << 20}
	b, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"minute":"2026-03-01T12:04:00Z","requests":120,"errors":3,"client_errors":2,"p50_ms":0.5,"p99_ms":64,"mean_ms":5.501,"max_ms":80.25,"cpu_cores":0.25,"memory_bytes":67108864}`
	if string(b) != want {
		t.Fatalf("JSON\n got %s\nwant %s", b, want)
	}
	var back platform.MetricPoint
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != p {
		t.Fatalf("decoded %+v, want %+v", back, p)
	}
}
