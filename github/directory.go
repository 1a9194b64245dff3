package github

import (
	"context"
	"sort"
	"time"

	platform "github.com/micro/platform"
)

// Directory is what this package needs from the platform's accounts: the stores'
// methods (Stores, which the platform's store implements as they are) and two of the
// accounts service's (Accounts).
type Directory interface {
	Stores
	Accounts
}

// Stores are the methods of platform.OrgStore, platform.UserStore and
// platform.AuditStore this package uses, with the same contracts. DeleteUserTokens must
// take effect at once (or within the authenticator's cache bound).
type Stores interface {
	ListOrgs(ctx context.Context) ([]*platform.Org, error)
	ListGitHubLinks(ctx context.Context, org string) ([]*platform.GitHubLink, error)
	ListMembers(ctx context.Context, org string) ([]*platform.Member, error)
	ListMemberships(ctx context.Context, userID string) ([]*platform.Membership, error)
	PutMembership(ctx context.Context, m *platform.Membership) error
	DeleteMembership(ctx context.Context, org, userID string) error
	DeleteUserTokens(ctx context.Context, userID, org string) ([]*platform.Token, error)
	AppendAudit(ctx context.Context, e *platform.AuditEntry) error
}

// Accounts creates GitHub users and issues their credentials. Methods return platform
// error codes.
type Accounts interface {
	// UpsertGitHubUser returns the platform user of the GitHub account u.GitHubID
	// (u.Source is platform.UserGitHub), creating it the first time and updating its
	// login, and its name and email when u's are not empty, afterwards. It returns the
	// stored user, disabled or deleted ones included (the caller refuses those).
	UpsertGitHubUser(ctx context.Context, u *platform.User) (*platform.User, error)
	// IssueToken issues a credential of kind (platform.TokenSession for the browser,
	// platform.TokenAPI for the CLI) for the user in org, with the user's role there.
	// The secret is returned once.
	IssueToken(ctx context.Context, userID, org string, kind platform.TokenKind) (Issued, error)
}

// Issued is a freshly issued credential. Secret is shown once and never logged.
type Issued struct {
	Secret    string
	ExpiresAt time.Time
}

// ActionWebhookRejected is the audit action of a webhook with a bad signature; the
// other actions are the platform's (platform.AuditSignIn, platform.AuditSignInRefused,
// platform.AuditRoleChange, platform.AuditMemberRemove).
const ActionWebhookRejected = "webhook.github_rejected"

// grant is what the links give one person in one organisation.
type grant struct {
	role  platform.Role
	teams []string // "github-org/slug" of the linked teams that grant it
}

// grantsFor computes a person's grant in every organisation from the teams they belong
// to, as teamKey keys. Organisations where no linked team matches are absent.
func grantsFor(links []*platform.GitHubLink, teams map[string]bool) map[string]*grant {
	out := map[string]*grant{}
	for _, l := range links {
		if !teams[teamKey(l.GitHubOrg, l.Team)] {
			continue
		}
		g := out[l.Org]
		if g == nil {
			g = &grant{}
			out[l.Org] = g
		}
		g.role = platform.MaxRole(g.role, l.Role)
		g.teams = append(g.teams, l.GitHubOrg+"/"+l.Team)
	}
	for _, g := range out {
		sort.Strings(g.teams)
	}
	return out
}
