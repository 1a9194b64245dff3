package client

import (
	"context"
	"net/http"

	platform "github.com/micro/platform"
)

// CreateNamespace creates a namespace whose services run in regions unless a deploy
// names its own (none: the platform's default region): EINVALID for a bad name or an
// unknown region, ECONFLICT if it exists, EFORBIDDEN without an admin token.
func (c *Client) CreateNamespace(ctx context.Context, name string, regions ...string) (*platform.Namespace, error) {
	in := struct {
		Name    string   `json:"name"`
		Regions []string `json:"regions,omitempty"`
	}{name, regions}
	var ns platform.Namespace
	if err := c.do(ctx, http.MethodPost, path("v1", "namespaces"), nil, in, &ns); err != nil {
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
