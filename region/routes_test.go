package region

import (
	"slices"
	"testing"
	"time"
)

// TestRouterOrder: remotes exclude the region itself, follow the placement, prefer the
// faster region once measured, and put a region that just failed last.
func TestRouterOrder(t *testing.T) {
	r := NewRouter("lon1")
	r.Update([]Route{{Namespace: "acme", Service: "hello", Regions: []string{"lon1", "fra1", "nyc1"}}},
		map[string]string{"lon1": "http://lon1", "fra1": "http://fra1", "nyc1": "http://nyc1"})
	if got := r.Remotes("acme", "hello"); !slices.Equal(got, []string{"http://fra1", "http://nyc1"}) {
		t.Errorf("placement order: %v", got)
	}
	if got := r.Remotes("acme", "other"); len(got) != 0 {
		t.Errorf("unknown service: %v", got)
	}
	r.Observe("http://fra1", 80*time.Millisecond, false)
	r.Observe("http://nyc1", 20*time.Millisecond, false)
	if got := r.Remotes("acme", "hello"); !slices.Equal(got, []string{"http://nyc1", "http://fra1"}) {
		t.Errorf("by latency: %v", got)
	}
	r.Observe("http://nyc1", 0, true)
	if got := r.Remotes("acme", "hello"); !slices.Equal(got, []string{"http://fra1", "http://nyc1"}) {
		t.Errorf("failed last: %v", got)
	}
	// A region without a known gateway is not offered.
	r.Update([]Route{{Namespace: "acme", Service: "hello", Regions: []string{"fra1", "mars1"}}}, map[string]string{"fra1": "http://fra1"})
	if got := r.Remotes("acme", "hello"); !slices.Equal(got, []string{"http://fra1"}) {
		t.Errorf("unknown gateway: %v", got)
	}
}
