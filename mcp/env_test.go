package mcp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	platform "github.com/micro/platform"
	"github.com/micro/platform/gateway"
	"github.com/micro/platform/mcp"
)

// Secrets of the test tokens. Organisation acme-co owns the namespaces acme and other;
// globex-co owns globex.
const (
	devSecret      = "mp_dev"       // developer in acme, no scopes
	billingSecret  = "mp_billing"   // developer in acme holding billing:write
	starSecret     = "mp_star"      // developer in acme holding every scope
	narrowSecret   = "mp_narrow"    // developer in acme narrowed to greeter.Greeter.Hello
	viewerSecret   = "mp_viewer"    // viewer in acme: may list tools, not call them
	otherNSSecret  = "mp_other_ns"  // developer of acme-co narrowed to namespace other
	otherOrgSecret = "mp_other_org" // developer of globex-co, every namespace of it
)

func testTokens() map[string]*platform.Token {
	dev := func(id string, mod func(*platform.Token)) *platform.Token {
		t := &platform.Token{ID: id, Name: id + "-agent", UserID: "u-alice", User: "alice", Org: "acme-co",
			Role: platform.RoleDeveloper, Namespaces: []string{"acme"}}
		if mod != nil {
			mod(t)
		}
		return t
	}
	return map[string]*platform.Token{
		devSecret:     dev("t-dev", nil),
		billingSecret: dev("t-billing", func(t *platform.Token) { t.Scopes = []string{"Billing:Write"} }),
		starSecret:    dev("t-star", func(t *platform.Token) { t.Scopes = []string{"*"} }),
		narrowSecret:  dev("t-narrow", func(t *platform.Token) { t.Tools = []string{"greeter.Greeter.Hello"} }),
		viewerSecret:  dev("t-viewer", func(t *platform.Token) { t.Role = platform.RoleViewer }),
		otherNSSecret: dev("t-other-ns", func(t *platform.Token) { t.Namespaces = []string{"other"} }),
		otherOrgSecret: dev("t-other-org", func(t *platform.Token) {
			t.Org, t.UserID, t.User, t.Namespaces = "globex-co", "u-bob", "bob", nil
		}),
	}
}

// Services of the namespace acme, as go-micro registers them.
var (
	greeter = &platform.RegisteredService{Name: "greeter", Endpoints: []platform.Endpoint{
		{Name: "Greeter.Hello",
			Metadata: map[string]string{
				platform.EndpointDescription: "Hello greets someone by name.",
				platform.EndpointExample:     `{"name":"Alice"}`,
			},
			Request: &platform.Value{Name: "HelloRequest", Values: []*platform.Value{
				{Name: "name", Type: "string"}, {Name: "times", Type: "int32"},
			}}},
		{Name: "Greeter.Shout", Request: &platform.Value{Name: "ShoutRequest", Values: []*platform.Value{
			{Name: "name", Type: "string"}, {Name: "loud", Type: "bool"},
		}}},
	}}
	billing = &platform.RegisteredService{Name: "billing", Endpoints: []platform.Endpoint{
		{Name: "Billing.Charge",
			Metadata: map[string]string{
				platform.EndpointDescription: "Charge charges an account.",
				platform.EndpointScopes:      "billing:write, billing:admin",
			},
			Request: &platform.Value{Name: "ChargeRequest", Values: []*platform.Value{
				{Name: "account", Type: "string"}, {Name: "amount", Type: "int64"}, {Name: "rate", Type: "float64"},
			}}},
	}}
	weather = &platform.RegisteredService{Name: "weather", Endpoints: []platform.Endpoint{
		{Name: "Weather.Forecast", Request: &platform.Value{Name: "ForecastRequest", Values: []*platform.Value{
			{Name: "city", Type: "string"},
		}}},
	}}
)

// resourceMetadata is the protected-resource metadata URL the challenges name.
const resourceMetadata = "https://platform.example/.well-known/oauth-protected-resource/mcp"

// env is an MCP handler served over HTTP at /mcp and /mcp/, making its calls through
// the real gateway to a recording mesh.
type env struct {
	h      *mcp.Handler
	url    string       // the server's base URL
	client *http.Client // the server's
	mesh   *fakeMesh
	gw     *recordingGateway
	reg    *registry
	audit  *memAudit
	meter  *memPublisher
}

// newEnv starts an env (with the handler's Start running until the test ends); mod,
// when set, changes the options before New.
func newEnv(t testing.TB, mod func(*mcp.Options)) *env {
	t.Helper()
	e := &env{mesh: newFakeMesh(billing, greeter, weather), reg: &registry{}, audit: &memAudit{}, meter: &memPublisher{}}
	e.reg.set("acme", billing, greeter)
	logger := slog.New(slog.DiscardHandler)
	auth := fakeAuth{tokens: testTokens(), orgs: map[string]string{"acme": "acme-co", "other": "acme-co", "globex": "globex-co"}}
	e.gw = &recordingGateway{Gateway: gateway.New(gateway.Options{Mesh: e.mesh, Auth: auth, Usage: nopUsage{}, Logger: logger, Domain: "example.com"})}
	opts := mcp.Options{
		Tools:            e.reg.Tools,
		Gateway:          e.gw,
		Auth:             auth,
		Audit:            e.audit,
		Metering:         e.meter,
		Region:           "eu-west",
		ResourceMetadata: func(*http.Request) string { return resourceMetadata },
		MaxBodyBytes:     64 << 10,
		Version:          "test",
		Logger:           logger,
	}
	if mod != nil {
		mod(&opts)
	}
	e.h = mcp.New(opts)
	mux := http.NewServeMux()
	mux.Handle(mcp.Path, e.h)
	mux.Handle(mcp.Path+"/", e.h)
	srv := httptest.NewServer(mux)
	e.url, e.client = srv.URL, srv.Client()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.h.Start(ctx)
	}()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		<-done
	})
	return e
}

