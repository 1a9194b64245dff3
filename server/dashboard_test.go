package server_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github/githubtest"
	"github.com/micro/platform/internal/browsertest"
	"github.com/micro/platform/server"
)

// A member of a linked GitHub team signs in to the dashboard with GitHub in a real
// browser and acts with the team's role; signing out revokes the session.
func TestDashboardGitHubSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole server and a browser")
	}
	t.Parallel()
	fake := githubtest.New(t)
	fake.AddUser("ada")
	fake.SetTeam("acme-inc", "devs", "ada")

	addr, backend := frontProxy(t)
	app, owner, _ := startServer(t, t.TempDir(), func(c *server.Config) {
		c.GitHub = server.GitHubConfig{
			ClientID: githubtest.ClientID, ClientSecret: githubtest.ClientSecret,
			RedirectURL: "http://" + addr + "/auth/github/callback",
			WebURL:      fake.WebURL(), APIURL: fake.APIURL(),
			SyncToken: fake.IssueToken("ada"), WebhookSecret: "webhook-secret", SyncInterval: time.Hour,
		}
	})
	backend.Store(&url.URL{Scheme: "http", Host: app.Addr()})
	ctx := context.Background()
	if _, err := owner.SetGitHubLinks(ctx, []*platform.GitHubLink{{GitHubOrg: "acme-inc", Team: "devs", Role: platform.RoleDeveloper}}); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.CreateNamespace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}

	fake.SetAuthorizer("ada")
	p := browsertest.NewPage(t)
	p.Navigate("http://"+addr+"/", `a[href="/login"]`)
	p.Screenshot("signin-github")
	p.AssertAccessible()
	p.Click(`a[href="/login"]`)
	p.WaitText(".who", "ada")
	if who := p.Text(".who"); !strings.Contains(who, "developer") {
		t.Errorf("header after GitHub sign-in: %q", who)
	}
	p.WaitText("main h1", "Services")
	p.Screenshot("signed-in-github")

	// The session is a token of ada's, out of the page script's reach; signing out
	// revokes it.
	if slices.Contains(cookies(t, p), "platform_session") {
		t.Errorf("the session cookie is readable by the page's script")
	}
	toks, err := owner.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sessions int
	for _, tok := range toks {
		if tok.Kind == platform.TokenSession && tok.User == "ada" {
			sessions++
		}
	}
	if sessions != 1 {
		t.Fatalf("ada has %d session tokens after signing in, want 1", sessions)
	}
	p.Click(`form[action="/ui/signout"] button`)
	p.WaitText(".flash", "Signed out")
	toks, err = owner.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.Kind == platform.TokenSession && tok.User == "ada" {
			t.Errorf("the session token %s outlived sign-out", tok.ID)
		}
	}
	// Back on a page, the browser is asked to sign in again.
	p.Navigate("http://"+addr+"/ui/n/acme", "#token")
}

// cookies are the names of the cookies the page's script can read.
func cookies(t *testing.T, p *browsertest.Page) []string {
	t.Helper()
	var names []string
	p.Eval(`document.cookie.split("; ").map(c => c.split("=")[0])`, &names)
	return names
}
