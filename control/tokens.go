package control

import (
	"context"
	"fmt"
	gotoken "go/token"
	"regexp"
	"slices"
	"strings"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/authz"
)

// DefaultSessionTTL is how long a session token lives when IssueToken is given no TTL.
const DefaultSessionTTL = 12 * time.Hour

// Limits of a token's scopes and tools (CreateTokenRequest), counted once deduplicated.
const (
	maxTokenScopes = 32
	maxTokenTools  = 64
)

// scopeRE is the shape of a go-micro scope a token may hold: what the scopes endpoints
// declare look like ("mail:read", "billing.admin"), and "*" for all of them.
var scopeRE = regexp.MustCompile(`^[A-Za-z0-9:._*-]{1,64}$`)

// CreateToken implements platform.ControlPlane. The token belongs to the caller and their
// organisation. Its role defaults to the caller's and may not exceed it; its namespaces
// default to the caller's and must be among them. Its tools, likewise, default to the
// caller's tool narrowing and must be within it, and a caller that holds scopes grants
// only scopes it holds: an agent's narrowed token cannot mint a wider one.
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
	scopes, bad := checkScopes(req.Scopes)
	problems = append(problems, bad...)
	tools, bad := checkTools(req.Tools)
	problems = append(problems, bad...)
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
	if len(caller.Tools) > 0 && len(tools) == 0 {
		tools = slices.Clone(caller.Tools)
	}
	for _, tool := range tools {
		if !toolWithin(caller, tool) {
			err := platform.Errorf(platform.EFORBIDDEN, "a token cannot reach tools its creator cannot: tool %q", tool)
			return nil, "", p.audited(ctx, authz.TokenCreate, "token/"+req.Name, err)
		}
	}
	for _, s := range scopes {
		if len(caller.Scopes) > 0 && !platform.ScopesAllow(caller.Scopes, []string{s}) {
			err := platform.Errorf(platform.EFORBIDDEN, "a token cannot hold scopes its creator does not: scope %q", s)
			return nil, "", p.audited(ctx, authz.TokenCreate, "token/"+req.Name, err)
		}
	}
	t := &platform.Token{Name: req.Name, Kind: platform.TokenAPI, UserID: caller.UserID, User: caller.User,
		Org: caller.OrgName(), Role: role, Admin: req.Admin, Namespaces: slices.Clone(namespaces),
		Scopes: scopes, Tools: tools}
	secret, err := p.storeToken(ctx, t, req.TTL)
	if err != nil {
		return nil, "", err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditTokenCreate, Target: "token/" + t.ID, Detail: describeToken(t)})
	return t, secret, nil
}

// checkScopes returns scopes without duplicates (the first of each kept, in order) and
// what is wrong with them: each is 1 to 64 of A-Z a-z 0-9 : . _ * -, and there are at most
// maxTokenScopes.
func checkScopes(scopes []string) (clean, problems []string) {
	return checkList("scope", scopes, scopeRE.MatchString, "1 to 64 of A-Z a-z 0-9 : . _ * - (no spaces)", maxTokenScopes)
}

// checkTools returns tools without duplicates (the first of each kept, in order) and what
// is wrong with them: each is "service.Type.Method" or "service.*" (validTool), and there
// are at most maxTokenTools.
func checkTools(tools []string) (clean, problems []string) {
	return checkList("tool", tools, validTool, "service.Type.Method or service.* (a service name, then Go identifiers)", maxTokenTools)
}

// checkList returns values without duplicates (the first of each kept, in order) and
// what is wrong with them: each value valid refuses (the problem says want), and more
// than most of them.
func checkList(kind string, values []string, valid func(string) bool, want string, most int) (clean, problems []string) {
	for _, v := range values {
		switch {
		case !valid(v):
			problems = append(problems, fmt.Sprintf("%s %q: want %s", kind, v, want))
		case !slices.Contains(clean, v):
			clean = append(clean, v)
		}
	}
	if len(clean) > most {
		problems = append(problems, fmt.Sprintf("%d %ss: at most %d", len(clean), kind, most))
	}
	return clean, problems
}

// validTool reports whether tool is "service.Type.Method" or "service.*", with service a
// service name (platform.ValidateName: a lowercase DNS label) and Type and Method Go
// identifiers, as go-micro names a handler's endpoints.
func validTool(tool string) bool {
	service, endpoint, ok := strings.Cut(tool, ".")
	if !ok || platform.ValidateName("service", service) != nil {
		return false
	}
	if endpoint == "*" {
		return true
	}
	typ, method, ok := strings.Cut(endpoint, ".")
	return ok && gotoken.IsIdentifier(typ) && gotoken.IsIdentifier(method)
}

// toolWithin reports whether the tool narrowing of a token made by caller may include
// tool: any tool for a caller not narrowed to tools, else one the caller may call ("svc.*"
// only when the caller has "svc.*" itself).
func toolWithin(caller *platform.Token, tool string) bool {
	if len(caller.Tools) == 0 {
		return true
	}
	service, endpoint, _ := strings.Cut(tool, ".")
	if endpoint == "*" {
		return slices.Contains(caller.Tools, tool)
	}
	return caller.AllowsTool(service, endpoint)
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
	if len(t.Scopes) > 0 {
		d += ", scopes " + strings.Join(t.Scopes, ",")
	}
	if len(t.Tools) > 0 {
		d += ", tools " + strings.Join(t.Tools, ",")
	}
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
