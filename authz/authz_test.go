package authz_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// want is the expected decision of one role for one action, in the three places a
// namespace can be: the caller's own (in scope, in their org), another of their org
// outside a narrowed token's scope, and one of another organisation.
type want struct{ own, other, otherOrg bool }

var (
	all  = want{true, true, true}    // allowed wherever (not about a namespace)
	none = want{false, false, false} // refused
	mine = want{true, true, false}   // allowed in the caller's org only
)

// matrix is the whole policy written out by hand, action by action, for a token that
// reaches every namespace of its org. Changing authz.Table without changing this fails.
var matrix = map[authz.Action]map[platform.Role]want{
	authz.NamespaceRead:   {platform.RoleViewer: mine, platform.RoleDeveloper: mine, platform.RoleAdmin: mine, platform.RoleOwner: mine},
	authz.NamespaceCreate: {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.NamespaceDelete: {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: mine, platform.RoleOwner: mine},
	authz.ServiceRead:     {platform.RoleViewer: mine, platform.RoleDeveloper: mine, platform.RoleAdmin: mine, platform.RoleOwner: mine},
	authz.ServiceDeploy:   {platform.RoleViewer: none, platform.RoleDeveloper: mine, platform.RoleAdmin: mine, platform.RoleOwner: mine},
	authz.ServiceDelete:   {platform.RoleViewer: none, platform.RoleDeveloper: mine, platform.RoleAdmin: mine, platform.RoleOwner: mine},
	authz.ServiceCall:     {platform.RoleViewer: none, platform.RoleDeveloper: mine, platform.RoleAdmin: mine, platform.RoleOwner: mine},
	authz.LogsRead:        {platform.RoleViewer: none, platform.RoleDeveloper: mine, platform.RoleAdmin: mine, platform.RoleOwner: mine},
	authz.EventsRead:      {platform.RoleViewer: mine, platform.RoleDeveloper: mine, platform.RoleAdmin: mine, platform.RoleOwner: mine},
	authz.TokenCreate:     {platform.RoleViewer: all, platform.RoleDeveloper: all, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.TokenList:       {platform.RoleViewer: all, platform.RoleDeveloper: all, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.TokenRevoke:     {platform.RoleViewer: all, platform.RoleDeveloper: all, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.TokenRevokeOwn:  {platform.RoleViewer: none, platform.RoleDeveloper: all, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.TokenManage:     {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.AuditRead:       {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.MemberRead:      {platform.RoleViewer: all, platform.RoleDeveloper: all, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.MemberManage:    {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: none, platform.RoleOwner: all},
	authz.OrgRead:         {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.OrgManage:       {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: none, platform.RoleOwner: all},
	authz.AlertRead:       {platform.RoleViewer: all, platform.RoleDeveloper: all, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.AlertManage:     {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.BillingRead:     {platform.RoleViewer: all, platform.RoleDeveloper: all, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.BillingManage:   {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.SettingManage:   {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.RegionRead:      {platform.RoleViewer: all, platform.RoleDeveloper: all, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.RegionManage:    {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: all, platform.RoleOwner: all},
	authz.RepoRead:        {platform.RoleViewer: mine, platform.RoleDeveloper: mine, platform.RoleAdmin: mine, platform.RoleOwner: mine},
	authz.RepoLink:        {platform.RoleViewer: none, platform.RoleDeveloper: none, platform.RoleAdmin: mine, platform.RoleOwner: mine},
	authz.MeshConnect:     {platform.RoleViewer: none, platform.RoleDeveloper: mine, platform.RoleAdmin: mine, platform.RoleOwner: mine},
}

// namespaced reports whether the action names a namespace, so the three places differ.
func namespaced(a authz.Action) bool {
	r := authz.Table[a]
	return r.Scope == authz.ScopeNamespace || a == authz.NamespaceDelete
}

// TestMatrix checks every role × action × place, for a token that reaches every
// namespace of its org ("whole org") and for one narrowed to its own namespace.
func TestMatrix(t *testing.T) {
	t.Parallel()
	if len(matrix) != len(authz.Table) {
		t.Fatalf("the matrix covers %d actions, the policy has %d: write the new action's row", len(matrix), len(authz.Table))
	}
	places := []struct {
		name      string
		ns, nsOrg string
		pick      func(want) bool
	}{
		{"own namespace", "own", platform.DefaultOrg, func(w want) bool { return w.own }},
		{"other namespace", "other", platform.DefaultOrg, func(w want) bool { return w.other }},
		{"other org", "foreign", "globex", func(w want) bool { return w.otherOrg }},
	}
	for _, action := range authz.Actions() {
		rows, ok := matrix[action]
		if !ok {
			t.Errorf("action %s is missing from the matrix", action)
			continue
		}
		for _, role := range platform.Roles {
			for _, narrowed := range []bool{false, true} {
				tok := &platform.Token{Name: "t", Org: platform.DefaultOrg, Role: role}
				kind := "whole org"
				if narrowed {
					tok.Namespaces, kind = []string{"own"}, "narrowed"
				}
				for _, pl := range places {
					ns, nsOrg := pl.ns, pl.nsOrg
					if !namespaced(action) {
						ns, nsOrg = "", ""
					}
					allowed := pl.pick(rows[role])
					scope := authz.Table[action].Scope
					if narrowed && allowed {
						// A narrowed token keeps its own namespace and self-service only.
						allowed = (scope == authz.ScopeNamespace && pl.ns == "own") || scope == authz.ScopeSelf
					}
					name := fmt.Sprintf("%s/%s/%s/%s", action, role, kind, pl.name)
					t.Run(name, func(t *testing.T) {
						err := authz.Check(tok, action, ns, nsOrg)
						if allowed && err != nil {
							t.Fatalf("refused: %v", err)
						}
						if !allowed && platform.ErrorCode(err) != platform.EFORBIDDEN {
							t.Fatalf("got %v, want forbidden", err)
						}
						if err != nil && platform.ErrorMessage(err) == "" {
							t.Fatal("a refusal without a reason")
						}
					})
				}
			}
		}
	}
}

func TestCheckRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tok    *platform.Token
		action authz.Action
		ns     string
		code   string
		msg    string
	}{
		{"no token", nil, authz.ServiceRead, "own", platform.EUNAUTHENTICATED, "no valid token"},
		{"disabled user", &platform.Token{Role: platform.RoleOwner, UserInactive: true}, authz.ServiceRead, "own", platform.EUNAUTHENTICATED, "disabled"},
		{"unknown action", &platform.Token{Role: platform.RoleOwner}, "rocket.launch", "", platform.EFORBIDDEN, `action "rocket.launch" has no policy`},
		{"role too low", &platform.Token{Name: "ci", Role: platform.RoleViewer}, authz.ServiceDeploy, "own", platform.EFORBIDDEN, `service.deploy needs the developer role; token "ci" has the viewer role`},
		{"demoted owner", &platform.Token{Name: "ci", Role: platform.RoleAdmin, MemberRole: platform.RoleViewer}, authz.ServiceDeploy, "own", platform.EFORBIDDEN, "has the viewer role"},
		{"narrowed org action", &platform.Token{Name: "ci", Role: platform.RoleAdmin, Namespaces: []string{"own"}}, authz.NamespaceCreate, "", platform.EFORBIDDEN, "needs a token for every namespace"},
		{"platform action from another org", &platform.Token{Name: "ci", Role: platform.RoleOwner, Org: "globex"}, authz.RegionManage, "", platform.EFORBIDDEN, "operator organisation"},
		{"legacy admin", &platform.Token{Admin: true}, authz.RegionManage, "", "", ""},
		{"legacy namespace token deploys", &platform.Token{Namespaces: []string{"own"}}, authz.ServiceDeploy, "own", "", ""},
		{"legacy namespace token is no admin", &platform.Token{Namespaces: []string{"own"}}, authz.NamespaceCreate, "", platform.EFORBIDDEN, "needs the admin role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := authz.Check(tt.tok, tt.action, tt.ns, platform.DefaultOrg)
			if platform.ErrorCode(err) != tt.code || !strings.Contains(platform.ErrorMessage(err), tt.msg) {
				t.Fatalf("Check = %v, want %q containing %q", err, tt.code, tt.msg)
			}
		})
	}
}

// TestCheckRevoke is who may revoke which token (issue 9, finding 4: a viewer or a
// narrowed token of the owner revoked the owner's admin token and locked them out).
func TestCheckRevoke(t *testing.T) {
	t.Parallel()
	tok := func(id, user string, role platform.Role, ns ...string) *platform.Token {
		return &platform.Token{ID: id, Name: id, UserID: user, Org: platform.DefaultOrg, Role: role, Namespaces: ns}
	}
	ownerAdmin := tok("owner-admin", "u-owner", platform.RoleOwner)
	tests := []struct {
		name           string
		caller, target *platform.Token
		code, msg      string
	}{
		{"a viewer token revokes itself", tok("v", "u-owner", platform.RoleViewer), tok("v", "u-owner", platform.RoleViewer), "", ""},
		{"a narrowed token revokes itself", tok("n", "u-owner", platform.RoleDeveloper, "own"), tok("n", "u-owner", platform.RoleDeveloper, "own"), "", ""},
		{"a viewer token does not revoke its owner's admin token", tok("v", "u-owner", platform.RoleViewer), ownerAdmin, platform.EFORBIDDEN, "token.revoke_own needs the developer role"},
		{"a viewer token does not revoke its owner's other viewer token", tok("v", "u-owner", platform.RoleViewer), tok("v2", "u-owner", platform.RoleViewer), platform.EFORBIDDEN, "token.revoke_own needs the developer role"},
		{"a developer token does not revoke its owner's owner token", tok("d", "u-owner", platform.RoleDeveloper), ownerAdmin, platform.EFORBIDDEN, `may not revoke token "owner-admin", which has the owner role`},
		{"a narrowed owner token does not revoke a whole-org token", tok("n", "u-owner", platform.RoleOwner, "own"), ownerAdmin, platform.EFORBIDDEN, "which reaches every namespace"},
		{"a narrowed token does not revoke one reaching more", tok("n", "u-owner", platform.RoleOwner, "own"), tok("n2", "u-owner", platform.RoleViewer, "own", "other"), platform.EFORBIDDEN, "which reaches [own other]"},
		{"a narrowed token revokes one within its namespaces", tok("n", "u-owner", platform.RoleDeveloper, "own", "other"), tok("n2", "u-owner", platform.RoleDeveloper, "other"), "", ""},
		{"a developer token revokes its user's developer token", tok("d", "u-dev", platform.RoleDeveloper), tok("d2", "u-dev", platform.RoleDeveloper), "", ""},
		{"the owner revokes their own tokens", ownerAdmin, tok("v", "u-owner", platform.RoleViewer, "own"), "", ""},
		{"a developer does not revoke another member's token", tok("d", "u-dev", platform.RoleDeveloper), tok("v", "u-viewer", platform.RoleViewer), platform.EFORBIDDEN, "token.manage needs the admin role"},
		{"an admin revokes another member's token", tok("a", "u-admin", platform.RoleAdmin), tok("d", "u-dev", platform.RoleDeveloper), "", ""},
		{"an admin does not revoke an owner's token", tok("a", "u-admin", platform.RoleAdmin), ownerAdmin, platform.EFORBIDDEN, "which has the owner role"},
		{"a narrowed admin does not manage others' tokens", tok("a", "u-admin", platform.RoleAdmin, "own"), tok("d", "u-dev", platform.RoleDeveloper, "own"), platform.EFORBIDDEN, "needs a token for every namespace"},
		{"a demoted user's token is judged by its made role", tok("a", "u-admin", platform.RoleAdmin), &platform.Token{ID: "o", UserID: "u-old", Role: platform.RoleOwner, MemberRole: platform.RoleViewer}, platform.EFORBIDDEN, "which has the owner role"},
		{"a demoted caller acts with its capped role", &platform.Token{ID: "d", UserID: "u-dev", Role: platform.RoleDeveloper, MemberRole: platform.RoleViewer}, tok("d2", "u-dev", platform.RoleViewer), platform.EFORBIDDEN, "needs the developer role"},
		{"a disabled user's token revokes nothing", &platform.Token{ID: "v", UserID: "u", Role: platform.RoleOwner, UserInactive: true}, tok("v", "u", platform.RoleOwner), platform.EUNAUTHENTICATED, "disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := authz.CheckRevoke(tt.caller, tt.target)
			if platform.ErrorCode(err) != tt.code || !strings.Contains(platform.ErrorMessage(err), tt.msg) {
				t.Fatalf("CheckRevoke = %v, want %q containing %q", err, tt.code, tt.msg)
			}
		})
	}
}

// resolver is an authz.Resolver over a map.
type resolver map[string]string

func (r resolver) NamespaceOrg(_ context.Context, ns string) (string, error) {
	if org, ok := r[ns]; ok {
		return org, nil
	}
	return "", platform.Errorf(platform.ENOTFOUND, "namespace %q not found", ns)
}

func TestPolicyResolvesOrganisations(t *testing.T) {
	t.Parallel()
	p := authz.New(resolver{"own": platform.DefaultOrg, "foreign": "globex"})
	whole := platform.NewContextWithToken(context.Background(), &platform.Token{Name: "t", Role: platform.RoleDeveloper})
	tests := []struct {
		ns   string
		code string
	}{
		{"own", ""},
		{"foreign", platform.EFORBIDDEN},
		{"missing", ""}, // judged as the caller's: the caller then reports not found
	}
	for _, tt := range tests {
		t.Run(tt.ns, func(t *testing.T) {
			if got := platform.ErrorCode(p.Authorize(whole, authz.ServiceCall, tt.ns)); got != tt.code {
				t.Fatalf("Authorize = %q, want %q", got, tt.code)
			}
		})
	}
}

// TestPolicyNamespaceNameReused is the case of a namespace name passing to another
// organisation: organisation acme deletes "staging", globex creates a namespace of the
// same name, and acme's old token narrowed to "staging" must not reach globex's.
func TestPolicyNamespaceNameReused(t *testing.T) {
	t.Parallel()
	p := authz.New(resolver{"staging": "globex", "prod": "acme"})
	narrowed := &platform.Token{Name: "ci", Org: "acme", Role: platform.RoleOwner, Namespaces: []string{"staging", "prod"}}
	ctx := platform.NewContextWithToken(context.Background(), narrowed)
	for _, action := range []authz.Action{authz.ServiceCall, authz.ServiceDeploy, authz.ServiceRead, authz.LogsRead, authz.EventsRead} {
		t.Run(string(action), func(t *testing.T) {
			err := p.Authorize(ctx, action, "staging")
			if platform.ErrorCode(err) != platform.EFORBIDDEN || !strings.Contains(platform.ErrorMessage(err), `may not access namespace "staging"`) {
				t.Fatalf("Authorize(%s, staging of globex) = %v, want forbidden", action, err)
			}
			if err := p.Authorize(ctx, action, "prod"); err != nil {
				t.Fatalf("Authorize(%s, prod of acme) = %v, want allowed", action, err)
			}
		})
	}
}

// BenchmarkPolicyAuthorize is the policy's part of a gateway request with a warm
// resolver: no store, no allocation.
func BenchmarkPolicyAuthorize(b *testing.B) {
	p := authz.New(resolver{"acme": platform.DefaultOrg})
	ctx := platform.NewContextWithToken(context.Background(), &platform.Token{Name: "t", Role: platform.RoleDeveloper})
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Authorize(ctx, authz.ServiceCall, "acme"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMeshCredentialOpensNothing: a developer's mesh credential (platform connect) is
// refused every action of the API, whatever its role and namespaces.
func TestMeshCredentialOpensNothing(t *testing.T) {
	tok := &platform.Token{ID: "t_mesh", Name: "laptop", Kind: platform.TokenMesh, Role: platform.RoleOwner}
	for _, action := range authz.Actions() {
		if err := authz.Check(tok, action, "", ""); platform.ErrorCode(err) != platform.EFORBIDDEN {
			t.Errorf("%s with a mesh credential: %v, want forbidden", action, err)
		}
	}
}
