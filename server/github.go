package server

import (
	"context"

	platform "github.com/micro/platform"
	"github.com/micro/platform/control"
	"github.com/micro/platform/github"
	"github.com/micro/platform/gitops"
	"github.com/micro/platform/oauth"
)

// githubDirectory adapts the control plane's account directory to what the GitHub
// integration asks of it: tokens are issued with the directory's default lifetime.
type githubDirectory struct{ *control.Directory }

func (d githubDirectory) IssueToken(ctx context.Context, userID, org string, kind platform.TokenKind) (github.Issued, error) {
	secret, expires, err := d.Directory.IssueToken(ctx, userID, org, kind, 0)
	return github.Issued{Secret: secret, ExpiresAt: expires}, err
}

// newGitHub returns the GitHub sign-in and team sync of cfg, or nil when it is off.
func (a *App) newGitHub(plane *control.Plane, receiver *gitops.Receiver) (*github.Integration, error) {
	g := a.cfg.GitHub
	if !g.Enabled() {
		return nil, nil
	}
	return github.New(github.Config{
		ClientID: g.ClientID, ClientSecret: g.ClientSecret, RedirectURL: g.RedirectURL,
		WebURL: g.WebURL, APIURL: g.APIURL, SyncToken: g.SyncToken, WebhookSecret: g.WebhookSecret,
		SyncInterval: g.SyncInterval, Organizations: platform.GitHubOrgs(g.Organizations),
		AfterLogin: oauth.ContinuePath, // back to an MCP client's pending authorization, else "/"
	}, githubDirectory{plane.Directory()}, github.Options{Logger: a.logger.With("component", "github"), RepoEvents: appRepoEvents(receiver)})
}

// startGitHub runs the team sync until ctx ends, when GitHub is configured.
func (a *App) startGitHub(ctx context.Context) error {
	if a.github == nil {
		return nil
	}
	return a.github.Start(ctx)
}
