// Package github signs people in to the platform with their GitHub account and keeps
// organisation memberships in step with GitHub teams.
//
// Four flows share one Config:
//
//   - Browser sign-in: GET /login redirects to GitHub's authorize URL with a single-use,
//     short-lived state bound to a cookie and a PKCE S256 challenge (scope read:org); the
//     callback checks the state, exchanges the code, reads the user and their teams, and
//     gives members of a linked team a session cookie. Everyone else gets a page saying so
//     and nothing changes.
//   - CLI browser sign-in (`platform login --github`): the same flow, ending with a
//     redirect to the CLI's loopback listener carrying a one-time code that the CLI
//     exchanges, with its PKCE verifier, for an API token (POST /auth/github/cli).
//   - CLI device flow (`platform login --device`): the CLI gets a GitHub token from
//     GitHub's device flow and trades it for an API token (POST /auth/github/token); the
//     platform checks the token against GitHub and never keeps it.
//   - Sync: Syncer lists every linked team's members periodically and on GitHub's
//     membership, team and organization webhooks (POST /webhooks/github, HMAC-SHA256
//     verified), and converges the platform's memberships: a person removed from every
//     linked team loses the membership and their sessions and tokens at once.
//
// The platform's accounts live behind Directory, which the accounts core implements; this
// package decides who is a member with which role, the Directory records it.
package github

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// Role is a platform role granted through a GitHub team. Roles are ordered: viewer <
// developer < admin < owner; a person's role in an organisation is the highest role of
// the linked teams they belong to.
type Role string

// Roles, lowest first.
const (
	RoleViewer    Role = "viewer"
	RoleDeveloper Role = "developer"
	RoleAdmin     Role = "admin"
	RoleOwner     Role = "owner"
)

// rank orders roles; 0 is not a role.
func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleDeveloper:
		return 2
	case RoleAdmin:
		return 3
	case RoleOwner:
		return 4
	}
	return 0
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Higher returns the higher of r and o; an invalid role is lower than any valid one.
func (r Role) Higher(o Role) Role {
	if o.rank() > r.rank() {
		return o
	}
	return r
}

// Defaults of Config.
const (
	DefaultWebURL       = "https://github.com/"
	DefaultAPIURL       = "https://api.github.com/"
	DefaultSyncInterval = 10 * time.Minute
	DefaultStateTTL     = 10 * time.Minute
)

// Config configures the GitHub integration. ClientSecret, SyncToken and WebhookSecret
// are secrets: they are never logged (Config's LogValue redacts them) nor returned.
type Config struct {
	// ClientID and ClientSecret identify the GitHub OAuth app.
	ClientID     string
	ClientSecret string
	// RedirectURL is the OAuth app's callback URL as GitHub calls it, e.g.
	// https://platform.example.com/auth/github/callback. Its path is the route the
	// handler serves the callback on; an https URL makes cookies Secure.
	RedirectURL string
	// WebURL is GitHub's web address (authorize, token and device endpoints) and APIURL
	// its REST API; set both for GitHub Enterprise (https://ghe.example.com/ and
	// https://ghe.example.com/api/v3/) or a test fake. Empty means github.com.
	WebURL, APIURL string
	// SyncToken is a GitHub token with read:org on every linked organisation (an org
	// owner's or a machine user's), used by the sync; without it only sign-in updates
	// memberships and the Syncer refuses to start.
	SyncToken string
	// WebhookSecret verifies X-Hub-Signature-256 on webhooks; without it webhooks are
	// refused.
	WebhookSecret string
	// Orgs links platform organisations to GitHub teams.
	Orgs []OrgLink
	// SyncInterval is how often the Syncer runs; 0 means DefaultSyncInterval.
	SyncInterval time.Duration
	// StateTTL bounds how long a sign-in may take between /login and the callback; 0
	// means DefaultStateTTL.
	StateTTL time.Duration
	// AfterLogin is where the browser goes after signing in; "" means "/".
	AfterLogin string
}

// OrgLink grants access to one platform organisation through teams of one GitHub
// organisation.
type OrgLink struct {
	// Org is the platform organisation's name.
	Org string
	// GitHubOrg is the GitHub organisation's login.
	GitHubOrg string
	// Teams are the linked teams and the role each grants.
	Teams []TeamLink
}

// TeamLink maps a GitHub team (by slug) to a platform role.
type TeamLink struct {
	Slug string
	Role Role
}

