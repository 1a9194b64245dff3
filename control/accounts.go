package control

import (
	"context"
	"fmt"
	"slices"
	"strings"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// Whoami implements platform.ControlPlane.
func (p *Plane) Whoami(ctx context.Context) (*platform.Whoami, error) {
	tok := platform.TokenFromContext(ctx)
	if err := authz.Check(tok, authz.TokenList, "", ""); err != nil {
		return nil, err
	}
	w := &platform.Whoami{Token: tok, Org: tok.OrgName(), Role: tok.EffectiveRole()}
	if tok.UserID != "" {
		u, err := p.store.GetUser(ctx, tok.UserID)
		if err != nil && !platform.IsNotFound(err) {
			return nil, err
		}
		w.User = u
	}
	return w, nil
}

// ListUsers implements platform.ControlPlane.
func (p *Plane) ListUsers(ctx context.Context) ([]*platform.Member, error) {
	if err := p.authorize(ctx, authz.MemberRead); err != nil {
		return nil, err
	}
	return p.store.ListMembers(ctx, platform.TokenFromContext(ctx).OrgName())
}

// CreateUser implements platform.ControlPlane.
func (p *Plane) CreateUser(ctx context.Context, req platform.CreateUserRequest) (*platform.Member, string, error) {
	if err := p.authorize(ctx, authz.MemberManage); err != nil {
		return nil, "", err
	}
	caller := platform.TokenFromContext(ctx)
	var problems []string
	if err := platform.ValidateName("login", req.Login); err != nil {
		problems = append(problems, platform.ErrorMessage(err))
	}
	if !req.Role.Valid() {
		problems = append(problems, fmt.Sprintf("role %q: want viewer, developer, admin or owner", req.Role))
	}
	if len(problems) > 0 {
		return nil, "", platform.Errorf(platform.EINVALID, "invalid user: %s", strings.Join(problems, "; "))
	}
	if err := p.notAbove(ctx, req.Role, "user/"+req.Login); err != nil {
		return nil, "", err
	}
	now := p.opts.Clock.Now().UTC()
	u := &platform.User{ID: platform.NewID("u"), Login: req.Login, Name: req.Name, Email: req.Email, Source: platform.UserLocal, CreatedAt: now, UpdatedAt: now}
	if err := p.store.CreateUser(ctx, u); err != nil {
		return nil, "", err
	}
	m := &platform.Membership{Org: caller.OrgName(), UserID: u.ID, Role: req.Role, Source: platform.MemberLocal}
	if err := p.store.PutMembership(ctx, m); err != nil {
		return nil, "", err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditUserCreate, Target: "user/" + u.Login, Detail: "local user with role " + string(req.Role)})
	t := &platform.Token{Name: "first token", Kind: platform.TokenAPI, UserID: u.ID, User: u.Login, Org: m.Org, Role: m.Role}
	secret, err := p.storeToken(ctx, t, 0)
	if err != nil {
		return nil, "", err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditTokenCreate, Target: "token/" + t.ID, Detail: describeToken(t) + " for " + u.Login})
	return &platform.Member{User: *u, Role: m.Role, RoleSource: m.Source}, secret, nil
}

// notAbove refuses (and audits) granting a role above the caller's.
func (p *Plane) notAbove(ctx context.Context, role platform.Role, target string) error {
	mine := platform.TokenFromContext(ctx).EffectiveRole()
	if role.Rank() <= mine.Rank() {
		return nil
	}
	err := platform.Errorf(platform.EFORBIDDEN, "you cannot grant a role above your own: you have %s, asked for %s", mine, role)
	return p.audited(ctx, authz.MemberManage, target, err)
}

// member returns the member of the caller's org with the given login: ENOTFOUND when
// there is no such user or they are not a member.
func (p *Plane) member(ctx context.Context, login string) (*platform.User, *platform.Membership, error) {
	org := platform.TokenFromContext(ctx).OrgName()
	notFound := platform.Errorf(platform.ENOTFOUND, "user %q is not a member of organisation %q", login, org).
		WithHint("list members with `platform users list`")
	u, err := p.store.GetUserByLogin(ctx, login)
	if platform.IsNotFound(err) {
		return nil, nil, notFound
	} else if err != nil {
		return nil, nil, err
	}
	m, err := p.store.GetMembership(ctx, org, u.ID)
	if platform.IsNotFound(err) {
		return nil, nil, notFound
	}
	return u, m, err
}

// lastOwner reports whether u is the only active owner of org.
func (p *Plane) lastOwner(ctx context.Context, org string, u *platform.User) (bool, error) {
	members, err := p.store.ListMembers(ctx, org)
	if err != nil {
		return false, err
	}
	for _, m := range members {
		if m.Role == platform.RoleOwner && m.ID != u.ID && m.User.Active() {
			return false, nil
		}
	}
	return true, nil
}

// SetUserRole implements platform.ControlPlane. A role set by hand on a member who came
// from a GitHub team becomes local: team sync no longer changes it.
func (p *Plane) SetUserRole(ctx context.Context, login string, role platform.Role) (*platform.Member, error) {
	if err := p.authorize(ctx, authz.MemberManage); err != nil {
		return nil, err
	}
	if _, err := platform.ParseRole(string(role)); err != nil {
		return nil, err
	}
	if err := p.notAbove(ctx, role, "user/"+login); err != nil {
		return nil, err
	}
	u, m, err := p.member(ctx, login)
	if err != nil {
		return nil, err
	}
	if m.Role == platform.RoleOwner && role != platform.RoleOwner {
		if last, err := p.lastOwner(ctx, m.Org, u); err != nil {
			return nil, err
		} else if last {
			return nil, platform.Errorf(platform.ECONFLICT, "%s is the last owner of organisation %q", login, m.Org).
				WithHint("make someone else an owner first")
		}
	}
	old := m.Role
	m.Role, m.Source, m.Teams = role, platform.MemberLocal, nil
	if err := p.store.PutMembership(ctx, m); err != nil {
		return nil, err
	}
	p.forgetUser(u.ID)
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditRoleChange, Target: "user/" + login, Detail: fmt.Sprintf("role %s → %s", old, role)})
	return &platform.Member{User: *u, Role: m.Role, RoleSource: m.Source}, nil
}

