package platform

import (
	"fmt"
	"slices"
	"strings"
)

// Tool is an endpoint of a registered service as an AI agent sees it over MCP: what
// go-micro's own MCP gateway (`micro mcp`, gateway/mcp) shows for the same endpoint —
// the same name, description, input schema and examples — so an agent moved from
// `micro run` to the platform finds the tools it knew.
type Tool struct {
	// Name is "service.Type.Method", e.g. "helloworld.Helloworld.Call".
	Name     string `json:"name"`
	Service  string `json:"service"`
	Endpoint string `json:"endpoint"`
	// Description is the handler's doc comment (endpoint metadata "description"), or
	// "Call <Endpoint> on <service> service".
	Description string `json:"description"`
	// InputSchema is a JSON Schema object of the request's fields; its "examples" hold
	// the handler's `@example` JSON (endpoint metadata "example").
	InputSchema map[string]any `json:"input_schema"`
	// Scopes are the scopes the endpoint requires (server.WithEndpointScopes): a caller
	// must hold one of them.
	Scopes []string `json:"scopes,omitempty"`
}

// Endpoint metadata keys go-micro sets on registered endpoints.
const (
	EndpointDescription = "description"
	EndpointExample     = "example"
	EndpointScopes      = "scopes"
)

// ToolName is the tool of endpoint (Type.Method) of service: "service.Type.Method".
func ToolName(service, endpoint string) string { return service + "." + endpoint }

// EndpointScopesOf returns the scopes an endpoint's metadata declares, nil for none.
func EndpointScopesOf(md map[string]string) []string {
	var out []string
	for s := range strings.SplitSeq(md[EndpointScopes], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ToolsOf returns the tools of the endpoints of services, ordered by name.
func ToolsOf(services []*RegisteredService) []Tool {
	var out []Tool
	for _, s := range services {
		for _, ep := range s.Endpoints {
			out = append(out, ToolOf(s.Name, ep))
		}
	}
	slices.SortFunc(out, func(a, b Tool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ToolOf returns the tool of one endpoint of service, as go-micro's MCP gateway makes it.
func ToolOf(service string, ep Endpoint) Tool {
	t := Tool{
		Name:        ToolName(service, ep.Name),
		Service:     service,
		Endpoint:    ep.Name,
		Description: fmt.Sprintf("Call %s on %s service", ep.Name, service),
		InputSchema: inputSchema(ep.Request),
		Scopes:      EndpointScopesOf(ep.Metadata),
	}
	if d := ep.Metadata[EndpointDescription]; d != "" {
		t.Description = d
	}
	if ex := ep.Metadata[EndpointExample]; ex != "" {
		t.InputSchema["examples"] = []string{ex}
	}
	return t
}

// inputSchema is the JSON Schema of a request's fields, as go-micro's MCP gateway
// writes it: an object with a property per field, typed from the Go type.
func inputSchema(v *Value) map[string]any {
	props := map[string]any{}
	if v != nil {
		for _, f := range v.Values {
			if f == nil || f.Name == "" {
				continue
			}
			props[f.Name] = map[string]any{
				"type":        jsonType(f.Type),
				"description": f.Name + " field",
			}
		}
	}
	return map[string]any{"type": "object", "properties": props}
}

// jsonType maps a Go type name to its JSON Schema type, as go-micro's MCP gateway does.
func jsonType(goType string) string {
	switch goType {
	case "string":
		return "string"
	case "int", "int32", "int64", "uint", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	case "bool":
		return "boolean"
	default:
		return "object"
	}
}
