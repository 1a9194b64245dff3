package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/server"

	"github.com/micro/platform"
)

func TestCallIsolation(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme", "globex")
	acmeURL, globexURL := MustNamespaceURL(t, b, "acme"), MustNamespaceURL(t, b, "globex")
	MustStartService(t, acmeURL, "greeter", "v1", &Greeter{Tag: "acme"})
	MustStartService(t, globexURL, "greeter", "v1", &Greeter{Tag: "globex"})
	MustStartService(t, globexURL, "billing", "v1", &Greeter{Tag: "globex billing"})

	for _, ns := range []string{"acme", "globex"} {
		t.Run("same name reaches own namespace "+ns, func(t *testing.T) {
			for i := range 5 {
				if got, want := MustCall(t, b, ns, "greeter", "x"), "Hello x from "+ns; got != want {
					t.Fatalf("call %d = %q, want %q", i, got, want)
				}
			}
		})
	}
	t.Run("platform cannot see another namespace's service", func(t *testing.T) {
		_, err := b.Services(context.Background(), "acme", "billing")
		if platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("Services(acme, billing) = %v, want %s", err, platform.ENOTFOUND)
		}
		_, err = b.Call(context.Background(), platform.CallRequest{
			Namespace: "acme", Service: "billing", Endpoint: "Greeter.Hello", Body: []byte(`{"name":"x"}`),
		})
		if platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("Call(acme, billing) = %v, want %s", err, platform.ENOTFOUND)
		}
	})
	t.Run("go-micro registry of acme cannot discover globex", func(t *testing.T) {
		reg := newMeshParts(acmeURL).reg
		svcs, err := reg.GetService("billing")
		if err != nil {
			t.Fatal(err)
		}
		if len(svcs) != 0 {
			t.Fatalf("acme registry found %d billing services", len(svcs))
		}
		list, err := reg.ListServices()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range list {
			names = append(names, s.Name)
		}
		if len(names) != 1 || names[0] != "greeter" {
			t.Fatalf("acme registry lists %v, want [greeter]", names)
		}
	})
}

