package e2e

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	platform "github.com/micro/platform"
)

// bearerTransport adds a platform token (and, when set, a namespace header) to every
// request of an MCP client.
type bearerTransport struct {
	token, ns string
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	if b.ns != "" {
		r.Header.Set("Micro-Namespace", b.ns)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// connectMCP connects the official Go SDK's client to endpoint with token.
func connectMCP(ctx context.Context, endpoint, token, ns string, opts *sdk.ClientOptions) (*sdk.ClientSession, error) {
	c := sdk.NewClient(&sdk.Implementation{Name: "e2e-agent", Version: "1"}, opts)
	return c.Connect(ctx, &sdk.StreamableClientTransport{
		Endpoint:   endpoint,
		HTTPClient: &http.Client{Transport: bearerTransport{token: token, ns: ns}},
	}, nil)
}

// toolText is the text of a tool result.
func toolText(res *sdk.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(*sdk.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

// TestMCP is an agent's journey on a real server: a namespace with helloworld and
// go-micro's own documented MCP example (fixed micro.Address, its own MCP listener,
// doc-commented handlers with @example, endpoints declared with
// server.WithEndpointScopes), deployed unchanged, is an MCP server at /mcp. The
// official Go SDK's client lists the tools micro mcp would show and calls them; scopes,
// tool narrowing and tenancy hold; bad input gets the specification's errors and calls
// nothing; a deploy sends tools/list_changed; calls are audited and metered.
func TestMCP(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.must(t, "namespaces", "create", "acme")
	s.must(t, "namespaces", "create", "globex")
	s.must(t, "deploy", "examples/helloworld", "-n", "acme", "--name", "helloworld")
	s.must(t, "deploy", "e2e/testdata/users", "-n", "acme", "--name", "users")

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := s.client()
	_, agent, err := c.CreateToken(ctx, platform.CreateTokenRequest{Name: "agent", Role: platform.RoleDeveloper, Namespaces: []string{"acme"}, Scopes: []string{"users:read"}})
	must(t, err)
	_, outsider, err := c.CreateToken(ctx, platform.CreateTokenRequest{Name: "globex-agent", Role: platform.RoleDeveloper, Namespaces: []string{"globex"}, Scopes: []string{"*"}})
	must(t, err)
	_, narrowed, err := c.CreateToken(ctx, platform.CreateTokenRequest{Name: "hello-only", Role: platform.RoleDeveloper, Namespaces: []string{"acme"}, Tools: []string{"helloworld.*"}})
	must(t, err)

	changed := make(chan struct{}, 16)
	sess, err := connectMCP(ctx, s.url()+"/mcp", agent, "acme", &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) { changed <- struct{}{} },
	})
	must(t, err)
	defer sess.Close()
	if caps := sess.InitializeResult().Capabilities; caps.Tools == nil || !caps.Tools.ListChanged {
		t.Errorf("the server does not advertise tools with listChanged: %+v", caps)
	}

	// The tools micro mcp shows: names, the handlers' doc comments, the request's
	// fields, the @example, the declared scopes.
	list, err := sess.ListTools(ctx, nil)
	must(t, err)
	byName := map[string]*sdk.Tool{}
	for _, tl := range list.Tools {
		byName[tl.Name] = tl
	}
	for _, want := range []string{"helloworld.Helloworld.Call", "users.Users.GetUser", "users.Users.CreateUser"} {
		if byName[want] == nil {
			t.Fatalf("tools/list lacks %s: %v", want, slices.Collect(maps.Keys(byName)))
		}
	}
	get := byName["users.Users.GetUser"]
	if !strings.HasPrefix(get.Description, "GetUser retrieves a user by ID from the database.") || strings.Contains(get.Description, "@example") {
		t.Errorf("GetUser's description is %q, want its doc comment without the @example", get.Description)
	}
	schema, _ := json.Marshal(get.InputSchema)
	if !strings.Contains(string(schema), `"id":{"description":"id field","type":"string"}`) || !strings.Contains(string(schema), `"examples":["{\"id\": \"user-1\"}"]`) {
		t.Errorf("GetUser's input schema is %s, want the id field and the @example", schema)
	}

	// Calls go through the gateway and come back as the service answered.
	res, err := sess.CallTool(ctx, &sdk.CallToolParams{Name: "helloworld.Helloworld.Call", Arguments: map[string]any{"name": "Alice"}})
	must(t, err)
	if res.IsError || !strings.Contains(toolText(res), `"message":"Hello Alice"`) {
		t.Fatalf("helloworld.Helloworld.Call: error %v, %q", res.IsError, toolText(res))
	}
	res, err = sess.CallTool(ctx, &sdk.CallToolParams{Name: "users.Users.GetUser", Arguments: map[string]any{"id": "user-1"}})
	must(t, err)
	if res.IsError || !strings.Contains(toolText(res), "John Doe") {
		t.Fatalf("users.Users.GetUser with users:read: error %v, %q", res.IsError, toolText(res))
	}

	// A scope the token does not hold: the specification's 403 insufficient_scope,
	// nothing called — and the same refusal on the HTTP gateway.
	_, err = sess.CallTool(ctx, &sdk.CallToolParams{Name: "users.Users.CreateUser", Arguments: map[string]any{"name": "Eve", "email": "eve@example.com"}})
	if err == nil || !strings.Contains(err.Error(), "requires scope users:write") {
		t.Errorf("CreateUser without users:write: %v, want the scope refusal", err)
	}
	code, body := s.rawMCP(t, agent, "acme", sess.ID(), `{"jsonrpc":"2.0","id":90,"method":"tools/call","params":{"name":"users.Users.CreateUser","arguments":{"name":"Eve","email":"eve@example.com"}}}`)
	if code != http.StatusForbidden || !strings.Contains(body.header, `error="insufficient_scope"`) || !strings.Contains(body.header, `scope="users:write"`) {
		t.Errorf("raw tools/call of CreateUser: %d, WWW-Authenticate %q, body %s", code, body.header, body.text)
	}
	if code, out, err := s.gateway(agent, "acme", "users", "Users.CreateUser", `{"name":"Eve","email":"eve@example.com"}`); err != nil || code != http.StatusForbidden {
		t.Errorf("POST /api/users/Users.CreateUser without users:write: %d %s %v", code, out, err)
	}
	res, err = sess.CallTool(ctx, &sdk.CallToolParams{Name: "users.Users.GetUser", Arguments: map[string]any{"id": "user-2"}})
	must(t, err)
	if !strings.Contains(toolText(res), "Jane Smith") {
		t.Errorf("the users service lost state or a user was created: %q", toolText(res))
	}

	// Bad input: the specification's errors, nothing called.
	if _, err := sess.CallTool(ctx, &sdk.CallToolParams{Name: "nosuch.Tool.Call", Arguments: map[string]any{}}); err == nil || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("an unknown tool: %v, want the unknown tool error", err)
	}
	res, err = sess.CallTool(ctx, &sdk.CallToolParams{Name: "helloworld.Helloworld.Call", Arguments: map[string]any{"name": 42}})
	must(t, err)
	if !res.IsError || !strings.Contains(toolText(res), "input schema") {
		t.Errorf("arguments that do not fit the schema: error %v, %q", res.IsError, toolText(res))
	}
	if code, b := s.rawMCP(t, agent, "acme", sess.ID(), `{"jsonrpc":"2.0","id":1,"method":"tools/call",`); code != http.StatusBadRequest {
		t.Errorf("malformed JSON-RPC: %d %s", code, b.text)
	}
	if code, b := s.rawMCP(t, agent, "acme", sess.ID(), `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"helloworld.Helloworld.Call","arguments":{"name":"`+strings.Repeat("x", 2<<20)+`"}}}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MiB message: %d %s", code, b.text)
	}

	// Tenancy: a token of another namespace sees no tools and calls none; a token
	// narrowed to helloworld sees only it.
	if out, err := connectMCP(ctx, s.url()+"/mcp/acme", outsider, "", nil); err == nil {
		l, _ := out.ListTools(ctx, nil)
		out.Close()
		t.Errorf("a globex token connected to acme's MCP endpoint and saw %v", l)
	}
	if code, b := s.rawMCP(t, outsider, "acme", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`); code != http.StatusForbidden && code != http.StatusNotFound {
		t.Errorf("a globex token initialising acme: %d %s", code, b.text)
	}
	hello, err := connectMCP(ctx, s.url()+"/mcp/acme", narrowed, "", nil)
	must(t, err)
	nl, err := hello.ListTools(ctx, nil)
	must(t, err)
	if len(nl.Tools) != 1 || nl.Tools[0].Name != "helloworld.Helloworld.Call" {
		t.Errorf("a token narrowed to helloworld.* lists %d tools", len(nl.Tools))
	}
	if _, err := hello.CallTool(ctx, &sdk.CallToolParams{Name: "users.Users.GetUser", Arguments: map[string]any{"id": "user-1"}}); err == nil {
		t.Errorf("a token narrowed to helloworld.* called users.Users.GetUser")
	}
	hello.Close()

	// No token: the challenge that points an OAuth client at the metadata.
	req, _ := http.NewRequest(http.MethodPost, s.url()+"/mcp/acme", strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Errorf("no token: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// What an agent will see, from the CLI.
	if out := s.must(t, "mcp", "tools", "-n", "acme"); !strings.Contains(out, "users.Users.CreateUser") || !strings.Contains(out, "users:write") {
		t.Errorf("platform mcp tools:\n%s", out)
	}
	if out := s.must(t, "mcp", "config", "-n", "acme"); !strings.Contains(out, "/mcp/acme") || strings.Contains(out, s.token) {
		t.Errorf("platform mcp config:\n%s", out)
	}

	// A deploy that adds a service notifies the connected client and lists its tool.
	for len(changed) > 0 {
		<-changed
	}
	s.must(t, "deploy", "examples/greeter", "-n", "acme", "--name", "greeter")
	select {
	case <-changed:
	case <-time.After(30 * time.Second):
		t.Fatal("no notifications/tools/list_changed within 30s of deploying greeter")
	}
	list, err = sess.ListTools(ctx, nil)
	must(t, err)
	if !slices.ContainsFunc(list.Tools, func(tl *sdk.Tool) bool { return tl.Name == "greeter.Greeter.Hello" }) {
		t.Errorf("after deploying greeter the tools are %d, without greeter.Greeter.Hello", len(list.Tools))
	}

	// Every call is audited with its token, tool and outcome, and metered.
	page, err := c.ListAudit(ctx, platform.AuditFilter{Action: platform.AuditToolCall})
	must(t, err)
	outcomes := map[string]int{}
	for _, e := range page.Entries {
		if strings.HasPrefix(e.Target, "tool/acme/") && e.Actor != "" && strings.Contains(e.Detail, "duration") {
			outcomes[e.Outcome]++
		}
	}
	if outcomes[platform.AuditOK] < 3 || outcomes[platform.AuditDenied] < 1 || outcomes[platform.AuditFailed] < 1 {
		t.Errorf("audited tool calls by outcome: %v, want ≥3 ok, ≥1 denied, ≥1 failed", outcomes)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		calls := usageTotals(t, s, "acme", "users")[platform.MeterToolCalls] + usageTotals(t, s, "acme", "helloworld")[platform.MeterToolCalls]
		if calls >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tool_calls metered: %d, want at least the 3 calls that were served", calls)
		}
		time.Sleep(2 * time.Second)
	}
}

// rawAnswer is an HTTP answer of the MCP endpoint.
type rawAnswer struct{ header, text string }

// rawMCP posts one JSON-RPC message to acme's MCP endpoint in session sid.
func (s *serverProc) rawMCP(t *testing.T, token, ns, sid, body string) (int, rawAnswer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url()+"/mcp/"+ns, strings.NewReader(body))
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, rawAnswer{header: resp.Header.Get("WWW-Authenticate"), text: string(b)}
}
