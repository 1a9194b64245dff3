package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	gh "github.com/google/go-github/v93/github"

	platform "github.com/micro/platform"
)

// perPage is the page size of list calls: GitHub's maximum, so that large teams take
// few requests.
const perPage = 100

// apiTimeout bounds each GitHub API request.
const apiTimeout = 30 * time.Second

// newAPIClient returns a go-github client for token against cfg's API URL.
func newAPIClient(cfg Config, hc *http.Client, token string) (*gh.Client, error) {
	api := cfg.apiURL()
	opts := []gh.ClientOptionsFunc{
		gh.WithURLs(&api, &api),
		gh.WithUserAgent("micro-platform"),
		gh.WithHTTPClient(hc),
	}
	if token != "" {
		opts = append(opts, gh.WithAuthToken(token))
	}
	c, err := gh.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("github client: %w", err)
	}
	return c, nil
}

// account reads the user a token belongs to and the teams they are in, as
// "org/slug" keys. It needs read:org for private teams.
func account(ctx context.Context, c *gh.Client) (Identity, map[string]bool, error) {
	u, _, err := c.Users.Get(ctx, "")
	if err != nil {
		return Identity{}, nil, apiError("read the GitHub user", err)
	}
	id := Identity{ID: u.GetID(), Login: u.GetLogin(), Name: u.GetName(), Email: u.GetEmail()}
	teams := map[string]bool{}
	opts := &gh.ListOptions{PerPage: perPage}
	for {
		page, resp, err := c.Teams.ListUserTeams(ctx, opts)
		if err != nil {
			return Identity{}, nil, apiError("list the user's GitHub teams", err)
		}
		for _, t := range page {
			teams[teamKey(t.GetOrganization().GetLogin(), t.GetSlug())] = true
		}
		if resp.NextPage == 0 {
			return id, teams, nil
		}
		opts.Page = resp.NextPage
	}
}

// teamMembers lists every member of a team, following pagination.
func teamMembers(ctx context.Context, c *gh.Client, org, slug string) ([]Identity, error) {
	var out []Identity
	opts := &gh.TeamListTeamMembersOptions{ListOptions: gh.ListOptions{PerPage: perPage}}
	for {
		page, resp, err := c.Teams.ListTeamMembersBySlug(ctx, org, slug, opts)
		if err != nil {
			return nil, apiError(fmt.Sprintf("list the members of GitHub team %s/%s", org, slug), err)
		}
		for _, u := range page {
			out = append(out, Identity{ID: u.GetID(), Login: u.GetLogin()})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// RateLimitedError says GitHub's rate limit is exhausted until Reset.
type RateLimitedError struct {
	Reset time.Time
}

// Error implements error.
func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("GitHub API rate limit exhausted until %s", e.Reset.UTC().Format(time.RFC3339))
}

// apiError turns a go-github error into a platform error: EUNAUTHENTICATED for a
// revoked or invalid token, EUNAVAILABLE (wrapping a *RateLimitedError) when rate
// limited, ENOTFOUND for a missing team. The messages never hold the token.
func apiError(what string, err error) error {
	var rl *gh.RateLimitError
	if errors.As(err, &rl) {
		reset := rl.Rate.Reset.Time
		if reset.IsZero() {
			reset = time.Now().Add(time.Minute)
		}
		return errors.Join(platform.Errorf(platform.EUNAVAILABLE, "%s: GitHub's API rate limit is exhausted until %s", what, reset.UTC().Format(time.RFC3339)).
			WithHint("wait until then; the sync resumes by itself"), &RateLimitedError{Reset: reset})
	}
	var abuse *gh.AbuseRateLimitError
	if errors.As(err, &abuse) {
		reset := time.Now().Add(time.Minute)
		if abuse.RetryAfter != nil {
			reset = time.Now().Add(*abuse.RetryAfter)
		}
		return errors.Join(platform.Errorf(platform.EUNAVAILABLE, "%s: GitHub's secondary rate limit was hit; retry after %s", what, reset.UTC().Format(time.RFC3339)),
			&RateLimitedError{Reset: reset})
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		switch er.Response.StatusCode {
		case http.StatusUnauthorized:
			return platform.Errorf(platform.EUNAUTHENTICATED, "%s: GitHub refused the token (revoked, expired or invalid)", what).
				WithHint("sign in again; for the sync, replace the GitHub sync token in the server configuration")
		case http.StatusNotFound:
			return platform.Errorf(platform.ENOTFOUND, "%s: not found on GitHub, or the token may not see it", what).
				WithHint("check the organisation and team names, and that the token has the read:org scope")
		case http.StatusForbidden:
			return platform.Errorf(platform.EFORBIDDEN, "%s: GitHub refused access: %s", what, er.Message).
				WithHint("the token needs the read:org scope, and the OAuth app may need the organisation's approval")
		}
		return platform.Errorf(platform.EUNAVAILABLE, "%s: GitHub answered %d: %s", what, er.Response.StatusCode, er.Message)
	}
	return fmt.Errorf("%w: %w", platform.Errorf(platform.EUNAVAILABLE, "%s: GitHub could not be reached", what), err)
}

// Identity is a GitHub account as the API reports it. ID survives renames; Login may
// change.
type Identity struct {
	ID    int64
	Login string
	Name  string
	Email string
}

// checkAppToken asks GitHub whether token was issued to this platform's OAuth app
// (POST /applications/{client_id}/token, authenticated with the client ID and secret),
// so that a personal access token or another app's token cannot be traded for a
// platform token. EUNAUTHENTICATED when it was not (GitHub answers 404, or names another
// app); EUNAVAILABLE when GitHub cannot be asked or refuses the app's credentials. The
// errors never hold the token nor the client secret.
func checkAppToken(ctx context.Context, cfg Config, hc *http.Client, token string) error {
	api := cfg.apiURL()
	origin, err := url.Parse(api)
	if err != nil {
		return fmt.Errorf("github API URL: %w", err)
	}
	origin.Path = ""
	tr := &gh.BasicAuthTransport{Username: cfg.ClientID, Password: cfg.ClientSecret, AllowedOrigins: []*url.URL{origin}, Transport: hc.Transport}
	c, err := gh.NewClient(gh.WithURLs(&api, &api), gh.WithUserAgent("micro-platform"), gh.WithHTTPClient(&http.Client{Transport: tr, Timeout: hc.Timeout}))
	if err != nil {
		return fmt.Errorf("github client: %w", err)
	}
	a, _, err := c.Authorizations.Check(ctx, cfg.ClientID, token)
	var er *gh.ErrorResponse
	switch {
	case errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusNotFound:
		return errNotAppToken
	case errors.As(err, &er) && er.Response != nil && er.Response.StatusCode == http.StatusUnauthorized:
		return platform.Errorf(platform.EUNAVAILABLE, "check the GitHub token: GitHub refused the platform's OAuth app credentials").
			WithHint("the operator must check the GitHub client ID and secret")
	case err != nil:
		return apiError("check the GitHub token", err)
	case a.GetApp().GetClientID() != cfg.ClientID:
		return errNotAppToken
	}
	return nil
}

// errNotAppToken refuses a GitHub token not issued to this platform's OAuth app.
var errNotAppToken = platform.Errorf(platform.EUNAUTHENTICATED, "the GitHub token was not issued to this platform's GitHub app (a personal access token or another app's token)").
	WithHint("sign in with `platform login --device` or `platform login --github`")