func TestCallErrors(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme")
	MustStartService(t, MustNamespaceURL(t, b, "acme"), "greeter", "v1", &Greeter{Tag: "acme"})
	MustStartService(t, MustNamespaceURL(t, b, "acme"), "sleepy", "v1", &Greeter{Tag: "acme", Delay: 2 * time.Second})
	MustStartService(t, MustNamespaceURL(t, b, "acme"), "relayer", "v1", &Relayer{})

	tests := []struct {
		name     string
		req      platform.CallRequest
		wantCode string
		wantMsg  string
	}{
		{name: "bad request", req: hello("greeter", "bad"), wantCode: platform.EINVALID, wantMsg: `name "bad" is not allowed`},
		{name: "unauthorized", req: hello("greeter", "unauth"), wantCode: platform.EUNAUTHENTICATED, wantMsg: "who are you"},
		{name: "forbidden", req: hello("greeter", "forbidden"), wantCode: platform.EFORBIDDEN, wantMsg: "not for you"},
		{name: "not found from handler", req: hello("greeter", "missing"), wantCode: platform.ENOTFOUND, wantMsg: "no such person"},
		{name: "timeout from handler", req: hello("greeter", "slow"), wantCode: platform.ETIMEOUT, wantMsg: "upstream took too long"},
		{name: "conflict", req: hello("greeter", "conflict"), wantCode: platform.ECONFLICT, wantMsg: "already greeted"},
		{name: "too many requests", req: hello("greeter", "quota"), wantCode: platform.EQUOTA, wantMsg: "slow down"},
		{name: "unavailable", req: hello("greeter", "unavailable"), wantCode: platform.EUNAVAILABLE, wantMsg: "database down"},
		{name: "bad gateway", req: hello("greeter", "gateway"), wantCode: platform.EUNAVAILABLE, wantMsg: "upstream broke"},
		{name: "internal", req: hello("greeter", "boom"), wantCode: platform.EINTERNAL, wantMsg: "kaboom"},
		{name: "plain error", req: hello("greeter", "plain"), wantCode: platform.EINTERNAL, wantMsg: "plain failure"},
		{name: "unknown service", req: hello("nobody", "x"), wantCode: platform.ENOTFOUND, wantMsg: `service "nobody" not found in namespace "acme"`},
		{name: "unknown endpoint", req: platform.CallRequest{Namespace: "acme", Service: "greeter", Endpoint: "Greeter.Nope", Body: []byte(`{}`)},
			wantCode: platform.ENOTFOUND, wantMsg: `service "greeter" has no endpoint "Greeter.Nope"`},
		{name: "unknown handler", req: platform.CallRequest{Namespace: "acme", Service: "greeter", Endpoint: "Nope.Hello", Body: []byte(`{}`)},
			wantCode: platform.ENOTFOUND, wantMsg: `service "greeter" has no endpoint "Nope.Hello"`},
		{name: "unknown version", req: func() platform.CallRequest { r := hello("greeter", "x"); r.Version = "v9"; return r }(),
			wantCode: platform.ENOTFOUND, wantMsg: `service "greeter" has no node of version "v9"`},
		{name: "unknown namespace", req: func() platform.CallRequest { r := hello("greeter", "x"); r.Namespace = "globex"; return r }(),
			wantCode: platform.ENOTFOUND, wantMsg: `namespace "globex" not found`},
		{name: "call timeout", req: func() platform.CallRequest { r := hello("sleepy", "x"); r.Timeout = 200 * time.Millisecond; return r }(),
			wantCode: platform.ETIMEOUT, wantMsg: `call to sleepy Greeter.Hello timed out`},
		{name: "body too large", req: platform.CallRequest{Namespace: "acme", Service: "greeter", Endpoint: "Greeter.Hello", Body: make([]byte, MaxPayload)},
			wantCode: platform.EINVALID, wantMsg: "too large"},
		{name: "invalid json body", req: platform.CallRequest{Namespace: "acme", Service: "greeter", Endpoint: "Greeter.Hello", Body: []byte(`{"name":`)},
			wantCode: platform.EINTERNAL, wantMsg: "unexpected EOF"},
		{name: "wrong json type", req: platform.CallRequest{Namespace: "acme", Service: "greeter", Endpoint: "Greeter.Hello", Body: []byte(`{"name":123}`)},
			wantCode: platform.EINVALID, wantMsg: "request body does not fit Greeter.Hello: cannot unmarshal number into Go struct field HelloRequest.name of type string"},
		{name: "json array for object", req: platform.CallRequest{Namespace: "acme", Service: "greeter", Endpoint: "Greeter.Hello", Body: []byte(`[1]`)},
			wantCode: platform.EINVALID, wantMsg: "request body does not fit Greeter.Hello: cannot unmarshal array into Go value of type natsbus.HelloRequest"},
		{name: "json error relayed by a handler", req: platform.CallRequest{Namespace: "acme", Service: "relayer", Endpoint: "Relayer.Hello", Body: []byte(`{"name":"x"}`)},
			wantCode: platform.EINTERNAL, wantMsg: "json: cannot unmarshal string into Go value of type int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.Call(context.Background(), tt.req)
			if got := platform.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q, want %q (err %v)", got, tt.wantCode, err)
			}
			if got := platform.ErrorMessage(err); !strings.Contains(got, tt.wantMsg) {
				t.Fatalf("message = %q, want it to contain %q", got, tt.wantMsg)
			}
		})
	}
}

// Relayer's handler fails with a JSON decoding error of its own, as one relaying an
// upstream's bad answer would: not a problem of the caller's body.
type Relayer struct{}

// Hello implements Relayer.Hello.
func (Relayer) Hello(_ context.Context, _ *HelloRequest, _ *HelloResponse) error {
	var n int
	return json.Unmarshal([]byte(`"x"`), &n)
}

func hello(service, name string) platform.CallRequest {
	return platform.CallRequest{
		Namespace: "acme", Service: service, Endpoint: "Greeter.Hello",
		Body: []byte(fmt.Sprintf(`{"name":%q}`, name)), Timeout: 10 * time.Second,
	}
}

func TestCallRoundRobinAndVersion(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme")
	u := MustNamespaceURL(t, b, "acme")
	MustStartService(t, u, "greeter", "v1", &Greeter{Tag: "one"})
	MustStartService(t, u, "greeter", "v1", &Greeter{Tag: "two"})
	MustStartService(t, u, "greeter", "v2", &Greeter{Tag: "three"})
	// The calls' view of the registry follows its watch events: under load the last
	// node's may come after its start returned. Wait until the three are there.
	nodes := 0
	for deadline := time.Now().Add(5 * time.Second); nodes != 3 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		nodes = 0
		svcs, err := b.Services(context.Background(), "acme", "greeter")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range svcs {
			nodes += len(s.Nodes)
		}
	}
	if nodes != 3 {
		t.Fatalf("greeter has %d nodes, want 3", nodes)
	}
	v2 := hello("greeter", "x")
	v2.Version = "v2"
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := b.Call(context.Background(), v2); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("version v2 never answered: %v", err)
		}
	}

	seen := map[string]int{}
	for range 30 {
		seen[MustCall(t, b, "acme", "greeter", "x")]++
	}
	for _, tag := range []string{"one", "two", "three"} {
		if seen["Hello x from "+tag] == 0 {
			t.Errorf("node %q got no call in 30: %v", tag, seen)
		}
	}
	for range 10 {
		req := hello("greeter", "x")
		req.Version = "v2"
		out, err := b.Call(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeMessage(t, out); got != "Hello x from three" {
			t.Fatalf("version v2 call reached %q", got)
		}
	}
}

