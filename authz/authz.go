// Package authz is the platform's one authorisation policy: which role may take which
// action, on which namespace. Every entry point (the control plane behind the API and
// CLI, the gateway, the HTTP route table) asks it; nothing else decides.
//
// A caller acts through a token (platform.Token): it belongs to a user in one
// organisation, carries a role (capped by the user's current role there) and reaches
// either every namespace of its organisation or a listed few. An action is allowed when
//
//   - the token's effective role is at least the action's minimum role (Table), and
//   - for a namespace action, the namespace is in the token's scope and belongs to the
//     token's organisation; for an organisation action, the token reaches every
//     namespace (a narrowed token may only manage its own tokens); for a platform
//     action, the token also belongs to the operator organisation (platform.DefaultOrg).
package authz

import (
	"context"
	"fmt"
	"sort"

	platform "github.com/micro/platform"
)

// Action is something a caller may be allowed to do.
type Action string

// Actions. The name says the object and the verb.
const (
	NamespaceRead   Action = "namespace.read"
	NamespaceCreate Action = "namespace.create"
	NamespaceDelete Action = "namespace.delete"
	ServiceRead     Action = "service.read"
	ServiceDeploy   Action = "service.deploy"
	ServiceDelete   Action = "service.delete"
	ServiceCall     Action = "service.call"
	LogsRead        Action = "logs.read"
	EventsRead      Action = "events.read"
	// TokenCreate and TokenList act on the caller's own tokens; TokenRevoke revokes the
	// calling token itself (and is what DELETE /v1/tokens/{id} is held to before the
	// target is known: see CheckRevoke).
	TokenCreate Action = "token.create"
	TokenList   Action = "token.list"
	TokenRevoke Action = "token.revoke"
	// TokenRevokeOwn revokes another token of the caller's own user.
	TokenRevokeOwn Action = "token.revoke_own"
	// TokenManage lists and revokes other members' tokens.
	TokenManage  Action = "token.manage"
	AuditRead    Action = "audit.read"
	MemberRead   Action = "member.read"
	MemberManage Action = "member.manage"
	OrgRead      Action = "org.read"
	OrgManage    Action = "org.manage"
	// AlertRead reads alert rules, silences, alerts and their notifications (a narrowed
	// token: those of its namespaces); AlertManage changes them and reads channels.
	AlertRead   Action = "alert.read"
	AlertManage Action = "alert.manage"
	// BillingRead reads the organisation's plan and invoices: org-wide amounts, so a
	// token narrowed to namespaces may not (usage is namespace.read, per namespace);
	// BillingManage changes the plan.
	BillingRead   Action = "billing.read"
	BillingManage Action = "billing.manage"
	SettingManage Action = "setting.manage"
	RegionRead    Action = "region.read"
	RegionManage  Action = "region.manage"
	// RepoRead lists a namespace's repository links; RepoLink links and unlinks one
	// (admins: a link deploys on every push and makes preview namespaces).
	RepoRead Action = "repo.read"
	RepoLink Action = "repo.link"
	// MeshConnect issues a mesh credential for a namespace, lists its connections and
	// opens a tunnel to its mesh (`platform connect`): those who may deploy there.
	MeshConnect Action = "mesh.connect"
)

// Scope says what an action applies to.
type Scope int

// Scopes.
const (
	// ScopeNamespace actions name a namespace of the token's organisation.
	ScopeNamespace Scope = iota
	// ScopeSelf actions concern the caller's own things in their organisation; tokens
	// narrowed to namespaces may take them.
	ScopeSelf
	// ScopeOrg actions concern the whole organisation; they need a token that reaches
	// every namespace.
	ScopeOrg
	// ScopePlatform actions concern the whole platform; they need an unnarrowed token of
	// the operator organisation (platform.DefaultOrg).
	ScopePlatform
)

// Rule is the policy of one action.
type Rule struct {
	// Min is the least role allowed.
	Min   platform.Role
	Scope Scope
}

