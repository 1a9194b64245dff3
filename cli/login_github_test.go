package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github"
	"github.com/micro/platform/github/githubtest"
)

// ghDirectory is a minimal in-memory github.Directory: enough for the platform side of
// a GitHub login in these tests.
type ghDirectory struct {
	mu          sync.Mutex
	links       []*platform.GitHubLink
	users       map[int64]*platform.User
	memberships map[string]*platform.Membership // org/userID
	tokens      map[string]*platform.Token      // by secret
}

func (d *ghDirectory) ListOrgs(context.Context) ([]*platform.Org, error) {
	return []*platform.Org{{Name: "acme"}}, nil
}
func (d *ghDirectory) ListGitHubLinks(context.Context, string) ([]*platform.GitHubLink, error) {
	return d.links, nil
}
func (d *ghDirectory) ListMembers(context.Context, string) ([]*platform.Member, error) {
	return nil, nil
}
func (d *ghDirectory) ListMemberships(_ context.Context, userID string) ([]*platform.Membership, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*platform.Membership
	for _, m := range d.memberships {
		if m.UserID == userID {
			out = append(out, m)
		}
	}
	return out, nil
}
func (d *ghDirectory) PutMembership(_ context.Context, m *platform.Membership) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.memberships[m.Org+"/"+m.UserID] = m
	return nil
}
func (d *ghDirectory) DeleteMembership(_ context.Context, org, userID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.memberships, org+"/"+userID)
	return nil
}
func (d *ghDirectory) DeleteUserTokens(context.Context, string, string) ([]*platform.Token, error) {
	return nil, nil
}
func (d *ghDirectory) AppendAudit(context.Context, *platform.AuditEntry) error { return nil }
func (d *ghDirectory) UpsertGitHubUser(_ context.Context, u *platform.User) (*platform.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if have := d.users[u.GitHubID]; have != nil {
		return have, nil
	}
	c := *u
	c.ID = fmt.Sprintf("u-%d", u.GitHubID)
	d.users[u.GitHubID] = &c
	return &c, nil
}
func (d *ghDirectory) IssueToken(_ context.Context, userID, org string, kind platform.TokenKind) (github.Issued, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.memberships[org+"/"+userID]
	secret := fmt.Sprintf("mp_%s_%d", userID, len(d.tokens))
	d.tokens[secret] = &platform.Token{UserID: userID, Org: org, Role: m.Role, Kind: kind}
	return github.Issued{Secret: secret, ExpiresAt: t0.Add(720 * time.Hour)}, nil
}

// ghPlatform is a platform server with GitHub sign-in over a fake GitHub, where alice
// is in the linked admins team of acme-inc and mallory in no linked team.
type ghPlatform struct {
	*httptest.Server
	gh  *githubtest.Fake
	dir *ghDirectory
}

func newGHPlatform(t *testing.T) *ghPlatform {
	t.Helper()
	p := &ghPlatform{gh: githubtest.New(t), dir: &ghDirectory{
		links:       []*platform.GitHubLink{{Org: "acme", GitHubOrg: "acme-inc", Team: "admins", Role: platform.RoleAdmin}},
		users:       map[int64]*platform.User{},
		memberships: map[string]*platform.Membership{},
		tokens:      map[string]*platform.Token{},
	}}
	p.gh.AddUser("alice")
	p.gh.AddUser("mallory")
	p.gh.SetTeam("acme-inc", "admins", "alice")
	var h http.Handler
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(p.Close)
	integ, err := github.New(github.Config{
		ClientID: githubtest.ClientID, ClientSecret: githubtest.ClientSecret,
		RedirectURL: p.URL + "/auth/github/callback", WebURL: p.gh.WebURL(), APIURL: p.gh.APIURL(),
		Organizations: platform.GitHubOrgs{"acme-inc": "acme"},
	}, p.dir, github.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h = integ
	return p
}

// tokenRole is the role in org of the token saved in dir's config file.
func (p *ghPlatform) savedToken(t *testing.T, dir string) (fileConfig, *platform.Token) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "micro-platform", "config.json"))
	if err != nil {
		t.Fatalf("config file: %v", err)
	}
	var fc fileConfig
	if err := json.Unmarshal(b, &fc); err != nil {
		t.Fatal(err)
	}
	p.dir.mu.Lock()
	defer p.dir.mu.Unlock()
	return fc, p.dir.tokens[fc.Token]
}

