package github

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github/githubtest"
)

// memDir is an in-memory Directory with the contracts of the platform's stores, and an
// authenticator over the credentials it issues.
type memDir struct {
	mu          sync.Mutex
	orgs        []string
	links       []*platform.GitHubLink
	users       map[string]*platform.User // by id
	memberships map[string]*platform.Membership
	tokens      map[string]*platform.Token // by secret
	audit       []*platform.AuditEntry
	issued      []string // every secret issued
	nextID      int
}

func newMemDir(orgs ...string) *memDir {
	return &memDir{orgs: orgs, users: map[string]*platform.User{}, memberships: map[string]*platform.Membership{}, tokens: map[string]*platform.Token{}}
}

func mkey(org, userID string) string { return org + "\x00" + userID }

func (d *memDir) ListOrgs(context.Context) ([]*platform.Org, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*platform.Org
	for _, o := range d.orgs {
		out = append(out, &platform.Org{Name: o})
	}
	return out, nil
}

func (d *memDir) ListGitHubLinks(_ context.Context, org string) ([]*platform.GitHubLink, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*platform.GitHubLink
	for _, l := range d.links {
		if org == "" || l.Org == org {
			c := *l
			out = append(out, &c)
		}
	}
	return out, nil
}

func (d *memDir) ListMembers(_ context.Context, org string) ([]*platform.Member, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*platform.Member
	for _, m := range d.memberships {
		if m.Org == org {
			out = append(out, &platform.Member{User: *d.users[m.UserID], Role: m.Role, RoleSource: m.Source, Teams: slices.Clone(m.Teams)})
		}
	}
	return out, nil
}

func (d *memDir) ListMemberships(_ context.Context, userID string) ([]*platform.Membership, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*platform.Membership
	for _, m := range d.memberships {
		if m.UserID == userID {
			c := *m
			out = append(out, &c)
		}
	}
	return out, nil
}

func (d *memDir) PutMembership(_ context.Context, m *platform.Membership) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.users[m.UserID] == nil || !slices.Contains(d.orgs, m.Org) {
		return platform.Errorf(platform.ENOTFOUND, "no user %s or org %s", m.UserID, m.Org)
	}
	if !m.Role.Valid() {
		return platform.Errorf(platform.EINVALID, "bad role %q", m.Role)
	}
	c := *m
	d.memberships[mkey(m.Org, m.UserID)] = &c
	return nil
}

func (d *memDir) DeleteMembership(_ context.Context, org, userID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.memberships[mkey(org, userID)] == nil {
		return platform.Errorf(platform.ENOTFOUND, "no membership")
	}
	delete(d.memberships, mkey(org, userID))
	return nil
}

func (d *memDir) DeleteUserTokens(_ context.Context, userID, org string) ([]*platform.Token, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*platform.Token
	for s, t := range d.tokens {
		if t.UserID == userID && (org == "" || t.Org == org) {
			out = append(out, t)
			delete(d.tokens, s)
		}
	}
	return out, nil
}

func (d *memDir) AppendAudit(_ context.Context, e *platform.AuditEntry) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e.Org == "" || e.Action == "" {
		return platform.Errorf(platform.EINVALID, "audit entry without org or action")
	}
	c := *e
	c.ID = int64(len(d.audit) + 1)
	d.audit = append(d.audit, &c)
	return nil
}

func (d *memDir) UpsertGitHubUser(_ context.Context, u *platform.User) (*platform.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, have := range d.users {
		if have.GitHubID == u.GitHubID {
			have.Login = u.Login
			if u.Name != "" {
				have.Name = u.Name
			}
			if u.Email != "" {
				have.Email = u.Email
			}
			c := *have
			return &c, nil
		}
	}
	d.nextID++
	c := *u
	c.ID = fmt.Sprintf("u-%d", d.nextID)
	d.users[c.ID] = &c
	r := c
	return &r, nil
}

func (d *memDir) IssueToken(_ context.Context, userID, org string, kind platform.TokenKind) (Issued, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.memberships[mkey(org, userID)]
	if m == nil {
		return Issued{}, platform.Errorf(platform.EFORBIDDEN, "not a member of %s", org)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	secret := "mp_" + hex.EncodeToString(b[:])
	exp := time.Now().Add(time.Hour)
	d.tokens[secret] = &platform.Token{ID: "t-" + secret[3:11], Kind: kind, UserID: userID, Org: org, Role: m.Role, ExpiresAt: &exp}
	d.issued = append(d.issued, secret)
	return Issued{Secret: secret, ExpiresAt: exp}, nil
}

// whoami authenticates a secret like the platform would: the token, and the owner's
// current membership of its org.
func (d *memDir) whoami(secret string) (login string, org string, role platform.Role, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tokens[secret]
	if t == nil {
		return "", "", "", false
	}
	m := d.memberships[mkey(t.Org, t.UserID)]
	if m == nil {
		return "", "", "", false
	}
	return d.users[t.UserID].Login, t.Org, m.Role, true
}

// member returns the user's role in org by GitHub login, "" if not a member.
func (d *memDir) member(org, login string) platform.Role {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.memberships {
		if m.Org == org && d.users[m.UserID].Login == login {
			return m.Role
		}
	}
	return ""
}

func (d *memDir) userCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.users)
}

