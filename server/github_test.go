package server_test

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/client"
	"github.com/micro/platform/github"
	"github.com/micro/platform/github/githubtest"
	"github.com/micro/platform/server"
)

// TestGitHubSignIn signs people in with GitHub through the real server against the fake
// GitHub: a member of a linked team gets the highest role of their teams, a non-member
// is refused with a page, and removal from the team revokes the session on the webhook.
// No secret reaches the server's output.
// frontProxy holds a loopback address for a server that has not started yet and forwards
// it to the server once backend is set: a GitHub redirect URL names the server's address
// before the server starts, and the server listens on a port it picks itself, as behind
// a reverse proxy (a port taken, released and handed over could be taken meanwhile: the
// server's own NATS did).
func frontProxy(t *testing.T) (string, *atomic.Pointer[url.URL]) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := new(atomic.Pointer[url.URL])
	front := &http.Server{Handler: &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(backend.Load())
		r.Out.Host = r.In.Host
	}}}
	go front.Serve(l)
	t.Cleanup(func() { front.Close() })
	return l.Addr().String(), backend
}

func TestGitHubSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole server")
	}
	t.Parallel()
	fake := githubtest.New(t)
	fake.AddUser("alice")
	fake.AddUser("mallory")
	fake.SetTeam("acme-inc", "devs", "alice")
	fake.SetTeam("acme-inc", "sre", "alice")
	const webhookSecret = "webhook-secret-5f2d9c"
	syncToken := fake.IssueToken("alice")

	addr, backend := frontProxy(t)
	app, owner, out := startServer(t, t.TempDir(), func(c *server.Config) {
		c.Addr = "127.0.0.1:0"
		c.GitHub = server.GitHubConfig{
			ClientID: githubtest.ClientID, ClientSecret: githubtest.ClientSecret,
			RedirectURL: "http://" + addr + "/auth/github/callback",
			WebURL:      fake.WebURL(), APIURL: fake.APIURL(),
			SyncToken: syncToken, WebhookSecret: webhookSecret, SyncInterval: time.Hour,
		}
	})
	backend.Store(&url.URL{Scheme: "http", Host: app.Addr()})
	ctx := context.Background()
	if _, err := owner.SetGitHubLinks(ctx, []*platform.GitHubLink{
		{GitHubOrg: "acme-inc", Team: "devs", Role: platform.RoleDeveloper},
		{GitHubOrg: "acme-inc", Team: "sre", Role: platform.RoleAdmin},
	}); err != nil {
		t.Fatal(err)
	}

	signIn := func(t *testing.T, login string) (*http.Client, *http.Response, string) {
		t.Helper()
		fake.SetAuthorizer(login)
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		resp, err := browser.Get("http://" + addr + "/login")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return browser, resp, string(body)
	}
	session := func(browser *http.Client) string {
		u, _ := url.Parse("http://" + addr + "/")
		for _, c := range browser.Jar.Cookies(u) {
			if c.Name == github.SessionCookie {
				return c.Value
			}
		}
		return ""
	}

	var aliceSession string
	t.Run("member of linked teams signs in with the highest role", func(t *testing.T) {
		browser, resp, _ := signIn(t, "alice")
		aliceSession = session(browser)
		if aliceSession == "" {
			t.Fatalf("no session cookie after sign-in (status %d)", resp.StatusCode)
		}
		// The session cookie authenticates API calls like a bearer token.
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/whoami", nil)
		r, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || !strings.Contains(string(b), `"alice"`) || !strings.Contains(string(b), `"admin"`) {
			t.Errorf("whoami with the session cookie: %d %s", r.StatusCode, b)
		}
		me, err := client.New("http://"+addr, client.WithToken(aliceSession)).Whoami(ctx)
		if err != nil || me.Role != platform.RoleAdmin {
			t.Errorf("whoami = %+v, %v; want admin (highest of developer and admin)", me, err)
		}
	})
	t.Run("non-member is refused with a page naming no linked GitHub organisation", func(t *testing.T) {
		browser, resp, body := signIn(t, "mallory")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not a member of a GitHub team linked to this platform") || strings.Contains(body, "acme-inc") || session(browser) != "" {
			t.Errorf("non-member: %d session=%q\n%s", resp.StatusCode, session(browser), body)
		}
	})
	t.Run("removal from the teams revokes the session on the webhook", func(t *testing.T) {
		fake.RemoveFromTeam("acme-inc", "devs", "alice")
		fake.RemoveFromTeam("acme-inc", "sre", "alice")
		body := []byte(`{"action":"removed","scope":"team","member":{"login":"alice"},"organization":{"login":"acme-inc"}}`)
		send := func(sig string) int {
			req, _ := http.NewRequest("POST", "http://"+addr+"/webhooks/github", strings.NewReader(string(body)))
			req.Header.Set("X-GitHub-Event", "membership")
			req.Header.Set("X-Hub-Signature-256", sig)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := send(github.Sign("wrong-secret", body)); code != http.StatusUnauthorized {
			t.Errorf("webhook with a bad signature: %d, want 401", code)
		}
		if _, err := client.New("http://"+addr, client.WithToken(aliceSession)).Whoami(ctx); err != nil {
			t.Fatalf("a refused webhook changed access: %v", err)
		}
		if code := send(github.Sign(webhookSecret, body)); code != http.StatusAccepted {
			t.Fatalf("webhook: %d, want 202", code)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := client.New("http://"+addr, client.WithToken(aliceSession)).Whoami(ctx)
			if platform.ErrorCode(err) == platform.EUNAUTHENTICATED {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("session still valid after removal: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("audit shows sign-ins and the refused webhook", func(t *testing.T) {
		// The sync that removed alice revokes her session before it audits the removal:
		// give the entry the moment it takes.
		var actions []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			page, err := owner.ListAudit(ctx, platform.AuditFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			actions = actions[:0]
			for _, e := range page.Entries {
				actions = append(actions, e.Action)
			}
			if slices.Contains(actions, platform.AuditMemberRemove) || time.Now().After(deadline) {
				break
			}
		}
		all := strings.Join(actions, " ")
		for _, want := range []string{platform.AuditSignIn, platform.AuditSignInRefused, platform.AuditMemberRemove, github.ActionWebhookRejected} {
			if !strings.Contains(all, want) {
				t.Errorf("audit actions %v lack %q", actions, want)
			}
		}
	})
	for _, secret := range []string{githubtest.ClientSecret, syncToken, webhookSecret, aliceSession} {
		if secret != "" && strings.Contains(out.String(), secret) {
			t.Errorf("server output shows a secret")
		}
	}
}

// TestGitHubOrganizationsConfig reads the operator's GitHub organisation allowlist from
// the file (github.organizations) and refuses a mapping to an invalid organisation name.
func TestGitHubOrganizationsConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml string
		want       map[string]string
		wantErr    string
	}{
		{name: "mapped", yaml: "github:\n  organizations:\n    acme-inc: default\n    globex-gh: globex\n",
			want: map[string]string{"acme-inc": "default", "globex-gh": "globex"}},
		{name: "bad platform org", yaml: "github:\n  organizations:\n    acme-inc: Not_An_Org\n",
			want: map[string]string{"acme-inc": "Not_An_Org"}, wantErr: "github.organizations[acme-inc]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "platform.yaml")
			if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := server.DefaultConfig()
			if err := cfg.LoadFile(file); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(cfg.GitHub.Organizations, tt.want) {
				t.Errorf("organizations = %v, want %v", cfg.GitHub.Organizations, tt.want)
			}
			err := cfg.Validate()
			if tt.wantErr == "" && err != nil {
				t.Errorf("Validate: %v", err)
			}
			if tt.wantErr != "" && (platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate = %v, want invalid mentioning %s", err, tt.wantErr)
			}
		})
	}
}
