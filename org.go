package platform

import (
	"context"
	"strings"
	"time"
)

// DefaultOrg is the organisation of the embedded default: every namespace created
// before organisations existed belongs to it, and so does the first owner. It is also
// the operator's organisation, whose admins manage platform-wide settings (regions).
const DefaultOrg = "default"

// Org is an organisation: it owns namespaces and has members with roles. Its name is a
// DNS label like a namespace's.
type Org struct {
	Name        string    `json:"name"`
	DisplayName string    `json:"display_name,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// GitHubLink grants the members of one GitHub team a role in an organisation. An org's
// links are managed by its owners; a GitHub user's role in the org is the highest role
// of the linked teams they belong to (see HighestRole).
type GitHubLink struct {
	Org string `json:"org"`
	// GitHubOrg is the GitHub organisation's login, e.g. "acme-inc".
	GitHubOrg string `json:"github_org"`
	// Team is the team's slug within GitHubOrg, e.g. "platform-admins".
	Team string `json:"team"`
	Role Role   `json:"role"`
}

// HighestRole returns the highest role that links grant to a member of the given teams
// (each "github-org/team-slug"), and "" when no link matches. GitHub logins and team
// slugs are case-insensitive, so they are compared without regard to case.
func HighestRole(links []*GitHubLink, teams []string) Role {
	var best Role
	for _, l := range links {
		for _, t := range teams {
			org, team, ok := strings.Cut(t, "/")
			if ok && strings.EqualFold(org, l.GitHubOrg) && strings.EqualFold(team, l.Team) {
				best = MaxRole(best, l.Role)
			}
		}
	}
	return best
}

// OrgStore keeps organisations and their GitHub links.
type OrgStore interface {
	// CreateOrg stores o: EINVALID bad name, ECONFLICT if it exists.
	CreateOrg(ctx context.Context, o *Org) error
	// GetOrg returns ENOTFOUND if there is no such org.
	GetOrg(ctx context.Context, name string) (*Org, error)
	// ListOrgs returns every org ordered by name.
	ListOrgs(ctx context.Context) ([]*Org, error)
	// SetGitHubLinks replaces the org's GitHub links: ENOTFOUND unknown org, EINVALID
	// a bad link (empty GitHub org or team, unknown role).
	SetGitHubLinks(ctx context.Context, org string, links []*GitHubLink) error
	// ListGitHubLinks returns the org's links ordered by GitHub org and team; with org ""
	// every org's links.
	ListGitHubLinks(ctx context.Context, org string) ([]*GitHubLink, error)
}
