package client

import (
	"context"
	"errors"
	"net/http"

	platform "github.com/micro/platform"
)

// ListRegions returns the regions the control plane can deploy to, with their health
// and what their agents reported.
func (c *Client) ListRegions(ctx context.Context) ([]*platform.Region, error) {
	var out struct {
		Regions []*platform.Region `json:"regions"`
	}
	if err := c.do(ctx, http.MethodGet, path("v1", "regions"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Regions, nil
}

// RegisterRegion creates or updates the region named r.Name and returns it as stored:
// EINVALID for a bad region. Admin only.
func (c *Client) RegisterRegion(ctx context.Context, r *platform.Region) (*platform.Region, error) {
	in := struct {
		Provider        string `json:"provider"`
		Location        string `json:"location,omitempty"`
		GatewayEndpoint string `json:"gateway_endpoint,omitempty"`
		KubeconfigRef   string `json:"kubeconfig_ref,omitempty"`
	}{r.Provider, r.Location, r.GatewayEndpoint, r.KubeconfigRef}
	var out platform.Region
	if err := c.do(ctx, http.MethodPut, path("v1", "regions", r.Name), nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteRegion unregisters a region: ENOTFOUND if absent. Admin only.
func (c *Client) DeleteRegion(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, path("v1", "regions", name), nil, nil, nil)
}

// IssueRegionToken returns a new token for region name's agent (`platform agent --token`),
// shown only this once; the region's previous token is revoked and its agent
// disconnected. ENOTFOUND if there is no such region. Admin only.
func (c *Client) IssueRegionToken(ctx context.Context, name string) (string, error) {
	var out struct {
		Region string `json:"region"`
		Token  string `json:"token"`
	}
	p := path("v1", "regions", name, "token")
	if err := c.do(ctx, http.MethodPost, p, nil, nil, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", c.badResponse(http.MethodPost, p, errors.New("no token in the response"))
	}
	return out.Token, nil
}
