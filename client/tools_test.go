package client

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	platform "github.com/micro/platform"
)

// TestListTools checks the request ListTools sends and the tools it decodes.
func TestListTools(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		response string
		want     []platform.Tool
		wantCode string
	}{
		{
			name: "tools", status: 200,
			response: `{"tools":[{"name":"hello.Hello.Call","service":"hello","endpoint":"Hello.Call","description":"Greets a person.",` +
				`"input_schema":{"type":"object","properties":{"name":{"type":"string","description":"name field"}},"examples":["{\"name\":\"Alice\"}"]},` +
				`"scopes":["greet"]}]}`,
			want: []platform.Tool{{Name: "hello.Hello.Call", Service: "hello", Endpoint: "Hello.Call", Description: "Greets a person.",
				InputSchema: map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string", "description": "name field"}},
					"examples": []any{`{"name":"Alice"}`}},
				Scopes: []string{"greet"}}},
		},
		{name: "none", status: 200, response: `{"tools":[]}`, want: []platform.Tool{}},
		{
			name: "forbidden", status: 403, wantCode: platform.EFORBIDDEN,
			response: `{"error":{"code":"forbidden","message":"token \"ci\" may not access namespace \"acme\""}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, tt.status, tt.response) })
			got, err := New(srv.URL, WithToken("tok")).ListTools(context.Background(), "acme")
			if len(*reqs) != 1 {
				t.Fatalf("sent %d requests, want 1", len(*reqs))
			}
			if r := (*reqs)[0]; r.Method != "GET" || r.Path != "/v1/namespaces/acme/tools" || r.Auth != "Bearer tok" {
				t.Errorf("request %s %s (auth %q), want GET /v1/namespaces/acme/tools with the token", r.Method, r.Path, r.Auth)
			}
			if tt.wantCode != "" {
				if platform.ErrorCode(err) != tt.wantCode {
					t.Fatalf("err = %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("tools = %#v\nwant %#v", got, tt.want)
			}
		})
	}
}
