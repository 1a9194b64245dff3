package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
	"github.com/micro/platform/internal/refusal"
)

// HookInstaller adds and removes a repository's webhook on GitHub with the operator's
// token (package github's Repos).
type HookInstaller interface {
	InstallHook(ctx context.Context, repo, url, secret string, events []string) (int64, error)
	DeleteHook(ctx context.Context, repo string, id int64) error
}

// ActionsVerifier verifies a GitHub Actions OIDC token (package github's OIDCVerifier):
// EUNAUTHENTICATED with the precise reason, EUNAVAILABLE when the issuer is unreachable.
type ActionsVerifier interface {
	VerifyActions(ctx context.Context, raw string) (*platform.ActionsIdentity, error)
}

// repoName is GitHub's owner/name form.
var repoName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$`)

// hookEvents are the events a link's webhook sends.
var hookEvents = []string{"push", "pull_request"}

// LinkRepo implements platform.ControlPlane.
func (p *Plane) LinkRepo(ctx context.Context, req platform.LinkRepoRequest) (*platform.RepoLink, *platform.LinkSetup, error) {
	ns, err := p.namespaceFor(ctx, authz.RepoLink, req.Namespace)
	if err != nil {
		return nil, nil, err
	}
	if req.Branch == "" {
		req.Branch = "main"
	}
	var problems []string
	if !repoName.MatchString(req.Repo) || strings.HasSuffix(req.Repo, ".git") {
		problems = append(problems, fmt.Sprintf("repository %q: want OWNER/NAME as on GitHub", req.Repo))
	}
	src := platform.Source{Kind: platform.SourceGit, URL: "https://example.invalid/x.git", Ref: req.Branch, Path: req.Path}
	if req.CloneURL != "" {
		src.URL = req.CloneURL
	}
	for _, pr := range src.Problems() {
		pr = strings.Replace(pr, "source.url", "clone URL", 1)
		pr = strings.Replace(pr, "source.ref", "branch", 1)
		problems = append(problems, strings.Replace(pr, "source.path", "path", 1))
	}
	if req.CloneURL != "" && src.PublicURL() != req.CloneURL {
		problems = append(problems, "clone URL: no credentials in it (the operator's GitHub token is used for GitHub)")
	}
	if len(problems) > 0 {
		return nil, nil, platform.Errorf(platform.EINVALID, "invalid link: %s", strings.Join(problems, "; "))
	}
	// The repository is fetched, and its webhook installed, with the operator's GitHub
	// token, which may reach other customers' private repositories: an organisation links
	// only repositories of the GitHub owners the operator gave it, as for team links.
	owner, _, _ := strings.Cut(req.Repo, "/")
	if !p.opts.GitHubOrgs.Allows(owner, orgOf(ns)) {
		err := platform.Errorf(platform.EFORBIDDEN, "organisation %s may not link repositories of GitHub owner %s", orgOf(ns), owner).
			WithHint("the operator maps GitHub owners to organisations in github.organizations")
		return nil, nil, p.audited(ctx, authz.RepoLink, "namespace/"+ns.Name, err)
	}
	tok := platform.TokenFromContext(ctx)
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	secret := hex.EncodeToString(raw[:])
	l := &platform.RepoLink{
		ID: platform.NewID("l"), Org: orgOf(ns), Namespace: ns.Name, Repo: req.Repo, Branch: req.Branch,
		Path: strings.Trim(req.Path, "/"), CloneURL: req.CloneURL, WebhookSecret: p.opts.Secrets.Seal(secret),
		Previews: !req.NoPreviews, CreatedBy: tok.UserID, CreatedAt: p.opts.Clock.Now().UTC(),
	}
	if l.CreatedBy == "" {
		return nil, nil, platform.Errorf(platform.EINVALID, "token %q has no user: a link acts for the person who made it", tok.Name).
			WithHint("link with a token of your own user")
	}
	setup := &platform.LinkSetup{WebhookURL: p.webhookURL(l.ID), WebhookSecret: secret}
	// Refuse a duplicate before GitHub gets a webhook for it.
	if dup, err := p.store.ListRepoLinks(ctx, l.Org); err != nil {
		return nil, nil, err
	} else if slices.ContainsFunc(dup, func(o *platform.RepoLink) bool {
		return o.Namespace == l.Namespace && strings.EqualFold(o.Repo, l.Repo) && o.Branch == l.Branch
	}) {
		return nil, nil, platform.Errorf(platform.ECONFLICT, "namespace %s already links %s@%s", l.Namespace, l.Repo, l.Branch)
	}
	switch {
	case p.opts.Hooks == nil:
		setup.Note = "the platform has no GitHub token (github.repo_token): add the webhook by hand"
	case p.opts.PublicURL == "":
		setup.Note = "the platform does not know its public URL (public_url): add the webhook by hand with the platform's address"
	default:
		id, err := p.opts.Hooks.InstallHook(ctx, l.Repo, setup.WebhookURL, secret, hookEvents)
		if err != nil {
			setup.Note = "the platform could not add the webhook: " + platform.ErrorMessage(err) + "; add it by hand"
			break
		}
		l.HookID, setup.HookInstalled = id, true
	}
	if err := p.store.CreateRepoLink(ctx, l); err != nil {
		if l.HookID != 0 {
			if derr := p.opts.Hooks.DeleteHook(ctx, l.Repo, l.HookID); derr != nil {
				p.logger.Warn("remove the webhook of a link that was not stored", "repo", l.Repo, "err", derr)
			}
		}
		return nil, nil, err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditRepoLink, Target: "namespace/" + ns.Name,
		Detail: fmt.Sprintf("linked %s@%s (path %q, previews %v); webhook installed: %v", l.Repo, l.Branch, l.Path, l.Previews, setup.HookInstalled)})
	return l, setup, nil
}

// webhookURL is where GitHub sends a link's deliveries.
func (p *Plane) webhookURL(id string) string {
	base := strings.TrimSuffix(p.opts.PublicURL, "/")
	if base == "" {
		base = "https://PLATFORM"
	}
	return base + "/webhooks/github/links/" + id
}

// ListRepoLinks implements platform.ControlPlane.
func (p *Plane) ListRepoLinks(ctx context.Context, namespace string) ([]*platform.RepoLink, error) {
	if namespace != "" {
		if err := p.authorizeNamespace(ctx, authz.RepoRead, namespace); err != nil {
			return nil, err
		}
	} else if err := p.authorize(ctx, authz.RepoRead); err != nil {
		return nil, err
	}
	tok := platform.TokenFromContext(ctx)
	all, err := p.store.ListRepoLinks(ctx, tok.OrgName())
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(l *platform.RepoLink) bool {
		return (namespace != "" && l.Namespace != namespace) || !tok.InScope(l.Namespace)
	}), nil
}

// UnlinkRepo implements platform.ControlPlane.
func (p *Plane) UnlinkRepo(ctx context.Context, namespace, id string) error {
	if err := p.authorizeNamespace(ctx, authz.RepoLink, namespace); err != nil {
		return err
	}
	l, err := p.store.GetRepoLink(ctx, id)
	if platform.IsNotFound(err) || (err == nil && l.Namespace != namespace) {
		return platform.Errorf(platform.ENOTFOUND, "no link %q in namespace %q", id, namespace).
			WithHint("`platform repos -n %s` lists the links", namespace)
	} else if err != nil {
		return err
	}
	if err := p.store.DeleteRepoLink(ctx, id); err != nil {
		return err
	}
	if l.HookID != 0 && p.opts.Hooks != nil {
		if err := p.opts.Hooks.DeleteHook(ctx, l.Repo, l.HookID); err != nil {
			p.logger.Warn("remove the webhook of a deleted link", "repo", l.Repo, "hook", l.HookID, "err", err)
		}
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditRepoUnlink, Target: "namespace/" + namespace,
		Detail: fmt.Sprintf("unlinked %s@%s", l.Repo, l.Branch)})
	return nil
}

// actionsTokenTTL is how long a token GitHub Actions gets lives: long enough for a
// deploy job, short enough that a leaked one is soon useless.
const actionsTokenTTL = 15 * time.Minute

// ExchangeActionsToken implements platform.ControlPlane. The token is the link owner's
// (never above developer, capped by their current role, refused once they are
// disabled), narrowed to the namespaces linking the job's repository at its branch.
func (p *Plane) ExchangeActionsToken(ctx context.Context, idToken string) (*platform.ActionsToken, error) {
	if p.opts.Actions == nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "GitHub Actions sign-in is not configured on this platform").
			WithHint("the operator sets github.oidc_audience (PLATFORM_GITHUB_OIDC_AUDIENCE)")
	}
	if !p.exchanges.Allow() {
		return nil, platform.Errorf(platform.EQUOTA, "too many GitHub Actions token exchanges at once").WithHint("try again in a second")
	}
	id, err := p.opts.Actions.VerifyActions(ctx, idToken)
	if err != nil {
		if platform.ErrorCode(err) == platform.EUNAVAILABLE {
			return nil, err
		}
		return nil, p.actionsRefused(ctx, platform.DefaultOrg, "", platform.ErrorMessage(err))
	}
	who := fmt.Sprintf("%s at %s (run %s)", id.Repository, id.Ref, id.RunID)
	org, ok := p.actionsOrg(id.RepositoryOwner)
	if !ok {
		return nil, p.actionsRefused(ctx, platform.DefaultOrg, who, fmt.Sprintf("GitHub owner %s is not allowed on this platform (github.organizations)", id.RepositoryOwner))
	}
	links, err := p.store.ListRepoLinks(ctx, org)
	if err != nil {
		return nil, err
	}
	var namespaces []string
	var owner string
	for _, l := range links {
		if strings.EqualFold(l.Repo, id.Repository) && "refs/heads/"+l.Branch == id.Ref {
			namespaces = append(namespaces, l.Namespace)
			if owner == "" {
				owner = l.CreatedBy
			} else if owner != l.CreatedBy {
				// Links made by different people: the token acts for one person only.
				namespaces = namespaces[:len(namespaces)-1]
			}
		}
	}
	if len(namespaces) == 0 {
		return nil, p.actionsRefused(ctx, org, who, "no namespace links this repository at this branch")
	}
	t := &platform.Token{Name: clip("github-actions "+id.Repository+" "+id.RunID, 64), Kind: platform.TokenAPI, UserID: owner,
		Org: org, Role: platform.RoleDeveloper, Namespaces: namespaces}
	ttl := actionsTokenTTL
	secret, err := p.storeToken(ctx, t, ttl)
	if err != nil {
		return nil, err
	}
	p.audit(ctx, &platform.AuditEntry{Org: org, Actor: "github-actions:" + id.Repository, ActorID: owner, TokenID: t.ID,
		Action: platform.AuditActionsToken, Target: "token/" + t.ID,
		Detail: fmt.Sprintf("GitHub Actions %s got %s", who, describeToken(t))})
	return &platform.ActionsToken{Token: t, Secret: secret, Namespace: namespaces[0]}, nil
}

// actionsOrg is the platform organisation GitHub owner's repositories belong to: as
// github.organizations says, or the default organisation when it says nothing.
func (p *Plane) actionsOrg(owner string) (string, bool) {
	if len(p.opts.GitHubOrgs) == 0 {
		return platform.DefaultOrg, true
	}
	for gh, org := range p.opts.GitHubOrgs {
		if strings.EqualFold(gh, owner) {
			return org, true
		}
	}
	return "", false
}

// actionsRefused audits a refused exchange and returns what the job sees.
func (p *Plane) actionsRefused(ctx context.Context, org, who, reason string) error {
	detail := "GitHub Actions token refused: " + reason
	if who != "" {
		detail += " (" + who + ")"
	}
	err := platform.Errorf(platform.EUNAUTHENTICATED, "%s", detail).
		WithHint("link the repository and branch with `platform repos link`; the workflow needs `permissions: id-token: write`")
	// Anyone can cause a refusal: the audit log gets a bounded share of them.
	ok, suppressed := p.actionsRefusals.Take(p.opts.Clock.Now())
	if !ok {
		p.logger.Warn("GitHub Actions token refused", "reason", detail)
		return err
	}
	detail += refusal.Note(suppressed)
	p.audit(ctx, &platform.AuditEntry{Org: org, Actor: "github-actions", Action: platform.AuditActionsToken, Outcome: platform.AuditDenied,
		Target: "token/github-actions", Detail: detail})
	return err
}
