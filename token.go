package platform

import (
	"context"
	"slices"
	"strings"
	"time"
)

// TokenKind tells API tokens from browser sessions. Both are bearer secrets resolved by
// the same Authenticator, so one check serves the cookie and the Authorization header.
type TokenKind string

// Token kinds.
const (
	// TokenAPI tokens are created by members for automation and the CLI.
	TokenAPI TokenKind = "api"
	// TokenSession tokens are issued at sign-in and carried in the session cookie.
	TokenSession TokenKind = "session"
	// TokenGitOps tokens are never stored: the GitOps worker makes one in-process for
	// each link it acts for, narrowed to the link's organisation and namespace, so the
	// policy that holds for people holds for it. Only such a token may give a deploy
	// its origin (DeployRequest.Origin) as a push or pull request.
	TokenGitOps TokenKind = "gitops"
	// TokenMesh tokens are developers' mesh credentials (`platform connect`, `platform
	// env`): narrowed to one namespace, short-lived, they admit a process on a laptop to
	// the namespace's mesh as user MeshUser(id) and open nothing of the API (authz refuses
	// every action to them). They are never the instances' own credentials.
	TokenMesh TokenKind = "mesh"
)

// Token is a credential of a user in one organisation, with a role no higher than the
// user's own when it was created, optionally narrowed to some namespaces. Only the
// SHA-256 hash of its secret is stored; the secret is shown once, when it is created.
type Token struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Hash is the hex SHA-256 of the secret. Never serialised.
	Hash string    `json:"-"`
	Kind TokenKind `json:"kind,omitempty"`
	// UserID owns the token; User is their login (filled when the token is read).
	UserID string `json:"user_id,omitempty"`
	User   string `json:"user,omitempty"`
	// Org is the organisation the token acts in ("" means DefaultOrg).
	Org string `json:"org,omitempty"`
	// Role is the most the token may do. "" is the legacy form: owner when Admin is set,
	// developer otherwise.
	Role Role `json:"role,omitempty"`
	// Admin marks a token with every namespace of its org and, without a Role, the
	// owner role. Kept for tokens made before roles; new tokens set Role.
	Admin bool `json:"admin"`
	// Namespaces narrows the token to these namespaces of its org; empty means all of
	// them (for a token with a Role or Admin).
	Namespaces []string `json:"namespaces,omitempty"`
	// Scopes are the go-micro scopes the token holds: an endpoint that declares scopes
	// (server.WithEndpointScopes, "scopes" endpoint metadata) is called only with a token
	// that holds one of them, or "*". Empty holds none, so such an endpoint is refused.
	Scopes []string `json:"scopes,omitempty"`
	// Tools narrows the token to these tools (MCP tool names, "service.Type.Method", or
	// "service.*" for every endpoint of a service); empty means every endpoint its role
	// and namespaces allow. It holds on every path that calls a service: /mcp, /api, the
	// API's call and the dashboard.
	Tools     []string   `json:"tools,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`

	// MemberRole is the owner's current role in Org, read with the token (never
	// serialised): a user demoted since the token was made acts with the lower role. ""
	// when the store did not say (tokens built in tests, legacy tokens without a user).
	MemberRole Role `json:"-"`
	// UserInactive is set when the token's user is disabled or deleted; such a token is
	// refused.
	UserInactive bool `json:"-"`
}

// OrgName returns the token's organisation, DefaultOrg for a legacy token without one.
func (t *Token) OrgName() string {
	if t.Org == "" {
		return DefaultOrg
	}
	return t.Org
}

// EffectiveRole is the role the token acts with: its Role (or the legacy role), capped
// by the owner's current role in the org when the store reported it.
func (t *Token) EffectiveRole() Role {
	r := t.Role
	if r == "" {
		r = RoleDeveloper
		if t.Admin {
			r = RoleOwner
		}
	}
	if t.MemberRole != "" {
		r = MinRole(r, t.MemberRole)
	}
	return r
}

