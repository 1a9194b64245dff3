package http_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	platformhttp "github.com/micro/platform/http"
)

// openAPIDoc is the part of the OpenAPI document the test checks.
type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Parameters  []struct {
			Name string `json:"name"`
			In   string `json:"in"`
		} `json:"parameters"`
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

// gatewayRoute is owned by the gateway package and documented in docs/architecture.md.
const gatewayRoute = "/api/*"

// TestOpenAPIMatchesRouter fails when a route lacks documentation or the document
// describes a route the router does not have.
func TestOpenAPIMatchesRouter(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &fakeControlPlane{}, func(o *platformhttp.Options) {
		o.Gateway = http.NotFoundHandler()
		o.Regions = http.NotFoundHandler()
	})
	resp, body := ts.do(t, "GET", "/v1/openapi.json", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc openAPIDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("OpenAPI document is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("openapi = %q, want 3.0.x", doc.OpenAPI)
	}

	var routed []string
	routes, ok := ts.api.Handler().(chi.Routes)
	if !ok {
		t.Fatal("Handler() is not a chi router")
	}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		// The agents' routes speak the runtime API (proto/platform/runtime/v1), not this one.
		agent := platformhttp.RoutePolicy[method+" "+route].Agent
		if route != gatewayRoute && !strings.HasPrefix(route, "/api/") && !agent {
			routed = append(routed, strings.ToLower(method)+" "+route)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, method+" "+path)
		}
	}
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is not in http/openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("http/openapi.json documents %q, which the router does not serve", d)
		}
	}
	if len(routed) < 20 {
		t.Fatalf("walked only %d routes: %v", len(routed), routed)
	}
}

// TestOpenAPIDocumentIsComplete checks every operation names its path parameters, has
// responses, and that every schema reference resolves.
func TestOpenAPIDocumentIsComplete(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, &fakeControlPlane{}, nil)
	_, body := ts.do(t, "GET", "/v1/openapi.json", "", nil)
	var doc openAPIDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{(\w+)\}`)
	ids := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			name := method + " " + path
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s: missing or duplicate operationId %q", name, op.OperationID)
			}
			ids[op.OperationID] = true
			if len(op.Responses) < 2 || op.Responses["default"] == nil {
				t.Errorf("%s: want a success response and the default error response", name)
			}
			for _, m := range param.FindAllStringSubmatch(path, -1) {
				if !slices.ContainsFunc(op.Parameters, func(p struct {
					Name string `json:"name"`
					In   string `json:"in"`
				}) bool {
					return p.Name == m[1] && p.In == "path"
				}) {
					t.Errorf("%s: path parameter %s is not declared", name, m[1])
				}
			}
		}
	}
	for _, m := range regexp.MustCompile(`"#/components/schemas/(\w+)"`).FindAllStringSubmatch(string(body), -1) {
		if doc.Components.Schemas[m[1]] == nil {
			t.Errorf("reference to undefined schema %s", m[1])
		}
	}
	if doc.Components.Schemas["Error"] == nil {
		t.Error("the error schema is not described")
	}
}
