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
// Which GitHub teams grant which role in which organisation is the organisations'
// GitHub links (platform.GitHubLink), read from the Directory at every sign-in and sync,
// so an owner's change takes effect at once. The platform's accounts live behind
// Directory; this package decides who is a member with which role, the Directory
// records it.
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
	// SyncInterval is how often the Syncer runs; 0 means DefaultSyncInterval.
	SyncInterval time.Duration
	// StateTTL bounds how long a sign-in may take between /login and the callback; 0
	// means DefaultStateTTL.
	StateTTL time.Duration
	// AfterLogin is where the browser goes after signing in; "" means "/".
	AfterLogin string
	// Organizations is the operator's allowlist: GitHub organisation → the platform
	// organisation whose links may name it. Sign-in, sync and webhooks ignore links it
	// does not allow; empty allows any GitHub organisation, for DefaultOrg only.
	Organizations platform.GitHubOrgs
}

// LogValue implements slog.LogValuer without the secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", c.ClientID),
		slog.String("redirect_url", c.RedirectURL),
		slog.String("web_url", c.webURL()),
		slog.String("api_url", c.apiURL()),
		slog.Bool("sync_token_set", c.SyncToken != ""),
		slog.Bool("webhook_secret_set", c.WebhookSecret != ""),
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

var _ fmt.Stringer = Config{}
