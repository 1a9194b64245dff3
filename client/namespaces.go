package client

import (
	"context"
	"net/http"

	platform "github.com/micro/platform"
)

// CreateNamespace creates a namespace: EINVALID for a bad name, ECONFLICT if it exists,
// EFORBIDDEN without an admin token.
func (c *Client) CreateNamespace(ctx context.Context, name string) (*platform.Namespace, error) {
	var ns platform.Namespace
	if err := c.do(ctx, http.MethodPost, path("v1", "namespaces"), nil, map[string]string{"name": name}, &ns); err != nil {
		return nil, err
	}
	return &ns, nil
}

// ListNamespaces returns the namespaces the token may access.
func (c *Client) ListNamespaces(ctx context.Context) ([]*platform.Namespace, error) {
	var out struct {
		Namespaces []*platform.Namespace `json:"namespaces"`
	}
	if err := c.do(ctx, http.MethodGet, path("v1", "namespaces"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Namespaces, nil
}

// DeleteNamespace stops every service of the namespace and removes it: ENOTFOUND if
// absent, EFORBIDDEN without an admin token.
func (c *Client) DeleteNamespace(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, nsPath(name), nil, nil, nil)
}