// Table is the policy: every action with its minimum role and scope. Viewers read;
// developers deploy, call and read logs; admins manage namespaces, tokens, alert rules,
// billing settings and read the audit log; owners manage members and GitHub links.
var Table = map[Action]Rule{
	NamespaceRead:   {platform.RoleViewer, ScopeNamespace},
	NamespaceCreate: {platform.RoleAdmin, ScopeOrg},
	NamespaceDelete: {platform.RoleAdmin, ScopeOrg},
	ServiceRead:     {platform.RoleViewer, ScopeNamespace},
	ServiceDeploy:   {platform.RoleDeveloper, ScopeNamespace},
	ServiceDelete:   {platform.RoleDeveloper, ScopeNamespace},
	ServiceCall:     {platform.RoleDeveloper, ScopeNamespace},
	LogsRead:        {platform.RoleDeveloper, ScopeNamespace},
	EventsRead:      {platform.RoleViewer, ScopeNamespace},
	TokenCreate:     {platform.RoleViewer, ScopeSelf},
	TokenList:       {platform.RoleViewer, ScopeSelf},
	TokenRevoke:     {platform.RoleViewer, ScopeSelf},
	TokenRevokeOwn:  {platform.RoleDeveloper, ScopeSelf},
	TokenManage:     {platform.RoleAdmin, ScopeOrg},
	AuditRead:       {platform.RoleAdmin, ScopeOrg},
	MemberRead:      {platform.RoleViewer, ScopeSelf},
	MemberManage:    {platform.RoleOwner, ScopeOrg},
	OrgRead:         {platform.RoleAdmin, ScopeOrg},
	OrgManage:       {platform.RoleOwner, ScopeOrg},
	AlertRead:       {platform.RoleViewer, ScopeSelf},
	AlertManage:     {platform.RoleAdmin, ScopeOrg},
	BillingRead:     {platform.RoleViewer, ScopeOrg},
	BillingManage:   {platform.RoleAdmin, ScopeOrg},
	SettingManage:   {platform.RoleAdmin, ScopeOrg},
	RegionRead:      {platform.RoleViewer, ScopeSelf},
	RegionManage:    {platform.RoleAdmin, ScopePlatform},
	RepoRead:        {platform.RoleViewer, ScopeNamespace},
	RepoLink:        {platform.RoleAdmin, ScopeNamespace},
	MeshConnect:     {platform.RoleDeveloper, ScopeNamespace},
}

