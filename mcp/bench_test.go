package mcp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/gateway"
	"github.com/micro/platform/mcp"
)

// benchStore holds one token and answers every namespace as acme-co's; only lookups
// are used.
type benchStore struct {
	platform.Store
	tok *platform.Token
}

func (s benchStore) GetNamespace(_ context.Context, name string) (*platform.Namespace, error) {
	return &platform.Namespace{Name: name, Org: "acme-co"}, nil
}

func (s benchStore) GetTokenByHash(_ context.Context, hash string) (*platform.Token, error) {
	if hash == s.tok.Hash {
		return s.tok, nil
	}
	return nil, platform.Errorf(platform.ENOTFOUND, "no such token")
}

// discardAudit and discardMeter take entries and events and keep nothing.
type discardAudit struct{}

func (discardAudit) AppendAudit(context.Context, *platform.AuditEntry) error { return nil }
func (discardAudit) ListAudit(context.Context, platform.AuditFilter) ([]*platform.AuditEntry, error) {
	return nil, nil
}

type discardMeter struct{}

func (discardMeter) PublishWait(context.Context, platform.UsageEvent) error { return nil }

// benchServer is the platform's data path as served: the real Authenticator (cached),
// the real gateway at /api/ with a mesh that answers after meshDelay (at once when
// zero), and the MCP handler at /mcp/ with audit and metering on, on one HTTP server.
type benchServer struct {
	url    string
	client *http.Client
	secret string
	mcp    atomic.Pointer[mcp.Handler]
	tools  func(context.Context, string) ([]platform.Tool, error)
	gw     *gateway.Gateway
	auth   *auth.Authenticator
	stop   func() // stops the current handler
}

func newBenchServer(b *testing.B, services []*platform.RegisteredService, meshDelay time.Duration) *benchServer {
	b.Helper()
	secret, hash := auth.NewSecret()
	tok := &platform.Token{ID: "t-bench", Name: "bench", Hash: hash, Org: "acme-co", Role: platform.RoleDeveloper, Namespaces: []string{"acme"}}
	bs := &benchServer{secret: secret, tools: func(context.Context, string) ([]platform.Tool, error) {
		return platform.ToolsOf(services), nil
	}}
	bs.auth = auth.NewAuthenticator(benchStore{tok: tok}, auth.Options{TTL: time.Hour})
	logger := slog.New(slog.DiscardHandler)
	bs.gw = gateway.New(gateway.Options{Mesh: fastMesh{body: []byte(`{"msg":"Hello Alice"}`), delay: meshDelay}, Auth: bs.auth, Usage: nopUsage{}, Logger: logger})
	h, stop := bs.newHandler()
	bs.mcp.Store(h)
	b.Cleanup(func() { bs.stop() })
	bs.stop = stop
	mux := http.NewServeMux()
	mux.Handle("/api/", bs.gw)
	mux.Handle(mcp.Path+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { bs.mcp.Load().ServeHTTP(w, r) }))
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	bs.url, bs.client = srv.URL, srv.Client()
	bs.client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	return bs
}