// TestRollingUpdateLosesNoCall replaces every node of a service while callers run,
// draining each old node before stopping it, and expects every call to succeed.
func TestRollingUpdateLosesNoCall(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme")
	u := MustNamespaceURL(t, b, "acme")
	old1, stopOld1 := MustStartService(t, u, "greeter", "v1", &Greeter{Tag: "old"})
	old2, stopOld2 := MustStartService(t, u, "greeter", "v1", &Greeter{Tag: "old"})
	MustCall(t, b, "acme", "greeter", "warm")

	ctx, cancel := context.WithCancel(context.Background())
	var calls, failures atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := b.Call(context.Background(), hello("greeter", "x"))
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	replace := func(old server.Server, stop func()) {
		MustStartService(t, u, "greeter", "v2", &Greeter{Tag: "new"})
		time.Sleep(200 * time.Millisecond)
		b.DrainNode("acme", "greeter-"+old.Options().Id)
		time.Sleep(200 * time.Millisecond)
		stop()
	}
	time.Sleep(200 * time.Millisecond)
	replace(old1, stopOld1)
	replace(old2, stopOld2)
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()

	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d calls failed during the rolling update; first: %v", n, calls.Load(), firstErr.Load())
	}
	if got := MustCall(t, b, "acme", "greeter", "x"); got != "Hello x from new" {
		t.Fatalf("after the update a call reached %q", got)
	}
	t.Logf("%d calls during the update, none failed", calls.Load())
}

// TestCallRetriesGoneNode registers a node nobody listens on next to a live one: the
// NATS "no responders" answer makes Call retry on the live node, so no call fails.
func TestCallRetriesGoneNode(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme")
	u := MustNamespaceURL(t, b, "acme")
	MustStartService(t, u, "greeter", "v1", &Greeter{Tag: "live"})
	reg := newMeshParts(u).reg
	ghost := &registry.Service{Name: "greeter", Version: "v1", Nodes: []*registry.Node{{
		Id: "greeter-ghost", Address: "_INBOX.ghost", Metadata: map[string]string{"protocol": "mucp"},
	}}}
	if err := reg.Register(ghost); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Deregister(ghost) })
	// The registry's view follows its watch events: the ghost shows once its event came.
	// An event published before the view's watch started is not seen: register again
	// (the same node, a new event) every second until it shows.
	nodes := 0
	for deadline, again := time.Now().Add(15*time.Second), time.Now().Add(time.Second); nodes != 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		svc, err := b.Services(context.Background(), "acme", "greeter")
		if err != nil {
			t.Fatal(err)
		}
		nodes = len(svc[0].Nodes)
		if nodes != 2 && time.Now().After(again) {
			if err := reg.Register(ghost); err != nil {
				t.Fatal(err)
			}
			again = time.Now().Add(time.Second)
		}
	}
	if nodes != 2 {
		t.Fatalf("greeter has %d nodes, want the live one and the ghost", nodes)
	}
	for i := range 20 {
		start := time.Now()
		if got := MustCall(t, b, "acme", "greeter", "x"); got != "Hello x from live" {
			t.Fatalf("call %d = %q", i, got)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("call %d took %v: the gone node was not skipped at once", i, d)
		}
	}
}

func TestServicesAndHealth(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme")
	u := MustNamespaceURL(t, b, "acme")
	ctx := context.Background()
	MustStartService(t, u, "greeter", "v1", &Greeter{Tag: "a"})
	MustStartService(t, u, "checked", "v1", &Greeter{Tag: "b"}, &Debug{})
	MustStartService(t, u, "sick", "v1", &Greeter{Tag: "c"}, &Debug{Err: errors.New("db gone")})

	all, err := b.Services(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range all {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "checked,greeter,sick" {
		t.Fatalf("Services lists %s", got)
	}

	one, err := b.Services(ctx, "acme", "checked")
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || len(one[0].Nodes) != 1 || one[0].Nodes[0].Version != "v1" {
		t.Fatalf("Services(checked) = %+v", one)
	}
	var eps []string
	for _, e := range one[0].Endpoints {
		eps = append(eps, e.Name)
	}
	if got := strings.Join(eps, ","); got != "Debug.Health,Greeter.Hello" {
		t.Fatalf("checked endpoints = %s", got)
	}

	node := func(service string) platform.RegistryNode {
		s, err := b.Services(ctx, "acme", service)
		if err != nil {
			t.Fatal(err)
		}
		return s[0].Nodes[0]
	}
	tests := []struct {
		name     string
		node     platform.RegistryNode
		wantCode string
	}{
		{name: "registered without health endpoint", node: node("greeter")},
		{name: "health endpoint ok", node: node("checked")},
		{name: "health endpoint failing", node: node("sick"), wantCode: platform.EUNAVAILABLE},
		{name: "found by ID alone", node: platform.RegistryNode{ID: node("checked").ID}},
		{name: "failing, found by ID alone", node: platform.RegistryNode{ID: node("sick").ID}, wantCode: platform.EUNAVAILABLE},
		{name: "unknown node", node: platform.RegistryNode{ID: "greeter-00000000-0000-0000-0000-000000000000"}, wantCode: platform.ENOTFOUND},
		{name: "gone node", node: platform.RegistryNode{ID: "greeter-gone", Address: "_INBOX.gone"}, wantCode: platform.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.Health(ctx, "acme", tt.node)
			if got := platform.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("Health = %v, want code %q", err, tt.wantCode)
			}
		})
	}
	if err := b.Health(ctx, "acme", node("sick")); !strings.Contains(platform.ErrorMessage(err), "db gone") {
		t.Errorf("failing health message %q does not say why", platform.ErrorMessage(err))
	}
}

