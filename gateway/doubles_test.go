package gateway

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	platform "github.com/micro/platform"
)

// fakeMesh answers Call with a canned body, or with the error set for a service, or
// ENOTFOUND for a service marked unregistered, and records every call. Only Call and
// Services are used by the gateway.
type fakeMesh struct {
	platform.Mesh // nil: any other method panics, proving the gateway does not use it

	mu           sync.Mutex
	calls        []platform.CallRequest
	lookups      int
	body         []byte
	errs         map[string]error // by service
	unregistered map[string]bool  // services not registered: every other one is
}

func newFakeMesh() *fakeMesh {
	return &fakeMesh{body: []byte(`{"msg":"Hello Alice"}`), errs: map[string]error{}, unregistered: map[string]bool{}}
}

func (m *fakeMesh) Call(_ context.Context, req platform.CallRequest) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	req.Body = slices.Clone(req.Body)
	m.calls = append(m.calls, req)
	if m.unregistered[req.Service] {
		return nil, platform.Errorf(platform.ENOTFOUND, "service %q not found in namespace %q", req.Service, req.Namespace)
	}
	if err := m.errs[req.Service]; err != nil {
		return nil, err
	}
	return m.body, nil
}

func (m *fakeMesh) Services(_ context.Context, ns, service string) ([]*platform.RegisteredService, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	if m.unregistered[service] {
		return nil, platform.Errorf(platform.ENOTFOUND, "service %q not found in namespace %q", service, ns)
	}
	return registeredService(service), nil
}

// Lookups returns how many times Services was asked.
func (m *fakeMesh) Lookups() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lookups
}

// registeredService is a one-node registration of service, for meshes where every
// service is registered.
func registeredService(service string) []*platform.RegisteredService {
	return []*platform.RegisteredService{{Name: service, Nodes: []platform.RegistryNode{{ID: service + "-1"}}}}
}

func (m *fakeMesh) Calls() []platform.CallRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

// benchMesh returns a canned body without recording, for benchmarks.
type benchMesh struct {
	platform.Mesh
	body []byte
}

func (m benchMesh) Call(context.Context, platform.CallRequest) ([]byte, error) { return m.body, nil }

func (m benchMesh) Services(_ context.Context, _, service string) ([]*platform.RegisteredService, error) {
	return registeredService(service), nil
}

// fakeAuth maps secrets to tokens.
type fakeAuth map[string]*platform.Token

func (a fakeAuth) Authenticate(_ context.Context, secret string) (*platform.Token, error) {
	if t, ok := a[secret]; ok {
		return t, nil
	}
	return nil, platform.Errorf(platform.EUNAUTHENTICATED, "invalid or revoked token")
}

// memUsage is an in-memory platform.UsageStore that merges records like the real one
// and can be told to fail.
type memUsage struct {
	mu    sync.Mutex
	rows  map[usageKey]platform.RequestUsage
	fail  error
	calls int
}

func newMemUsage() *memUsage { return &memUsage{rows: map[usageKey]platform.RequestUsage{}} }

func (u *memUsage) AddRequestUsage(_ context.Context, records []*platform.RequestUsage) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	if u.fail != nil {
		return u.fail
	}
	for _, r := range records {
		k := usageKey{r.Namespace, r.Service, r.Minute.Unix()}
		row := u.rows[k]
		row.Namespace, row.Service, row.Minute = r.Namespace, r.Service, r.Minute
		row.Add(r)
		u.rows[k] = row
	}
	return nil
}

func (u *memUsage) ListRequestUsage(_ context.Context, ns, service string, from, to time.Time) ([]*platform.RequestUsage, error) {
	return nil, errors.New("not used by the gateway")
}

func (u *memUsage) setFail(err error) {
	u.mu.Lock()
	u.fail = err
	u.mu.Unlock()
}

// Rows returns the stored rows ordered by minute, namespace and service.
func (u *memUsage) Rows() []platform.RequestUsage {
	u.mu.Lock()
	defer u.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(u.rows), func(a, b usageKey) int {
		switch {
		case a.minute != b.minute:
			return int(a.minute - b.minute)
		case a.ns != b.ns:
			return strings.Compare(a.ns, b.ns)
		}
		return strings.Compare(a.service, b.service)
	})
	out := make([]platform.RequestUsage, 0, len(keys))
	for _, k := range keys {
		out = append(out, u.rows[k])
	}
	return out
}

// fakeClock is a platform.Clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
