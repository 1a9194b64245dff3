package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/micro/platform"
)

func testTokens(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	expires := testTime.Add(30 * 24 * time.Hour).Truncate(time.Microsecond)
	// Created out of order, so ListTokens must sort by CreatedAt, not insertion.
	scoped := &platform.Token{ID: "t-ci", Name: "ci", Hash: "hash-ci", Namespaces: []string{"acme", "globex"},
		CreatedAt: testTime.Add(time.Hour).Truncate(time.Microsecond), ExpiresAt: &expires}
	admin := &platform.Token{ID: "t-admin", Name: "admin", Hash: "hash-admin", Admin: true,
		CreatedAt: testTime.Truncate(time.Microsecond)}
	fresh := &platform.Token{ID: "t-new", Name: "new", Hash: "hash-new"}
	// An agent's token: go-micro scopes and a tool narrowing, read back as stored.
	agent := &platform.Token{ID: "t-agent", Name: "agent", Hash: "hash-agent", Role: platform.RoleDeveloper,
		Namespaces: []string{"acme"}, Scopes: []string{"mail:read", "*"}, Tools: []string{"mail.Mail.Read", "billing.*"},
		CreatedAt: testTime.Add(2 * time.Hour).Truncate(time.Microsecond)}
	for _, tok := range []*platform.Token{scoped, admin, fresh, agent} {
		must(t, s.CreateToken(ctx, tok))
	}
	// The bootstrap form (Admin, no user) goes to the default org's first owner.
	if admin.UserID != "u-admin" || admin.Role != platform.RoleOwner || admin.Org != platform.DefaultOrg || admin.Kind != platform.TokenAPI {
		t.Fatalf("bootstrap token = user %q role %q org %q kind %q, want u-admin, owner, default, api", admin.UserID, admin.Role, admin.Org, admin.Kind)
	}
	admin.User = "admin" // read back with the owner's login

	t.Run("get by hash", func(t *testing.T) {
		for _, want := range []*platform.Token{scoped, admin, fresh, agent} {
			got, err := s.GetTokenByHash(ctx, want.Hash)
			must(t, err)
			sameJSON(t, "token "+want.ID, got, want)
			if got.Hash != want.Hash {
				t.Fatalf("Hash = %q, want %q", got.Hash, want.Hash)
			}
		}
		if fresh.CreatedAt.IsZero() {
			t.Fatal("CreateToken did not set CreatedAt")
		}
	})
	t.Run("scopes and tools", func(t *testing.T) {
		got, err := s.GetTokenByHash(ctx, "hash-agent")
		must(t, err)
		if !slices.Equal(got.Scopes, agent.Scopes) || !slices.Equal(got.Tools, agent.Tools) {
			t.Fatalf("scopes %q tools %q, want %q and %q", got.Scopes, got.Tools, agent.Scopes, agent.Tools)
		}
		// A token made without them holds no scope and is narrowed to no tool.
		got, err = s.GetTokenByHash(ctx, "hash-new")
		must(t, err)
		if got.Scopes != nil || got.Tools != nil {
			t.Fatalf("token without scopes or tools read back scopes %q tools %q, want none", got.Scopes, got.Tools)
		}
	})
	t.Run("list by creation", func(t *testing.T) {
		list, err := s.ListTokens(ctx)
		must(t, err)
		sameJSON(t, "ListTokens", list, []*platform.Token{admin, scoped, agent, fresh})
	})
	t.Run("conflicts", func(t *testing.T) {
		wantCode(t, s.CreateToken(ctx, &platform.Token{ID: "t-ci", Name: "again", Hash: "hash-other"}), platform.ECONFLICT)
		wantCode(t, s.CreateToken(ctx, &platform.Token{ID: "t-other", Name: "again", Hash: "hash-ci"}), platform.ECONFLICT)
	})
	t.Run("invalid", func(t *testing.T) {
		wantCode(t, s.CreateToken(ctx, &platform.Token{ID: "t-nohash", Name: "x"}), platform.EINVALID)
		wantCode(t, s.CreateToken(ctx, &platform.Token{Name: "x", Hash: "h"}), platform.EINVALID)
		wantCode(t, s.CreateToken(ctx, &platform.Token{ID: "t-x", Name: "x", Hash: "h", Role: "root"}), platform.EINVALID)
		wantCode(t, s.CreateToken(ctx, &platform.Token{ID: "t-x", Name: "x", Hash: "h", Kind: "cookie"}), platform.EINVALID)
	})
	t.Run("unknown hash", func(t *testing.T) {
		_, err := s.GetTokenByHash(ctx, "hash-nope")
		wantCode(t, err, platform.ENOTFOUND)
	})
	t.Run("delete", func(t *testing.T) {
		must(t, s.DeleteToken(ctx, "t-ci"))
		_, err := s.GetTokenByHash(ctx, "hash-ci")
		wantCode(t, err, platform.ENOTFOUND)
		wantCode(t, s.DeleteToken(ctx, "t-ci"), platform.ENOTFOUND)
		list, err := s.ListTokens(ctx)
		must(t, err)
		sameJSON(t, "ListTokens after delete", list, []*platform.Token{admin, agent, fresh})
	})
}
