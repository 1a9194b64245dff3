package control_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// TestRevokeCannotLockTheOwnerOut is issue 9's finding 4: a viewer token, or a token
// narrowed to a namespace, of the owner revoked the owner's whole-org token (204). Now
// a token revokes itself, its user's tokens of no higher role and no wider reach with
// the developer role, and other members' tokens of no higher role as an admin.
func TestRevokeCannotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("acme", "globex")
	owner, err := h.plane.Whoami(h.owner)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string, role platform.Role, ns ...string) (*platform.Token, string) {
		t.Helper()
		tok, secret, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: name, Role: role, Namespaces: ns})
		if err != nil {
			t.Fatal(err)
		}
		return tok, secret
	}
	alive := func(id string) bool {
		t.Helper()
		all, err := h.store.ListTokens(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range all {
			if tok.ID == id {
				return true
			}
		}
		return false
	}
	_, viewer := mk("ci-viewer", platform.RoleViewer)
	_, narrowed := mk("ci-acme", platform.RoleOwner, "acme")
	_, dev := mk("ci-dev", platform.RoleDeveloper, "acme", "globex")
	refused := []struct {
		name   string
		secret string
		code   string
		msg    string
	}{
		{"viewer", viewer, platform.EFORBIDDEN, "token.revoke_own needs the developer role"},
		{"narrowed", narrowed, platform.EFORBIDDEN, "which reaches every namespace"},
		{"developer", dev, platform.EFORBIDDEN, "which has the owner role"},
	}
	for _, tt := range refused {
		t.Run(tt.name+" cannot revoke the owner's token", func(t *testing.T) {
			err := h.plane.DeleteToken(h.as(tt.secret), owner.Token.ID)
			wantErr(t, err, tt.code, tt.msg)
			if !alive(owner.Token.ID) {
				t.Fatal("the owner's token is gone")
			}
		})
	}
	t.Run("refusals are audited", func(t *testing.T) {
		entries, err := h.plane.ListAudit(h.owner, platform.AuditFilter{Action: "token."})
		if err != nil {
			t.Fatal(err)
		}
		denied := 0
		for _, e := range entries {
			if e.Outcome == platform.AuditDenied && e.Target == "token/"+owner.Token.ID && e.Action == string(authz.TokenRevokeOwn) {
				denied++
			}
		}
		if denied != len(refused) {
			t.Fatalf("%d denied revocations audited, want %d: %+v", denied, len(refused), entries)
		}
	})
	t.Run("a narrowed developer token revokes a token within its reach", func(t *testing.T) {
		acme, _ := mk("acme-only", platform.RoleViewer, "acme")
		if err := h.plane.DeleteToken(h.as(dev), acme.ID); err != nil {
			t.Fatal(err)
		}
		wider, _ := mk("acme-and-more", platform.RoleViewer)
		wantErr(t, h.plane.DeleteToken(h.as(dev), wider.ID), platform.EFORBIDDEN, "which reaches every namespace")
	})
	t.Run("every token revokes itself", func(t *testing.T) {
		for _, secret := range []string{viewer, narrowed, dev} {
			ctx := h.as(secret)
			self := platform.TokenFromContext(ctx)
			if err := h.plane.DeleteToken(ctx, self.ID); err != nil {
				t.Fatalf("%s revoking itself: %v", self.Name, err)
			}
			if alive(self.ID) {
				t.Fatalf("%s still there", self.Name)
			}
		}
	})
	t.Run("other members", func(t *testing.T) {
		adm, _ := h.member("ada", platform.RoleAdmin)
		devCtx, _ := h.member("dave", platform.RoleDeveloper)
		daveTok := platform.TokenFromContext(devCtx)
		wantErr(t, h.plane.DeleteToken(adm, owner.Token.ID), platform.EFORBIDDEN, "which has the owner role")
		adaTok := platform.TokenFromContext(adm)
		wantErr(t, h.plane.DeleteToken(devCtx, adaTok.ID), platform.EFORBIDDEN, "token.manage needs the admin role")
		if err := h.plane.DeleteToken(adm, daveTok.ID); err != nil {
			t.Fatalf("admin revoking a developer's token: %v", err)
		}
		if err := h.plane.DeleteToken(h.owner, adaTok.ID); err != nil {
			t.Fatalf("owner revoking an admin's token: %v", err)
		}
	})
}