// audited returns the audit entries with action whose detail contains substr.
func (d *memDir) audited(action, substr string) []*platform.AuditEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*platform.AuditEntry
	for _, e := range d.audit {
		if e.Action == action && strings.Contains(e.Detail, substr) {
			out = append(out, e)
		}
	}
	return out
}

func (d *memDir) secrets() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.issued)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Fixture names.
const (
	ghOrg         = "acme-inc"
	webhookSecret = "whsec-0123456789-the-webhook-secret"
)

// env is a platform with GitHub sign-in over the fake GitHub.
type env struct {
	t       *testing.T
	gh      *githubtest.Fake
	dir     *memDir
	integ   *Integration
	srv     *httptest.Server
	logs    *syncBuffer
	syncTok string
	cfg     Config
	alice   *githubtest.User
	bob     *githubtest.User
	mallory *githubtest.User
}

// newEnv starts the fake GitHub with acme-inc's teams (alice in admins and developers,
// bob in readers, mallory in no team), a directory linking them to org acme, and the
// integration behind a real HTTP server that also serves "/" (who the session is) and a
// CSRF-protected POST /v1/settings, as the HTTP layer would.
func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, gh: githubtest.New(t), dir: newMemDir(platform.DefaultOrg, "acme"), logs: &syncBuffer{}}
	e.alice, e.bob, e.mallory = e.gh.AddUser("alice"), e.gh.AddUser("bob"), e.gh.AddUser("mallory")
	e.gh.AddUser("carol")
	e.gh.SetTeam(ghOrg, "platform-admins", "alice")
	e.gh.SetTeam(ghOrg, "developers", "alice", "carol")
	e.gh.SetTeam(ghOrg, "readers", "bob")
	e.gh.SetTeam(ghOrg, "unlinked", "mallory")
	e.dir.links = []*platform.GitHubLink{
		{Org: "acme", GitHubOrg: ghOrg, Team: "platform-admins", Role: platform.RoleAdmin},
		{Org: "acme", GitHubOrg: ghOrg, Team: "developers", Role: platform.RoleDeveloper},
		{Org: "acme", GitHubOrg: ghOrg, Team: "readers", Role: platform.RoleViewer},
	}
	e.syncTok = e.gh.IssueToken("carol")
	var h http.Handler
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(SessionCookie)
		if err != nil {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		login, org, role, ok := e.dir.whoami(c.Value)
		if !ok {
			http.Error(w, "session revoked", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "signed in as %s, %s in %s", login, role, org)
	})
	mux.Handle("/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.integ.CSRF().Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "changed")
		})).ServeHTTP(w, r)
	}))
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range e.integ.Routes() {
			if r.URL.Path == p {
				h.ServeHTTP(w, r)
				return
			}
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.cfg = Config{
		ClientID: githubtest.ClientID, ClientSecret: githubtest.ClientSecret,
		RedirectURL: e.srv.URL + "/auth/github/callback",
		WebURL:      e.gh.WebURL(), APIURL: e.gh.APIURL(),
		SyncToken: e.syncTok, WebhookSecret: webhookSecret, SyncInterval: time.Hour,
		Organizations: platform.GitHubOrgs{ghOrg: "acme"},
	}
	for _, m := range mutate {
		m(&e.cfg)
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	logger.Info("starting", "github", e.cfg) // a Config logged by mistake must not leak either
	integ, err := New(e.cfg, e.dir, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	e.integ, h = integ, integ
	t.Cleanup(e.assertNoSecretsLogged)
	return e
}

// assertNoSecretsLogged fails when a secret shows up in the log output.
func (e *env) assertNoSecretsLogged() {
	logs := e.logs.String()
	secrets := append([]string{githubtest.ClientSecret, webhookSecret, e.syncTok}, e.gh.IssuedTokens()...)
	secrets = append(secrets, e.dir.secrets()...)
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			e.t.Errorf("a secret (%.6s…) appears in the log output", s)
		}
	}
	if !strings.Contains(logs, `"client_id":"`+githubtest.ClientID) {
		e.t.Errorf("the log capture did not see the config at all:\n%s", logs)
	}
}

// browser is a cookie-keeping HTTP client that follows redirects.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// get fetches url with c and returns the status and body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// signIn runs the browser sign-in as login and returns the final page.
func (e *env) signIn(c *http.Client, login string) (int, string) {
	e.t.Helper()
	e.gh.SetAuthorizer(login)
	return get(e.t, c, e.srv.URL+"/login")
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
