package server

import (
	"net/url"

	"github.com/micro/platform/control"
	"github.com/micro/platform/dashboard"
	"github.com/micro/platform/github"
	"github.com/micro/platform/oauth"
)

// newOAuth returns the OAuth authorization server interactive MCP clients sign in with
// (docs/mcp-oauth.md): the browser signs in as it does for the dashboard, and the consent
// form is CSRF-checked like the dashboard's forms.
func (a *App) newOAuth(plane *control.Plane, secret []byte, csrf github.CSRF) (*oauth.Server, error) {
	opts := oauth.Options{
		ControlPlane: plane, Auth: a.auth, Secret: secret, PublicURL: a.oauthIssuer(),
		// The dashboard's sign-in returns to oauth.ContinuePath when asked to.
		SignInURL: dashboard.Prefix + "/signin?next=" + url.QueryEscape(oauth.ContinuePath), SignInReturns: true, CSRF: csrf, CSRFCookie: github.CSRFCookie, Secure: csrf.Secure,
		Logger: a.logger.With("component", "oauth"),
	}
	if a.github != nil {
		// GitHub's sign-in ends at oauth.ContinuePath (newGitHub's AfterLogin), which
		// resumes the authorization the browser left.
		opts.SignInURL, opts.SignInReturns = github.LoginPath, true
	}
	return oauth.New(opts)
}

// oauthIssuer is the platform's address in the OAuth metadata: public_url, or else the
// GitHub sign-in's origin (its redirect URL's, where the session cookie is set), or else
// "" for the host each request was sent to.
func (a *App) oauthIssuer() string {
	if a.cfg.PublicURL != "" {
		return a.cfg.PublicURL
	}
	if g := a.cfg.GitHub; g.Enabled() {
		if u, err := url.Parse(g.RedirectURL); err == nil && u.Host != "" {
			return u.Scheme + "://" + u.Host
		}
	}
	return ""
}
