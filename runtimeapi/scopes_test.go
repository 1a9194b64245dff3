package runtimeapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtimeapi"
	pb "github.com/micro/platform/runtimeapi/runtimev1"
	"github.com/micro/platform/runtimeapi/runtimev1/runtimev1connect"
)

// tokenServer is a ControlService that answers every Authenticate with tok, encoded as
// the control plane does.
type tokenServer struct {
	runtimev1connect.UnimplementedControlServiceHandler
	tok *platform.Token
}

func (s *tokenServer) Authenticate(context.Context, *connect.Request[pb.AuthenticateRequest]) (*connect.Response[pb.AuthenticateResponse], error) {
	return connect.NewResponse(&pb.AuthenticateResponse{Token: runtimeapi.TokenToProto(s.tok)}), nil
}

// TestTokenScopesAndToolsReachTheRegion: the scopes and tools of a token cross the
// runtime API to the region's gateway, with everything else it authorises by; a token
// without them arrives without them.
func TestTokenScopesAndToolsReachTheRegion(t *testing.T) {
	expires := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		tok  *platform.Token
	}{
		{"scoped and narrowed", &platform.Token{ID: "t-agent", Org: "default", Role: platform.RoleDeveloper, Namespaces: []string{"acme"},
			MemberRole: platform.RoleAdmin, User: "alice", Kind: platform.TokenAPI, ExpiresAt: &expires,
			Scopes: []string{"mail:read", "*"}, Tools: []string{"mail.Mail.Read", "billing.*"}}},
		{"neither", &platform.Token{ID: "t-plain", Org: "default", Role: platform.RoleViewer, Kind: platform.TokenAPI}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runtimeapi.TokenFromProto(runtimeapi.TokenToProto(tt.tok)); !reflect.DeepEqual(got, tt.tok) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tt.tok)
			}
			mux := http.NewServeMux()
			mux.Handle(runtimev1connect.NewControlServiceHandler(&tokenServer{tok: tt.tok}))
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			got, err := runtimeapi.NewControlClient(srv.Client(), srv.URL, "fra1", "region-token").Authenticate(t.Context(), "secret")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.tok) {
				t.Errorf("over the wire:\n got %+v\nwant %+v", got, tt.tok)
			}
		})
	}
}

// callMesh is a Mesh that records the calls made into it.
type callMesh struct {
	platform.Mesh
	mu    sync.Mutex
	calls []platform.CallRequest
}

func (m *callMesh) Call(_ context.Context, req platform.CallRequest) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, req)
	return []byte(`{}`), nil
}

// TestCallCarriesScopes: the control plane's call into a region reaches the region's mesh
// with the caller's scopes and whether the mesh must enforce them, so a scoped endpoint
// is refused there as it is everywhere else.
func TestCallCarriesScopes(t *testing.T) {
	mesh := &callMesh{}
	mux := http.NewServeMux()
	mux.Handle(runtimeapi.NewAgent(runtimeapi.AgentOptions{Mesh: mesh}).Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := runtimeapi.NewAgentClient("fra1", srv.Client(), srv.URL)

	reqs := []platform.CallRequest{
		{Namespace: "acme", Service: "mail", Endpoint: "Mail.Read", Body: []byte(`{"id":1}`), Version: "v2", Timeout: 3 * time.Second,
			Scoped: true, Scopes: []string{"mail:read", "billing:quote"}},
		// Scoped with no scopes: the caller holds none, and a scoped endpoint refuses it.
		{Namespace: "acme", Service: "mail", Endpoint: "Mail.Read", Body: []byte(`{}`), Scoped: true},
		{Namespace: "acme", Service: "mail", Endpoint: "Mail.Ping", Body: []byte(`{}`)},
	}
	for _, req := range reqs {
		if _, err := c.Call(t.Context(), req); err != nil {
			t.Fatal(err)
		}
	}
	mesh.mu.Lock()
	defer mesh.mu.Unlock()
	if !reflect.DeepEqual(mesh.calls, reqs) {
		t.Errorf("the mesh got\n %+v\nwant\n %+v", mesh.calls, reqs)
	}
}
