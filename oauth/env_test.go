package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	platformauth "github.com/micro/platform/auth"
	"github.com/micro/platform/control"
	"github.com/micro/platform/github"
	platformhttp "github.com/micro/platform/http"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/sqlstore"
)

var testSecret = []byte("test secret key, 32 bytes long!!")

// env is the platform's HTTP layer as the server wires it for the OAuth routes: a
// SQLite store in a temp dir, the caching authenticator, the control plane, the session
// cookie with GitHub's CSRF check, and the Server mounted by platformhttp; with members
// of the default organisation (alice a developer, olivia an owner, vic a viewer) and
// namespaces acme and beta there, and globex in another organisation.
type env struct {
	t     *testing.T
	store *sqlstore.Store
	plane *control.Plane
	auth  *platformauth.Authenticator
	oauth *Server
	url   string
	clock *testClock
	logs  *syncBuffer
	users map[string]string // login → user id
}

// testClock is a settable clock for code expiry.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects the log output of concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// noBuilds stands for the builder and source store: nothing is deployed here.
type noBuilds struct{}

func (noBuilds) Build(context.Context, *platform.Build, platform.LogWriter) (string, string, error) {
	return "", "", platform.Errorf(platform.EUNAVAILABLE, "no builds in this test")
}

func (noBuilds) StoreArchive(io.Reader) (string, error) {
	return "", platform.Errorf(platform.EINVALID, "no archives in this test")
}

func newEnv(t *testing.T, edit func(*Options)) *env {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	st, err := sqlstore.Open(ctx, filepath.Join(dir, "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := platformauth.NewAuthenticator(st, platformauth.Options{})
	box, err := seal.New(testSecret, "release-env")
	if err != nil {
		t.Fatal(err)
	}
	plane, err := control.New(control.Options{Store: st, Builder: noBuilds{}, Sources: noBuilds{}, Secrets: box, Auth: a,
		BuildLogDir: filepath.Join(dir, "buildlogs")})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, plane: plane, auth: a, clock: &testClock{t: time.Now()}, logs: &syncBuffer{}, users: map[string]string{}}
	if err := st.CreateOrg(ctx, &platform.Org{Name: "globex"}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []*platform.Namespace{{Name: "acme"}, {Name: "beta"}, {Name: "globex", Org: "globex"}} {
		if err := st.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	for login, role := range map[string]platform.Role{"alice": platform.RoleDeveloper, "olivia": platform.RoleOwner, "vic": platform.RoleViewer} {
		u := &platform.User{ID: "u-" + login, Login: login, Source: platform.UserLocal}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := st.PutMembership(ctx, &platform.Membership{Org: platform.DefaultOrg, UserID: u.ID, Role: role, Source: platform.MemberLocal}); err != nil {
			t.Fatal(err)
		}
		e.users[login] = u.ID
	}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	csrf := github.CSRF{}
	opts := Options{
		ControlPlane: plane, Auth: a, Secret: testSecret, SignInURL: "/login", SignInReturns: true,
		CSRF: csrf, CSRFCookie: github.CSRFCookie, Logger: logger, Now: e.clock.Now,
	}
	if edit != nil {
		edit(&opts)
	}
	if e.oauth, err = New(opts); err != nil {
		t.Fatal(err)
	}
	api := platformhttp.NewServer(platformhttp.Options{ControlPlane: plane, Auth: a, Logger: logger,
		SessionCookie: github.SessionCookie, CSRF: csrf, OAuth: e.oauth})
	mux := http.NewServeMux()
	mux.Handle("/", api.Handler())
	mux.HandleFunc("/mcp", fakeMCP(a))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// fakeMCP stands for the MCP endpoint: it takes a platform token and, without one,
// points at the protected-resource metadata as the real one does; a request with
// X-Need-Scope stands for a tool call of an endpoint with that scope, refused with the
// insufficient_scope challenge to a token that does not hold it.
func fakeMCP(a platform.Authenticator) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		metadata := `resource_metadata="http://` + r.Host + ProtectedResourcePath + MCPPath + `"`
		secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", "Bearer "+metadata)
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		tok, err := a.Authenticate(r.Context(), secret)
		if err != nil {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		if need := r.Header.Get("X-Need-Scope"); need != "" && !tok.HoldsScope([]string{need}) {
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+need+`", `+metadata)
			http.Error(w, "insufficient scope", http.StatusForbidden)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"token": tok.Name, "namespaces": tok.Namespaces, "scopes": tok.Scopes})
	}
}

// session signs login in as the GitHub sign-in does, and returns the session's secret.
func (e *env) session(login string) string {
	e.t.Helper()
	secret, _, err := e.plane.Directory().IssueToken(e.t.Context(), e.users[login], platform.DefaultOrg, platform.TokenSession, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// browser returns a client that carries the session cookie of secret ("" for none)
// and shows redirects rather than following them.
func (e *env) browser(secret string) *http.Client {
	e.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if secret != "" {
		u, _ := url.Parse(e.url)
		jar.SetCookies(u, []*http.Cookie{{Name: github.SessionCookie, Value: secret, Path: "/"}})
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// register registers a client with redirect URIs and returns its client id.
func (e *env) register(name string, redirects ...string) string {
	e.t.Helper()
	status, body := e.postJSON(RegisterPath, RegistrationRequest{ClientName: name, RedirectURIs: redirects})
	var resp RegistrationResponse
	if status != http.StatusCreated || json.Unmarshal(body, &resp) != nil || resp.ClientID == "" {
		e.t.Fatalf("register: %d %s", status, body)
	}
	return resp.ClientID
}

func (e *env) postJSON(path string, v any) (int, []byte) {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.Post(e.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// get sends GET path with c and returns the response with its body read.
func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// form returns the hidden fields of a page's form.
func form(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// post sends the consent form's answer as the page would: from the platform's origin.
func (e *env) post(c *http.Client, path string, v url.Values) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(v.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.url)
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// consent opens authURL in c (which must be signed in), answers the consent page with
// decision and namespace, and returns where the browser is sent.
func (e *env) consent(c *http.Client, authURL, decision, namespace string) *url.URL {
	e.t.Helper()
	resp, page := get(e.t, c, authURL)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", authURL, resp.StatusCode, page)
	}
	v := form(page)
	v.Set("decision", decision)
	if namespace != "" {
		v.Set("namespace", namespace)
	}
	resp, page = e.post(c, AuthorizePath, v)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("consent %s: %d %s", decision, resp.StatusCode, page)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return loc
}

// tokenRequest posts a token request and returns the status and the decoded answer.
func (e *env) tokenRequest(v url.Values) (int, http.Header, map[string]any) {
	e.t.Helper()
	resp, err := http.PostForm(e.url+TokenPath, v)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatalf("token answer: %v", err)
	}
	return resp.StatusCode, resp.Header, out
}

// tokens returns the tokens of the user login.
func (e *env) tokens(login string) []*platform.Token {
	e.t.Helper()
	all, err := e.store.ListTokens(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*platform.Token
	for _, tok := range all {
		if tok.UserID == e.users[login] {
			out = append(out, tok)
		}
	}
	return out
}
