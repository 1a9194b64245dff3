package github

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/refusal"
)

// addLinks adds links to the directory while the integration runs.
func (e *env) addLinks(links ...*platform.GitHubLink) {
	e.dir.mu.Lock()
	defer e.dir.mu.Unlock()
	e.dir.links = append(e.dir.links, links...)
}

// TestLinksOutsideTheAllowlistAreIgnored: a link an owner of globex made to acme-inc's
// team (which the operator mapped to acme only) grants nothing, neither at sign-in nor
// at the sync, so globex cannot read acme-inc's private team membership.
func TestLinksOutsideTheAllowlistAreIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.dir.mu.Lock()
	e.dir.orgs = append(e.dir.orgs, "globex")
	e.dir.mu.Unlock()
	e.addLinks(&platform.GitHubLink{Org: "globex", GitHubOrg: ghOrg, Team: "platform-admins", Role: platform.RoleOwner})
	if status, body := e.signIn(e.browser(), "alice"); status != http.StatusOK {
		t.Fatalf("alice: %d %s", status, body)
	}
	if err := e.integ.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if role := e.dir.member("globex", "alice"); role != "" {
		t.Errorf("alice is %q in globex through a link the operator did not allow", role)
	}
	if role := e.dir.member("globex", "carol"); role != "" {
		t.Errorf("the sync copied carol into globex as %q", role)
	}
	if role := e.dir.member("acme", "alice"); role != platform.RoleAdmin {
		t.Errorf("alice in acme = %q, want admin", role)
	}
}

// TestSeveralOrgsMustChoose: a person whose teams make them a member of two
// organisations is not signed in to whichever sorts first: without ?org they get a
// generic page naming neither; with ?org they get that organisation. The token
// exchange refuses the same way without org.
func TestSeveralOrgsMustChoose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Organizations = platform.GitHubOrgs{ghOrg: "acme", "beta-gh": "beta"} })
	e.dir.mu.Lock()
	e.dir.orgs = append(e.dir.orgs, "beta")
	e.dir.mu.Unlock()
	e.gh.SetTeam("beta-gh", "devs", "alice")
	e.addLinks(&platform.GitHubLink{Org: "beta", GitHubOrg: "beta-gh", Team: "devs", Role: platform.RoleDeveloper})

	status, body := e.signIn(e.browser(), "alice")
	if status != http.StatusForbidden || !strings.Contains(body, "sign in with your organisation&#39;s sign-in link") {
		t.Fatalf("no org: %d %s", status, body)
	}
	for _, name := range []string{"acme", "beta"} {
		if strings.Contains(body, name) {
			t.Errorf("the page names organisation %q:\n%s", name, body)
		}
	}
	c := e.browser()
	e.gh.SetAuthorizer("alice")
	if status, body := get(t, c, e.srv.URL+"/login?org=beta"); status != http.StatusOK || !strings.Contains(body, "developer in beta") {
		t.Errorf("org=beta: %d %s", status, body)
	}
	_, err := (&PlatformClient{Server: e.srv.URL}).ExchangeGitHubToken(t.Context(), e.gh.IssueAppToken("alice"), "")
	if platform.ErrorCode(err) != platform.EFORBIDDEN || !strings.Contains(platform.ErrorMessage(err), "more than one organisation") {
		t.Errorf("exchange without org = %v", err)
	}
	if strings.Contains(platform.ErrorMessage(err)+platform.ErrorHint(err), "beta") {
		t.Errorf("the refusal names an organisation: %v", err)
	}
}

// TestRefusalsCannotFloodTheAuditLog: a hundred bad webhooks and a hundred bad CLI codes
// write at most refusal.DefaultBurst audit rows of each kind; the rest are counted. Each kind
// has its own bound, so the webhook flood does not keep a later sign-in refusal (a
// browser with a forged state) out of the audit log.
func TestRefusalsCannotFloodTheAuditLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	post := func(path, body string) {
		t.Helper()
		resp, err := http.Post(e.srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("POST %s answered %d, want 401", path, resp.StatusCode)
		}
	}
	for range 100 {
		post(WebhookPath, `{}`)
	}
	if rows := len(e.dir.audited(ActionWebhookRejected, "")); rows != refusal.DefaultBurst {
		t.Errorf("%d audit rows for 100 bad webhooks, want %d", rows, refusal.DefaultBurst)
	}
	if status, _ := get(t, e.browser(), e.srv.URL+"/auth/github/callback?state=forged&code=x"); status != http.StatusBadRequest {
		t.Fatalf("forged state answered %d", status)
	}
	if got := e.dir.audited(platform.AuditSignInRefused, "OAuth state was unknown"); len(got) != 1 {
		t.Errorf("the sign-in refusal after a webhook flood wrote %d audit rows, want 1", len(got))
	}
	for range 100 {
		post(CLIPath, `{"code":"x","verifier":"y"}`)
	}
	if rows := len(e.dir.audited(platform.AuditSignInRefused, "")); rows != refusal.DefaultBurst {
		t.Errorf("%d sign-in refusal rows for 101 refusals, want %d", rows, refusal.DefaultBurst)
	}
}

// countingReader counts how much of a body the handler read.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestUnsignedWebhookBodyIsNotRead: without a well-formed signature header the 20 MB
// body is refused without being read.
func TestUnsignedWebhookBodyIsNotRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, sig := range []string{"", "sha1=abc", "sha256=short"} {
		t.Run("signature "+url.QueryEscape(sig), func(t *testing.T) {
			body := &countingReader{r: bytes.NewReader(make([]byte, 20<<20))}
			r := httptest.NewRequest(http.MethodPost, WebhookPath, body)
			if sig != "" {
				r.Header.Set(SignatureHeader, sig)
			}
			w := httptest.NewRecorder()
			e.integ.ServeHTTP(w, r)
			if w.Code != http.StatusUnauthorized || body.n > 4096 {
				t.Errorf("answered %d after reading %d bytes; want 401 without reading the body", w.Code, body.n)
			}
		})
	}
}