// SetUserDisabled implements platform.ControlPlane. A disabled user's tokens and
// sessions are refused at once in this process (within the authenticator's TTL in
// others); enabling them again brings back the tokens they have not revoked.
func (p *Plane) SetUserDisabled(ctx context.Context, login string, disabled bool) (*platform.Member, error) {
	if err := p.authorize(ctx, authz.MemberManage); err != nil {
		return nil, err
	}
	caller := platform.TokenFromContext(ctx)
	u, m, err := p.member(ctx, login)
	if err != nil {
		return nil, err
	}
	if disabled {
		if u.ID == caller.UserID {
			return nil, platform.Errorf(platform.ECONFLICT, "you cannot disable yourself").WithHint("ask another owner")
		}
		if m.Role == platform.RoleOwner {
			if last, err := p.lastOwner(ctx, m.Org, u); err != nil {
				return nil, err
			} else if last {
				return nil, platform.Errorf(platform.ECONFLICT, "%s is the last owner of organisation %q", login, m.Org).
					WithHint("make someone else an owner first")
			}
		}
	}
	// A user is one person across organisations and Disabled applies in all of them:
	// only an owner of each could fairly disable them everywhere, and an owner of one
	// must not undo another organisation's disabling either.
	ms, err := p.store.ListMemberships(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if u.Disabled != disabled && slices.ContainsFunc(ms, func(o *platform.Membership) bool { return o.Org != m.Org }) {
		verb, what := "disabling", "lock them out there too"
		if !disabled {
			verb, what = "enabling", "let them in there too"
		}
		err := platform.Errorf(platform.EFORBIDDEN, "%s is also a member of other organisations; %s would %s", login, verb, what).
			WithHint("change their role here instead, or ask an operator")
		return nil, p.audited(ctx, authz.MemberManage, "user/"+login, err)
	}
	if u.Disabled != disabled {
		u.Disabled = disabled
		if err := p.store.UpdateUser(ctx, u); err != nil {
			return nil, err
		}
		p.forgetUser(u.ID)
		action := platform.AuditUserEnable
		if disabled {
			action = platform.AuditUserDisable
		}
		p.audit(ctx, &platform.AuditEntry{Action: action, Target: "user/" + login})
	}
	return &platform.Member{User: *u, Role: m.Role, RoleSource: m.Source, Teams: m.Teams}, nil
}

// ListAudit implements platform.ControlPlane: entries of the caller's org only.
func (p *Plane) ListAudit(ctx context.Context, f platform.AuditFilter) ([]*platform.AuditEntry, error) {
	if err := p.authorize(ctx, authz.AuditRead); err != nil {
		return nil, err
	}
	if f.Limit < 0 || f.Limit > 1000 {
		return nil, platform.Errorf(platform.EINVALID, "limit %d: want 1 to 1000", f.Limit)
	}
	f.Org = platform.TokenFromContext(ctx).OrgName()
	return p.store.ListAudit(ctx, f)
}

// GitHubLinks implements platform.ControlPlane.
func (p *Plane) GitHubLinks(ctx context.Context) ([]*platform.GitHubLink, error) {
	if err := p.authorize(ctx, authz.OrgRead); err != nil {
		return nil, err
	}
	return p.store.ListGitHubLinks(ctx, platform.TokenFromContext(ctx).OrgName())
}

// SetGitHubLinks implements platform.ControlPlane: EFORBIDDEN (audited) when a link names
// a GitHub organisation the operator has not allowed for the caller's organisation
// (Options.GitHubOrgs). Members' roles follow at the next
// team sync.
func (p *Plane) SetGitHubLinks(ctx context.Context, links []*platform.GitHubLink) ([]*platform.GitHubLink, error) {
	if err := p.authorize(ctx, authz.OrgManage); err != nil {
		return nil, err
	}
	org := platform.TokenFromContext(ctx).OrgName()
	var desc []string
	var refused []string
	seen := map[string]bool{}
	for _, l := range links {
		l.Org = org
		desc = append(desc, fmt.Sprintf("%s/%s=%s", l.GitHubOrg, l.Team, l.Role))
		if k := strings.ToLower(l.GitHubOrg); !seen[k] && !p.opts.GitHubOrgs.Allows(l.GitHubOrg, org) {
			seen[k] = true
			refused = append(refused, fmt.Sprintf("GitHub organisation %q is not allowed for organisation %q", l.GitHubOrg, org))
		}
	}
	if len(refused) > 0 {
		// The sync reads linked teams with the operator's token: linking another
		// company's team would copy its private membership here.
		hint := "the operator maps GitHub organisations to platform organisations in the server configuration's github.organizations"
		if len(p.opts.GitHubOrgs) == 0 {
			hint += "; without it only the " + platform.DefaultOrg + " organisation may link GitHub teams"
		}
		err := platform.Errorf(platform.EFORBIDDEN, "%s", strings.Join(refused, "; ")).WithHint("%s", hint)
		return nil, p.audited(ctx, authz.OrgManage, "org/"+org, err)
	}
	if err := p.store.SetGitHubLinks(ctx, org, links); err != nil {
		return nil, err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditGitHubLinks, Target: "org/" + org, Detail: strings.Join(desc, " ")})
	return p.store.ListGitHubLinks(ctx, org)
}
