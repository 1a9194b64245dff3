package mcp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	platform "github.com/micro/platform"
	"github.com/micro/platform/gateway"
	"github.com/micro/platform/mcp"
)

func TestListTools(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name, path string
		header     map[string]string
	}{
		{"namespace in path", "/mcp/acme", nil},
		{"namespace in path with slash", "/mcp/acme/", nil},
		{"namespace header", "/mcp", map[string]string{gateway.HeaderNamespace: "acme"}},
		{"namespace header with slash", "/mcp/", map[string]string{gateway.HeaderNamespace: "acme"}},
		{"host prefix", "/mcp", map[string]string{"Host": "acme.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := e.connect(t, devSecret, tc.path, tc.header, nil)
			if err != nil {
				t.Fatal(err)
			}
			init := cs.InitializeResult()
			if init.Capabilities == nil || init.Capabilities.Tools == nil || !init.Capabilities.Tools.ListChanged {
				t.Errorf("capabilities %+v do not advertise tools.listChanged", init.Capabilities)
			}
			if init.ServerInfo.Name != "platform-acme" || init.ServerInfo.Version != "test" {
				t.Errorf("server info %+v", init.ServerInfo)
			}
			if !strings.Contains(init.Instructions, `"acme"`) {
				t.Errorf("instructions %q do not name the namespace", init.Instructions)
			}
			res, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			tools := map[string]*sdk.Tool{}
			var names []string
			for _, tool := range res.Tools {
				tools[tool.Name] = tool
				names = append(names, tool.Name)
			}
			slices.Sort(names)
			if want := []string{"billing.Billing.Charge", "greeter.Greeter.Hello", "greeter.Greeter.Shout"}; !slices.Equal(names, want) {
				t.Fatalf("tools %v, want %v", names, want)
			}
			for name, want := range map[string]string{
				"greeter.Greeter.Hello":  "Hello greets someone by name.",
				"greeter.Greeter.Shout":  "Call Greeter.Shout on greeter service",
				"billing.Billing.Charge": "Charge charges an account.",
			} {
				if got := tools[name].Description; got != want {
					t.Errorf("%s description %q, want %q", name, got, want)
				}
			}
			// What the agent sees of the schema, as JSON.
			var schema struct {
				Type       string `json:"type"`
				Properties map[string]struct {
					Type        string `json:"type"`
					Description string `json:"description"`
				} `json:"properties"`
				Examples []string `json:"examples"`
			}
			raw, _ := json.Marshal(tools["greeter.Greeter.Hello"].InputSchema)
			if err := json.Unmarshal(raw, &schema); err != nil {
				t.Fatal(err)
			}
			if schema.Type != "object" || len(schema.Properties) != 2 ||
				schema.Properties["name"].Type != "string" || schema.Properties["times"].Type != "integer" ||
				schema.Properties["name"].Description != "name field" {
				t.Errorf("Hello's input schema %s", raw)
			}
			if !slices.Equal(schema.Examples, []string{`{"name":"Alice"}`}) {
				t.Errorf("Hello's examples %q, want its @example", schema.Examples)
			}
			raw, _ = json.Marshal(tools["billing.Billing.Charge"].InputSchema)
			if !strings.Contains(string(raw), `"amount":{"description":"amount field","type":"integer"}`) ||
				!strings.Contains(string(raw), `"rate":{"description":"rate field","type":"number"}`) {
				t.Errorf("Charge's input schema %s", raw)
			}
			raw, _ = json.Marshal(tools["greeter.Greeter.Shout"].InputSchema)
			if strings.Contains(string(raw), "examples") || !strings.Contains(string(raw), `"loud":{"description":"loud field","type":"boolean"}`) {
				t.Errorf("Shout's input schema %s", raw)
			}
		})
	}
	e.nothingCalled(t)
}

