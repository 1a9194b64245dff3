package client

import (
	"context"
	"net/http"

	platform "github.com/micro/platform"
)

// createTokenRequest is the body of POST /v1/tokens: the TTL travels as a Go duration
// string ("720h").
type createTokenRequest struct {
	Name       string   `json:"name"`
	Admin      bool     `json:"admin"`
	Namespaces []string `json:"namespaces,omitempty"`
	TTL        string   `json:"ttl,omitempty"`
}

// CreateToken creates a token and returns it with its secret, which the server shows only
// this once. Admin only.
func (c *Client) CreateToken(ctx context.Context, req platform.CreateTokenRequest) (*platform.Token, string, error) {
	in := createTokenRequest{Name: req.Name, Admin: req.Admin, Namespaces: req.Namespaces}
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

// ListTokens returns every token, oldest first. Admin only.
func (c *Client) ListTokens(ctx context.Context) ([]*platform.Token, error) {
	var out struct {
		Tokens []*platform.Token `json:"tokens"`
	}
	if err := c.do(ctx, http.MethodGet, path("v1", "tokens"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// DeleteToken revokes a token by ID: ENOTFOUND if absent. Admin only.
func (c *Client) DeleteToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, path("v1", "tokens", id), nil, nil, nil)
}
