package platform

import (
	"context"
	"time"
)

// Endpoint is an RPC endpoint a service registered, e.g. "Helloworld.Call".
type Endpoint struct {
	Name     string            `json:"name"`
	Metadata map[string]string `json:"metadata,omitempty"`
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