// newHandler returns a started MCP handler and what stops it.
func (bs *benchServer) newHandler() (*mcp.Handler, func()) {
	h := mcp.New(mcp.Options{Tools: bs.tools, Gateway: bs.gw, Auth: bs.auth, Audit: discardAudit{}, Metering: discardMeter{},
		Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.Start(ctx)
	}()
	return h, func() {
		cancel()
		<-done
	}
}

// connect opens an MCP session to /mcp/acme with the SDK's client.
func (bs *benchServer) connect(b *testing.B) *sdk.ClientSession {
	b.Helper()
	client := sdk.NewClient(&sdk.Implementation{Name: "bench-agent", Version: "1.0"}, nil)
	cs, err := client.Connect(context.Background(), &sdk.StreamableClientTransport{
		Endpoint:   bs.url + "/mcp/acme",
		HTTPClient: &http.Client{Transport: bearer{secret: bs.secret, base: bs.client.Transport}},
		MaxRetries: -1,
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// latencies records the time of each operation and reports its percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(l[len(l)*99/100].Nanoseconds()), "p99-ns")
}

// rawSession is an MCP session driven by hand over HTTP: the least an agent's client
// can cost, so its benchmarks measure the server.
type rawSession struct {
	bs *benchServer
	id string
}

func (bs *benchServer) rawSession(b *testing.B) *rawSession {
	b.Helper()
	rs := &rawSession{bs: bs}
	resp := rs.post(b, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	rs.id = resp.Header.Get("Mcp-Session-Id")
	if rs.id == "" {
		b.Fatalf("initialize: HTTP %d", resp.StatusCode)
	}
	rs.post(b, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return rs
}

// post sends one message and reads the whole answer.
func (rs *rawSession) post(b *testing.B, msg string) *http.Response {
	r, _ := http.NewRequest(http.MethodPost, rs.bs.url+"/mcp/acme", strings.NewReader(msg))
	r.Header.Set("Authorization", "Bearer "+rs.bs.secret)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	if rs.id != "" {
		r.Header.Set("Mcp-Session-Id", rs.id)
		r.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	resp, err := rs.bs.client.Do(r)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 || rs.id != "" && strings.HasPrefix(msg, `{"jsonrpc":"2.0","id"`) && !strings.Contains(string(body), `"result"`) {
		b.Fatalf("HTTP %d: %s", resp.StatusCode, body)
	}
	return resp
}

// meshDelays are the service times the call benchmarks run with: none (the MCP
// handler's and the gateway's own cost, the worst case for their ratio) and 1ms (a
// service that does some work).
var meshDelays = []struct {
	name  string
	delay time.Duration
}{{"mesh=0", 0}, {"mesh=1ms", time.Millisecond}}

// BenchmarkToolCall is one tools/call through /mcp in a connected session: the scope
// check, the SDK's server, the schema check, the gateway's handler, audit and metering.
// client=sdk is made with the SDK's client, client=http by hand (a minimal client, as
// BenchmarkGatewayCall's). Compare with BenchmarkGatewayCall, the same call as
// POST /api/... to the same gateway on the same server.
func BenchmarkToolCall(b *testing.B) {
	for _, md := range meshDelays {
		b.Run("client=sdk/"+md.name, func(b *testing.B) {
			bs := newBenchServer(b, []*platform.RegisteredService{greeter}, md.delay)
			cs := bs.connect(b)
			defer cs.Close()
			params := &sdk.CallToolParams{Name: "greeter.Greeter.Hello", Arguments: map[string]any{"name": "Alice"}}
			ctx := context.Background()
			lat := make(latencies, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				res, err := cs.CallTool(ctx, params)
				lat = append(lat, time.Since(start))
				if err != nil || res.IsError {
					b.Fatalf("call: %v %+v", err, res)
				}
			}
			lat.report(b)
		})
		b.Run("client=http/"+md.name, func(b *testing.B) {
			bs := newBenchServer(b, []*platform.RegisteredService{greeter}, md.delay)
			rs := bs.rawSession(b)
			const msg = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greeter.Greeter.Hello","arguments":{"name":"Alice"}}}`
			lat := make(latencies, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				rs.post(b, msg)
				lat = append(lat, time.Since(start))
			}
			lat.report(b)
		})
	}
}

// BenchmarkGatewayCall is the call of BenchmarkToolCall as POST /api/{service}/{endpoint}
// to the same gateway on the same server.
func BenchmarkGatewayCall(b *testing.B) {
	for _, md := range meshDelays {
		b.Run(md.name, func(b *testing.B) {
			bs := newBenchServer(b, []*platform.RegisteredService{greeter}, md.delay)
			url := bs.url + "/api/greeter/Greeter.Hello"
			const body = `{"name":"Alice"}`
			lat := make(latencies, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
				r.Header.Set("Authorization", "Bearer "+bs.secret)
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set(gateway.HeaderNamespace, "acme")
				resp, err := bs.client.Do(r)
				if err != nil {
					b.Fatal(err)
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat = append(lat, time.Since(start))
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("HTTP %d: %s", resp.StatusCode, out)
				}
			}
			lat.report(b)
		})
	}
}

// fiftyServices is a namespace of 50 services of 3 endpoints, each with a description,
// an example and four fields.
func fiftyServices() []*platform.RegisteredService {
	var out []*platform.RegisteredService
	for i := range 50 {
		s := &platform.RegisteredService{Name: fmt.Sprintf("svc%02d", i)}
		for _, m := range []string{"Create", "Read", "Update"} {
			s.Endpoints = append(s.Endpoints, platform.Endpoint{
				Name: "Svc." + m,
				Metadata: map[string]string{
					platform.EndpointDescription: m + " reads or writes a record of " + s.Name + ".",
					platform.EndpointExample:     `{"id":"rec-1","name":"Alice","count":3}`,
				},
				Request: &platform.Value{Name: m + "Request", Values: []*platform.Value{
					{Name: "id", Type: "string"}, {Name: "name", Type: "string"},
					{Name: "count", Type: "int64"}, {Name: "enabled", Type: "bool"},
				}},
			})
		}
		out = append(out, s)
	}
	return out
}

// BenchmarkToolsList50 is tools/list of a namespace of 50 services × 3 endpoints in a
// connected session, with the SDK's client ("sdk") and by hand ("http"); "first" is the
// first connection to a fresh handler with the SDK's client (connect, read and resolve
// the 150 tools, list them).
func BenchmarkToolsList50(b *testing.B) {
	b.Run("sdk", func(b *testing.B) {
		bs := newBenchServer(b, fiftyServices(), 0)
		cs := bs.connect(b)
		defer cs.Close()
		ctx := context.Background()
		lat := make(latencies, 0, 4096)
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			res, err := cs.ListTools(ctx, nil)
			lat = append(lat, time.Since(start))
			if err != nil || len(res.Tools) != 150 {
				b.Fatalf("list: %v", err)
			}
		}
		lat.report(b)
	})
	b.Run("http", func(b *testing.B) {
		bs := newBenchServer(b, fiftyServices(), 0)
		rs := bs.rawSession(b)
		lat := make(latencies, 0, 4096)
		b.ReportAllocs()
		for b.Loop() {
			start := time.Now()
			rs.post(b, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
			lat = append(lat, time.Since(start))
		}
		lat.report(b)
	})
	b.Run("first", func(b *testing.B) {
		bs := newBenchServer(b, fiftyServices(), 0)
		ctx := context.Background()
		lat := make(latencies, 0, 4096)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			h, stop := bs.newHandler()
			bs.stop()
			bs.mcp.Store(h)
			bs.stop = stop
			b.StartTimer()
			start := time.Now()
			cs := bs.connect(b)
			res, err := cs.ListTools(ctx, nil)
			lat = append(lat, time.Since(start))
			if err != nil || len(res.Tools) != 150 {
				b.Fatalf("list: %v", err)
			}
			b.StopTimer()
			cs.Close()
			b.StartTimer()
		}
		lat.report(b)
	})
}