func TestCallTool(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cs := e.mustConnect(t, devSecret, nil)

	res := call(t, cs, "greeter.Greeter.Hello", map[string]any{"name": "Alice", "times": 2})
	if res.IsError {
		t.Fatalf("isError: %s", text(t, res))
	}
	if got := text(t, res); got != `{"msg":"Hello Alice"}` {
		t.Errorf("text %q, want the service's JSON", got)
	}
	if sc, ok := res.StructuredContent.(map[string]any); !ok || sc["msg"] != "Hello Alice" {
		t.Errorf("structuredContent %#v, want the service's JSON object", res.StructuredContent)
	}
	seen := e.gw.Seen()
	if len(seen) != 1 {
		t.Fatalf("the gateway was handed %d requests, want 1", len(seen))
	}
	want := seenRequest{Method: http.MethodPost, Path: "/api/greeter/Greeter.Hello", Namespace: "acme",
		Authorization: "Bearer " + devSecret, ContentType: "application/json", Body: `{"name":"Alice","times":2}`}
	if seen[0] != want {
		t.Errorf("the gateway got %+v, want %+v", seen[0], want)
	}
	calls := e.mesh.Calls()
	if len(calls) != 1 {
		t.Fatalf("the mesh got %d calls, want 1", len(calls))
	}
	if c := calls[0]; c.Namespace != "acme" || c.Service != "greeter" || c.Endpoint != "Greeter.Hello" ||
		string(c.Body) != `{"name":"Alice","times":2}` || !c.Scoped {
		t.Errorf("the mesh got %+v", c)
	}

	t.Run("no arguments", func(t *testing.T) {
		res := call(t, cs, "greeter.Greeter.Shout", nil)
		if res.IsError {
			t.Fatalf("isError: %s", text(t, res))
		}
		if calls := e.mesh.Calls(); string(calls[len(calls)-1].Body) != "{}" {
			t.Errorf("the service got %q, want {}", calls[len(calls)-1].Body)
		}
	})
	t.Run("service error", func(t *testing.T) {
		e.mesh.setErr("greeter", platform.Errorf(platform.EINVALID, "name must not be empty"))
		defer e.mesh.setErr("greeter", nil)
		res := call(t, cs, "greeter.Greeter.Hello", map[string]any{"name": ""})
		if !res.IsError || !strings.Contains(text(t, res), "name must not be empty") {
			t.Errorf("result %+v, want a tool error with the service's message", res)
		}
		if res.StructuredContent != nil {
			t.Errorf("structuredContent %v on an error", res.StructuredContent)
		}
	})
	t.Run("array answer", func(t *testing.T) {
		e.mesh.mu.Lock()
		e.mesh.body = []byte(`["a","b"]`)
		e.mesh.mu.Unlock()
		res := call(t, cs, "greeter.Greeter.Hello", map[string]any{"name": "Alice"})
		if res.IsError || text(t, res) != `["a","b"]` || res.StructuredContent != nil {
			t.Errorf("result %+v, want the array as text only", res)
		}
	})
	t.Run("role without calls", func(t *testing.T) {
		// A viewer sees the tools but the gateway's policy refuses the call.
		vs := e.mustConnect(t, viewerSecret, nil)
		if n := len(toolNames(t, vs)); n != 3 {
			t.Errorf("a viewer sees %d tools, want 3", n)
		}
		before := len(e.mesh.Calls())
		res := call(t, vs, "greeter.Greeter.Hello", map[string]any{"name": "Alice"})
		if !res.IsError || !strings.Contains(text(t, res), "service.call needs the developer role") {
			t.Errorf("result %q, want the gateway's refusal", text(t, res))
		}
		if n := len(e.mesh.Calls()); n != before {
			t.Errorf("the mesh was called")
		}
	})
}

func TestForeignToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, secret string }{
		{"token of another namespace", otherNSSecret},
		{"token of another organisation", otherOrgSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			if _, err := e.connect(t, tc.secret, "", nil, nil); err == nil {
				t.Fatal("connected; want a refusal")
			}
			res := e.post(t, tc.secret, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
			if res.status != http.StatusForbidden && res.status != http.StatusNotFound {
				t.Errorf("initialize: HTTP %d, want 403 or 404", res.status)
			}
			if res.header.Get("Mcp-Session-Id") != "" || res.rpc != nil {
				t.Errorf("initialize answered %s", res.body)
			}
			// Nor with a session another token opened.
			session := e.initialize(t, devSecret)
			res = e.post(t, tc.secret, session, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
			if res.status != http.StatusForbidden && res.status != http.StatusNotFound || strings.Contains(string(res.body), "greeter") {
				t.Errorf("tools/list with another's session: HTTP %d: %s", res.status, res.body)
			}
			res = e.post(t, tc.secret, session, callMessage(3, "greeter.Greeter.Hello", map[string]any{"name": "Alice"}))
			if res.status != http.StatusForbidden && res.status != http.StatusNotFound {
				t.Errorf("tools/call with another's session: HTTP %d: %s", res.status, res.body)
			}
			e.nothingCalled(t)
		})
	}
}

func TestSessionBoundToToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	session := e.initialize(t, devSecret)
	// starSecret's token may call the namespace, but the session is devSecret's.
	res := e.post(t, starSecret, session, callMessage(2, "greeter.Greeter.Hello", map[string]any{"name": "Alice"}))
	if res.status != http.StatusForbidden || res.rpc != nil {
		t.Errorf("a call in another token's session: HTTP %d: %s, want 403", res.status, res.body)
	}
	e.nothingCalled(t)
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	for _, tc := range []struct {
		name, method, authorization string
		wantError                   string // the challenge's error parameter
	}{
		{"no token", http.MethodPost, "", ""},
		{"no token, GET", http.MethodGet, "", ""},
		{"basic", http.MethodPost, "Basic YWxpY2U6c2VjcmV0", ""},
		{"empty bearer", http.MethodPost, "Bearer ", ""},
		{"unknown token", http.MethodPost, "Bearer mp_nope", "invalid_token"},
		{"unknown token, GET", http.MethodGet, "Bearer mp_nope", "invalid_token"},
		{"unknown token, DELETE", http.MethodDelete, "Bearer mp_nope", "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _ := http.NewRequest(tc.method, e.url+"/mcp/acme", strings.NewReader(initialize))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Accept", "application/json, text/event-stream")
			if tc.authorization != "" {
				r.Header.Set("Authorization", tc.authorization)
			}
			res := e.do(t, r)
			if res.status != http.StatusUnauthorized {
				t.Fatalf("HTTP %d, want 401: %s", res.status, res.body)
			}
			challenge := res.header.Get("WWW-Authenticate")
			if !strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, `resource_metadata="`+resourceMetadata+`"`) {
				t.Errorf("WWW-Authenticate %q, want a Bearer challenge naming the resource metadata", challenge)
			}
			if tc.wantError != "" && !strings.Contains(challenge, `error="`+tc.wantError+`"`) {
				t.Errorf("WWW-Authenticate %q, want error=%q", challenge, tc.wantError)
			}
			var body platform.ErrorResponse
			if err := json.Unmarshal(res.body, &body); err != nil || body.Error.Code != platform.EUNAUTHENTICATED {
				t.Errorf("body %s, want the platform's unauthenticated error", res.body)
			}
		})
	}
	t.Run("sdk client", func(t *testing.T) {
		t.Parallel()
		if _, err := e.connect(t, "mp_nope", "", nil, nil); err == nil {
			t.Error("connected with an unknown token")
		}
	})
	t.Run("no namespace", func(t *testing.T) {
		t.Parallel()
		r, _ := http.NewRequest(http.MethodPost, e.url+"/mcp", strings.NewReader(initialize))
		r.Header.Set("Authorization", "Bearer "+devSecret)
		if res := e.do(t, r); res.status != http.StatusBadRequest {
			t.Errorf("HTTP %d, want 400: %s", res.status, res.body)
		}
	})
	t.Run("bad namespace", func(t *testing.T) {
		t.Parallel()
		r, _ := http.NewRequest(http.MethodPost, e.url+"/mcp/Not_A-Name", strings.NewReader(initialize))
		r.Header.Set("Authorization", "Bearer "+devSecret)
		if res := e.do(t, r); res.status != http.StatusBadRequest {
			t.Errorf("HTTP %d, want 400: %s", res.status, res.body)
		}
	})
	e.nothingCalled(t)
}

