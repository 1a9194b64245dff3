package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/micro/platform"
)

// testDefaultAccounts checks what a new store holds: the default org, its first owner
// and namespaces that belong to it.
func testDefaultAccounts(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	org, err := s.GetOrg(ctx, platform.DefaultOrg)
	must(t, err)
	if org.CreatedAt.IsZero() {
		t.Fatal("default org has no creation time")
	}
	owner, err := s.GetUserByLogin(ctx, "admin")
	must(t, err)
	if owner.ID != "u-admin" || owner.Source != platform.UserLocal || !owner.Active() {
		t.Fatalf("first owner = %+v, want the active local user u-admin", owner)
	}
	m, err := s.GetMembership(ctx, platform.DefaultOrg, owner.ID)
	must(t, err)
	if m.Role != platform.RoleOwner || m.Login != "admin" {
		t.Fatalf("first owner's membership = %+v, want owner", m)
	}
	mustNamespace(t, s, "acme")
	ns, err := s.GetNamespace(ctx, "acme")
	must(t, err)
	if ns.Org != platform.DefaultOrg {
		t.Fatalf("namespace org = %q, want %q", ns.Org, platform.DefaultOrg)
	}
}

func testOrgs(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	globex := &platform.Org{Name: "globex", DisplayName: "Globex Corp", CreatedAt: testTime}
	must(t, s.CreateOrg(ctx, globex))
	t.Run("get", func(t *testing.T) {
		got, err := s.GetOrg(ctx, "globex")
		must(t, err)
		sameJSON(t, "org", got, globex)
		_, err = s.GetOrg(ctx, "nope")
		wantCode(t, err, platform.ENOTFOUND)
	})
	t.Run("list", func(t *testing.T) {
		list, err := s.ListOrgs(ctx)
		must(t, err)
		if len(list) != 2 || list[0].Name != "default" || list[1].Name != "globex" {
			t.Fatalf("orgs = %+v, want default and globex", list)
		}
	})
	t.Run("errors", func(t *testing.T) {
		wantCode(t, s.CreateOrg(ctx, &platform.Org{Name: "globex"}), platform.ECONFLICT)
		wantCode(t, s.CreateOrg(ctx, &platform.Org{Name: "Bad Name"}), platform.EINVALID)
		wantCode(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "x", Org: "nope"}), platform.ENOTFOUND)
	})
	t.Run("namespaces belong to their org", func(t *testing.T) {
		must(t, s.CreateNamespace(ctx, &platform.Namespace{Name: "gx", Org: "globex"}))
		ns, err := s.GetNamespace(ctx, "gx")
		must(t, err)
		if ns.Org != "globex" {
			t.Fatalf("org = %q, want globex", ns.Org)
		}
		list, err := s.ListNamespaces(ctx)
		must(t, err)
		if len(list) != 1 || list[0].Org != "globex" {
			t.Fatalf("namespaces = %+v", list)
		}
	})
	t.Run("github links", func(t *testing.T) {
		links := []*platform.GitHubLink{
			{Org: "globex", GitHubOrg: "globex-inc", Team: "sre", Role: platform.RoleAdmin},
			{Org: "globex", GitHubOrg: "globex-inc", Team: "devs", Role: platform.RoleDeveloper},
		}
		must(t, s.SetGitHubLinks(ctx, "globex", links))
		got, err := s.ListGitHubLinks(ctx, "globex")
		must(t, err)
		sameJSON(t, "links", got, []*platform.GitHubLink{links[1], links[0]})
		must(t, s.SetGitHubLinks(ctx, "globex", links[:1]))
		got, err = s.ListGitHubLinks(ctx, "")
		must(t, err)
		sameJSON(t, "links after replace", got, links[:1])
		wantCode(t, s.SetGitHubLinks(ctx, "nope", links[:1]), platform.ENOTFOUND)
		err = s.SetGitHubLinks(ctx, "globex", []*platform.GitHubLink{{GitHubOrg: "g", Team: "t", Role: "god"}, {GitHubOrg: "", Team: "t", Role: platform.RoleViewer}})
		wantCode(t, err, platform.EINVALID)
		if msg := platform.ErrorMessage(err); !strings.Contains(msg, `role "god"`) || !strings.Contains(msg, "link 2") {
			t.Fatalf("message %q does not name both bad links", msg)
		}
		got, err = s.ListGitHubLinks(ctx, "globex")
		must(t, err)
		sameJSON(t, "links after a refused replace", got, links[:1])
	})
}

