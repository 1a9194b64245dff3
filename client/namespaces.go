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
	return c.createNamespace(ctx, name, false, regions)
}

// CreateDevNamespace creates a dev namespace (platform.Namespace.Dev), for `platform
// dev`; otherwise as CreateNamespace.
func (c *Client) CreateDevNamespace(ctx context.Context, name string, regions ...string) (*platform.Namespace, error) {
	return c.createNamespace(ctx, name, true, regions)
}

func (c *Client) createNamespace(ctx context.Context, name string, dev bool, regions []string) (*platform.Namespace, error) {
	in := struct {
		Name    string   `json:"name"`
		Regions []string `json:"regions,omitempty"`
		Dev     bool     `json:"dev,omitempty"`
	}{name, regions, dev}
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

// GetNamespace returns the namespace name among those the token may access: ENOTFOUND
// when it is not one of them.
func (c *Client) GetNamespace(ctx context.Context, name string) (*platform.Namespace, error) {
	list, err := c.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	for _, ns := range list {
		if ns.Name == name {
			return ns, nil
		}
	}
	return nil, platform.Errorf(platform.ENOTFOUND, "namespace %q not found", name).
		WithHint("create one for development with `platform namespaces create %s --dev`", name)
}
