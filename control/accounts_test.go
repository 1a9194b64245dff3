package control_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/control"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/runtime/fake"
	"github.com/micro/platform/sqlstore"
)

// clock is a platform.Clock that moves only when told to.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// accounts is a Plane on a real SQLite store with the real caching Authenticator, whose
// TTL is an hour: anything refused at once below is refused because the plane told the
// cache, not because an entry expired.
type accounts struct {
	t     *testing.T
	dir   string
	store *sqlstore.Store
	auth  *auth.Authenticator
	plane *control.Plane
	clock *clock
	owner context.Context // the first owner, through the bootstrap token
}

func newAccounts(t *testing.T, mutate ...func(*control.Options)) *accounts {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.Open(t.Context(), filepath.Join(dir, "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{now: time.Now().UTC()}
	a := auth.NewAuthenticator(st, auth.Options{TTL: time.Hour, NegativeTTL: time.Nanosecond, Clock: c})
	box, err := seal.New([]byte("test secret key, 32 bytes long!!"), "release-env")
	if err != nil {
		t.Fatal(err)
	}
	driver := fake.New(fake.Options{})
	opts := control.Options{
		Store: st, Mesh: &fakeMesh{driver: driver, silent: map[string]bool{}}, Driver: driver, Builder: fakeBuilder{}, Sources: fakeBuilder{},
		Secrets: box, Auth: a, Clock: c, BuildLogDir: filepath.Join(dir, "buildlogs"), Logger: testLogger(t),
	}
	for _, m := range mutate {
		m(&opts)
	}
	plane, err := control.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := &accounts{t: t, dir: dir, store: st, auth: a, plane: plane, clock: c}
	// What the server does at first start: an admin token without a user.
	secret, hash := auth.NewSecret()
	if err := st.CreateToken(t.Context(), &platform.Token{ID: platform.NewID("t"), Name: "admin", Hash: hash, Admin: true}); err != nil {
		t.Fatal(err)
	}
	h.owner = h.as(secret)
	return h
}

// as returns a context carrying the token of secret, as the HTTP layer makes it, from
// the address 192.0.2.1.
func (h *accounts) as(secret string) context.Context {
	h.t.Helper()
	tok, err := h.auth.Authenticate(context.Background(), secret)
	if err != nil {
		h.t.Fatalf("authenticate: %v", err)
	}
	return platform.NewContextWithToken(platform.NewContextWithSource(context.Background(), "192.0.2.1:4000"), tok)
}

// member creates a local user with role and returns a context with a token of theirs
// (every namespace) and the secret.
func (h *accounts) member(login string, role platform.Role) (context.Context, string) {
	h.t.Helper()
	_, secret, err := h.plane.CreateUser(h.owner, platform.CreateUserRequest{Login: login, Role: role})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.as(secret), secret
}

func (h *accounts) namespace(names ...string) {
	h.t.Helper()
	for _, n := range names {
		if _, err := h.plane.CreateNamespace(h.owner, n); err != nil {
			h.t.Fatal(err)
		}
	}
}

func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if platform.ErrorCode(err) != code || !strings.Contains(platform.ErrorMessage(err), msg) {
		t.Fatalf("err = %v (%s), want %s containing %q", err, platform.ErrorCode(err), code, msg)
	}
}

func TestBootstrapTokenIsTheFirstOwner(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	who, err := h.plane.Whoami(h.owner)
	if err != nil {
		t.Fatal(err)
	}
	if who.Role != platform.RoleOwner || who.Org != platform.DefaultOrg || who.User == nil || who.User.Login != "admin" {
		t.Fatalf("whoami = %+v, user %+v; want the owner admin of default", who, who.User)
	}
}

func TestTokenNeverAboveItsCreator(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("acme", "globex")
	dev, _ := h.member("dev", platform.RoleDeveloper)

	_, _, err := h.plane.CreateToken(dev, platform.CreateTokenRequest{Name: "ci", Role: platform.RoleAdmin})
	wantErr(t, err, platform.EFORBIDDEN, "a token cannot have a higher role than its creator: you have developer, asked for admin")
	if platform.ErrorHint(err) == "" {
		t.Error("no hint")
	}
	for _, role := range []platform.Role{"", platform.RoleDeveloper, platform.RoleViewer} {
		tok, secret, err := h.plane.CreateToken(dev, platform.CreateTokenRequest{Name: "ci-" + string(role), Role: role, Namespaces: []string{"acme"}})
		if err != nil {
			t.Fatalf("role %q: %v", role, err)
		}
		want := role
		if want == "" {
			want = platform.RoleDeveloper
		}
		if tok.Role != want || tok.User != "dev" || !strings.HasPrefix(secret, auth.SecretPrefix) {
			t.Fatalf("token = %+v, want role %s of dev", tok, want)
		}
		// A narrowed token cannot make a wider one.
		narrow := h.as(secret)
		_, _, err = h.plane.CreateToken(narrow, platform.CreateTokenRequest{Name: "wider", Namespaces: []string{"globex"}})
		wantErr(t, err, platform.EFORBIDDEN, `a token cannot reach namespaces its creator cannot: namespace "globex"`)
		_, _, err = h.plane.CreateToken(narrow, platform.CreateTokenRequest{Name: "every", Admin: true})
		wantErr(t, err, platform.EFORBIDDEN, "--admin asks for every namespace")
		tok2, _, err := h.plane.CreateToken(narrow, platform.CreateTokenRequest{Name: "same"})
		if err != nil || len(tok2.Namespaces) != 1 || tok2.Namespaces[0] != "acme" {
			t.Fatalf("narrowed token's token = %+v, %v; want acme only", tok2, err)
		}
	}
	// Demoting the user caps their existing tokens at once.
	if _, err := h.plane.SetUserRole(h.owner, "dev", platform.RoleViewer); err != nil {
		t.Fatal(err)
	}
	_, err = h.plane.Deploy(h.as(mustSecret(t, h, "dev")), platform.DeployRequest{Namespace: "acme", Service: "api", Source: platform.Source{Kind: platform.SourceGit, URL: "https://example.com/x.git"}})
	wantErr(t, err, platform.EFORBIDDEN, "service.deploy needs the developer role")
}

// mustSecret issues a new API token for login.
func mustSecret(t *testing.T, h *accounts, login string) string {
	t.Helper()
	u, err := h.store.GetUserByLogin(t.Context(), login)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := h.plane.Directory().IssueToken(t.Context(), u.ID, platform.DefaultOrg, platform.TokenAPI, 0)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestRevokedAndExpiredTokensRefusedAtOnce(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("acme")
	tok, secret, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "ci", Role: platform.RoleDeveloper, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := h.auth.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	t.Run("expired", func(t *testing.T) {
		h.clock.Advance(time.Minute)
		_, err := h.auth.Authenticate(ctx, secret)
		wantErr(t, err, platform.EUNAUTHENTICATED, "token expired")
		h.clock.Advance(-time.Minute)
	})
	t.Run("revoked", func(t *testing.T) {
		if err := h.plane.DeleteToken(h.owner, tok.ID); err != nil {
			t.Fatal(err)
		}
		_, err := h.auth.Authenticate(ctx, secret)
		wantErr(t, err, platform.EUNAUTHENTICATED, "invalid or revoked token")
	})
	t.Run("only the hash is stored", func(t *testing.T) {
		_, secret, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "kept"})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.store.Close(); err != nil { // flush the WAL into the file
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(h.dir, "platform.db*"))
		hash := []byte(auth.Hash(secret))
		found := false
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(strings.TrimPrefix(secret, auth.SecretPrefix))) {
				t.Fatalf("%s holds the token's secret", f)
			}
			found = found || bytes.Contains(b, hash)
		}
		if !found {
			t.Fatal("the token's hash is not in the database files")
		}
	})
}