func testUsers(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	alice := &platform.User{ID: "u-alice", Login: "alice", Name: "Alice", Email: "alice@example.com", Source: platform.UserLocal, CreatedAt: testTime, UpdatedAt: testTime}
	bob := &platform.User{ID: "u-bob", Login: "bob", Source: platform.UserGitHub, GitHubID: 42}
	must(t, s.CreateUser(ctx, alice))
	must(t, s.CreateUser(ctx, bob))
	t.Run("get", func(t *testing.T) {
		got, err := s.GetUser(ctx, "u-alice")
		must(t, err)
		sameJSON(t, "by id", got, alice)
		got, err = s.GetUserByLogin(ctx, "bob")
		must(t, err)
		sameJSON(t, "by login", got, bob)
		got, err = s.GetUserByGitHubID(ctx, 42)
		must(t, err)
		sameJSON(t, "by GitHub id", got, bob)
		for _, err := range []error{
			func() error { _, err := s.GetUser(ctx, "u-nope"); return err }(),
			func() error { _, err := s.GetUserByLogin(ctx, "nope"); return err }(),
			func() error { _, err := s.GetUserByGitHubID(ctx, 7); return err }(),
			func() error { _, err := s.GetUserByGitHubID(ctx, 0); return err }(),
		} {
			wantCode(t, err, platform.ENOTFOUND)
		}
	})
	t.Run("conflicts and invalid", func(t *testing.T) {
		wantCode(t, s.CreateUser(ctx, &platform.User{ID: "u-alice", Login: "other", Source: platform.UserLocal}), platform.ECONFLICT)
		wantCode(t, s.CreateUser(ctx, &platform.User{ID: "u-2", Login: "alice", Source: platform.UserLocal}), platform.ECONFLICT)
		wantCode(t, s.CreateUser(ctx, &platform.User{ID: "u-3", Login: "carol", Source: platform.UserGitHub, GitHubID: 42}), platform.ECONFLICT)
		wantCode(t, s.CreateUser(ctx, &platform.User{ID: "u-4", Login: "dave", Source: "ldap"}), platform.EINVALID)
		wantCode(t, s.CreateUser(ctx, &platform.User{ID: "u-5", Login: "erin", Source: platform.UserGitHub}), platform.EINVALID)
		wantCode(t, s.CreateUser(ctx, &platform.User{ID: "u-6", Source: platform.UserLocal}), platform.EINVALID)
	})
	t.Run("update", func(t *testing.T) {
		deleted := testTime.Add(time.Hour).Truncate(time.Microsecond)
		u := *alice
		u.Name, u.Disabled, u.DeletedAt = "Alice A.", true, &deleted
		must(t, s.UpdateUser(ctx, &u))
		got, err := s.GetUser(ctx, "u-alice")
		must(t, err)
		if got.Name != "Alice A." || !got.Disabled || got.DeletedAt == nil || !got.DeletedAt.Equal(deleted) || got.Active() {
			t.Fatalf("after update = %+v", got)
		}
		if !got.UpdatedAt.After(alice.UpdatedAt) {
			t.Fatalf("UpdatedAt = %v, want after %v", got.UpdatedAt, alice.UpdatedAt)
		}
		u.Login = "bob"
		wantCode(t, s.UpdateUser(ctx, &u), platform.ECONFLICT)
		wantCode(t, s.UpdateUser(ctx, &platform.User{ID: "u-nope", Login: "x", Source: platform.UserLocal}), platform.ENOTFOUND)
	})
	t.Run("list by login", func(t *testing.T) {
		list, err := s.ListUsers(ctx)
		must(t, err)
		var logins []string
		for _, u := range list {
			logins = append(logins, u.Login)
		}
		sameJSON(t, "logins", logins, []string{"admin", "alice", "bob"})
	})
}

