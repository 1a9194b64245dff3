package github

import (
	"context"
	"strings"

	platform "github.com/micro/platform"
)

// allowlistKey is the server configuration key of Config.Organizations, named in the
// warnings about links it does not allow.
const allowlistKey = "github.organizations"

// linkSet is the stored GitHub links split by the operator's allowlist.
type linkSet struct {
	// allowed are the links Config.Organizations allows, by platform organisation.
	allowed map[string][]*platform.GitHubLink
	// frozen are the platform organisations that have links but none allowed. Their
	// GitHub-granted members are left as they are: the links were not removed by an
	// owner, the operator's configuration no longer covers them (for example after an
	// upgrade that began enforcing the allowlist), and taking everyone's access away
	// on that account would be a silent outage.
	frozen map[string]bool
}

// splitLinks applies the allowlist to links, warning (once per link and organisation
// for the life of the integration) about what it ignores.
func (i *Integration) splitLinks(links []*platform.GitHubLink) linkSet {
	s := linkSet{allowed: map[string][]*platform.GitHubLink{}, frozen: map[string]bool{}}
	stored := map[string]bool{}
	for _, l := range links {
		stored[l.Org] = true
		if i.cfg.Organizations.Allows(l.GitHubOrg, l.Org) {
			s.allowed[l.Org] = append(s.allowed[l.Org], l)
			continue
		}
		i.warnOnce("link\x00"+l.Org+"\x00"+strings.ToLower(l.GitHubOrg)+"\x00"+strings.ToLower(l.Team),
			"GitHub link ignored: the server configuration's "+allowlistKey+" does not allow this GitHub organisation for this organisation",
			"org", l.Org, "github_org", l.GitHubOrg, "team", l.Team, "config_key", allowlistKey)
	}
	for org := range stored {
		if len(s.allowed[org]) > 0 {
			continue
		}
		s.frozen[org] = true
		i.warnOnce("frozen\x00"+org,
			"GitHub memberships of organisation left unchanged: none of its GitHub links is allowed by the server configuration's "+allowlistKey+
				"; add its GitHub organisation there, or remove the links",
			"org", org, "config_key", allowlistKey)
	}
	return s
}

// warnOnce logs msg at warn level the first time key is seen.
func (i *Integration) warnOnce(key, msg string, args ...any) {
	i.warnedMu.Lock()
	seen := i.warned[key]
	i.warned[key] = true
	i.warnedMu.Unlock()
	if !seen {
		i.log.Warn(msg, args...)
	}
}

// checkLinks reads the stored links and warns about those the allowlist ignores; Start
// calls it so the operator hears of them before any sync or sign-in.
func (i *Integration) checkLinks(ctx context.Context) {
	links, err := i.dir.ListGitHubLinks(ctx, "")
	if err != nil {
		i.log.Error("read GitHub links", "err", err)
		return
	}
	i.splitLinks(links)
}

// allowedLinks are the allowed links of every organisation.
func (s linkSet) allowedLinks() []*platform.GitHubLink {
	var out []*platform.GitHubLink
	for _, org := range sortedKeys(s.allowed) {
		out = append(out, s.allowed[org]...)
	}
	return out
}