// bearer is a RoundTripper that sends a bearer token and extra headers.
type bearer struct {
	secret string
	header map[string]string
	base   http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.secret != "" {
		r.Header.Set("Authorization", "Bearer "+b.secret)
	}
	for k, v := range b.header {
		if k == "Host" {
			r.Host = v // the host the request names, for host-prefix routing
			continue
		}
		r.Header.Set(k, v)
	}
	return b.base.RoundTrip(r)
}

// connect opens an MCP session with the SDK's client at path (default /mcp/acme) with
// the token of secret; it is closed when the test ends.
func (e *env) connect(t testing.TB, secret, path string, header map[string]string, opts *sdk.ClientOptions) (*sdk.ClientSession, error) {
	t.Helper()
	if path == "" {
		path = "/mcp/acme"
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "test-agent", Version: "1.0"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	transport := &sdk.StreamableClientTransport{
		Endpoint:   e.url + path,
		HTTPClient: &http.Client{Transport: bearer{secret: secret, header: header, base: e.client.Transport}},
		MaxRetries: -1,
	}
	cs, err := client.Connect(ctx, transport, nil)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs, nil
}

// mustConnect is connect at /mcp/acme that fails the test on an error.
func (e *env) mustConnect(t testing.TB, secret string, opts *sdk.ClientOptions) *sdk.ClientSession {
	t.Helper()
	cs, err := e.connect(t, secret, "", nil, opts)
	if err != nil {
		t.Fatalf("connect with %s: %v", secret, err)
	}
	return cs
}

// rawResponse is an HTTP answer of the handler with its JSON-RPC message, if any.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
	rpc    *rpcMessage
}

type rpcMessage struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *jsonrpc.Error  `json:"error"`
}

// post sends body to path (default /mcp/acme) as an MCP client would, with the token
// of secret ("" for none) and the session, and reads the answer.
func (e *env) post(t testing.TB, secret, session, body string) rawResponse {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, e.url+"/mcp/acme", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	if secret != "" {
		r.Header.Set("Authorization", "Bearer "+secret)
	}
	if session != "" {
		r.Header.Set("Mcp-Session-Id", session)
		r.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	return e.do(t, r)
}

// do sends r with the server's own client: an httptest server that closes drops the
// idle connections of http.DefaultTransport, which would break parallel tests.
func (e *env) do(t testing.TB, r *http.Request) rawResponse {
	t.Helper()
	resp, err := e.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := rawResponse{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// The answer to one request is one event.
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				out.body = []byte(data)
				break
			}
		}
	} else {
		out.body, _ = io.ReadAll(resp.Body)
	}
	var m rpcMessage
	if json.Unmarshal(out.body, &m) == nil && (m.Result != nil || m.Error != nil) {
		out.rpc = &m
	}
	return out
}

// initialize opens a session by hand and returns its id.
func (e *env) initialize(t testing.TB, secret string) string {
	t.Helper()
	res := e.post(t, secret, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	session := res.header.Get("Mcp-Session-Id")
	if res.status != http.StatusOK || session == "" || res.rpc == nil || res.rpc.Error != nil {
		t.Fatalf("initialize: HTTP %d, session %q: %s", res.status, session, res.body)
	}
	if res := e.post(t, secret, session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); res.status != http.StatusAccepted {
		t.Fatalf("notifications/initialized: HTTP %d: %s", res.status, res.body)
	}
	return session
}

// callMessage is a tools/call request message.
func callMessage(id int, tool string, args any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
		"params": map[string]any{"name": tool, "arguments": args}})
	return string(b)
}

// call calls a tool with the SDK's client, failing the test on a protocol error.
func call(t testing.TB, cs *sdk.ClientSession, tool string, args any) *sdk.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	return res
}

// text returns the text of a tool result.
func text(t testing.TB, res *sdk.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("result has %d contents, want 1", len(res.Content))
	}
	tc, ok := res.Content[0].(*sdk.TextContent)
	if !ok {
		t.Fatalf("content is %T, want text", res.Content[0])
	}
	return tc.Text
}

// toolNames lists the tools a session sees.
func toolNames(t testing.TB, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("list tools: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// rpcCode returns the JSON-RPC error code of err, 0 for none.
func rpcCode(err error) int64 {
	var je *jsonrpc.Error
	if errors.As(err, &je) {
		return je.Code
	}
	return 0
}

// waitFor polls cond for up to 5s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nothingCalled fails unless neither the gateway nor the mesh saw a call.
func (e *env) nothingCalled(t testing.TB) {
	t.Helper()
	if seen := e.gw.Seen(); len(seen) > 0 {
		t.Errorf("the gateway was handed %d requests, want none: %+v", len(seen), seen)
	}
	if calls := e.mesh.Calls(); len(calls) > 0 {
		t.Errorf("the mesh was called %d times, want none", len(calls))
	}
}