// lockedBuffer is a buffer the CLI writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startCLI runs the CLI in the background and returns its output streams and exit code.
func startCLI(t *testing.T, env []string, args ...string) (stdout, stderr *lockedBuffer, code <-chan int) {
	t.Helper()
	stdout, stderr = &lockedBuffer{}, &lockedBuffer{}
	ch := make(chan int, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	go func() {
		defer cancel()
		ch <- Run(ctx, args, strings.NewReader(""), stdout, stderr, append([]string{"HOME=" + t.TempDir(), "TZ=UTC"}, env...))
	}()
	return stdout, stderr, ch
}

// waitOutput polls buf until re matches, and returns the first submatch.
func waitOutput(t *testing.T, buf *lockedBuffer, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(buf.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("output never matched %s:\n%s", re, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLoginGitHubBrowser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		login      string
		wantCode   int
		wantStdout string
		wantStderr string
		wantPage   string
	}{
		{login: "alice", wantStdout: "Logged in to %s as alice (admin in acme).\nSaved server and token to ", wantPage: "You are signed in."},
		{login: "mallory", wantCode: 1, wantStderr: "error: You are not a member of a GitHub team linked to this platform.", wantPage: "not a member of a GitHub team linked to this platform"},
	}
	for _, tt := range tests {
		t.Run(tt.login, func(t *testing.T) {
			t.Parallel()
			p := newGHPlatform(t)
			p.gh.SetAuthorizer(tt.login)
			dir := t.TempDir()
			// No DISPLAY and no BROWSER: the CLI prints the URL, which the test's
			// "browser" (a cookie-keeping client) follows.
			stdout, stderr, code := startCLI(t, []string{"XDG_CONFIG_HOME=" + dir}, "login", "--github", "--server", p.URL)
			u := waitOutput(t, stderr, regexp.MustCompile(`(?m)^  (http://\S+/login\?\S+)$`))
			jar, _ := cookiejar.New(nil)
			resp, err := (&http.Client{Jar: jar, Timeout: 30 * time.Second}).Get(u)
			if err != nil {
				t.Fatal(err)
			}
			var page bytes.Buffer
			page.ReadFrom(resp.Body)
			resp.Body.Close()
			if !strings.Contains(page.String(), tt.wantPage) || !strings.HasPrefix(resp.Request.URL.String(), "http://127.0.0.1:") {
				t.Errorf("browser ended at %s with %q", resp.Request.URL, page.String())
			}
			if c := <-code; c != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", c, tt.wantCode, stdout, stderr)
			}
			if want := strings.ReplaceAll(tt.wantStdout, "%s", p.URL); !strings.HasPrefix(stdout.String(), want) {
				t.Errorf("stdout %q, want prefix %q", stdout, want)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q, want %q", stderr, tt.wantStderr)
			}
			if tt.wantCode != 0 {
				if _, err := os.Stat(filepath.Join(dir, "micro-platform", "config.json")); err == nil {
					t.Errorf("config saved after a refused sign-in")
				}
				return
			}
			fc, tok := p.savedToken(t, dir)
			if fc.Server != p.URL || tok == nil || tok.Kind != platform.TokenAPI || tok.Role != platform.RoleAdmin || tok.Org != "acme" {
				t.Errorf("saved %+v, token %+v", fc, tok)
			}
		})
	}
}

func TestLoginGitHubDevice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		script     githubtest.DeviceScript
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "approved", script: githubtest.DeviceScript{Responses: []string{"authorization_pending"}, Login: "alice"},
			wantStdout: "Logged in to %s as alice (admin in acme).\n"},
		{name: "denied", script: githubtest.DeviceScript{Responses: []string{"access_denied"}},
			wantCode: 1, wantStderr: "error: the sign-in was denied on GitHub\n"},
		{name: "expired", script: githubtest.DeviceScript{Responses: []string{"expired_token"}},
			wantCode: 1, wantStderr: "error: the device code expired before the sign-in was approved\nhint: run `platform login --device` again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newGHPlatform(t)
			p.gh.SetDevice(tt.script)
			dir := t.TempDir()
			r := runCLI(t, []string{"XDG_CONFIG_HOME=" + dir}, "", "login", "--device", "--server", p.URL)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			if !regexp.MustCompile(`Open ` + regexp.QuoteMeta(p.gh.URL) + `/login/device in a browser and enter the code [A-Z0-9]{4}-[A-Z0-9]{4}\n`).MatchString(r.stderr) {
				t.Errorf("no instructions in stderr:\n%s", r.stderr)
			}
			if want := strings.ReplaceAll(tt.wantStdout, "%s", p.URL); !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stdout %q (want %q), stderr %q (want %q)", r.stdout, want, r.stderr, tt.wantStderr)
			}
			if tt.wantCode == 0 {
				if _, tok := p.savedToken(t, dir); tok == nil || tok.Role != platform.RoleAdmin {
					t.Errorf("saved token %+v", tok)
				}
			}
		})
	}
}

func TestLoginGitHubFlagsExclusive(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "", "login", "--github", "--device")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "none of the others can be") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
	r = runCLI(t, nil, "", "login", "--device", "--token", "x")
	if r.code != ExitUsage {
		t.Errorf("--device --token: exit %d: %s", r.code, r.stderr)
	}
}

func TestLoginGitHubNotConfigured(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t) // a platform without GitHub sign-in
	for _, flag := range []string{"--device", "--github"} {
		r := runCLI(t, []string{"XDG_CONFIG_HOME=" + t.TempDir()}, "", "login", flag, "--server", f.URL)
		if r.code != ExitError || !strings.Contains(r.stderr, "error: the platform at "+f.URL+" does not offer GitHub sign-in\nhint: the server needs GitHub configured; use --token instead") {
			t.Errorf("%s: exit %d: %s", flag, r.code, r.stderr)
		}
	}
}