// People is a handler with nested messages, the kind of endpoint the dashboard builds a
// call form for.
type People struct{}

// Address is part of PersonRequest.
type Address struct {
	City string `json:"city"`
}

// PersonRequest is People.Call's body.
type PersonRequest struct {
	Name    string   `json:"name"`
	Address Address  `json:"address"`
	Tags    []string `json:"tags"`
}

// PersonResponse is People.Call's answer.
type PersonResponse struct {
	Greeting string `json:"greeting"`
}

// Call greets a person.
//
// @example {"name": "Alice", "address": {"city": "Paris"}, "tags": ["vip"]}
func (p *People) Call(ctx context.Context, req *PersonRequest, rsp *PersonResponse) error {
	rsp.Greeting = "Hello " + req.Name + " of " + req.Address.City
	return nil
}

// TestServicesShowEndpointShapes runs a real go-micro server and checks that Services
// carries each endpoint's request and response shapes, as go-micro's server extracted
// them from the handler's types, and its documentation metadata: the @example of a doc
// comment (which go-micro reads from the handler's source, so only where the source is,
// as in this test; the platform's builder compiles with -trimpath) and one given with
// server.WithEndpointExample.
func TestServicesShowEndpointShapes(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme")
	u := MustNamespaceURL(t, b, "acme")
	MustStartService(t, u, "people", "v1", &People{},
		server.NewRpcHandler(&Greeter{}, server.WithEndpointExample("Greeter.Hello", `{"name":"Bob"}`)))

	got, err := b.Services(context.Background(), "acme", "people")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Endpoints) != 2 {
		t.Fatalf("Services(people) = %s", mustJSON(t, got))
	}
	hello, call := got[0].Endpoints[0], got[0].Endpoints[1]

	wantCall := platform.Endpoint{
		Name: "People.Call",
		Metadata: map[string]string{
			"description": "Call greets a person.",
			"example":     `{"name": "Alice", "address": {"city": "Paris"}, "tags": ["vip"]}`,
		},
		Request: &platform.Value{Name: "PersonRequest", Type: "PersonRequest", Values: []*platform.Value{
			{Name: "name", Type: "string"},
			{Name: "address", Type: "Address", Values: []*platform.Value{{Name: "city", Type: "string"}}},
			{Name: "tags", Type: "[]string"},
		}},
		Response: &platform.Value{Name: "PersonResponse", Type: "PersonResponse", Values: []*platform.Value{
			{Name: "greeting", Type: "string"},
		}},
	}
	if !reflect.DeepEqual(call, wantCall) {
		t.Errorf("People.Call\n got %s\nwant %s", mustJSON(t, call), mustJSON(t, wantCall))
	}

	wantHelloRequest := &platform.Value{Name: "HelloRequest", Type: "HelloRequest", Values: []*platform.Value{{Name: "name", Type: "string"}}}
	if hello.Name != "Greeter.Hello" || hello.Metadata["example"] != `{"name":"Bob"}` || !reflect.DeepEqual(hello.Request, wantHelloRequest) {
		t.Errorf("Greeter.Hello = %s, want its request shape and example", mustJSON(t, hello))
	}

	// The shape is what a caller fills in: a body of that shape calls the endpoint.
	out, err := b.Call(context.Background(), platform.CallRequest{
		Namespace: "acme", Service: "people", Endpoint: "People.Call", Body: []byte(call.Metadata["example"]), Timeout: 10 * time.Second,
	})
	if err != nil || strings.TrimSpace(string(out)) != `{"greeting":"Hello Alice of Paris"}` {
		t.Errorf("calling with the example = %s, %v", out, err)
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
