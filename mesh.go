package platform

import (
	"context"
	"time"
)

// Endpoint is an RPC endpoint a service registered, e.g. "Helloworld.Call", with the
// shapes of its request and response (nil when the service registered none).
type Endpoint struct {
	Name     string            `json:"name"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Request  *Value            `json:"request,omitempty"`
	Response *Value            `json:"response,omitempty"`
}

// Value is a field of an endpoint's request or response, as go-micro's registry
// describes it: Name is the field's JSON name (the Go type's name for the request or
// response itself), Type its Go type ("string", "[]string", "Address"; "" for an
// anonymous struct), and Values the fields of a struct.
type Value struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Values []*Value `json:"values,omitempty"`
}

// Bounds of a Value made by ConvertValue. A service registers whatever shapes it likes
// in its namespace's registry, and the platform shows them to others (the dashboard
// builds a form from them), so a shape is cut to a size a form can be.
const (
	// MaxValueDepth is how many levels of fields below the request or response itself
	// are kept (go-micro's own extractor stops at two).
	MaxValueDepth = 8
	// MaxValueFields is how many fields below the request or response itself are kept
	// in all.
	MaxValueFields = 256
)

// ConvertValue copies v, a tree of fields in another form (go-micro's registry.Value,
// the runtime API's protobuf message), into a Value; fields returns the name, type and
// fields of one node. It keeps at most MaxValueDepth levels and MaxValueFields fields,
// the first ones in depth-first order, and drops the rest. nil when v is nil.
func ConvertValue[T comparable](v T, fields func(T) (name, typ string, values []T)) *Value {
	budget := MaxValueFields
	var convert func(v T, depth int) *Value
	convert = func(v T, depth int) *Value {
		name, typ, values := fields(v)
		out := &Value{Name: name, Type: typ}
		if depth == MaxValueDepth {
			return out
		}
		for _, c := range values {
			var zero T
			if c == zero {
				continue
			}
			if budget == 0 {
				break
			}
			budget--
			out.Values = append(out.Values, convert(c, depth+1))
		}
		return out
	}
	var zero T
	if v == zero {
		return nil
	}
	return convert(v, 0)
}

// RegistryNode is one registered node of a service in its namespace's registry.
type RegistryNode struct {
	ID       string            `json:"id"`
	Version  string            `json:"version"`
	Address  string            `json:"address"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// RegisteredService is a service as its namespace's go-micro registry knows it.
type RegisteredService struct {
	Name      string         `json:"name"`
	Nodes     []RegistryNode `json:"nodes"`
	Endpoints []Endpoint     `json:"endpoints"`
}

// CallRequest is one RPC into a namespace, with a JSON body.
type CallRequest struct {
	Namespace string
	Service   string
	Endpoint  string
	Body      []byte
	// Version, when set, routes only to nodes of that version (Micro-Version header).
	Version string
	Timeout time.Duration
	// Scoped makes the mesh enforce the scopes the endpoint declares (go-micro's
	// "scopes" endpoint metadata, read from the registry entry the call is routed by)
	// against Scopes, the caller's: EFORBIDDEN, nothing called, when the endpoint
	// declares some and Scopes holds none of them (ScopesAllow).
	Scoped bool
	Scopes []string
}

// Mesh gives each namespace its own go-micro discovery, messaging and RPC space (one NATS
// account each) and lets the platform act inside it.
type Mesh interface {
	// EnsureNamespace creates the namespace's account and credentials if missing.
	// Idempotent.
	EnsureNamespace(ctx context.Context, ns string) error
	// RemoveNamespace revokes the namespace's account. Idempotent.
	RemoveNamespace(ctx context.Context, ns string) error
	// InstanceEnv is the MICRO_* environment that wires a go-micro service into ns:
	// registry, broker and transport over the namespace's NATS account.
	InstanceEnv(ns string) (map[string]string, error)
	// Services lists what is registered in ns; with service set, only that service
	// (ENOTFOUND when nothing of it is registered).
	Services(ctx context.Context, ns, service string) ([]*RegisteredService, error)
	// Call makes one RPC with a JSON body and returns the JSON response. Errors carry a
	// code mapped from the go-micro error: ENOTFOUND for an unknown service or endpoint,
	// ETIMEOUT, EUNAVAILABLE, EINVALID for a 400 from the handler, and so on; the message
	// is the handler's detail.
	Call(ctx context.Context, req CallRequest) ([]byte, error)
	// Health calls the node's health check through the namespace's transport; nil when
	// healthy.
	Health(ctx context.Context, ns string, node RegistryNode) error
}
