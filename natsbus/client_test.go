package natsbus

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go-micro.dev/v5/registry"
)

// countingRegistry answers GetService from a fixed set of services and counts queries;
// fail makes every query fail.
type countingRegistry struct {
	registry.Registry // nil: the cache uses only GetService

	mu       sync.Mutex
	services map[string][]*registry.Service
	queries  map[string]int
	fail     error
}

func newCountingRegistry(names ...string) *countingRegistry {
	r := &countingRegistry{services: map[string][]*registry.Service{}, queries: map[string]int{}}
	for _, n := range names {
		r.services[n] = []*registry.Service{{Name: n, Version: "v1", Nodes: []*registry.Node{{Id: n + "-1", Address: "_INBOX." + n}}}}
	}
	return r
}

func (r *countingRegistry) GetService(name string, _ ...registry.GetOption) ([]*registry.Service, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries[name]++
	if r.fail != nil {
		return nil, r.fail
	}
	return r.services[name], nil
}

func (r *countingRegistry) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queries[name]
}

// manualClock is a settable clock for cacheOptions.Now.
type manualClock struct{ t time.Time }

func (c *manualClock) now() time.Time          { return c.t }
func (c *manualClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestCache(t *testing.T, reg registry.Registry, opts cacheOptions) (*registryCache, *manualClock) {
	t.Helper()
	clock := &manualClock{t: time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)}
	opts.Now = clock.now
	c, err := newRegistryCache(reg, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, clock
}

func TestRegistryCacheLookups(t *testing.T) {
	t.Parallel()
	reg := newCountingRegistry("greeter")
	c, clock := newTestCache(t, reg, cacheOptions{})

	for range 3 {
		if svcs, err := c.getService("greeter"); err != nil || len(svcs) != 1 {
			t.Fatalf("getService(greeter) = %v, %v", svcs, err)
		}
	}
	if n := reg.count("greeter"); n != 1 {
		t.Fatalf("a registered service was queried %d times, want once while fresh", n)
	}
	for range 3 {
		if _, err := c.getService("nosuch"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("getService(nosuch) = %v, want not found", err)
		}
	}
	if n := reg.count("nosuch"); n != 1 {
		t.Fatalf("an unknown name was queried %d times within the retry interval, want once", n)
	}
	clock.advance(lookupRetryInterval)
	_, _ = c.getService("nosuch")
	if n := reg.count("nosuch"); n != 2 {
		t.Fatalf("an unknown name was queried %d times after the retry interval, want twice", n)
	}

	// Past the node TTL the service is asked about again; if the registry cannot
	// answer, what was known keeps being served.
	clock.advance(defaultNodeTTL)
	reg.mu.Lock()
	reg.fail = errors.New("nats: connection closed")
	reg.mu.Unlock()
	if svcs, err := c.getService("greeter"); err != nil || len(svcs) != 1 {
		t.Fatalf("getService(greeter) with the registry down = %v, %v: want the stale entry", svcs, err)
	}
	if n := reg.count("greeter"); n != 2 {
		t.Fatalf("greeter queried %d times, want a second query after its TTL", n)
	}
	if _, err := c.getService("other"); err == nil || errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("getService(other) with the registry down = %v, want the registry's error", err)
	}
}

// TestRegistryCacheIsBounded: the names a cache keeps are bounded whatever callers ask
// for: unknown names by MaxMisses and the retry interval, registered services by
// MaxServices (least recently used first) and IdleTTL.
func TestRegistryCacheIsBounded(t *testing.T) {
	t.Parallel()
	var names []string
	for i := range 10 {
		names = append(names, fmt.Sprintf("svc%d", i))
	}
	reg := newCountingRegistry(names...)
	c, clock := newTestCache(t, reg, cacheOptions{MaxServices: 4, MaxMisses: 100, IdleTTL: time.Minute})
	size := func() (services, misses int) {
		c.mu.RLock()
		defer c.mu.RUnlock()
		return len(c.services), len(c.misses)
	}

	for i := range 1000 {
		_, _ = c.getService(fmt.Sprintf("nosuch%d", i))
		if _, m := size(); m > 100 {
			t.Fatalf("%d unknown names remembered after %d lookups, want at most 100", m, i+1)
		}
	}
	clock.advance(lookupRetryInterval)
	_, _ = c.getService("svc0") // a query sweeps the names not found too long ago
	if s, m := size(); s != 1 || m != 0 {
		t.Fatalf("%d services and %d unknown names kept, want 1 and 0", s, m)
	}

	for _, n := range names[1:4] {
		_, _ = c.getService(n)
		clock.advance(time.Millisecond)
	}
	_, _ = c.getService("svc0") // svc1 is now the least recently used
	clock.advance(time.Millisecond)
	_, _ = c.getService("svc4")
	c.mu.RLock()
	kept := slices.Sorted(func(yield func(string) bool) {
		for n := range c.services {
			if !yield(n) {
				return
			}
		}
	})
	c.mu.RUnlock()
	if want := []string{"svc0", "svc2", "svc3", "svc4"}; !slices.Equal(kept, want) {
		t.Fatalf("kept %v, want %v", kept, want)
	}

	clock.advance(time.Minute + lookupRetryInterval)
	_, _ = c.getService("svc5")
	if s, _ := size(); s != 1 {
		t.Fatalf("%d services kept after a minute unused, want only the one just looked up", s)
	}
}

func node(id string) *registry.Node { return &registry.Node{Id: id, Address: "_INBOX." + id} }

func svc(version string, ids ...string) *registry.Service {
	s := &registry.Service{Name: "greeter", Version: version}
	for _, id := range ids {
		s.Nodes = append(s.Nodes, node(id))
	}
	return s
}

