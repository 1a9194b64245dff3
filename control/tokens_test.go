package control_test

import (
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