// Actions returns every action of Table, sorted.
func Actions() []Action {
	out := make([]Action, 0, len(Table))
	for a := range Table {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Allows reports whether role may take action, scopes aside.
func Allows(role platform.Role, action Action) bool {
	rule, ok := Table[action]
	return ok && role.AtLeast(rule.Min)
}

var errNoToken = platform.Errorf(platform.EUNAUTHENTICATED, "no valid token").
	WithHint("log in with `platform login --token TOKEN` or set PLATFORM_TOKEN")

// Check is the whole decision, without side effects: may token t take action on
// namespace ns, owned by organisation nsOrg? ns is "" for an action that is not about
// one namespace; nsOrg is "" when the namespace does not exist (it is then judged as
// if it were the token's, and the caller reports ENOTFOUND). It returns nil,
// EUNAUTHENTICATED (no token, or a disabled user's) or EFORBIDDEN with the reason.
func Check(t *platform.Token, action Action, ns, nsOrg string) error {
	if t == nil {
		return errNoToken
	}
	if t.UserInactive {
		return platform.Errorf(platform.EUNAUTHENTICATED, "the user of this token is disabled or deleted").
			WithHint("ask an owner of the organisation to enable the user")
	}
	if t.Kind == platform.TokenMesh {
		return platform.Errorf(platform.EFORBIDDEN, "token %q is a mesh credential: it opens the namespace's mesh, not the API", t.Name).
			WithHint("use your own token (`platform login`) for the API")
	}
	rule, ok := Table[action]
	if !ok {
		return platform.Errorf(platform.EFORBIDDEN, "action %q has no policy", action)
	}
	role := t.EffectiveRole()
	if !role.AtLeast(rule.Min) {
		return platform.Errorf(platform.EFORBIDDEN, "%s needs the %s role; token %q has %s", action, rule.Min, t.Name, roleName(role)).
			WithHint("ask an admin of organisation %q for a higher role", t.OrgName())
	}
	switch rule.Scope {
	case ScopeNamespace:
		if ns == "" {
			return nil // a listing: the caller shows only what InScope allows
		}
		if !t.InScope(ns) || (nsOrg != "" && nsOrg != t.OrgName()) {
			return platform.Errorf(platform.EFORBIDDEN, "token %q may not access namespace %q", t.Name, ns)
		}
	case ScopeOrg:
		if !t.AllNamespaces() {
			return platform.Errorf(platform.EFORBIDDEN, "%s needs a token for every namespace; token %q is limited to %v", action, t.Name, t.Namespaces)
		}
		if ns != "" && nsOrg != "" && nsOrg != t.OrgName() {
			return platform.Errorf(platform.EFORBIDDEN, "token %q may not access namespace %q", t.Name, ns)
		}
	case ScopePlatform:
		if !t.AllNamespaces() || t.OrgName() != platform.DefaultOrg {
			return platform.Errorf(platform.EFORBIDDEN, "%s is for admins of the operator organisation %q", action, platform.DefaultOrg)
		}
	}
	return nil
}

// CheckRevoke decides whether token caller may revoke token target, both of the same
// organisation (the caller reports ENOTFOUND for another's tokens), so that a leaked
// token cannot lock its owner out:
//
//   - a token may always revoke itself (TokenRevoke);
//   - another token of the caller's own user needs TokenRevokeOwn (developer: a viewer
//     token revokes only itself); another member's token needs TokenManage (admin, a
//     token for every namespace);
//   - and the caller's effective role must be at least the target's role (the role the
//     target was made with, not capped by its user's current role: a demotion may be
//     undone), and a token narrowed to namespaces may revoke only tokens narrowed to
//     some of those namespaces.
//
// It returns nil, EUNAUTHENTICATED or EFORBIDDEN with the reason.
func CheckRevoke(caller, target *platform.Token) error {
	if err := Check(caller, TokenRevoke, "", ""); err != nil {
		return err
	}
	if target.ID == caller.ID {
		return nil
	}
	action := TokenManage
	if caller.UserID != "" && target.UserID == caller.UserID {
		action = TokenRevokeOwn
	}
	if err := Check(caller, action, "", ""); err != nil {
		return err
	}
	role, targetRole := caller.EffectiveRole(), madeRole(target)
	if !role.AtLeast(targetRole) {
		return platform.Errorf(platform.EFORBIDDEN, "token %q has %s and may not revoke token %q, which has %s", caller.Name, roleName(role), target.Name, roleName(targetRole)).
			WithHint("revoke it with a token of the %s role or higher", targetRole)
	}
	if !caller.AllNamespaces() {
		wider := target.AllNamespaces()
		for _, ns := range target.Namespaces {
			wider = wider || !caller.InScope(ns)
		}
		if wider {
			return platform.Errorf(platform.EFORBIDDEN, "token %q is limited to %v and may not revoke token %q, which reaches %s", caller.Name, caller.Namespaces, target.Name, reach(target)).
				WithHint("revoke it with a token that reaches every namespace it does")
		}
	}
	return nil
}

// madeRole is the role t was made with: its Role, or the legacy role, not capped by its
// user's current role.
func madeRole(t *platform.Token) platform.Role {
	u := *t
	u.MemberRole = ""
	return u.EffectiveRole()
}

func reach(t *platform.Token) string {
	if t.AllNamespaces() {
		return "every namespace"
	}
	return fmt.Sprint(t.Namespaces)
}

func roleName(r platform.Role) string {
	if r == "" {
		return "no role"
	}
	return "the " + string(r) + " role"
}

// Resolver tells which organisation owns a namespace, from memory on the hot path:
// ENOTFOUND for an unknown namespace. The auth package's Authenticator is one.
type Resolver interface {
	NamespaceOrg(ctx context.Context, ns string) (string, error)
}

// Policy is Check with the namespace's organisation looked up by a Resolver.
type Policy struct {
	resolver Resolver
}

// New returns a Policy resolving namespaces with r. With a nil r every namespace is
// taken to belong to platform.DefaultOrg, which is right only for a single-organisation
// platform.
func New(r Resolver) *Policy { return &Policy{resolver: r} }

// Authorize decides whether the token in ctx may take action on namespace ns ("" for an
// action that is not about one namespace); see Check. The namespace's organisation is
// looked up for every token, narrowed ones included: namespace names are global, so a
// name a narrowed token lists may since have been deleted and created by another
// organisation.
func (p *Policy) Authorize(ctx context.Context, action Action, ns string) error {
	t := platform.TokenFromContext(ctx)
	nsOrg := ""
	if t != nil && ns != "" {
		org, err := p.namespaceOrg(ctx, ns)
		if err != nil {
			return err
		}
		nsOrg = org
	}
	return Check(t, action, ns, nsOrg)
}

func (p *Policy) namespaceOrg(ctx context.Context, ns string) (string, error) {
	if p == nil || p.resolver == nil {
		return platform.DefaultOrg, nil
	}
	org, err := p.resolver.NamespaceOrg(ctx, ns)
	if platform.IsNotFound(err) {
		return "", nil
	}
	return org, err
}
