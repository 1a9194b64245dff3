package client

import (
	"context"
	"net/http"

	platform "github.com/micro/platform"
)

// createTokenRequest is the body of POST /v1/tokens: the TTL travels as a Go duration
// string ("720h").
type createTokenRequest struct {
	Name       string        `json:"name"`
	Role       platform.Role `json:"role,omitempty"`
	Admin      bool          `json:"admin"`
	Namespaces []string      `json:"namespaces,omitempty"`
	Scopes     []string      `json:"scopes,omitempty"`
	Tools      []string      `json:"tools,omitempty"`
	TTL        string        `json:"ttl,omitempty"`
}

// CreateToken creates a token of the caller and returns it with its secret, which the
// server shows only this once. EINVALID for a bad scope or tool; EFORBIDDEN when the
// role asked for is above the caller's, or a namespace or tool is outside the caller's.
func (c *Client) CreateToken(ctx context.Context, req platform.CreateTokenRequest) (*platform.Token, string, error) {
	in := createTokenRequest{Name: req.Name, Role: req.Role, Admin: req.Admin, Namespaces: req.Namespaces,
		Scopes: req.Scopes, Tools: req.Tools}
	if req.TTL > 0 {
		in.TTL = req.TTL.String()
	}
	var out struct {
		Token  *platform.Token `json:"token"`
		Secret string          `json:"secret"`
	}
	p := path("v1", "tokens")
	if err := c.do(ctx, http.MethodPost, p, nil, in, &out); err != nil {
		return nil, "", err
	}
	if out.Token == nil || out.Secret == "" {
		return nil, "", c.badResponse(http.MethodPost, p, errMissingFields)
	}
	return out.Token, out.Secret, nil
}

// ListTokens returns the caller's tokens (every token of the organisation for admins),
// oldest first.
func (c *Client) ListTokens(ctx context.Context) ([]*platform.Token, error) {
	var out struct {
		Tokens []*platform.Token `json:"tokens"`
	}
	if err := c.do(ctx, http.MethodGet, path("v1", "tokens"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// DeleteToken revokes a token by ID at once: ENOTFOUND if absent; EFORBIDDEN for another
// member's token unless the caller is an admin.
func (c *Client) DeleteToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, path("v1", "tokens", id), nil, nil, nil)
}
