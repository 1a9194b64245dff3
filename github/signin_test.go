package github

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github/githubtest"
)

func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		login      string
		wantStatus int
		wantBody   string
		wantRole   platform.Role
	}{
		{login: "alice", wantStatus: 200, wantBody: "signed in as alice, admin in acme", wantRole: platform.RoleAdmin}, // admins and developers: the highest
		{login: "bob", wantStatus: 200, wantBody: "signed in as bob, viewer in acme", wantRole: platform.RoleViewer},
		{login: "mallory", wantStatus: 403, wantBody: "You are not a member of a GitHub team linked to this platform."},
	}
	for _, tt := range tests {
		t.Run(tt.login, func(t *testing.T) {
			users := e.dir.userCount()
			status, body := e.signIn(e.browser(), tt.login)
			if status != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("got %d %q, want %d containing %q", status, body, tt.wantStatus, tt.wantBody)
			}
			if got := e.dir.member("acme", tt.login); got != tt.wantRole {
				t.Errorf("role in acme %q, want %q", got, tt.wantRole)
			}
			if tt.wantRole == "" {
				if e.dir.userCount() != users {
					t.Errorf("a refused sign-in created a user")
				}
				if len(e.dir.audited(platform.AuditSignInRefused, "not a member")) == 0 {
					t.Errorf("refused sign-in not audited")
				}
				return
			}
			if len(e.dir.audited(platform.AuditSignIn, "role "+string(tt.wantRole))) == 0 {
				t.Errorf("sign-in not audited")
			}
		})
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		https      bool
		wantSecure bool
	}{
		{"http platform", false, false},
		{"https platform", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(c *Config) {
				if tt.https {
					// GitHub redirects to the platform's public https URL; the test
					// server is reached through it by rewriting below.
					c.RedirectURL = strings.Replace(c.RedirectURL, "http://", "https://", 1)
				}
			})
			e.gh.SetAuthorizer("alice")
			c := e.browser()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			// /login: the redirect to GitHub carries state, PKCE S256 and read:org.
			resp, err := c.Get(e.srv.URL + "/login")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			q := loc.Query()
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), e.gh.WebURL()+"login/oauth/authorize") ||
				q.Get("state") == "" || q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("scope") != "read:org" {
				t.Fatalf("login redirect %d %s", resp.StatusCode, loc)
			}
			state := cookieNamed(resp, stateCookie)
			if state == nil || !state.HttpOnly || state.Secure != tt.wantSecure || state.SameSite != http.SameSiteLaxMode {
				t.Fatalf("state cookie %+v", state)
			}
			// GitHub approves and sends the browser back.
			resp, err = c.Get(loc.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			back, _ := url.Parse(resp.Header.Get("Location"))
			back.Scheme, back.Host = "http", strings.TrimPrefix(e.srv.URL, "http://")
			req, _ := http.NewRequest(http.MethodGet, back.String(), nil)
			req.AddCookie(state)
			resp, err = http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			s := cookieNamed(resp, SessionCookie)
			if resp.StatusCode != http.StatusFound || s == nil {
				t.Fatalf("callback %d without a session cookie", resp.StatusCode)
			}
			if !s.HttpOnly || s.Secure != tt.wantSecure || s.SameSite != http.SameSiteLaxMode || s.Path != "/" || s.Expires.IsZero() {
				t.Errorf("session cookie %+v: want HttpOnly, Secure=%v, SameSite=Lax, Path=/, an expiry", s, tt.wantSecure)
			}
			if _, _, role, ok := e.dir.whoami(s.Value); !ok || role != platform.RoleAdmin {
				t.Errorf("session cookie does not authenticate as an admin")
			}
			if csrf := cookieNamed(resp, CSRFCookie); csrf == nil || csrf.HttpOnly || csrf.SameSite != http.SameSiteStrictMode {
				t.Errorf("CSRF cookie %+v", csrf)
			}
		})
	}
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestSignInRefusals checks that forged, replayed and unbound sign-ins are refused,
// audited, and change nothing.
func TestSignInRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.gh.SetAuthorizer("alice")
	noFollow := func(c *httpClient) {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}

	// startLogin runs /login and GitHub's approval in browser c, returning the callback
	// URL without visiting it.
	startLogin := func(c *httpClient) string {
		t.Helper()
		resp, err := c.Get(e.srv.URL + "/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = c.Get(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Location")
	}
	first := e.browser()
	noFollow(first)
	used := startLogin(first)
	if status, _ := get(t, first, used); status != http.StatusFound {
		t.Fatalf("first sign-in: %d", status)
	}
	usedCode := mustQuery(t, used).Get("code")

	tests := []struct {
		name     string
		callback func() (client *httpClient, url string)
		wantBody string
		detail   string
	}{
		{
			name: "forged state",
			callback: func() (*httpClient, string) {
				return e.browser(), e.srv.URL + "/auth/github/callback?code=x&state=forged"
			},
			wantBody: "invalid, has expired or was already used", detail: "OAuth state",
		},
		{
			name:     "replayed state",
			callback: func() (*httpClient, string) { return first, used },
			wantBody: "invalid, has expired or was already used", detail: "OAuth state",
		},
		{
			name: "state from another browser",
			callback: func() (*httpClient, string) {
				c := e.browser()
				noFollow(c)
				return e.browser(), startLogin(c) // the victim's browser has no state cookie
			},
			wantBody: "invalid, has expired or was already used", detail: "OAuth state",
		},
		{
			name: "replayed code",
			callback: func() (*httpClient, string) {
				c := e.browser()
				noFollow(c)
				u := mustQuery(t, startLogin(c)) // a fresh, valid state in this browser...
				u.Set("code", usedCode)          // ...with a code GitHub already redeemed
				return c, e.srv.URL + "/auth/github/callback?" + u.Encode()
			},
			wantBody: "GitHub rejected the sign-in code", detail: "bad_verification_code",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.dir.secrets())
			audits := len(e.dir.audited(platform.AuditSignInRefused, tt.detail))
			c, u := tt.callback()
			status, body := get(t, c, u)
			if status != http.StatusBadRequest || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("got %d %q, want 400 with %q", status, body, tt.wantBody)
			}
			if len(e.dir.secrets()) != before {
				t.Errorf("a session was issued")
			}
			if got := len(e.dir.audited(platform.AuditSignInRefused, tt.detail)); got != audits+1 {
				t.Errorf("audit entries about %q: %d, want %d", tt.detail, got, audits+1)
			}
		})
	}
}