func TestScopeChallenge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	charge := map[string]any{"account": "acct-1", "amount": 100}

	t.Run("raw", func(t *testing.T) {
		session := e.initialize(t, devSecret)
		res := e.post(t, devSecret, session, callMessage(2, "billing.Billing.Charge", charge))
		if res.status != http.StatusForbidden {
			t.Fatalf("HTTP %d, want 403: %s", res.status, res.body)
		}
		challenge := res.header.Get("WWW-Authenticate")
		for _, want := range []string{`Bearer `, `error="insufficient_scope"`, `scope="billing:write billing:admin"`, `resource_metadata="` + resourceMetadata + `"`} {
			if !strings.Contains(challenge, want) {
				t.Errorf("WWW-Authenticate %q lacks %s", challenge, want)
			}
		}
		e.nothingCalled(t)
		// A tool without scopes is called in the same session.
		res = e.post(t, devSecret, session, callMessage(3, "greeter.Greeter.Hello", map[string]any{"name": "Alice"}))
		if res.status != http.StatusOK || res.rpc == nil || res.rpc.Error != nil {
			t.Errorf("HTTP %d: %s", res.status, res.body)
		}
	})
	t.Run("sdk client", func(t *testing.T) {
		cs := e.mustConnect(t, devSecret, nil)
		before := len(e.mesh.Calls())
		if _, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "billing.Billing.Charge", Arguments: charge}); err == nil {
			t.Error("called a tool without its scope")
		}
		if n := len(e.mesh.Calls()); n != before {
			t.Error("the mesh was called")
		}
	})
	for _, secret := range []string{billingSecret, starSecret} {
		t.Run("with "+secret, func(t *testing.T) {
			cs := e.mustConnect(t, secret, nil)
			res := call(t, cs, "billing.Billing.Charge", charge)
			if res.IsError {
				t.Fatalf("isError: %s", text(t, res))
			}
			calls := e.mesh.Calls()
			if c := calls[len(calls)-1]; c.Service != "billing" || !c.Scoped || len(c.Scopes) != 1 {
				t.Errorf("the mesh got %+v, want the token's scopes", c)
			}
		})
	}
}