func testMemberships(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	must(t, s.CreateOrg(ctx, &platform.Org{Name: "globex"}))
	must(t, s.CreateUser(ctx, &platform.User{ID: "u-bob", Login: "bob", Source: platform.UserGitHub, GitHubID: 42}))
	m := &platform.Membership{Org: "globex", UserID: "u-bob", Role: platform.RoleDeveloper, Source: platform.MemberGitHubTeam, Teams: []string{"globex-inc/devs"}}
	must(t, s.PutMembership(ctx, m))
	t.Run("get", func(t *testing.T) {
		got, err := s.GetMembership(ctx, "globex", "u-bob")
		must(t, err)
		m.Login = "bob"
		sameJSON(t, "membership", got, m)
		_, err = s.GetMembership(ctx, platform.DefaultOrg, "u-bob")
		wantCode(t, err, platform.ENOTFOUND)
	})
	t.Run("replace", func(t *testing.T) {
		must(t, s.PutMembership(ctx, &platform.Membership{Org: "globex", UserID: "u-bob", Role: platform.RoleAdmin, Source: platform.MemberLocal}))
		got, err := s.GetMembership(ctx, "globex", "u-bob")
		must(t, err)
		if got.Role != platform.RoleAdmin || got.Source != platform.MemberLocal || len(got.Teams) != 0 {
			t.Fatalf("after replace = %+v", got)
		}
	})
	t.Run("members and memberships", func(t *testing.T) {
		must(t, s.PutMembership(ctx, &platform.Membership{Org: platform.DefaultOrg, UserID: "u-bob", Role: platform.RoleViewer, Source: platform.MemberLocal}))
		members, err := s.ListMembers(ctx, platform.DefaultOrg)
		must(t, err)
		if len(members) != 2 || members[0].Login != "admin" || members[0].Role != platform.RoleOwner ||
			members[1].Login != "bob" || members[1].Role != platform.RoleViewer || members[1].GitHubID != 42 {
			t.Fatalf("members = %+v", members)
		}
		list, err := s.ListMemberships(ctx, "u-bob")
		must(t, err)
		if len(list) != 2 || list[0].Org != platform.DefaultOrg || list[1].Org != "globex" {
			t.Fatalf("memberships = %+v", list)
		}
	})
	t.Run("errors", func(t *testing.T) {
		wantCode(t, s.PutMembership(ctx, &platform.Membership{Org: "nope", UserID: "u-bob", Role: platform.RoleViewer, Source: platform.MemberLocal}), platform.ENOTFOUND)
		wantCode(t, s.PutMembership(ctx, &platform.Membership{Org: "globex", UserID: "u-nope", Role: platform.RoleViewer, Source: platform.MemberLocal}), platform.ENOTFOUND)
		wantCode(t, s.PutMembership(ctx, &platform.Membership{Org: "globex", UserID: "u-bob", Role: "root", Source: "sso"}), platform.EINVALID)
	})
	t.Run("delete", func(t *testing.T) {
		must(t, s.DeleteMembership(ctx, "globex", "u-bob"))
		wantCode(t, s.DeleteMembership(ctx, "globex", "u-bob"), platform.ENOTFOUND)
	})
}