type httpClient = http.Client

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestCLIBrowserSignIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.gh.SetAuthorizer("bob")
	verifier := "v-" + strings.Repeat("x", 50)
	c := e.browser()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// The CLI's loopback listener is only a URL here: the test reads where the browser
	// is sent instead of following.
	resp, err := c.Get(e.srv.URL + "/login?" + url.Values{"cli_port": {"45678"}, "cli_state": {"cli-state"}, "cli_challenge": {s256(verifier)}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for range 2 { // GitHub, then the callback
		resp, err = c.Get(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http://127.0.0.1:45678/callback?") || cookieNamed(resp, SessionCookie) != nil {
		t.Fatalf("callback sent the browser to %q (session cookie set: %v)", loc, cookieNamed(resp, SessionCookie) != nil)
	}
	q := mustQuery(t, loc)
	if q.Get("state") != "cli-state" {
		t.Fatalf("state %q not echoed", q.Get("state"))
	}
	pc := &PlatformClient{Server: e.srv.URL}
	if _, err := pc.CollectToken(t.Context(), q.Get("code"), "wrong-verifier"); platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
		t.Errorf("wrong verifier: %v, want unauthenticated", err)
	}
	// The wrong verifier used the code up: a code is single-use whatever happens.
	if _, err := pc.CollectToken(t.Context(), q.Get("code"), verifier); platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
		t.Errorf("replayed code: %v, want unauthenticated", err)
	}
	if len(e.dir.audited(platform.AuditSignInRefused, "CLI sign-in code")) != 2 {
		t.Errorf("refused CLI codes not audited")
	}

	// Again, properly.
	resp, _ = c.Get(e.srv.URL + "/login?" + url.Values{"cli_port": {"45678"}, "cli_state": {"s2"}, "cli_challenge": {s256(verifier)}}.Encode())
	for range 2 {
		resp, _ = c.Get(resp.Header.Get("Location"))
	}
	got, err := pc.CollectToken(t.Context(), mustQuery(t, resp.Header.Get("Location")).Get("code"), verifier)
	if err != nil {
		t.Fatal(err)
	}
	if login, org, role, ok := e.dir.whoami(got.Token); !ok || login != "bob" || org != "acme" || role != platform.RoleViewer || got.Roles["acme"] != platform.RoleViewer {
		t.Errorf("token for %s %s %s (ok %v), response %+v", login, org, role, ok, got)
	}
}

func TestLoginRejectsForeignRedirects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, q := range []string{"cli_port=0&cli_state=s&cli_challenge=" + strings.Repeat("a", 43), "cli_port=80&cli_state=s&cli_challenge=short", "cli_port=evil.example&cli_state=s&cli_challenge=" + strings.Repeat("a", 43)} {
		status, body := get(t, e.browser(), e.srv.URL+"/login?"+q)
		if status != http.StatusBadRequest || !strings.Contains(body, "platform login --github") {
			t.Errorf("%s: %d %q", q, status, body)
		}
	}
	_ = githubtest.ClientID
}
