package http_test

import (
	"testing"

	platform "github.com/micro/platform"
)

// TestListTools checks GET /v1/namespaces/{ns}/tools: the tools as the control plane
// answers them, none as [], and its refusals as errors of their code.
func TestListTools(t *testing.T) {
	t.Parallel()
	tool := platform.ToolOf("hello", platform.Endpoint{
		Name:     "Hello.Call",
		Request:  &platform.Value{Name: "Request", Type: "Request", Values: []*platform.Value{{Name: "name", Type: "string"}}},
		Metadata: map[string]string{platform.EndpointDescription: "Greets a person.", platform.EndpointExample: `{"name":"Alice"}`, platform.EndpointScopes: "greet, admin"},
	})
	tests := []struct {
		name       string
		cp         *fakeControlPlane
		path       string
		secret     string
		wantStatus int
		wantBody   string // for a success
		wantCode   string // for an error
	}{
		{name: "tools", cp: &fakeControlPlane{tools: []platform.Tool{tool}}, path: "/v1/namespaces/acme/tools", secret: adminSecret,
			wantStatus: 200, wantBody: `{"tools":[{"name":"hello.Hello.Call","service":"hello","endpoint":"Hello.Call","description":"Greets a person.",` +
				`"input_schema":{"type":"object","properties":{"name":{"type":"string","description":"name field"}},"examples":["{\"name\":\"Alice\"}"]},` +
				`"scopes":["greet","admin"]}]}`},
		{name: "none encodes as []", cp: &fakeControlPlane{}, path: "/v1/namespaces/acme/tools", secret: scopedSecret,
			wantStatus: 200, wantBody: `{"tools":[]}`},
		{name: "scoped token elsewhere is forbidden", cp: &fakeControlPlane{}, path: "/v1/namespaces/other/tools", secret: scopedSecret,
			wantStatus: 403, wantCode: platform.EFORBIDDEN},
		{name: "no token", cp: &fakeControlPlane{}, path: "/v1/namespaces/acme/tools",
			wantStatus: 401, wantCode: platform.EUNAUTHENTICATED},
		{name: "namespace not found", cp: &fakeControlPlane{err: platform.Errorf(platform.ENOTFOUND, `namespace "acme" not found`)},
			path: "/v1/namespaces/acme/tools", secret: adminSecret, wantStatus: 404, wantCode: platform.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, tt.cp, nil)
			resp, body := ts.do(t, "GET", tt.path, tt.secret, nil)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantCode != "" {
				if got := mustErrorBody(t, resp, body); got.Code != tt.wantCode {
					t.Fatalf("code = %q, want %q", got.Code, tt.wantCode)
				}
			} else {
				assertJSONEqual(t, body, tt.wantBody)
			}
			if tt.wantStatus == 401 {
				return // refused before the control plane
			}
			if calls := tt.cp.Calls(); len(calls) != 1 || calls[0] != "ListTools" {
				t.Fatalf("control plane calls = %v, want [ListTools]", calls)
			}
			if ns := tt.cp.LastArg(); "/v1/namespaces/"+ns.(string)+"/tools" != tt.path {
				t.Fatalf("ListTools got namespace %v for %s", ns, tt.path)
			}
		})
	}
}