// testTokenOwners checks that a token is read with its owner's current role and state,
// which is how a demotion, a removal or a disabled user takes effect on old tokens.
func testTokenOwners(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	must(t, s.CreateOrg(ctx, &platform.Org{Name: "globex"}))
	bob := &platform.User{ID: "u-bob", Login: "bob", Source: platform.UserLocal}
	must(t, s.CreateUser(ctx, bob))
	must(t, s.PutMembership(ctx, &platform.Membership{Org: "globex", UserID: "u-bob", Role: platform.RoleAdmin, Source: platform.MemberLocal}))
	api := &platform.Token{ID: "t-api", Name: "ci", Hash: "hash-api", UserID: "u-bob", Org: "globex", Role: platform.RoleDeveloper}
	session := &platform.Token{ID: "t-sess", Name: "browser", Hash: "hash-sess", UserID: "u-bob", Org: "globex", Role: platform.RoleAdmin, Kind: platform.TokenSession}
	other := &platform.Token{ID: "t-other", Name: "admin", Hash: "hash-other", Admin: true}
	for _, tok := range []*platform.Token{api, session, other} {
		must(t, s.CreateToken(ctx, tok))
	}
	get := func(t *testing.T, hash string) *platform.Token {
		t.Helper()
		tok, err := s.GetTokenByHash(ctx, hash)
		must(t, err)
		return tok
	}

	t.Run("with owner", func(t *testing.T) {
		tok := get(t, "hash-api")
		if tok.User != "bob" || tok.MemberRole != platform.RoleAdmin || tok.UserInactive || tok.Kind != platform.TokenAPI || tok.EffectiveRole() != platform.RoleDeveloper {
			t.Fatalf("token = %+v", tok)
		}
		if get(t, "hash-sess").Kind != platform.TokenSession {
			t.Fatal("session kind not kept")
		}
	})
	t.Run("demotion caps the role", func(t *testing.T) {
		must(t, s.PutMembership(ctx, &platform.Membership{Org: "globex", UserID: "u-bob", Role: platform.RoleViewer, Source: platform.MemberLocal}))
		if r := get(t, "hash-sess").EffectiveRole(); r != platform.RoleViewer {
			t.Fatalf("effective role after demotion = %q, want viewer", r)
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		bob.Disabled = true
		must(t, s.UpdateUser(ctx, bob))
		if !get(t, "hash-api").UserInactive {
			t.Fatal("token of a disabled user is not marked inactive")
		}
		bob.Disabled = false
		must(t, s.UpdateUser(ctx, bob))
		if get(t, "hash-api").UserInactive {
			t.Fatal("token of a re-enabled user is still inactive")
		}
	})
	t.Run("removed member", func(t *testing.T) {
		must(t, s.DeleteMembership(ctx, "globex", "u-bob"))
		if !get(t, "hash-api").UserInactive {
			t.Fatal("token of a removed member is not marked inactive")
		}
	})
	t.Run("delete user tokens", func(t *testing.T) {
		removed, err := s.DeleteUserTokens(ctx, "u-bob", "globex")
		must(t, err)
		if len(removed) != 2 || removed[0].Hash == "" {
			t.Fatalf("removed = %+v, want both of bob's tokens with their hashes", removed)
		}
		for _, h := range []string{"hash-api", "hash-sess"} {
			_, err := s.GetTokenByHash(ctx, h)
			wantCode(t, err, platform.ENOTFOUND)
		}
		get(t, "hash-other") // someone else's token stays
		removed, err = s.DeleteUserTokens(ctx, "u-bob", "")
		must(t, err)
		if len(removed) != 0 {
			t.Fatalf("second delete removed %d tokens", len(removed))
		}
	})
}

func testAudit(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	entries := []*platform.AuditEntry{
		{Org: "default", Actor: "admin", Action: platform.AuditTokenCreate, Target: "token/t-1", Source: "10.0.0.1:5000", Time: testTime},
		{Org: "default", Actor: "alice", Action: platform.AuditDeploy, Target: "service/acme/api", Time: testTime.Add(time.Minute)},
		{Org: "globex", Actor: "bob", Action: platform.AuditTokenRevoke, Target: "token/t-2", Time: testTime.Add(2 * time.Minute)},
		{Org: "default", Actor: "alice", Action: platform.AuditTokenRevoke, Target: "token/t-1", Outcome: platform.AuditDenied, Detail: "needs admin", Time: testTime.Add(3 * time.Minute)},
	}
	for _, e := range entries {
		must(t, s.AppendAudit(ctx, e))
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].ID <= entries[i-1].ID {
			t.Fatalf("IDs %d then %d: want increasing", entries[i-1].ID, entries[i].ID)
		}
	}
	if entries[0].Outcome != platform.AuditOK {
		t.Fatalf("default outcome = %q, want ok", entries[0].Outcome)
	}
	ids := func(list []*platform.AuditEntry) []int64 {
		out := []int64{}
		for _, e := range list {
			out = append(out, e.ID)
		}
		return out
	}
	e := entries
	tests := []struct {
		name string
		f    platform.AuditFilter
		want []int64
	}{
		{"org, newest first", platform.AuditFilter{Org: "default"}, []int64{e[3].ID, e[1].ID, e[0].ID}},
		{"actor", platform.AuditFilter{Org: "default", Actor: "alice"}, []int64{e[3].ID, e[1].ID}},
		{"action", platform.AuditFilter{Org: "default", Action: platform.AuditDeploy}, []int64{e[1].ID}},
		{"action prefix", platform.AuditFilter{Org: "default", Action: "token."}, []int64{e[3].ID, e[0].ID}},
		{"since", platform.AuditFilter{Org: "default", Since: testTime.Add(time.Minute)}, []int64{e[3].ID, e[1].ID}},
		{"page", platform.AuditFilter{Org: "default", Limit: 2}, []int64{e[3].ID, e[1].ID}},
		{"next page", platform.AuditFilter{Org: "default", Limit: 2, BeforeID: e[1].ID}, []int64{e[0].ID}},
		{"other org", platform.AuditFilter{Org: "globex"}, []int64{e[2].ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := s.ListAudit(ctx, tt.f)
			must(t, err)
			sameJSON(t, "ids", ids(list), tt.want)
		})
	}
	t.Run("round trip", func(t *testing.T) {
		list, err := s.ListAudit(ctx, platform.AuditFilter{Org: "default", Actor: "alice", Limit: 1})
		must(t, err)
		sameJSON(t, "entry", list, []*platform.AuditEntry{entries[3]})
	})
	t.Run("invalid", func(t *testing.T) {
		wantCode(t, s.AppendAudit(ctx, &platform.AuditEntry{Action: "x"}), platform.EINVALID)
		wantCode(t, s.AppendAudit(ctx, &platform.AuditEntry{Org: "default"}), platform.EINVALID)
		_, err := s.ListAudit(ctx, platform.AuditFilter{})
		wantCode(t, err, platform.EINVALID)
	})
	t.Run("batch", func(t *testing.T) {
		b, ok := s.(platform.AuditBatcher)
		if !ok {
			t.Skip("the store appends one entry at a time")
		}
		batch := []*platform.AuditEntry{
			{Org: "initech", Actor: "agent", Action: platform.AuditToolCall, Target: "tool/acme/a.A.A", Time: testTime},
			{Org: "initech", Actor: "agent", Action: platform.AuditToolCall, Target: "tool/acme/b.B.B", Outcome: platform.AuditFailed, Time: testTime},
		}
		must(t, b.AppendAudits(ctx, batch))
		if batch[0].ID == 0 || batch[1].ID <= batch[0].ID || batch[0].Outcome != platform.AuditOK {
			t.Fatalf("batch IDs %d, %d, outcome %q: want increasing and ok by default", batch[0].ID, batch[1].ID, batch[0].Outcome)
		}
		list, err := s.ListAudit(ctx, platform.AuditFilter{Org: "initech"})
		must(t, err)
		sameJSON(t, "batch", list, []*platform.AuditEntry{batch[1], batch[0]})
		// One invalid entry stores none of the batch.
		wantCode(t, b.AppendAudits(ctx, []*platform.AuditEntry{{Org: "initech", Action: "x"}, {Org: "initech"}}), platform.EINVALID)
		list, err = s.ListAudit(ctx, platform.AuditFilter{Org: "initech"})
		must(t, err)
		if len(list) != 2 {
			t.Errorf("an invalid batch stored %d entries", len(list)-2)
		}
	})
}
