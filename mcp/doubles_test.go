package mcp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/gateway"
)

// fakeMesh answers Call with a canned body, or the error set for a service, and
// records every call. Like the real mesh, it refuses a scoped call of an endpoint that
// declares scopes the caller holds none of. Only Call and Services are used by the
// gateway.
type fakeMesh struct {
	platform.Mesh // nil: any other method panics

	mu     sync.Mutex
	calls  []platform.CallRequest
	body   []byte
	errs   map[string]error    // by service
	scopes map[string][]string // the scopes endpoints declare, by tool name
}

func newFakeMesh(services ...*platform.RegisteredService) *fakeMesh {
	m := &fakeMesh{body: []byte(`{"msg":"Hello Alice"}`), errs: map[string]error{}, scopes: map[string][]string{}}
	for _, t := range platform.ToolsOf(services) {
		m.scopes[t.Name] = t.Scopes
	}
	return m
}

func (m *fakeMesh) Call(_ context.Context, req platform.CallRequest) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	req.Body = slices.Clone(req.Body)
	m.calls = append(m.calls, req)
	if required := m.scopes[platform.ToolName(req.Service, req.Endpoint)]; req.Scoped && !platform.ScopesAllow(req.Scopes, required) {
		return nil, platform.Errorf(platform.EFORBIDDEN, "%s requires scope %v", req.Endpoint, required)
	}
	if err := m.errs[req.Service]; err != nil {
		return nil, err
	}
	return m.body, nil
}

func (m *fakeMesh) Services(_ context.Context, _, service string) ([]*platform.RegisteredService, error) {
	return []*platform.RegisteredService{{Name: service, Nodes: []platform.RegistryNode{{ID: service + "-1"}}}}, nil
}

func (m *fakeMesh) setErr(service string, err error) {
	m.mu.Lock()
	m.errs[service] = err
	m.mu.Unlock()
}

// Calls returns the calls made so far.
func (m *fakeMesh) Calls() []platform.CallRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

// fastMesh answers after delay (at once when zero) without recording, for benchmarks.
type fastMesh struct {
	platform.Mesh
	body  []byte
	delay time.Duration
}

func (m fastMesh) Call(context.Context, platform.CallRequest) ([]byte, error) {
	if m.delay > 0 {
		time.Sleep(m.delay)
	}
	return m.body, nil
}

func (m fastMesh) Services(_ context.Context, _, service string) ([]*platform.RegisteredService, error) {
	return []*platform.RegisteredService{{Name: service, Nodes: []platform.RegistryNode{{ID: service + "-1"}}}}, nil
}

// fakeAuth maps secrets to tokens and namespaces to their organisations (it is the
// gateway's authz.Resolver, as the real Authenticator is).
type fakeAuth struct {
	tokens map[string]*platform.Token
	orgs   map[string]string
}

func (a fakeAuth) Authenticate(_ context.Context, secret string) (*platform.Token, error) {
	if t, ok := a.tokens[secret]; ok {
		return t, nil
	}
	return nil, platform.Errorf(platform.EUNAUTHENTICATED, "invalid or revoked token")
}

func (a fakeAuth) NamespaceOrg(_ context.Context, ns string) (string, error) {
	if org, ok := a.orgs[ns]; ok {
		return org, nil
	}
	return "", platform.Errorf(platform.ENOTFOUND, "namespace %q not found", ns)
}

// nopUsage is a platform.UsageStore that keeps nothing: the gateway's request usage
// is not what these tests look at.
type nopUsage struct{}

func (nopUsage) AddRequestUsage(context.Context, []*platform.RequestUsage) error { return nil }

func (nopUsage) ListRequestUsage(context.Context, string, string, time.Time, time.Time) ([]*platform.RequestUsage, error) {
	return nil, errors.New("not used")
}

// seenRequest is a request the gateway was handed.
type seenRequest struct {
	Method, Path, Namespace, Authorization, ContentType string
	Body                                                string
}

// recordingGateway is the real gateway with a record of the requests handed to its
// ServeHTTP, so a test sees both what the MCP handler sent and what reached the mesh.
type recordingGateway struct {
	*gateway.Gateway

	mu   sync.Mutex
	seen []seenRequest
}

func (g *recordingGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	g.mu.Lock()
	g.seen = append(g.seen, seenRequest{
		Method: r.Method, Path: r.URL.Path, Namespace: r.Header.Get(gateway.HeaderNamespace),
		Authorization: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"),
		Body: string(body),
	})
	g.mu.Unlock()
	g.Gateway.ServeHTTP(w, r)
}

// Seen returns the requests handed to the gateway so far.
func (g *recordingGateway) Seen() []seenRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.seen)
}

// memAudit is a platform.AuditStore in memory.
type memAudit struct {
	mu      sync.Mutex
	entries []*platform.AuditEntry
}

func (a *memAudit) AppendAudit(_ context.Context, e *platform.AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := *e
	c.ID = int64(len(a.entries) + 1)
	a.entries = append(a.entries, &c)
	return nil
}

func (a *memAudit) ListAudit(context.Context, platform.AuditFilter) ([]*platform.AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.entries), nil
}

// Entries returns the entries written so far, oldest first.
func (a *memAudit) Entries() []*platform.AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.entries)
}

// memPublisher is an mcp.Publisher that keeps the events.
type memPublisher struct {
	mu     sync.Mutex
	events []platform.UsageEvent
}

func (p *memPublisher) PublishWait(_ context.Context, e platform.UsageEvent) error {
	p.mu.Lock()
	p.events = append(p.events, e)
	p.mu.Unlock()
	return nil
}

// Events returns the events published so far.
func (p *memPublisher) Events() []platform.UsageEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// registry is what runs in each namespace; its Tools is Options.Tools, made with
// platform.ToolsOf as control.Plane.Tools is.
type registry struct {
	mu       sync.Mutex
	services map[string][]*platform.RegisteredService // by namespace
	reads    int
}

func (r *registry) Tools(_ context.Context, ns string) ([]platform.Tool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	return platform.ToolsOf(r.services[ns]), nil
}

// set replaces what runs in ns.
func (r *registry) set(ns string, services ...*platform.RegisteredService) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.services == nil {
		r.services = map[string][]*platform.RegisteredService{}
	}
	r.services[ns] = services
}
