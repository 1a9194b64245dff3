package github

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// session signs login in with a new browser and returns a function that says whether
// that browser's session still works.
func (e *env) session(login string) func() bool {
	e.t.Helper()
	c := e.browser()
	if status, body := e.signIn(c, login); status != 200 {
		e.t.Fatalf("sign-in of %s: %d %s", login, status, body)
	}
	return func() bool {
		status, _ := get(e.t, c, e.srv.URL+"/")
		return status == http.StatusOK
	}
}

func TestSyncRemovesAndChangesRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	aliceIn, bobIn := e.session("alice"), e.session("bob")
	if err := e.integ.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.dir.member("acme", "carol"); got != platform.RoleDeveloper {
		t.Errorf("carol (never signed in, in developers) is %q, want developer", got)
	}
	if got := e.dir.member("acme", "alice"); got != platform.RoleAdmin {
		t.Errorf("alice (admins and developers) is %q after the sync, want admin", got)
	}
	if !aliceIn() || !bobIn() {
		t.Fatal("sessions do not work after a no-op sync")
	}

	e.gh.RemoveFromTeam(ghOrg, "platform-admins", "alice")
	e.gh.RemoveFromTeam(ghOrg, "developers", "alice")
	e.gh.RemoveFromTeam(ghOrg, "readers", "bob")
	e.gh.AddToTeam(ghOrg, "developers", "bob")
	if err := e.integ.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.dir.member("acme", "alice"); got != "" {
		t.Errorf("alice removed from every team is still %q", got)
	}
	if aliceIn() {
		t.Errorf("alice's session still works after her removal")
	}
	if got := e.dir.member("acme", "bob"); got != platform.RoleDeveloper || !bobIn() {
		t.Errorf("bob moved to developers: role %q, session works %v", got, bobIn())
	}
	if len(e.dir.audited(platform.AuditMemberRemove, "1 session(s) and token(s) revoked")) != 1 {
		t.Errorf("removal not audited with its revocation")
	}
	if len(e.dir.audited(platform.AuditRoleChange, "role viewer → developer")) != 1 {
		t.Errorf("role change not audited")
	}
	// Signing in again is refused now.
	if status, body := e.signIn(e.browser(), "alice"); status != http.StatusForbidden || !strings.Contains(body, "not a member of a GitHub team linked to this platform") {
		t.Errorf("alice signs in again: %d %s", status, body)
	}
}

func TestSyncPaginates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	logins := []string{"u1", "u2", "u3", "u4", "u5"}
	for _, l := range logins {
		e.gh.AddUser(l)
	}
	e.gh.SetTeam(ghOrg, "readers", append([]string{"bob"}, logins...)...)
	e.gh.SetMaxPerPage(2)
	if err := e.integ.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, l := range append(logins, "bob") {
		if got := e.dir.member("acme", l); got != platform.RoleViewer {
			t.Errorf("%s on a later page: role %q", l, got)
		}
	}
	if n := e.gh.Calls("/api/v3/orgs/" + ghOrg + "/teams/readers/members"); n != 3 {
		t.Errorf("%d requests for 6 readers at 2 a page, want 3", n)
	}
	// alice's three teams span pages of /user/teams too: she still gets the highest.
	if status, body := e.signIn(e.browser(), "alice"); status != 200 || !strings.Contains(body, "admin in acme") {
		t.Errorf("alice: %d %s", status, body)
	}
}

func TestSyncLeavesOrgAloneOnErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		break_   func(e *env)
		wantCode string
		wantMsg  string
	}{
		{
			name:     "revoked sync token",
			break_:   func(e *env) { e.gh.Revoke(e.syncTok) },
			wantCode: platform.EUNAUTHENTICATED, wantMsg: "GitHub refused the token (revoked, expired or invalid)",
		},
		{
			name: "unknown team",
			break_: func(e *env) {
				e.dir.mu.Lock()
				e.dir.links = append(e.dir.links, &platform.GitHubLink{Org: "acme", GitHubOrg: ghOrg, Team: "gone", Role: platform.RoleOwner})
				e.dir.mu.Unlock()
			},
			wantCode: platform.ENOTFOUND, wantMsg: "list the members of GitHub team acme-inc/gone: not found on GitHub",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			in := e.session("alice")
			e.gh.RemoveFromTeam(ghOrg, "platform-admins", "alice")
			e.gh.RemoveFromTeam(ghOrg, "developers", "alice")
			tt.break_(e)
			err := e.integ.Sync(t.Context())
			if platform.ErrorCode(err) != tt.wantCode || !strings.Contains(platform.ErrorMessage(err), tt.wantMsg) {
				t.Fatalf("Sync: %v, want %s %q", err, tt.wantCode, tt.wantMsg)
			}
			if e.dir.member("acme", "alice") != platform.RoleAdmin || !in() {
				t.Errorf("a failed sync changed memberships")
			}
		})
	}
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.integ.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	})
	members := "/api/v3/orgs/" + ghOrg + "/teams/platform-admins/members"
	waitFor(t, "the first sync", func() bool { return e.gh.Calls(members) == 1 })
	in := e.session("alice")
	e.gh.RemoveFromTeam(ghOrg, "platform-admins", "alice")
	e.gh.RemoveFromTeam(ghOrg, "developers", "alice")

	body := []byte(`{"action":"removed","scope":"team","member":{"login":"alice"},"team":{"slug":"platform-admins"},"organization":{"login":"acme-inc"}}`)
	post := func(event, sig string, body []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/webhooks/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", event)
		if sig != "" {
			req.Header.Set(SignatureHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	refused := []struct{ name, sig string }{
		{"no signature", ""},
		{"wrong secret", Sign("not-the-secret", body)},
		{"sha1 only", "sha1=" + strings.Repeat("0", 40)},
		{"signature of another body", Sign(webhookSecret, []byte(`{}`))},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			audits := len(e.dir.audited(ActionWebhookRejected, ""))
			status, resp := post("membership", tt.sig, body)
			if status != http.StatusUnauthorized || !strings.Contains(resp, "webhook signature is missing or wrong") {
				t.Fatalf("got %d %s", status, resp)
			}
			if len(e.dir.audited(ActionWebhookRejected, "")) != audits+1 {
				t.Errorf("refused webhook not audited")
			}
		})
	}
	// Nothing changed: no sync ran, alice is still in.
	time.Sleep(200 * time.Millisecond)
	if e.gh.Calls(members) != 1 || e.dir.member("acme", "alice") != platform.RoleAdmin || !in() {
		t.Fatalf("a refused webhook changed something (sync calls %d)", e.gh.Calls(members))
	}

	if status, resp := post("ping", Sign(webhookSecret, []byte(`{"zen":"hi"}`)), []byte(`{"zen":"hi"}`)); status != 200 || !strings.Contains(resp, "pong") {
		t.Errorf("ping: %d %s", status, resp)
	}
	if status, resp := post("membership", Sign(webhookSecret, body), body); status != http.StatusAccepted {
		t.Fatalf("signed webhook: %d %s", status, resp)
	}
	waitFor(t, "alice's removal after the webhook", func() bool { return e.dir.member("acme", "alice") == "" })
	if in() {
		t.Errorf("alice's session survived the webhook sync")
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusForbidden, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) { c.SyncInterval = 50 * time.Millisecond })
			// Three requests a window: the first sync (three teams) uses them up, so
			// the next one is limited until the reset.
			e.gh.SetRateLimit(3, 2*time.Second, status)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- e.integ.Start(ctx) }()
			defer func() { cancel(); <-done }()
			waitFor(t, "the rate-limit warning", func() bool { return strings.Contains(e.logs.String(), "GitHub rate limit exhausted") })
			e.gh.RemoveFromTeam(ghOrg, "readers", "bob")
			e.gh.AddUser("dave")
			e.gh.AddToTeam(ghOrg, "readers", "dave")
			waitFor(t, "the sync after the reset", func() bool { return e.dir.member("acme", "dave") == platform.RoleViewer })
			logs := e.logs.String()
			if n := strings.Count(logs, "GitHub rate limit exhausted"); n != 1 {
				t.Errorf("rate-limit warning logged %d times, want once:\n%s", n, logs)
			}
			if !strings.Contains(logs, "sync resumed") {
				t.Errorf("no log line says the sync resumed")
			}
			// While limited, the sync waited for the reset rather than hammering GitHub:
			// at 50 ms a tick, 2 s would be 40 syncs of 3 calls.
			if n := e.gh.Calls("/api/v3/orgs/" + ghOrg + "/teams/readers/members"); n > 6 {
				t.Errorf("%d calls to a rate-limited endpoint", n)
			}
		})
	}
}

func TestSignInWhileRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.gh.SetRateLimit(0, time.Hour, http.StatusForbidden)
	status, body := e.signIn(e.browser(), "alice")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "rate limit is exhausted until") {
		t.Errorf("got %d %s", status, body)
	}
}

// TestSyncDoesNotAddDisabledUsers: a user disabled in one organisation (disabling is
// platform-wide, and only owners of all their organisations may undo it) is not added to
// another organisation by the sync, which would leave them disabled where nobody could
// enable them. The refusal is audited in that organisation once, however many syncs.
func TestSyncDoesNotAddDisabledUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	e.seedMember(platform.DefaultOrg, e.alice, platform.RoleViewer) // an owner added her there
	e.dir.mu.Lock()
	for _, u := range e.dir.users {
		if u.Login == "alice" {
			u.Disabled = true
		}
	}
	e.dir.mu.Unlock()
	for range 2 {
		if err := e.integ.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.dir.member("acme", "alice"); got != "" {
		t.Errorf("disabled alice was added to acme as %q", got)
	}
	if got := e.dir.member("acme", "carol"); got != platform.RoleDeveloper {
		t.Errorf("carol = %q, want developer: the refusal stopped the sync", got)
	}
	refusals := e.dir.audited(platform.AuditRoleChange, "not added with role admin")
	if len(refusals) != 1 || refusals[0].Org != "acme" || refusals[0].Outcome != platform.AuditDenied ||
		refusals[0].Target != "user/alice" || !strings.Contains(refusals[0].Detail, "disabled or deleted") {
		t.Errorf("refusals = %+v, want one denied entry for alice in acme", refusals)
	}
	if len(e.logLines(`"level":"WARN"`, "disabled or deleted user not added", `"login":"alice"`)) != 1 {
		t.Errorf("the refusal was not logged once at warn level")
	}
	// Signing in is refused too, and adds nothing.
	if status, _ := e.signIn(e.browser(), "alice"); status != http.StatusForbidden {
		t.Errorf("disabled alice signs in: %d", status)
	}
	if got := e.dir.member("acme", "alice"); got != "" {
		t.Errorf("sign-in added disabled alice to acme as %q", got)
	}
}