func TestToolNarrowing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cs := e.mustConnect(t, narrowSecret, nil)
	if names := toolNames(t, cs); !slices.Equal(names, []string{"greeter.Greeter.Hello"}) {
		t.Errorf("a narrowed token sees %v, want only greeter.Greeter.Hello", names)
	}
	if res := call(t, cs, "greeter.Greeter.Hello", map[string]any{"name": "Alice"}); res.IsError {
		t.Errorf("isError: %s", text(t, res))
	}
	_, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "greeter.Greeter.Shout", Arguments: map[string]any{"name": "Alice"}})
	if rpcCode(err) != jsonrpc.CodeInvalidParams || !strings.Contains(err.Error(), `unknown tool "greeter.Greeter.Shout"`) {
		t.Errorf("calling a tool the token may not: %v, want -32602 unknown tool", err)
	}
	if n := len(e.mesh.Calls()); n != 1 {
		t.Errorf("the mesh got %d calls, want 1", n)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *mcp.Options) { o.MaxBodyBytes = 4 << 10 })
	session := e.initialize(t, devSecret)
	cs := e.mustConnect(t, devSecret, nil)

	t.Run("malformed message", func(t *testing.T) {
		for _, body := range []string{`{"jsonrpc":"2.0","id":2,"method":"tools/call",`, `not json`} {
			res := e.post(t, devSecret, session, body)
			switch {
			case res.status == http.StatusBadRequest:
			case res.rpc != nil && res.rpc.Error != nil && res.rpc.Error.Code == jsonrpc.CodeParseError:
			default:
				t.Errorf("%q: HTTP %d: %s, want 400 or a parse error", body, res.status, res.body)
			}
		}
	})
	t.Run("unknown tool", func(t *testing.T) {
		_, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "greeter.Greeter.Nope"})
		if rpcCode(err) != jsonrpc.CodeInvalidParams {
			t.Errorf("%v, want -32602", err)
		}
		res := e.post(t, devSecret, session, callMessage(3, "nope.Nope.Nope", map[string]any{}))
		if res.rpc == nil || res.rpc.Error == nil || res.rpc.Error.Code != jsonrpc.CodeInvalidParams {
			t.Errorf("HTTP %d: %s, want -32602", res.status, res.body)
		}
	})
	for _, tc := range []struct {
		name string
		args any
		want string
	}{
		{"number for a string", map[string]any{"name": 42}, "do not match the input schema"},
		{"string for an integer", map[string]any{"name": "Alice", "times": "twice"}, "do not match the input schema"},
		{"fraction for an integer", map[string]any{"times": 1.5}, "do not match the input schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := call(t, cs, "greeter.Greeter.Hello", tc.args)
			if !res.IsError || !strings.Contains(text(t, res), tc.want) {
				t.Errorf("result %q, want a tool error saying %q", text(t, res), tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, args string }{
		{"string arguments", `"Alice"`},
		{"array arguments", `["Alice"]`},
		{"number arguments", `42`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"greeter.Greeter.Hello","arguments":` + tc.args + `}}`
			res := e.post(t, devSecret, session, msg)
			if res.rpc == nil || res.rpc.Error != nil {
				t.Fatalf("HTTP %d: %s, want a result", res.status, res.body)
			}
			var r sdk.CallToolResult
			if err := json.Unmarshal(res.rpc.Result, &r); err != nil || !r.IsError || !strings.Contains(text(t, &r), "must be a JSON object") {
				t.Errorf("result %s, want isError saying the arguments must be an object", res.rpc.Result)
			}
		})
	}
	t.Run("message too large", func(t *testing.T) {
		big := map[string]any{"name": strings.Repeat("a", 5<<10)}
		res := e.post(t, devSecret, session, callMessage(5, "greeter.Greeter.Hello", big))
		if res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("HTTP %d, want 413: %s", res.status, res.body)
		}
		if _, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "greeter.Greeter.Hello", Arguments: big}); err == nil {
			t.Error("the SDK client's call of a message too large succeeded")
		}
	})
	e.nothingCalled(t)
}

func TestListChanged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mod    func(*mcp.Options)
		change func(e *env)
	}{
		{"Changed", nil, func(e *env) { e.h.Changed("acme") }},
		{"Refresh", func(o *mcp.Options) { o.Refresh = 20 * time.Millisecond }, func(*env) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.mod)
			changed := make(chan struct{}, 16)
			cs := e.mustConnect(t, devSecret, &sdk.ClientOptions{
				ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
					changed <- struct{}{}
				},
			})
			if n := len(toolNames(t, cs)); n != 3 {
				t.Fatalf("%d tools, want 3", n)
			}
			// A release replaces billing with weather.
			e.reg.set("acme", greeter, weather)
			tc.change(e)
			select {
			case <-changed:
			case <-time.After(5 * time.Second):
				t.Fatal("no notifications/tools/list_changed")
			}
			waitFor(t, "the new tools", func() bool {
				return slices.Equal(toolNames(t, cs), []string{"greeter.Greeter.Hello", "greeter.Greeter.Shout", "weather.Weather.Forecast"})
			})
			if res := call(t, cs, "weather.Weather.Forecast", map[string]any{"city": "Paris"}); res.IsError {
				t.Errorf("calling the new tool: %s", text(t, res))
			}
			if _, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "billing.Billing.Charge"}); rpcCode(err) != jsonrpc.CodeInvalidParams {
				t.Errorf("calling the removed tool: %v, want -32602", err)
			}
		})
	}
}

func TestChangedOtherNamespace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	changed := make(chan struct{}, 16)
	cs := e.mustConnect(t, devSecret, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) { changed <- struct{}{} },
	})
	toolNames(t, cs)
	e.reg.set("globex", weather)
	e.h.Changed("globex") // no session there: nothing to do
	e.h.Changed("acme")   // nothing changed in acme: no notification
	select {
	case <-changed:
		t.Error("notified of a change that did not happen")
	case <-time.After(200 * time.Millisecond):
	}
}

// tickingClock moves one step every time it is read, so durations are exact.
type tickingClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *tickingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

func TestAudit(t *testing.T) {
	t.Parallel()
	clock := &tickingClock{now: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC), step: 1500 * time.Microsecond}
	e := newEnv(t, func(o *mcp.Options) { o.Clock = clock })
	e.mesh.setErr("weather", platform.Errorf(platform.EUNAVAILABLE, "no weather today"))
	e.reg.set("acme", billing, greeter, weather)
	dev := e.mustConnect(t, devSecret, nil)
	viewer := e.mustConnect(t, viewerSecret, nil)

	call(t, dev, "greeter.Greeter.Hello", map[string]any{"name": "Alice"})
	call(t, dev, "weather.Weather.Forecast", map[string]any{"city": "Paris"})
	call(t, dev, "greeter.Greeter.Hello", map[string]any{"name": 42})
	call(t, viewer, "greeter.Greeter.Hello", map[string]any{"name": "Alice"})
	_, _ = dev.CallTool(context.Background(), &sdk.CallToolParams{Name: "billing.Billing.Charge", Arguments: map[string]any{"amount": 1}})

	want := []struct {
		token, target, outcome, detail string
	}{
		{"t-dev", "tool/acme/greeter.Greeter.Hello", platform.AuditOK, "duration 1.5ms"},
		{"t-dev", "tool/acme/weather.Weather.Forecast", platform.AuditFailed, "duration 1.5ms; no weather today"},
		{"t-dev", "tool/acme/greeter.Greeter.Hello", platform.AuditFailed, "duration 0s; arguments do not match the input schema"},
		{"t-viewer", "tool/acme/greeter.Greeter.Hello", platform.AuditDenied, "duration 1.5ms; service.call needs the developer role"},
		{"t-dev", "tool/acme/billing.Billing.Charge", platform.AuditDenied, "duration 0s; billing.Billing.Charge requires scope billing:write or billing:admin"},
	}
	waitFor(t, "the audit entries", func() bool { return len(e.audit.Entries()) >= len(want) })
	got := e.audit.Entries()
	if len(got) != len(want) {
		t.Fatalf("%d audit entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Action != platform.AuditToolCall || g.Org != "acme-co" || g.Actor != "alice" || g.ActorID != "u-alice" ||
			g.TokenID != w.token || g.Target != w.target || g.Outcome != w.outcome || !strings.HasPrefix(g.Detail, w.detail) || g.Time.IsZero() {
			t.Errorf("entry %d: %+v, want %+v", i, *g, w)
		}
	}
}

func TestMetering(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	dev := e.mustConnect(t, devSecret, nil)
	viewer := e.mustConnect(t, viewerSecret, nil)

	call(t, dev, "greeter.Greeter.Hello", map[string]any{"name": "Alice"})
	events := e.meter.Events()
	if len(events) != 1 {
		t.Fatalf("%d usage events, want 1", len(events))
	}
	ev := events[0]
	if ev.Meter != platform.MeterToolCalls || ev.Org != "acme-co" || ev.Namespace != "acme" || ev.Service != "greeter" ||
		ev.Region != "eu-west" || ev.Quantity != 1 || !strings.HasPrefix(ev.ID, "mcp/") || ev.Time.IsZero() {
		t.Errorf("usage event %+v", ev)
	}
	if err := ev.Validate(); err != nil {
		t.Errorf("usage event: %v", err)
	}

	// Refused before the data path: not billed. (The SDK's client closes a session
	// refused with 403, so the scope refusal has one of its own.)
	_, _ = e.mustConnect(t, devSecret, nil).CallTool(context.Background(), &sdk.CallToolParams{Name: "billing.Billing.Charge", Arguments: map[string]any{"amount": 1}})
	call(t, viewer, "greeter.Greeter.Hello", map[string]any{"name": "Alice"})
	call(t, dev, "greeter.Greeter.Hello", map[string]any{"name": 42})
	if n := len(e.meter.Events()); n != 1 {
		t.Errorf("%d usage events after refused calls, want still 1", n)
	}

	// A second call has its own event ID.
	call(t, dev, "greeter.Greeter.Shout", map[string]any{"name": "Alice"})
	events = e.meter.Events()
	if len(events) != 2 || events[1].ID == events[0].ID || events[1].Service != "greeter" {
		t.Errorf("usage events %+v", events)
	}
}
