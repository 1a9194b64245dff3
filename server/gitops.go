package server

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"

	platform "github.com/micro/platform"
	"github.com/micro/platform/control"
	"github.com/micro/platform/github"
	"github.com/micro/platform/gitops"
)

// repoReporter reports commit statuses and preview comments with the operator's GitHub
// token (github.Repos, adapted to what the GitOps worker asks).
type repoReporter struct{ *github.Repos }

func (r repoReporter) Status(ctx context.Context, repo, sha string, s gitops.Status) error {
	return r.SetStatus(ctx, repo, sha, github.CommitStatus{State: s.State, Context: s.Context, Description: s.Description, TargetURL: s.TargetURL})
}

func (r repoReporter) Comment(ctx context.Context, repo string, pr int, marker, body string) error {
	_, err := r.UpsertComment(ctx, repo, pr, marker, body)
	return err
}

// actionsVerifier adapts github.OIDCVerifier to the control plane.
type actionsVerifier struct{ *github.OIDCVerifier }

func (v actionsVerifier) VerifyActions(ctx context.Context, raw string) (*platform.ActionsIdentity, error) {
	c, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	return &platform.ActionsIdentity{Repository: c.Repository, RepositoryOwner: c.RepositoryOwner, Ref: c.Ref, SHA: c.SHA,
		Actor: c.Actor, Workflow: c.Workflow, RunID: c.RunID, Expiry: c.Expiry}, nil
}

// gitHubClients returns the GitHub repositories client (nil without a repo token) and
// the GitHub Actions verifier (nil without an OIDC audience) the configuration asks for.
func (a *App) gitHubClients() (*github.Repos, control.ActionsVerifier, error) {
	g := a.cfg.GitHub
	var repos *github.Repos
	if g.RepoToken != "" {
		repos = github.NewRepos(g.APIURL, g.RepoToken, nil)
	}
	if g.OIDCAudience == "" {
		return repos, nil, nil
	}
	v, err := github.NewOIDCVerifier(github.OIDCConfig{Issuer: g.OIDCIssuer, Audience: g.OIDCAudience})
	if err != nil {
		return nil, nil, err
	}
	return repos, actionsVerifier{v}, nil
}

// newGitOps returns the GitOps worker and the webhook receiver of repository links.
func (a *App) newGitOps(plane *control.Plane, repos *github.Repos, secrets gitops.Opener) (*gitops.Worker, *gitops.Receiver) {
	var reporter gitops.Reporter
	if repos != nil {
		reporter = repoReporter{repos}
	}
	log := a.logger.With("component", "gitops")
	w := gitops.NewWorker(gitops.Options{
		Store: a.store, Plane: plane, Reporter: reporter,
		Mirror: &gitops.Mirror{Dir: filepath.Join(a.cfg.DataDir, "gitops"), Token: a.cfg.GitHub.RepoToken,
			TokenHost: gitHubHost(a.cfg.GitHub.WebURL)},
		PublicURL: a.cfg.PublicURL, GitHubWebURL: a.cfg.GitHub.WebURL, MaxPreviews: a.cfg.MaxPreviews,
		Quotas: plane, Logger: log,
	})
	rc := &gitops.Receiver{Store: a.store, Secrets: secrets, Worker: w, Logger: log,
		Audit: func(ctx context.Context, e *platform.AuditEntry) {
			if err := a.store.AppendAudit(ctx, e); err != nil {
				log.Error("audit entry not written", "action", e.Action, "err", err)
			}
		}}
	return w, rc
}

// gitHubHost is the host of GitHub's web URL ("" for github.com).
func gitHubHost(webURL string) string {
	u, err := url.Parse(webURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// appRepoEvents hands the deliveries of the operator's GitHub App (or organisation
// webhook), verified by the GitHub integration, to the receiver.
func appRepoEvents(rc *gitops.Receiver) func(ctx context.Context, event, delivery string, body []byte) (int, string, error) {
	return func(ctx context.Context, event, delivery string, body []byte) (int, string, error) {
		status, msg, err := rc.Accept(ctx, event, delivery, body)
		if err != nil && status == 0 {
			status = http.StatusBadRequest
		}
		return status, msg, err
	}
}
