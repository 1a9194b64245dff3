package github

import (
	"context"
	"net/http"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github/githubtest"
)

// seedMember makes u a GitHub-granted member of org with role, as an earlier sync would.
func (e *env) seedMember(org string, u *githubtest.User, role platform.Role) {
	e.t.Helper()
	ctx := context.Background()
	pu, err := e.dir.UpsertGitHubUser(ctx, &platform.User{Login: u.Login, Source: platform.UserGitHub, GitHubID: u.ID})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.dir.PutMembership(ctx, &platform.Membership{Org: org, UserID: pu.ID, Role: role, Source: platform.MemberGitHubTeam, Teams: []string{ghOrg + "/seeded"}}); err != nil {
		e.t.Fatal(err)
	}
}

// logLines returns the log lines that contain every one of substrs.
func (e *env) logLines(substrs ...string) []string {
	var out []string
	for _, line := range strings.Split(e.logs.String(), "\n") {
		ok := line != ""
		for _, s := range substrs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// TestDisallowedLinksKeepTheirMembers: without a github.organizations allowlist only
// the default organisation's links count. acme's stored links are then ignored, but its
// GitHub-granted members are kept (by the sync and by sign-ins) and the operator is
// warned, once per link, naming the configuration key; the default organisation,
// whose link is allowed, still converges (dave, in no team, goes), with the usual removal audit.
func TestDisallowedLinksKeepTheirMembers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Organizations = nil })
	e.addLinks(&platform.GitHubLink{Org: platform.DefaultOrg, GitHubOrg: ghOrg, Team: "readers", Role: platform.RoleViewer})
	e.seedMember("acme", e.alice, platform.RoleAdmin)
	e.seedMember("acme", e.bob, platform.RoleViewer)
	e.seedMember(platform.DefaultOrg, e.gh.AddUser("dave"), platform.RoleViewer) // dave is in no team

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.integ.Start(ctx) }()
	waitFor(t, "the warnings and the first sync", func() bool {
		return len(e.logLines(`"level":"WARN"`, "GitHub link ignored")) == 3 && len(e.logLines(`"msg":"GitHub membership sync"`)) > 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.integ.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	e.gh.SetAuthorizer("bob")
	if status, body := get(t, e.browser(), e.srv.URL+"/login?org="+platform.DefaultOrg); status != http.StatusOK || !strings.Contains(body, "viewer in default") {
		t.Fatalf("bob signs in to default: %d %s", status, body)
	}

	for _, who := range []struct {
		login string
		want  platform.Role
	}{{"alice", platform.RoleAdmin}, {"bob", platform.RoleViewer}} {
		if got := e.dir.member("acme", who.login); got != who.want {
			t.Errorf("%s in acme = %q, want %q kept", who.login, got, who.want)
		}
	}
	if got := e.dir.audited(platform.AuditMemberRemove, ""); len(got) != 1 || got[0].Org != platform.DefaultOrg || got[0].Target != "user/dave" ||
		!strings.Contains(got[0].Detail, "GitHub sync: no longer in a linked GitHub team") {
		t.Errorf("removals = %+v, want only dave's from default, as before", got)
	}
	if got := e.dir.member(platform.DefaultOrg, "bob"); got != platform.RoleViewer {
		t.Errorf("bob in default = %q, want viewer", got)
	}
	// Once per link and once per organisation, however many syncs and sign-ins.
	links := e.logLines(`"level":"WARN"`, "GitHub link ignored", allowlistKey, `"org":"acme"`)
	if len(links) != 3 {
		t.Errorf("%d link warnings, want 3 (one per acme link):\n%s", len(links), strings.Join(links, "\n"))
	}
	for _, team := range []string{"platform-admins", "developers", "readers"} {
		if len(e.logLines("GitHub link ignored", `"team":"`+team+`"`)) != 1 {
			t.Errorf("no single warning names acme's link to %s", team)
		}
	}
	if frozen := e.logLines(`"level":"WARN"`, "left unchanged", allowlistKey, `"org":"acme"`); len(frozen) != 1 {
		t.Errorf("%d warnings that acme's members are left unchanged, want 1", len(frozen))
	}
	if len(e.logLines("GitHub link ignored", `"org":"default"`)) != 0 {
		t.Errorf("the allowed default link was warned about")
	}
}
