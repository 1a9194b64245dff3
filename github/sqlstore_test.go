package github

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/github/githubtest"
	"github.com/micro/platform/sqlstore"
)

// The platform's store provides Stores as it is.
var _ Stores = (*sqlstore.Store)(nil)

// sqlAccounts is the Accounts side over the real store, as the accounts core would
// write it: users by GitHub id, tokens stored by hash.
type sqlAccounts struct{ *sqlstore.Store }

func (a sqlAccounts) UpsertGitHubUser(ctx context.Context, u *platform.User) (*platform.User, error) {
	have, err := a.GetUserByGitHubID(ctx, u.GitHubID)
	if platform.ErrorCode(err) == platform.ENOTFOUND {
		c := *u
		c.ID = platform.NewID("u")
		if err := a.CreateUser(ctx, &c); err != nil {
			return nil, err
		}
		return &c, nil
	}
	if err != nil {
		return nil, err
	}
	have.Login = u.Login
	if u.Name != "" {
		have.Name = u.Name
	}
	return have, a.UpdateUser(ctx, have)
}

func (a sqlAccounts) IssueToken(ctx context.Context, userID, org string, kind platform.TokenKind) (Issued, error) {
	m, err := a.GetMembership(ctx, org, userID)
	if err != nil {
		return Issued{}, err
	}
	secret, hash := auth.NewSecret()
	exp := time.Now().Add(time.Hour)
	t := &platform.Token{ID: platform.NewID("t"), Name: string(kind), Hash: hash, Kind: kind, UserID: userID, Org: org, Role: m.Role, ExpiresAt: &exp}
	if err := a.CreateToken(ctx, t); err != nil {
		return Issued{}, err
	}
	return Issued{Secret: secret, ExpiresAt: exp}, nil
}

// TestSignInAndSyncWithSQLStore signs in and syncs against the platform's real store
// (SQLite): the session is stored by hash, and removal from the team deletes it.
func TestSignInAndSyncWithSQLStore(t *testing.T) {
	if testing.Short() {
		t.Skip("uses the SQLite store")
	}
	t.Parallel()
	ctx := t.Context()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateOrg(ctx, &platform.Org{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetGitHubLinks(ctx, "acme", []*platform.GitHubLink{
		{Org: "acme", GitHubOrg: ghOrg, Team: "admins", Role: platform.RoleAdmin},
		{Org: "acme", GitHubOrg: ghOrg, Team: "devs", Role: platform.RoleDeveloper},
	}); err != nil {
		t.Fatal(err)
	}
	fake := githubtest.New(t)
	fake.AddUser("alice")
	fake.AddUser("carol")
	fake.SetTeam(ghOrg, "admins", "alice")
	fake.SetTeam(ghOrg, "devs", "alice", "carol")
	fake.SetAuthorizer("alice")

	var integ *Integration
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			integ.ServeHTTP(w, r)
			return
		}
		c, err := r.Cookie(SessionCookie)
		if err != nil {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		tok, err := st.GetTokenByHash(r.Context(), auth.Hash(c.Value))
		if err != nil {
			http.Error(w, "session revoked", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "signed in as %s, %s in %s", tok.User, tok.EffectiveRole(), tok.OrgName())
	}))
	t.Cleanup(srv.Close)
	integ, err = New(Config{
		ClientID: githubtest.ClientID, ClientSecret: githubtest.ClientSecret, RedirectURL: srv.URL + "/auth/github/callback",
		WebURL: fake.WebURL(), APIURL: fake.APIURL(), SyncToken: fake.IssueToken("carol"),
		Organizations: platform.GitHubOrgs{ghOrg: "acme"},
	}, struct {
		Stores
		Accounts
	}{st, sqlAccounts{st}}, Options{})
	if err != nil {
		t.Fatal(err)
	}

	e := &env{t: t, srv: srv, gh: fake}
	c := e.browser()
	if status, body := get(t, c, srv.URL+"/login"); status != 200 || body != "signed in as alice, admin in acme" {
		t.Fatalf("sign-in: %d %q", status, body)
	}
	if err := integ.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	members, err := st.ListMembers(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range members {
		got = append(got, fmt.Sprintf("%s=%s/%s", m.Login, m.Role, m.RoleSource))
	}
	if strings.Join(got, " ") != "alice=admin/github_team carol=developer/github_team" {
		t.Errorf("members after sync: %v", got)
	}

	fake.RemoveFromTeam(ghOrg, "admins", "alice")
	fake.RemoveFromTeam(ghOrg, "devs", "alice")
	if err := integ.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if status, _ := get(t, c, srv.URL+"/"); status != http.StatusUnauthorized {
		t.Errorf("alice's session after removal: %d", status)
	}
	if _, err := st.GetMembership(ctx, "acme", members[0].ID); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("alice's membership after removal: %v", err)
	}
	entries, err := st.ListAudit(ctx, platform.AuditFilter{Org: "acme", Action: platform.AuditMemberRemove})
	if err != nil || len(entries) != 1 || entries[0].Target != "user/alice" {
		t.Errorf("audit of the removal: %v %+v", err, entries)
	}
}
