package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	platform "github.com/micro/platform"
)

// Whoami returns the caller's token, user, organisation and effective role.
func (c *Client) Whoami(ctx context.Context) (*platform.Whoami, error) {
	var out platform.Whoami
	if err := c.do(ctx, http.MethodGet, path("v1", "whoami"), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListUsers returns the members of the caller's organisation, by login.
func (c *Client) ListUsers(ctx context.Context) ([]*platform.Member, error) {
	var out struct {
		Users []*platform.Member `json:"users"`
	}
	if err := c.do(ctx, http.MethodGet, path("v1", "users"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Users, nil
}

// CreateUser creates a local user in the caller's organisation and returns them with the
// secret of their first token, shown only this once: owners only; ECONFLICT when the
// login is taken.
func (c *Client) CreateUser(ctx context.Context, req platform.CreateUserRequest) (*platform.Member, string, error) {
	var out struct {
		User   *platform.Member `json:"user"`
		Secret string           `json:"secret"`
	}
	p := path("v1", "users")
	if err := c.do(ctx, http.MethodPost, p, nil, req, &out); err != nil {
		return nil, "", err
	}
	if out.User == nil || out.Secret == "" {
		return nil, "", c.badResponse(http.MethodPost, p, errMissingFields)
	}
	return out.User, out.Secret, nil
}

// SetUserRole changes a member's role: owners only; ECONFLICT for the last owner.
func (c *Client) SetUserRole(ctx context.Context, login string, role platform.Role) (*platform.Member, error) {
	var out platform.Member
	in := struct {
		Role platform.Role `json:"role"`
	}{role}
	if err := c.do(ctx, http.MethodPut, path("v1", "users", login, "role"), nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetUserDisabled disables a user (their tokens and sessions stop working at once) or
// enables them again: owners only.
func (c *Client) SetUserDisabled(ctx context.Context, login string, disabled bool) (*platform.Member, error) {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	var out platform.Member
	if err := c.do(ctx, http.MethodPost, path("v1", "users", login, verb), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AuditPage is one page of the audit log. NextBefore, when not 0, is the BeforeID of the
// next, older page.
type AuditPage struct {
	Entries    []*platform.AuditEntry `json:"entries"`
	NextBefore int64                  `json:"next_before,omitempty"`
}

// ListAudit returns a page of the caller's organisation's audit log, newest first:
// admins only. f.Org is ignored (the caller's organisation is used).
func (c *Client) ListAudit(ctx context.Context, f platform.AuditFilter) (*AuditPage, error) {
	q := url.Values{}
	if f.Actor != "" {
		q.Set("actor", f.Actor)
	}
	if f.Action != "" {
		q.Set("action", f.Action)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339))
	}
	if f.BeforeID > 0 {
		q.Set("before", strconv.FormatInt(f.BeforeID, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out AuditPage
	if err := c.do(ctx, http.MethodGet, path("v1", "audit"), q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GitHubLinks returns the GitHub teams linked to the caller's organisation: admins only.
func (c *Client) GitHubLinks(ctx context.Context) ([]*platform.GitHubLink, error) {
	var out struct {
		Links []*platform.GitHubLink `json:"links"`
	}
	if err := c.do(ctx, http.MethodGet, path("v1", "org", "github"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Links, nil
}

// SetGitHubLinks replaces the organisation's GitHub team links: owners only.
func (c *Client) SetGitHubLinks(ctx context.Context, links []*platform.GitHubLink) ([]*platform.GitHubLink, error) {
	in := struct {
		Links []*platform.GitHubLink `json:"links"`
	}{links}
	var out struct {
		Links []*platform.GitHubLink `json:"links"`
	}
	if err := c.do(ctx, http.MethodPut, path("v1", "org", "github"), nil, in, &out); err != nil {
		return nil, err
	}
	return out.Links, nil
}