// LogValue implements slog.LogValuer without the secrets.
func (c Config) LogValue() slog.Value {
	orgs := make([]string, 0, len(c.Orgs))
	for _, o := range c.Orgs {
		orgs = append(orgs, o.Org+"="+o.GitHubOrg)
	}
	return slog.GroupValue(
		slog.String("client_id", c.ClientID),
		slog.String("redirect_url", c.RedirectURL),
		slog.String("web_url", c.webURL()),
		slog.String("api_url", c.apiURL()),
		slog.Bool("sync_token_set", c.SyncToken != ""),
		slog.Bool("webhook_secret_set", c.WebhookSecret != ""),
		slog.String("orgs", strings.Join(orgs, ",")),
	)
}

// String describes c without the secrets, so that printing a Config by mistake leaks
// nothing.
func (c Config) String() string { return c.LogValue().String() }

// Validate reports every problem with c at once, as EINVALID errors.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, platform.Errorf(platform.EINVALID, "github: "+format, args...))
	}
	if c.ClientID == "" {
		bad("client id is not set")
	}
	if c.ClientSecret == "" {
		bad("client secret is not set")
	}
	if u, err := url.Parse(c.RedirectURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path == "" {
		bad("redirect URL %q is not an absolute http(s) URL with a path", c.RedirectURL)
	}
	for _, s := range []struct{ name, v string }{{"web URL", c.WebURL}, {"API URL", c.APIURL}} {
		if s.v == "" {
			continue
		}
		if u, err := url.Parse(s.v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("%s %q is not an absolute http(s) URL", s.name, s.v)
		}
	}
	if len(c.Orgs) == 0 {
		bad("no organisation is linked to GitHub teams")
	}
	seen := map[string]bool{}
	for i, o := range c.Orgs {
		if o.Org == "" || o.GitHubOrg == "" {
			bad("orgs[%d]: both the platform organisation and the GitHub organisation must be named", i)
		}
		if seen[o.Org] {
			bad("orgs[%d]: organisation %q is linked twice", i, o.Org)
		}
		seen[o.Org] = true
		if len(o.Teams) == 0 {
			bad("orgs[%d] (%s): no team is linked", i, o.Org)
		}
		for j, t := range o.Teams {
			if t.Slug == "" {
				bad("orgs[%d].teams[%d]: team slug is empty", i, j)
			}
			if !t.Role.Valid() {
				bad("orgs[%d].teams[%d] (%s): role %q is not owner, admin, developer or viewer", i, j, t.Slug, t.Role)
			}
		}
	}
	if c.SyncInterval < 0 {
		bad("sync interval %s is negative", c.SyncInterval)
	}
	return errors.Join(errs...)
}

func (c Config) webURL() string { return withSlash(c.WebURL, DefaultWebURL) }
func (c Config) apiURL() string { return withSlash(c.APIURL, DefaultAPIURL) }

func (c Config) syncInterval() time.Duration {
	if c.SyncInterval > 0 {
		return c.SyncInterval
	}
	return DefaultSyncInterval
}

func (c Config) stateTTL() time.Duration {
	if c.StateTTL > 0 {
		return c.StateTTL
	}
	return DefaultStateTTL
}

// secureCookies reports whether cookies must be Secure: when the platform is reached
// over https.
func (c Config) secureCookies() bool { return strings.HasPrefix(c.RedirectURL, "https://") }

// linkedOrgNames names the GitHub organisations of c for people, e.g. "acme-inc".
func (c Config) linkedOrgNames() string {
	var names []string
	for _, o := range c.Orgs {
		names = append(names, o.GitHubOrg)
	}
	return strings.Join(names, ", ")
}

// rolesFor computes a person's role in every linked organisation from the teams they
// belong to, given as "githuborg/slug" keys (lower case). Organisations where no linked
// team matches are absent.
func (c Config) rolesFor(teams map[string]bool) map[string]Role {
	roles := map[string]Role{}
	for _, o := range c.Orgs {
		for _, t := range o.Teams {
			if teams[teamKey(o.GitHubOrg, t.Slug)] {
				roles[o.Org] = roles[o.Org].Higher(t.Role)
			}
		}
	}
	return roles
}

// teamKey is how teams are compared: GitHub logins and slugs are case-insensitive.
func teamKey(org, slug string) string { return strings.ToLower(org) + "/" + strings.ToLower(slug) }

func withSlash(v, def string) string {
	if v == "" {
		v = def
	}
	if !strings.HasSuffix(v, "/") {
		v += "/"
	}
	return v
}

// String names a role for messages.
func (r Role) String() string { return string(r) }

var _ fmt.Stringer = Config{}
