package control

import (
	"context"
	"time"

	platform "github.com/micro/platform"
)

// DefaultCLITokenTTL is how long an API token issued at a CLI sign-in lives.
const DefaultCLITokenTTL = 30 * 24 * time.Hour

// Directory is the accounts service for sign-in integrations (package github): it reads
// and changes organisations, users, memberships and tokens on behalf of the platform
// itself, not of a caller, so it checks no token. Changes that take access away also
// drop the authenticator's cached tokens, so they take effect at once in this process
// and within its TTL (1 s) in others. Every method returns platform error codes.
type Directory struct {
	p *Plane
}

// Directory returns the Plane's accounts service for sign-in integrations.
func (p *Plane) Directory() *Directory { return &Directory{p: p} }

// ListOrgs is platform.OrgStore's.
func (d *Directory) ListOrgs(ctx context.Context) ([]*platform.Org, error) {
	return d.p.store.ListOrgs(ctx)
}

// ListGitHubLinks is platform.OrgStore's: the org's links, every org's for "".
func (d *Directory) ListGitHubLinks(ctx context.Context, org string) ([]*platform.GitHubLink, error) {
	return d.p.store.ListGitHubLinks(ctx, org)
}

// ListMembers is platform.UserStore's.
func (d *Directory) ListMembers(ctx context.Context, org string) ([]*platform.Member, error) {
	return d.p.store.ListMembers(ctx, org)
}

// ListMemberships is platform.UserStore's.
func (d *Directory) ListMemberships(ctx context.Context, userID string) ([]*platform.Membership, error) {
	return d.p.store.ListMemberships(ctx, userID)
}

// PutMembership is platform.UserStore's; the user's cached tokens are dropped so a new
// role applies at once. A disabled or deleted user's existing membership may change
// but none is added (EFORBIDDEN): disabling is platform-wide and only owners of all the
// user's organisations may undo it (Plane.SetUserDisabled), so a new organisation
// would leave them disabled with nobody able to enable them.
func (d *Directory) PutMembership(ctx context.Context, m *platform.Membership) error {
	u, err := d.p.store.GetUser(ctx, m.UserID)
	if err != nil {
		return err
	}
	if !u.Active() {
		if _, err := d.p.store.GetMembership(ctx, m.Org, m.UserID); platform.IsNotFound(err) {
			return platform.Errorf(platform.EFORBIDDEN, "user %q is disabled or deleted: not added to organisation %q", u.Login, m.Org).
				WithHint("an owner of the user's organisation must enable them first")
		} else if err != nil {
			return err
		}
	}
	if err := d.p.store.PutMembership(ctx, m); err != nil {
		return err
	}
	d.p.forgetUser(m.UserID)
	return nil
}

// DeleteMembership removes the membership and revokes every token and session the user
// has in the org, at once. ENOTFOUND if there was no membership (the tokens are revoked
// anyway).
func (d *Directory) DeleteMembership(ctx context.Context, org, userID string) error {
	_, terr := d.DeleteUserTokens(ctx, userID, org)
	err := d.p.store.DeleteMembership(ctx, org, userID)
	d.p.forgetUser(userID)
	if err != nil {
		return err
	}
	return terr
}

// DeleteUserTokens revokes the user's tokens and sessions in org (every org for "") at
// once and returns them.
func (d *Directory) DeleteUserTokens(ctx context.Context, userID, org string) ([]*platform.Token, error) {
	removed, err := d.p.store.DeleteUserTokens(ctx, userID, org)
	d.p.forgetTokens(removed)
	d.p.forgetUser(userID)
	return removed, err
}

// AppendAudit is platform.AuditStore's.
func (d *Directory) AppendAudit(ctx context.Context, e *platform.AuditEntry) error {
	if e.Source == "" {
		e.Source = platform.SourceFromContext(ctx)
	}
	return d.p.store.AppendAudit(ctx, e)
}

// UpsertGitHubUser returns the platform user of GitHub account u.GitHubID, creating it
// (with u's login, name and email) the first time, and afterwards updating its login,
// and its name and email when u's are not empty. Disabled and deleted users are returned
// as they are: the caller refuses them. EINVALID without a GitHub id or login; ECONFLICT
// when the login belongs to another (local) user.
func (d *Directory) UpsertGitHubUser(ctx context.Context, u *platform.User) (*platform.User, error) {
	if u.GitHubID == 0 || u.Login == "" {
		return nil, platform.Errorf(platform.EINVALID, "a GitHub user needs a GitHub id and a login")
	}
	got, err := d.p.store.GetUserByGitHubID(ctx, u.GitHubID)
	if platform.IsNotFound(err) {
		now := d.p.opts.Clock.Now().UTC()
		nu := &platform.User{ID: platform.NewID("u"), Login: u.Login, Name: u.Name, Email: u.Email,
			Source: platform.UserGitHub, GitHubID: u.GitHubID, CreatedAt: now, UpdatedAt: now}
		if err := d.p.store.CreateUser(ctx, nu); err != nil {
			return nil, err
		}
		return nu, nil
	} else if err != nil {
		return nil, err
	}
	changed := got.Login != u.Login || (u.Name != "" && got.Name != u.Name) || (u.Email != "" && got.Email != u.Email)
	if !changed {
		return got, nil
	}
	got.Login = u.Login
	if u.Name != "" {
		got.Name = u.Name
	}
	if u.Email != "" {
		got.Email = u.Email
	}
	if err := d.p.store.UpdateUser(ctx, got); err != nil {
		return nil, err
	}
	return got, nil
}

// IssueToken issues a credential of kind (platform.TokenSession for the browser,
// platform.TokenAPI for a CLI sign-in) for the user in org, with their role there and
// every namespace, and returns its secret (shown once, never stored) and expiry. ttl 0
// means DefaultSessionTTL for sessions and DefaultCLITokenTTL for API tokens.
// EUNAUTHENTICATED for a disabled or deleted user, EFORBIDDEN for a non-member.
func (d *Directory) IssueToken(ctx context.Context, userID, org string, kind platform.TokenKind, ttl time.Duration) (string, time.Time, error) {
	u, err := d.p.store.GetUser(ctx, userID)
	if err != nil {
		return "", time.Time{}, err
	}
	if !u.Active() {
		return "", time.Time{}, platform.Errorf(platform.EUNAUTHENTICATED, "user %q is disabled", u.Login)
	}
	m, err := d.p.store.GetMembership(ctx, org, userID)
	if platform.IsNotFound(err) {
		return "", time.Time{}, platform.Errorf(platform.EFORBIDDEN, "%s is not a member of organisation %q", u.Login, org)
	} else if err != nil {
		return "", time.Time{}, err
	}
	if ttl <= 0 {
		ttl = DefaultCLITokenTTL
		if kind == platform.TokenSession {
			ttl = DefaultSessionTTL
		}
	}
	name := "cli sign-in"
	if kind == platform.TokenSession {
		name = "browser session"
	}
	t := &platform.Token{Name: name, Kind: kind, UserID: u.ID, User: u.Login, Org: org, Role: m.Role}
	secret, err := d.p.storeToken(ctx, t, ttl)
	if err != nil {
		return "", time.Time{}, err
	}
	return secret, *t.ExpiresAt, nil
}