// describe renders versions and node IDs, e.g. "v1:a,b v2:c".
func describe(svcs []*registry.Service) string {
	var parts []string
	for _, s := range svcs {
		var ids []string
		for _, n := range s.Nodes {
			ids = append(ids, n.Id)
		}
		parts = append(parts, s.Version+":"+strings.Join(ids, ","))
	}
	return strings.Join(parts, " ")
}

func TestApplyEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		before []*registry.Service
		action string
		ev     *registry.Service
		want   string
	}{
		{"create adds a node", []*registry.Service{svc("v1", "a")}, "create", svc("v1", "b"), "v1:b,a"},
		{"create renews a node", []*registry.Service{svc("v1", "a", "b")}, "create", svc("v1", "a"), "v1:a,b"},
		{"create adds a version", []*registry.Service{svc("v1", "a")}, "create", svc("v2", "c"), "v1:a v2:c"},
		{"update is create", []*registry.Service{svc("v1", "a")}, "update", svc("v1", "b"), "v1:b,a"},
		{"create without nodes", []*registry.Service{svc("v1", "a")}, "create", svc("v1"), "v1:a"},
		{"delete a node", []*registry.Service{svc("v1", "a", "b")}, "delete", svc("v1", "a"), "v1:b"},
		{"delete the last node of a version", []*registry.Service{svc("v1", "a"), svc("v2", "c")}, "delete", svc("v1", "a"), "v2:c"},
		{"delete the last node", []*registry.Service{svc("v1", "a")}, "delete", svc("v1", "a"), ""},
		{"delete without nodes", []*registry.Service{svc("v1", "a")}, "delete", svc("v1"), ""},
		{"delete of another version", []*registry.Service{svc("v1", "a")}, "delete", svc("v2", "a"), "v1:a"},
		{"override", []*registry.Service{svc("v1", "a")}, "override", svc("v1", "a"), ""},
		{"unknown action", []*registry.Service{svc("v1", "a")}, "frobnicate", svc("v1", "b"), "v1:a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := describe(tt.before)
			got := applyEvent(tt.before, tt.action, tt.ev)
			if describe(got) != tt.want {
				t.Fatalf("got %q, want %q", describe(got), tt.want)
			}
			if describe(tt.before) != before {
				t.Fatalf("the cached services changed from %q to %q: lookups read them without a lock", before, describe(tt.before))
			}
		})
	}
}

// TestRegistryCacheWatch: registry events on the namespace's watch topic update the
// services kept, and a registration clears a name remembered as not found.
func TestRegistryCacheWatch(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme")
	u := MustNamespaceURL(t, b, "acme")
	conn, err := nats.Connect(u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reg := newCountingRegistry("greeter")
	c, err := newRegistryCache(reg, conn, cacheOptions{RetryInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.stop()
	if _, err := c.getService("greeter"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.getService("billing"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatal(err)
	}

	// A real go-micro registry announces services on the watch topic.
	reg.mu.Lock()
	reg.services["billing"] = []*registry.Service{svc("v1", "billing-1")}
	reg.mu.Unlock()
	p := newMeshParts(u)
	if err := p.reg.Register(&registry.Service{Name: "greeter", Version: "v1", Nodes: []*registry.Node{node("greeter-2")}}); err != nil {
		t.Fatal(err)
	}
	if err := p.reg.Register(&registry.Service{Name: "billing", Version: "v1", Nodes: []*registry.Node{node("billing-1")}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		svcs, _ := c.getService("greeter")
		return describe(svcs) == "v1:greeter-2,greeter-1"
	})
	waitFor(t, func() bool { _, err := c.getService("billing"); return err == nil })

	if err := p.reg.Deregister(&registry.Service{Name: "greeter", Version: "v1", Nodes: []*registry.Node{node("greeter-1")}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		svcs, _ := c.getService("greeter")
		return describe(svcs) == "v1:greeter-2"
	})
	if n := reg.count("greeter"); n != 1 {
		t.Fatalf("greeter queried %d times: the watch should have kept it current", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRegistryCacheExpire: an expired service is asked about again at the next lookup
// (at most once per retry interval), and still served from memory if the registry
// cannot answer.
func TestRegistryCacheExpire(t *testing.T) {
	t.Parallel()
	reg := newCountingRegistry("greeter", "billing")
	c, clock := newTestCache(t, reg, cacheOptions{})
	for _, name := range []string{"greeter", "billing"} {
		if _, err := c.getService(name); err != nil {
			t.Fatal(err)
		}
	}
	c.expire("greeter")
	c.expire("nosuch") // not kept: nothing to do
	_, _ = c.getService("greeter")
	if n := reg.count("greeter"); n != 1 {
		t.Fatalf("greeter queried %d times right after its last query, want once", n)
	}
	clock.advance(lookupRetryInterval)
	_, _ = c.getService("greeter")
	_, _ = c.getService("billing")
	if g, b := reg.count("greeter"), reg.count("billing"); g != 2 || b != 1 {
		t.Fatalf("queries greeter %d, billing %d: want only the expired greeter asked again", g, b)
	}

	clock.advance(lookupRetryInterval)
	c.expireAll()
	reg.mu.Lock()
	reg.fail = errors.New("nats: connection closed")
	reg.mu.Unlock()
	for _, name := range []string{"greeter", "billing"} {
		if svcs, err := c.getService(name); err != nil || len(svcs) != 1 {
			t.Fatalf("getService(%s) after expireAll with the registry down = %v, %v: want what was known", name, svcs, err)
		}
	}
	if g, b := reg.count("greeter"), reg.count("billing"); g != 3 || b != 2 {
		t.Fatalf("queries greeter %d, billing %d after expireAll: want each asked again", g, b)
	}
}