// AllNamespaces reports whether the token reaches every namespace of its org rather than
// a list. Legacy non-admin tokens always have a list.
func (t *Token) AllNamespaces() bool {
	return len(t.Namespaces) == 0 && (t.Admin || t.Role != "")
}

// InScope reports whether the token's namespace scope includes ns (of the token's org:
// the organisation check is the policy's).
func (t *Token) InScope(ns string) bool {
	return t != nil && (t.AllNamespaces() || slices.Contains(t.Namespaces, ns))
}

// AllowsTool reports whether the token's tool narrowing (Tools) lets it call endpoint
// of service.
func (t *Token) AllowsTool(service, endpoint string) bool {
	if t == nil {
		return false
	}
	if len(t.Tools) == 0 {
		return true
	}
	for _, p := range t.Tools {
		if p == ToolName(service, endpoint) || p == service+".*" {
			return true
		}
	}
	return false
}

// HoldsScope reports whether the token may call an endpoint that requires one of
// required (go-micro's rule: any one suffices, compared without case); true when
// required is empty.
func (t *Token) HoldsScope(required []string) bool {
	return len(required) == 0 || t != nil && ScopesAllow(t.Scopes, required)
}

// ScopesAllow reports whether granted holds one of required, or "*"; true when required
// is empty.
func ScopesAllow(granted, required []string) bool {
	if len(required) == 0 {
		return true
	}
	for _, g := range granted {
		if g == "*" {
			return true
		}
		for _, r := range required {
			if strings.EqualFold(g, r) {
				return true
			}
		}
	}
	return false
}

// CanAccess reports whether t may act in namespace ns.
//
// Deprecated: use the authz package, which also checks the action and the namespace's
// organisation.
func (t *Token) CanAccess(ns string) bool { return t.InScope(ns) }

// Expired reports whether t is past its expiry at now.
func (t *Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// TokenStore keeps tokens.
type TokenStore interface {
	// CreateToken stores t. EINVALID without ID or hash or with a bad role or kind,
	// ECONFLICT if the ID or hash exists. A token with Admin set and no user is the
	// bootstrap form (what first start creates): the store gives it to the default
	// org's first owner with the owner role.
	CreateToken(ctx context.Context, t *Token) error
	// GetTokenByHash returns the token with its owner's current role and state
	// (MemberRole, UserInactive), or ENOTFOUND for an unknown hash.
	GetTokenByHash(ctx context.Context, hash string) (*Token, error)
	// ListTokens returns all tokens ordered by creation.
	ListTokens(ctx context.Context) ([]*Token, error)
	// DeleteToken returns ENOTFOUND if absent.
	DeleteToken(ctx context.Context, id string) error
}

type tokenKey struct{}

// NewContextWithToken returns ctx carrying the caller's token.
func NewContextWithToken(ctx context.Context, t *Token) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// TokenFromContext returns the caller's token, or nil.
func TokenFromContext(ctx context.Context) *Token {
	t, _ := ctx.Value(tokenKey{}).(*Token)
	return t
}

// Authorize is the coarse check kept for callers written before roles: it returns
// EUNAUTHENTICATED without a token, EFORBIDDEN when the token may not act in namespace
// ns ("" means a platform-wide action, which needs an admin or owner token).
//
// Deprecated: use authz.Authorize(ctx, action, namespace), which checks the caller's
// role for the action and the namespace's organisation.
func Authorize(ctx context.Context, ns string) error {
	t := TokenFromContext(ctx)
	if t == nil {
		return Errorf(EUNAUTHENTICATED, "no valid token").WithHint("log in with `platform login --token TOKEN` or set PLATFORM_TOKEN")
	}
	if ns == "" {
		if !t.EffectiveRole().AtLeast(RoleAdmin) || !t.AllNamespaces() {
			return Errorf(EFORBIDDEN, "this action needs an admin token")
		}
		return nil
	}
	if !t.InScope(ns) {
		return Errorf(EFORBIDDEN, "token %q may not access namespace %q", t.Name, ns)
	}
	return nil
}
