package platform

import "strings"

// GitHubOrgs is the operator's allowlist of GitHub organisations: GitHub organisation
// login (case-insensitive) → the platform organisation whose owners may link its teams.
// It exists because the team sync reads teams with the operator's sync token: without
// it, an owner of any organisation could link another company's private team and copy
// its membership.
//
// An empty map is a single-tenant install: links may name any GitHub organisation, but
// only in DefaultOrg.
type GitHubOrgs map[string]string

// Allows reports whether platform organisation org may link teams of githubOrg.
func (m GitHubOrgs) Allows(githubOrg, org string) bool {
	if len(m) == 0 {
		return org == DefaultOrg
	}
	for gh, o := range m {
		if strings.EqualFold(gh, githubOrg) {
			return o == org
		}
	}
	return false
}

// AllowedLinks returns the links m allows, in order.
func (m GitHubOrgs) AllowedLinks(links []*GitHubLink) []*GitHubLink {
	out := make([]*GitHubLink, 0, len(links))
	for _, l := range links {
		if m.Allows(l.GitHubOrg, l.Org) {
			out = append(out, l)
		}
	}
	return out
}
