package client

import (
	"context"
	"net/http"

	platform "github.com/micro/platform"
)

// ListTools returns the MCP tools of namespace ns ordered by name: one per endpoint of
// each registered service, as an agent connected to the namespace's MCP endpoint sees
// them, without those the client's token may not call. ENOTFOUND for an unknown
// namespace, EFORBIDDEN for one the token does not reach.
func (c *Client) ListTools(ctx context.Context, ns string) ([]platform.Tool, error) {
	var out struct {
		Tools []platform.Tool `json:"tools"`
	}
	if err := c.do(ctx, http.MethodGet, nsPath(ns, "tools"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Tools, nil
}
