package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/micro/platform/mcp"
)

// The check that a message calls a tool whose scopes the token lacks must hold for
// what the SDK reads from the message, before the gateway; ServeHTTP's reading of it (encoding/json, one
// message) differs for a batch (accepted without an Mcp-Protocol-Version header, as
// 2025-03-26) and for keys in another case (encoding/json matches them, the SDK does
// not).
func TestScopeCannotBeSidestepped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	session := e.initialize(t, devSecret)
	args := `{"account":"acct-1","amount":100}`
	for _, tc := range []struct{ name, body string }{
		{"batch", `[{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"billing.Billing.Charge","arguments":` + args + `}}]`},
		{"name in another case", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"billing.Billing.Charge","NAME":"greeter.Greeter.Hello","arguments":` + args + `}}`},
		{"method in another case", `{"jsonrpc":"2.0","id":4,"method":"tools/call","METHOD":"ping","params":{"name":"billing.Billing.Charge","arguments":` + args + `}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Without Mcp-Protocol-Version, as a 2025-03-26 client sends.
			r, _ := http.NewRequest(http.MethodPost, e.url+"/mcp/acme", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Accept", "application/json, text/event-stream")
			r.Header.Set("Authorization", "Bearer "+devSecret)
			r.Header.Set("Mcp-Session-Id", session)
			res := e.do(t, r)
			if res.rpc != nil && res.rpc.Result != nil {
				var out sdk.CallToolResult
				if json.Unmarshal(res.rpc.Result, &out) == nil && !out.IsError {
					t.Errorf("HTTP %d: the tool was called without its scope: %s", res.status, res.body)
				}
			}
		})
	}
	// The mesh would refuse it too (it enforces the endpoint's scopes), but without the
	// challenge, audited as the gateway's refusal.
	for _, s := range e.gw.Seen() {
		if strings.Contains(s.Path, "billing") {
			t.Errorf("the gateway was handed %s without the scope", s.Path)
		}
	}
}

// An MCP client without an OAuth flow (the SDK's, with a platform token) must be told
// of a scope refusal and keep its session: the 403's body has to be a JSON-RPC error.
func TestScopeRefusalKeepsSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cs := e.mustConnect(t, devSecret, nil)
	_, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "billing.Billing.Charge", Arguments: map[string]any{"amount": 1}})
	// The SDK's client reports a refused write as "connection closed" (with %v, so the
	// JSON-RPC error is in the text only), yet the session stays open.
	if err == nil || !strings.Contains(err.Error(), "requires scope billing:write or billing:admin") {
		t.Errorf("refusal %v, want the JSON-RPC error naming the scopes", err)
	}
	if res := call(t, cs, "greeter.Greeter.Hello", map[string]any{"name": "Alice"}); res.IsError {
		t.Errorf("the next call: %s", text(t, res))
	}
	// The raw answer still carries the challenge, and now a JSON-RPC error with the id.
	session := e.initialize(t, devSecret)
	res := e.post(t, devSecret, session, callMessage(7, "billing.Billing.Charge", map[string]any{"amount": 1}))
	if res.status != http.StatusForbidden || !strings.Contains(res.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) ||
		res.rpc == nil || res.rpc.Error == nil || string(res.rpc.ID) != "7" {
		t.Errorf("HTTP %d: %s", res.status, res.body)
	}
}

// A token narrowed to some tools sees a call of another as an unknown tool, even when
// that tool has scopes the token lacks: the challenge would show the tool exists.
func TestNarrowedTokenNotChallenged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cs := e.mustConnect(t, narrowSecret, nil)
	_, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "billing.Billing.Charge", Arguments: map[string]any{"amount": 1}})
	if rpcCode(err) != jsonrpc.CodeInvalidParams || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("%v, want -32602 unknown tool", err)
	}
	session := e.initialize(t, narrowSecret)
	res := e.post(t, narrowSecret, session, callMessage(2, "billing.Billing.Charge", map[string]any{"amount": 1}))
	if res.status == http.StatusForbidden || strings.Contains(res.header.Get("WWW-Authenticate"), "billing") {
		t.Errorf("HTTP %d, WWW-Authenticate %q: the challenge names a tool the token may not see", res.status, res.header.Get("WWW-Authenticate"))
	}
	for _, a := range e.audit.Entries() {
		if strings.Contains(a.Target, "billing") {
			t.Errorf("audited %+v", *a)
		}
	}
	e.nothingCalled(t)
}

// A namespace without sessions is not kept current: any token for every namespace could
// otherwise have the handler read, every Refresh, the tools of every name it makes up.
// Namespaces without sessions are neither refreshed nor, once idle, held.
func TestIdleNamespacesNotRefreshed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *mcp.Options) {
		o.Refresh = 10 * time.Millisecond
		o.Idle = 50 * time.Millisecond
	})
	for i := range 20 {
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
		r, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/mcp/made-up-%d", e.url, i), strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		r.Header.Set("Authorization", "Bearer "+otherOrgSecret)
		if res := e.do(t, r); res.status != http.StatusOK {
			t.Fatalf("HTTP %d: %s", res.status, res.body)
		}
	}
	reads := func() int {
		e.reg.mu.Lock()
		defer e.reg.mu.Unlock()
		return e.reg.reads
	}
	time.Sleep(300 * time.Millisecond) // sessions time out after Idle, then the namespaces go
	before := reads()
	time.Sleep(200 * time.Millisecond)
	if after := reads(); after != before {
		t.Errorf("the tools were read %d times in 200ms after every session ended", after-before)
	}
	if n := e.h.Spaces(); n != 0 {
		t.Errorf("%d namespaces' servers are still held after every session ended and Idle passed", n)
	}
}
