package control

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/authz"
)

// DefaultSessionTTL is how long a session token lives when IssueToken is given no TTL.
const DefaultSessionTTL = 12 * time.Hour

// CreateToken implements platform.ControlPlane. The token belongs to the caller and their
// organisation. Its role defaults to the caller's and may not exceed it; its namespaces
// default to the caller's and must be among them.
func (p *Plane) CreateToken(ctx context.Context, req platform.CreateTokenRequest) (*platform.Token, string, error) {
	if err := p.authorize(ctx, authz.TokenCreate); err != nil {
		return nil, "", err
	}
	caller := platform.TokenFromContext(ctx)
	callerRole := caller.EffectiveRole()
	var problems []string
	if req.Name == "" || len(req.Name) > 64 {
		problems = append(problems, "name: 1 to 64 characters")
	}
	role := req.Role
	if role == "" {
		role = callerRole
	} else if !role.Valid() {
		problems = append(problems, fmt.Sprintf("role %q: want viewer, developer, admin or owner", role))
	}
	if req.Admin && len(req.Namespaces) > 0 {
		problems = append(problems, "an admin token has every namespace: drop --admin or the namespaces")
	}
	for _, ns := range req.Namespaces {
		n, err := p.store.GetNamespace(ctx, ns)
		switch {
		case platform.IsNotFound(err) || (err == nil && orgOf(n) != caller.OrgName()):
			problems = append(problems, fmt.Sprintf("namespace %q not found", ns))
		case err != nil:
			return nil, "", err
		}
	}
	if req.TTL < 0 {
		problems = append(problems, "ttl must not be negative")
	}
	if len(problems) > 0 {
		return nil, "", platform.Errorf(platform.EINVALID, "invalid token: %s", strings.Join(problems, "; "))
	}
	if role.Rank() > callerRole.Rank() {
		err := platform.Errorf(platform.EFORBIDDEN, "a token cannot have a higher role than its creator: you have %s, asked for %s", callerRole, role).
			WithHint("pass --role %s or lower", callerRole)
		return nil, "", p.audited(ctx, authz.TokenCreate, "token/"+req.Name, err)
	}
	namespaces := req.Namespaces
	if req.Admin && !caller.AllNamespaces() {
		err := platform.Errorf(platform.EFORBIDDEN, "a token cannot reach namespaces its creator cannot: --admin asks for every namespace")
		return nil, "", p.audited(ctx, authz.TokenCreate, "token/"+req.Name, err)
	}
	if !caller.AllNamespaces() {
		if len(namespaces) == 0 {
			namespaces = caller.Namespaces
		}
		for _, ns := range namespaces {
			if !caller.InScope(ns) {
				err := platform.Errorf(platform.EFORBIDDEN, "a token cannot reach namespaces its creator cannot: namespace %q", ns)
				return nil, "", p.audited(ctx, authz.TokenCreate, "token/"+req.Name, err)
			}
		}
	}
	t := &platform.Token{Name: req.Name, Kind: platform.TokenAPI, UserID: caller.UserID, User: caller.User,
		Org: caller.OrgName(), Role: role, Admin: req.Admin, Namespaces: slices.Clone(namespaces)}
	secret, err := p.storeToken(ctx, t, req.TTL)
	if err != nil {
		return nil, "", err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditTokenCreate, Target: "token/" + t.ID, Detail: describeToken(t)})
	return t, secret, nil
}

// storeToken gives t a new secret, an ID, a creation time and an expiry after ttl (none
// for 0), stores it and returns the secret.
func (p *Plane) storeToken(ctx context.Context, t *platform.Token, ttl time.Duration) (string, error) {
	secret, hash := auth.NewSecret()
	now := p.opts.Clock.Now().UTC()
	t.ID, t.Hash, t.CreatedAt = platform.NewID("t"), hash, now
	if ttl > 0 {
		exp := now.Add(ttl)
		t.ExpiresAt = &exp
	}
	if err := p.store.CreateToken(ctx, t); err != nil {
		return "", err
	}
	return secret, nil
}

// describeToken says what a token may do, for the audit log (never its secret).
func describeToken(t *platform.Token) string {
	scope := "every namespace"
	if !t.AllNamespaces() {
		scope = "namespaces " + strings.Join(t.Namespaces, ",")
	}
	d := fmt.Sprintf("%s %q, role %s, %s", t.Kind, t.Name, t.EffectiveRole(), scope)
	if t.ExpiresAt != nil {
		d += ", expires " + t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return d
}

// ListTokens implements platform.ControlPlane: the caller's own tokens, or every token
// of the organisation for those allowed authz.TokenManage.
func (p *Plane) ListTokens(ctx context.Context) ([]*platform.Token, error) {
	if err := p.authorize(ctx, authz.TokenList); err != nil {
		return nil, err
	}
	caller := platform.TokenFromContext(ctx)
	all, err := p.store.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	manage := authz.Check(caller, authz.TokenManage, "", "") == nil
	return slices.DeleteFunc(all, func(t *platform.Token) bool { return !visibleToken(caller, t, manage) }), nil
}

// visibleToken reports whether caller may see (and revoke) t.
func visibleToken(caller, t *platform.Token, manage bool) bool {
	if t.OrgName() != caller.OrgName() {
		return false
	}
	return manage || t.ID == caller.ID || (caller.UserID != "" && t.UserID == caller.UserID)
}

// DeleteToken implements platform.ControlPlane: the token is revoked at once in this
// process, and within the authenticator's TTL (1 s) in others. Who may revoke which token
// is authz.CheckRevoke: a token itself; another of its user's with the developer role;
// another member's with authz.TokenManage; never one of a higher role or reaching
// namespaces a narrowed caller does not. Tokens of other organisations are not found.
func (p *Plane) DeleteToken(ctx context.Context, id string) error {
	if err := p.authorize(ctx, authz.TokenRevoke); err != nil {
		return err
	}
	caller := platform.TokenFromContext(ctx)
	all, err := p.store.ListTokens(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(all, func(t *platform.Token) bool { return t.ID == id && t.OrgName() == caller.OrgName() })
	if i < 0 {
		return platform.Errorf(platform.ENOTFOUND, "token %q not found", id).WithHint("list tokens with `platform tokens list`")
	}
	t := all[i]
	if err := authz.CheckRevoke(caller, t); err != nil {
		action := authz.TokenManage
		if t.ID == caller.ID || (caller.UserID != "" && t.UserID == caller.UserID) {
			action = authz.TokenRevokeOwn
		}
		return p.audited(ctx, action, "token/"+id, err)
	}
	if err := p.store.DeleteToken(ctx, id); err != nil {
		return err
	}
	p.forgetTokens([]*platform.Token{t})
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditTokenRevoke, Target: "token/" + id, Detail: describeToken(t) + " of " + ownerName(t)})
	return nil
}

func ownerName(t *platform.Token) string {
	if t.User != "" {
		return t.User
	}
	return "no user"
}