// TestCreateTokenScopesAndTools checks that a token keeps the scopes and tools it was
// made with, deduplicated, and that bad ones are refused, each named, with nothing made.
func TestCreateTokenScopesAndTools(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("acme")
	count := func() int {
		t.Helper()
		all, err := h.store.ListTokens(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(all)
	}
	t.Run("kept and deduplicated", func(t *testing.T) {
		tok, secret, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "agent", Role: platform.RoleDeveloper,
			Namespaces: []string{"acme"}, Scopes: []string{"mail:read", "*", "mail:read"},
			Tools: []string{"mail.Mail.Read", "billing.*", "mail.Mail.Read", "helloworld.Helloworld.Call"}})
		if err != nil {
			t.Fatal(err)
		}
		wantScopes, wantTools := []string{"mail:read", "*"}, []string{"mail.Mail.Read", "billing.*", "helloworld.Helloworld.Call"}
		// As created, and as the authenticator reads it back from the store.
		for _, got := range []*platform.Token{tok, platform.TokenFromContext(h.as(secret))} {
			if !slices.Equal(got.Scopes, wantScopes) || !slices.Equal(got.Tools, wantTools) {
				t.Fatalf("scopes %q tools %q, want %q and %q", got.Scopes, got.Tools, wantScopes, wantTools)
			}
		}
	})
	t.Run("none by default", func(t *testing.T) {
		tok, _, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "plain"})
		if err != nil {
			t.Fatal(err)
		}
		if tok.Scopes != nil || tok.Tools != nil {
			t.Fatalf("scopes %q tools %q, want none", tok.Scopes, tok.Tools)
		}
	})
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	invalid := []struct {
		name string
		req  platform.CreateTokenRequest
		msgs []string
	}{
		{"scope with a space", platform.CreateTokenRequest{Scopes: []string{"mail read"}}, []string{`scope "mail read"`}},
		{"empty scope", platform.CreateTokenRequest{Scopes: []string{""}}, []string{`scope ""`}},
		{"scope too long", platform.CreateTokenRequest{Scopes: []string{strings.Repeat("s", 65)}}, []string{`scope "sss`}},
		{"scope with a slash", platform.CreateTokenRequest{Scopes: []string{"mail/read"}}, []string{`scope "mail/read"`}},
		{"too many scopes", platform.CreateTokenRequest{Scopes: many(33, func(i int) string { return fmt.Sprintf("s%d", i) })}, []string{"33 scopes: at most 32"}},
		{"uppercase service", platform.CreateTokenRequest{Tools: []string{"Mail.Mail.Read"}}, []string{`tool "Mail.Mail.Read"`}},
		{"service alone", platform.CreateTokenRequest{Tools: []string{"mail"}}, []string{`tool "mail"`}},
		{"no type", platform.CreateTokenRequest{Tools: []string{"mail.Read"}}, []string{`tool "mail.Read"`}},
		{"too deep", platform.CreateTokenRequest{Tools: []string{"mail.Mail.Read.Now"}}, []string{`tool "mail.Mail.Read.Now"`}},
		{"wildcard type", platform.CreateTokenRequest{Tools: []string{"mail.*.Read"}}, []string{`tool "mail.*.Read"`}},
		{"method not an identifier", platform.CreateTokenRequest{Tools: []string{"mail.Mail.1st"}}, []string{`tool "mail.Mail.1st"`}},
		{"everything", platform.CreateTokenRequest{Tools: []string{"*"}}, []string{`tool "*"`}},
		{"too many tools", platform.CreateTokenRequest{Tools: many(65, func(i int) string { return fmt.Sprintf("svc%d.*", i) })}, []string{"65 tools: at most 64"}},
		{"every problem at once", platform.CreateTokenRequest{Scopes: []string{"ok", "not ok"}, Tools: []string{"ok.*", "bad"}},
			[]string{`scope "not ok"`, `tool "bad"`}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			before := count()
			tt.req.Name = "bad"
			_, _, err := h.plane.CreateToken(h.owner, tt.req)
			for _, msg := range tt.msgs {
				wantErr(t, err, platform.EINVALID, msg)
			}
			if n := count(); n != before {
				t.Fatalf("%d tokens after a refused create, want %d", n, before)
			}
		})
	}
	t.Run("duplicates count once", func(t *testing.T) {
		_, _, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "dups",
			Scopes: many(40, func(i int) string { return fmt.Sprintf("s%d", i%2) })})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestNarrowedTokenCannotMintAWiderOne checks that a token narrowed to tools, or holding
// scopes, makes tokens within its own reach: an agent cannot escape its narrowing by
// creating a token (which any role may).
func TestNarrowedTokenCannotMintAWiderOne(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	_, secret, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "agent", Role: platform.RoleDeveloper,
		Scopes: []string{"mail:read"}, Tools: []string{"mail.*", "billing.Billing.Quote"}})
	if err != nil {
		t.Fatal(err)
	}
	agent := h.as(secret)
	allowed := []struct {
		name       string
		req        platform.CreateTokenRequest
		wantTools  []string
		wantScopes []string
	}{
		{"inherits the tools", platform.CreateTokenRequest{}, []string{"mail.*", "billing.Billing.Quote"}, nil},
		{"a tool within", platform.CreateTokenRequest{Tools: []string{"mail.Mail.Send", "billing.Billing.Quote"}}, []string{"mail.Mail.Send", "billing.Billing.Quote"}, nil},
		{"a scope it holds", platform.CreateTokenRequest{Scopes: []string{"MAIL:READ"}}, []string{"mail.*", "billing.Billing.Quote"}, []string{"MAIL:READ"}},
	}
	for _, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Name = "child"
			tok, _, err := h.plane.CreateToken(agent, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tok.Tools, tt.wantTools) || !slices.Equal(tok.Scopes, tt.wantScopes) {
				t.Fatalf("tools %q scopes %q, want %q and %q", tok.Tools, tok.Scopes, tt.wantTools, tt.wantScopes)
			}
		})
	}
	refused := []struct {
		name string
		req  platform.CreateTokenRequest
		msg  string
	}{
		{"another service", platform.CreateTokenRequest{Tools: []string{"admin.*"}}, `tool "admin.*"`},
		{"a whole service it has one endpoint of", platform.CreateTokenRequest{Tools: []string{"billing.*"}}, `tool "billing.*"`},
		{"another endpoint", platform.CreateTokenRequest{Tools: []string{"billing.Billing.Refund"}}, `tool "billing.Billing.Refund"`},
		{"every scope", platform.CreateTokenRequest{Scopes: []string{"*"}}, `scope "*"`},
		{"another scope", platform.CreateTokenRequest{Scopes: []string{"mail:write"}}, `scope "mail:write"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Name = "wider"
			_, _, err := h.plane.CreateToken(agent, tt.req)
			wantErr(t, err, platform.EFORBIDDEN, tt.msg)
		})
	}
}
