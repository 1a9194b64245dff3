package runtimeapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtimeapi"
)

// registryMesh is a Mesh whose registry holds services; nothing else of it is used.
type registryMesh struct {
	platform.Mesh
	services []*platform.RegisteredService
}

func (m *registryMesh) Services(context.Context, string, string) ([]*platform.RegisteredService, error) {
	return m.services, nil
}

// deep returns a value whose fields nest n levels deep.
func deep(n int) *platform.Value {
	v := &platform.Value{Name: "f", Type: "T"}
	if n > 0 {
		v.Values = []*platform.Value{deep(n - 1)}
	}
	return v
}

func levels(v *platform.Value) int {
	if v == nil || len(v.Values) == 0 {
		return 0
	}
	return 1 + levels(v.Values[0])
}

// TestServicesRoundTrip: what an agent's mesh registered reaches the control plane's
// client unchanged through the protobuf encoding, endpoints with the shapes of their
// request and response, and a shape past the platform's bounds is cut on arrival.
func TestServicesRoundTrip(t *testing.T) {
	person := platform.Endpoint{
		Name:     "People.Call",
		Metadata: map[string]string{"example": `{"name":"Alice"}`, "description": "Call greets a person."},
		Request: &platform.Value{Name: "PersonRequest", Type: "PersonRequest", Values: []*platform.Value{
			{Name: "name", Type: "string"},
			{Name: "address", Type: "Address", Values: []*platform.Value{{Name: "city", Type: "string"}}},
			{Name: "tags", Type: "[]string"},
		}},
		Response: &platform.Value{Name: "PersonResponse", Type: "PersonResponse"},
	}
	bare := platform.Endpoint{Name: "People.Ping"}
	tooDeep := platform.Endpoint{Name: "People.Deep", Request: deep(3 * platform.MaxValueDepth)}
	mesh := &registryMesh{services: []*platform.RegisteredService{{
		Name:      "people",
		Nodes:     []platform.RegistryNode{{ID: "people-1", Version: "v1", Address: "_INBOX.x", Metadata: map[string]string{"protocol": "mucp"}}},
		Endpoints: []platform.Endpoint{person, bare, tooDeep},
	}}}
	mux := http.NewServeMux()
	mux.Handle(runtimeapi.NewAgent(runtimeapi.AgentOptions{Mesh: mesh}).Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := runtimeapi.NewAgentClient("fra1", srv.Client(), srv.URL)

	got, err := c.Services(context.Background(), "acme", "people")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Endpoints) != 3 {
		t.Fatalf("Services = %s", mustJSON(t, got))
	}
	eps := got[0].Endpoints
	for i, want := range []platform.Endpoint{person, bare} {
		if !reflect.DeepEqual(eps[i], want) {
			t.Errorf("endpoint %d\n got %s\nwant %s", i, mustJSON(t, eps[i]), mustJSON(t, want))
		}
	}
	if eps[2].Name != "People.Deep" || levels(eps[2].Request) != platform.MaxValueDepth {
		t.Errorf("a request %d levels deep arrived %d levels deep, want %d",
			3*platform.MaxValueDepth, levels(eps[2].Request), platform.MaxValueDepth)
	}
	if !reflect.DeepEqual(got[0].Nodes, mesh.services[0].Nodes) {
		t.Errorf("nodes = %+v", got[0].Nodes)
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
