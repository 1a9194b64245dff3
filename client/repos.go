package client

import (
	"context"
	"net/http"

	platform "github.com/micro/platform"
)

// LinkRepo links a GitHub repository's branch to req.Namespace (admins of it): every
// push then deploys the services it changed. It returns the link and what GitHub needs,
// whose webhook secret the server shows only this once. ECONFLICT if the namespace links
// that repository and branch already.
func (c *Client) LinkRepo(ctx context.Context, req platform.LinkRepoRequest) (*platform.RepoLink, *platform.LinkSetup, error) {
	var out struct {
		Link  *platform.RepoLink  `json:"link"`
		Setup *platform.LinkSetup `json:"setup"`
	}
	p := nsPath(req.Namespace, "repos")
	if err := c.do(ctx, http.MethodPost, p, nil, req, &out); err != nil {
		return nil, nil, err
	}
	if out.Link == nil || out.Setup == nil {
		return nil, nil, c.badResponse(http.MethodPost, p, errMissingFields)
	}
	return out.Link, out.Setup, nil
}

// ListRepoLinks returns the repository links of namespace ns, or of every namespace the
// caller reaches with ns "", oldest first, each with its newest webhook delivery.
func (c *Client) ListRepoLinks(ctx context.Context, ns string) ([]*platform.RepoLink, error) {
	var out struct {
		Links []*platform.RepoLink `json:"links"`
	}
	p := path("v1", "repos")
	if ns != "" {
		p = nsPath(ns, "repos")
	}
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Links, nil
}

// UnlinkRepo deletes a link of namespace ns (and the webhook the platform installed for
// it): ENOTFOUND if the namespace has no link id.
func (c *Client) UnlinkRepo(ctx context.Context, ns, id string) error {
	return c.do(ctx, http.MethodDelete, nsPath(ns, "repos", id), nil, nil, nil)
}

// ExchangeActionsToken trades a GitHub Actions OIDC token (the JWT a job with
// `permissions: id-token: write` gets) for a short-lived platform token narrowed to the
// namespace linked to the job's repository and branch. It needs no platform token: a
// client made without WithToken will do. EUNAUTHENTICATED when the platform refuses the
// token, EUNAVAILABLE when it has no GitHub Actions sign-in.
func (c *Client) ExchangeActionsToken(ctx context.Context, idToken string) (*platform.ActionsToken, error) {
	in := struct {
		Token string `json:"token"`
	}{idToken}
	var out platform.ActionsToken
	p := path("v1", "auth", "github-actions")
	if err := c.do(ctx, http.MethodPost, p, nil, in, &out); err != nil {
		return nil, err
	}
	if out.Token == nil || out.Secret == "" {
		return nil, c.badResponse(http.MethodPost, p, errMissingFields)
	}
	return &out, nil
}