func TestDisabledUserRefusedAtOnce(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("acme")
	_, secret := h.member("dev", platform.RoleDeveloper)
	ctx := context.Background()
	if _, err := h.plane.SetUserDisabled(h.owner, "dev", true); err != nil {
		t.Fatal(err)
	}
	_, err := h.auth.Authenticate(ctx, secret)
	wantErr(t, err, platform.EUNAUTHENTICATED, "disabled")
	// The refusal is in the audit log (written in the background).
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := h.plane.ListAudit(h.owner, platform.AuditFilter{Action: platform.AuditTokenRefused})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].Actor == "dev" && list[0].Outcome == platform.AuditDenied {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refused token not audited: %+v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := h.plane.SetUserDisabled(h.owner, "dev", false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.auth.Authenticate(ctx, secret); err != nil {
		t.Fatalf("after enabling: %v", err)
	}
	t.Run("not yourself, not the last owner", func(t *testing.T) {
		_, err := h.plane.SetUserDisabled(h.owner, "admin", true)
		wantErr(t, err, platform.ECONFLICT, "you cannot disable yourself")
		_, err = h.plane.SetUserRole(h.owner, "admin", platform.RoleAdmin)
		wantErr(t, err, platform.ECONFLICT, "admin is the last owner")
	})
	t.Run("members only", func(t *testing.T) {
		_, err := h.plane.SetUserDisabled(h.owner, "nobody", true)
		wantErr(t, err, platform.ENOTFOUND, `user "nobody" is not a member`)
	})
}

func TestUsers(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	admin, _ := h.member("ann", platform.RoleAdmin)
	viewer, _ := h.member("vic", platform.RoleViewer)
	_, _, err := h.plane.CreateUser(admin, platform.CreateUserRequest{Login: "eve", Role: platform.RoleViewer})
	wantErr(t, err, platform.EFORBIDDEN, "member.manage needs the owner role; token \"first token\" has the admin role")
	_, _, err = h.plane.CreateUser(h.owner, platform.CreateUserRequest{Login: "Bad Login", Role: "god"})
	wantErr(t, err, platform.EINVALID, `role "god"`)
	_, _, err = h.plane.CreateUser(h.owner, platform.CreateUserRequest{Login: "vic", Role: platform.RoleViewer})
	wantErr(t, err, platform.ECONFLICT, "already exists")
	list, err := h.plane.ListUsers(viewer)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range list {
		got = append(got, m.Login+":"+string(m.Role))
	}
	if strings.Join(got, " ") != "admin:owner ann:admin vic:viewer" {
		t.Fatalf("users = %v", got)
	}
	m, err := h.plane.SetUserRole(h.owner, "vic", platform.RoleDeveloper)
	if err != nil || m.Role != platform.RoleDeveloper {
		t.Fatalf("set role = %+v, %v", m, err)
	}
}

func TestAuditTrail(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("acme")
	viewer, _ := h.member("vic", platform.RoleViewer)
	tok, _, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.plane.DeleteToken(h.owner, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err = h.plane.Deploy(viewer, platform.DeployRequest{Namespace: "acme", Service: "api", Source: platform.Source{Kind: platform.SourceGit, URL: "https://example.com/x.git"}})
	wantErr(t, err, platform.EFORBIDDEN, "service.deploy needs the developer role")
	_, err = h.plane.ListAudit(viewer, platform.AuditFilter{})
	wantErr(t, err, platform.EFORBIDDEN, "audit.read needs the admin role")

	list, err := h.plane.ListAudit(h.owner, platform.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range list {
		if e.Source != "192.0.2.1:4000" || e.Time.IsZero() || e.Org != platform.DefaultOrg {
			t.Errorf("entry %+v: want source, time and org", e)
		}
		got = append(got, e.Actor+" "+e.Action+" "+e.Outcome+" "+strings.SplitN(e.Target, "/", 2)[0])
	}
	want := []string{
		"vic audit.read denied org",
		"vic service.deploy denied namespace",
		"admin token.revoke ok token",
		"admin token.create ok token",
		"admin token.create ok token",
		"admin user.create ok user",
		"admin namespace.create ok namespace",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	only, err := h.plane.ListAudit(h.owner, platform.AuditFilter{Actor: "vic", Action: "service."})
	if err != nil || len(only) != 1 || only[0].Action != "service.deploy" {
		t.Fatalf("filtered = %+v, %v", only, err)
	}
}

func TestOrganisationsAreIsolated(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("acme")
	ctx := t.Context()
	if err := h.store.CreateOrg(ctx, &platform.Org{Name: "globex"}); err != nil {
		t.Fatal(err)
	}
	u := &platform.User{ID: "u-g", Login: "gina", Source: platform.UserLocal}
	if err := h.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := h.store.PutMembership(ctx, &platform.Membership{Org: "globex", UserID: "u-g", Role: platform.RoleOwner, Source: platform.MemberLocal}); err != nil {
		t.Fatal(err)
	}
	secret, _, err := h.plane.Directory().IssueToken(ctx, "u-g", "globex", platform.TokenAPI, 0)
	if err != nil {
		t.Fatal(err)
	}
	gina := h.as(secret)
	if _, err := h.plane.CreateNamespace(gina, "gx"); err != nil {
		t.Fatal(err)
	}
	list, err := h.plane.ListNamespaces(gina)
	if err != nil || len(list) != 1 || list[0].Name != "gx" || list[0].Org != "globex" {
		t.Fatalf("globex's namespaces = %+v, %v", list, err)
	}
	_, err = h.plane.ListServices(gina, "acme")
	wantErr(t, err, platform.EFORBIDDEN, `may not access namespace "acme"`)
	wantErr(t, h.plane.DeleteNamespace(gina, "acme"), platform.EFORBIDDEN, `may not access namespace "acme"`)
	list, err = h.plane.ListNamespaces(h.owner)
	if err != nil || len(list) != 1 || list[0].Name != "acme" {
		t.Fatalf("default's namespaces = %+v, %v", list, err)
	}
	users, err := h.plane.ListUsers(gina)
	if err != nil || len(users) != 1 || users[0].Login != "gina" {
		t.Fatalf("globex's users = %+v, %v", users, err)
	}
	audit, err := h.plane.ListAudit(gina, platform.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range audit {
		if e.Org != "globex" {
			t.Fatalf("globex sees %+v", e)
		}
	}
	_, err = h.plane.RegisterRegion(gina, &platform.Region{Name: "lon1", Provider: "local"})
	wantErr(t, err, platform.EFORBIDDEN, "region.manage is for admins of the operator organisation")
}

func TestDirectoryGitHubUserSessions(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.namespace("acme")
	d := h.plane.Directory()
	ctx := t.Context()
	u, err := d.UpsertGitHubUser(ctx, &platform.User{Login: "octo", Name: "Octo Cat", GitHubID: 99})
	if err != nil {
		t.Fatal(err)
	}
	again, err := d.UpsertGitHubUser(ctx, &platform.User{Login: "octocat", GitHubID: 99})
	if err != nil || again.ID != u.ID || again.Login != "octocat" || again.Name != "Octo Cat" || again.Source != platform.UserGitHub {
		t.Fatalf("upsert again = %+v, %v", again, err)
	}
	member := func(role platform.Role) {
		t.Helper()
		m := &platform.Membership{Org: platform.DefaultOrg, UserID: u.ID, Role: role, Source: platform.MemberGitHubTeam, Teams: []string{"acme-inc/devs"}}
		if err := d.PutMembership(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	member(platform.RoleAdmin)
	session, exp, err := d.IssueToken(ctx, u.ID, platform.DefaultOrg, platform.TokenSession, 0)
	if err != nil || exp.IsZero() {
		t.Fatal(err)
	}
	tok, err := h.auth.Authenticate(ctx, session)
	if err != nil || tok.Kind != platform.TokenSession || tok.EffectiveRole() != platform.RoleAdmin {
		t.Fatalf("session = %+v, %v", tok, err)
	}
	member(platform.RoleDeveloper)
	if tok, err := h.auth.Authenticate(ctx, session); err != nil || tok.EffectiveRole() != platform.RoleDeveloper {
		t.Fatalf("session after demotion = %+v, %v; want developer at once", tok, err)
	}
	if err := d.DeleteMembership(ctx, platform.DefaultOrg, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = h.auth.Authenticate(ctx, session)
	wantErr(t, err, platform.EUNAUTHENTICATED, "invalid or revoked token")
	_, _, err = d.IssueToken(ctx, u.ID, platform.DefaultOrg, platform.TokenSession, 0)
	wantErr(t, err, platform.EFORBIDDEN, "is not a member")
}

// orgOwner creates organisation org with a local owner login and returns a context with
// the owner's API token.
func (h *accounts) orgOwner(org, login string) context.Context {
	h.t.Helper()
	ctx := h.t.Context()
	if err := h.store.CreateOrg(ctx, &platform.Org{Name: org}); err != nil {
		h.t.Fatal(err)
	}
	u := &platform.User{ID: "u-" + login, Login: login, Source: platform.UserLocal}
	if err := h.store.CreateUser(ctx, u); err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.PutMembership(ctx, &platform.Membership{Org: org, UserID: u.ID, Role: platform.RoleOwner, Source: platform.MemberLocal}); err != nil {
		h.t.Fatal(err)
	}
	secret, _, err := h.plane.Directory().IssueToken(ctx, u.ID, org, platform.TokenAPI, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.as(secret)
}

// TestEnableRefusedForMembersOfOtherOrgs: a user is one person across organisations, so
// an owner of one organisation may neither disable nor re-enable a user who is also a
// member elsewhere (org A's disabling must not be undone by org B's owner).
func TestEnableRefusedForMembersOfOtherOrgs(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	ctx := t.Context()
	globex := h.orgOwner("globex", "gina")
	h.member("dana", platform.RoleDeveloper)
	dana, err := h.store.GetUserByLogin(ctx, "dana")
	if err != nil {
		t.Fatal(err)
	}
	// The operator disabled dana while she was only in default; she then joined globex.
	if _, err := h.plane.SetUserDisabled(h.owner, "dana", true); err != nil {
		t.Fatal(err)
	}
	if err := h.store.PutMembership(ctx, &platform.Membership{Org: "globex", UserID: dana.ID, Role: platform.RoleViewer, Source: platform.MemberLocal}); err != nil {
		t.Fatal(err)
	}
	_, err = h.plane.SetUserDisabled(globex, "dana", false)
	wantErr(t, err, platform.EFORBIDDEN, "also a member of other organisations; enabling")
	if u, err := h.store.GetUserByLogin(ctx, "dana"); err != nil || !u.Disabled {
		t.Fatalf("dana = %+v, %v; want still disabled", u, err)
	}
	audit, err := h.plane.ListAudit(globex, platform.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(audit, func(e *platform.AuditEntry) bool {
		return e.Outcome == platform.AuditDenied && e.Target == "user/dana"
	}) {
		t.Errorf("refused enable not audited in globex: %+v", audit)
	}
}

// TestGitHubLinksNeedTheOperatorsAllowlist: an owner may link only teams of GitHub
// organisations the operator mapped to their organisation; with no map, only the
// default organisation may link (a single-tenant install).
func TestGitHubLinksNeedTheOperatorsAllowlist(t *testing.T) {
	t.Parallel()
	link := func(ghOrg string) []*platform.GitHubLink {
		return []*platform.GitHubLink{{GitHubOrg: ghOrg, Team: "devs", Role: platform.RoleDeveloper}}
	}
	t.Run("mapped", func(t *testing.T) {
		t.Parallel()
		h := newAccounts(t, func(o *control.Options) {
			o.GitHubOrgs = platform.GitHubOrgs{"acme-inc": platform.DefaultOrg, "globex-gh": "globex"}
		})
		globex := h.orgOwner("globex", "gina")
		if _, err := h.plane.SetGitHubLinks(h.owner, link("ACME-inc")); err != nil {
			t.Fatalf("default linking its own GitHub org: %v", err)
		}
		if _, err := h.plane.SetGitHubLinks(globex, link("globex-gh")); err != nil {
			t.Fatalf("globex linking its own GitHub org: %v", err)
		}
		_, err := h.plane.SetGitHubLinks(globex, link("acme-inc"))
		wantErr(t, err, platform.EFORBIDDEN, `GitHub organisation "acme-inc" is not allowed for organisation "globex"`)
		if hint := platform.ErrorHint(err); !strings.Contains(hint, "github.organizations") {
			t.Errorf("hint %q does not name the config key", hint)
		}
		_, err = h.plane.SetGitHubLinks(globex, link("unknown-gh"))
		wantErr(t, err, platform.EFORBIDDEN, `GitHub organisation "unknown-gh" is not allowed`)
		if links, err := h.plane.GitHubLinks(globex); err != nil || len(links) != 1 || links[0].GitHubOrg != "globex-gh" {
			t.Fatalf("globex's links = %+v, %v; want the refused change not applied", links, err)
		}
	})
	t.Run("no map: default only", func(t *testing.T) {
		t.Parallel()
		h := newAccounts(t)
		globex := h.orgOwner("globex", "gina")
		if _, err := h.plane.SetGitHubLinks(h.owner, link("anything")); err != nil {
			t.Fatalf("default: %v", err)
		}
		_, err := h.plane.SetGitHubLinks(globex, link("anything"))
		wantErr(t, err, platform.EFORBIDDEN, `GitHub organisation "anything" is not allowed for organisation "globex"`)
	})
}

// TestDirectoryDoesNotAddDisabledUsers: a user disabled while in one organisation only
// (which its owner may do) cannot be added to a second one through the Directory (a
// GitHub sign-in or sync), so the owner of the first can always enable them again; a
// membership they already have may still change.
func TestDirectoryDoesNotAddDisabledUsers(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	ctx := t.Context()
	acme := h.orgOwner("acme", "ann")
	if err := h.store.CreateOrg(ctx, &platform.Org{Name: "beta"}); err != nil {
		t.Fatal(err)
	}
	d := h.plane.Directory()
	u, err := d.UpsertGitHubUser(ctx, &platform.User{Login: "octo", GitHubID: 7})
	if err != nil {
		t.Fatal(err)
	}
	put := func(org string, role platform.Role) error {
		return d.PutMembership(ctx, &platform.Membership{Org: org, UserID: u.ID, Role: role, Source: platform.MemberGitHubTeam, Teams: []string{"gh/devs"}})
	}
	if err := put("acme", platform.RoleDeveloper); err != nil {
		t.Fatal(err)
	}
	if _, err := h.plane.SetUserDisabled(acme, "octo", true); err != nil {
		t.Fatalf("acme's owner disables octo: %v", err)
	}
	tests := []struct {
		name, org string
		wantCode  string
	}{
		{name: "another organisation", org: "beta", wantCode: platform.EFORBIDDEN},
		{name: "the organisation they are in", org: "acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := put(tt.org, platform.RoleViewer)
			if platform.ErrorCode(err) != tt.wantCode {
				t.Fatalf("put in %s = %v, want code %q", tt.org, err, tt.wantCode)
			}
			if tt.wantCode != "" && !strings.Contains(platform.ErrorMessage(err), "disabled or deleted") {
				t.Errorf("message %q does not say why", platform.ErrorMessage(err))
			}
		})
	}
	if _, err := h.store.GetMembership(ctx, "beta", u.ID); !platform.IsNotFound(err) {
		t.Errorf("octo is in beta: %v", err)
	}
	if m, err := h.plane.SetUserDisabled(acme, "octo", false); err != nil || m.Disabled {
		t.Errorf("acme's owner enables octo again: %+v, %v", m, err)
	}
}
