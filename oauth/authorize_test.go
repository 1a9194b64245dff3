package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/micro/platform/github"
)

func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// flow is one client's authorization request.
type flow struct {
	clientID, redirect, verifier, state string
}

const testRedirect = "http://127.0.0.1:9/callback"

func (e *env) newFlow() *flow {
	e.t.Helper()
	return &flow{clientID: e.register("Test Agent", testRedirect, "https://agent.example/cb"), redirect: testRedirect,
		verifier: oauth2.GenerateVerifier(), state: "st-" + strings.Repeat("x", 20)}
}

// authURL is the authorization request's URL with edit's changes (a nil value drops the
// parameter).
func (f *flow) authURL(base string, edit url.Values) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {f.clientID}, "redirect_uri": {f.redirect}, "state": {f.state},
		"code_challenge": {challengeOf(f.verifier)}, "code_challenge_method": {"S256"},
	}
	for k, v := range edit {
		if v == nil {
			q.Del(k)
		} else {
			q[k] = v
		}
	}
	return base + AuthorizePath + "?" + q.Encode()
}

// code runs the browser's part as login, choosing namespace ns, and returns the code.
func (e *env) code(f *flow, login, ns string, edit url.Values) string {
	e.t.Helper()
	loc := e.consent(e.browser(e.session(login)), f.authURL(e.url, edit), "allow", ns)
	q := loc.Query()
	if !strings.HasPrefix(loc.String(), f.redirect+"?") || q.Get("state") != f.state || q.Get("iss") != e.url || q.Get("code") == "" {
		e.t.Fatalf("redirect after consent: %s", loc)
	}
	return q.Get("code")
}

// Until the client and its redirect URI are known to match, an error is a page: the
// browser is sent nowhere.
func TestAuthorizeRefusesWithAPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := e.newFlow()
	other, _ := New(Options{ControlPlane: nilPlane{}, Auth: nilAuth{}, Secret: []byte("another secret key, 32 bytes!!!"), SignInURL: "/login", CSRF: nilCSRF{}, CSRFCookie: "c"})
	foreign, _ := other.clients.seal(&client{Name: "Elsewhere", Redirects: [][]byte{digest(testRedirect)}})
	browser := e.browser(e.session("alice"))
	for _, tt := range []struct {
		name string
		edit url.Values
		want string
	}{
		{"no client", url.Values{"client_id": nil}, "names no application"},
		{"made-up client", url.Values{"client_id": {clientPrefix + "AAAA"}}, "not one this platform issued"},
		{"another platform's client", url.Values{"client_id": {foreign}}, "not one this platform issued"},
		{"no redirect URI", url.Values{"redirect_uri": nil}, "names no redirect_uri"},
		{"another port", url.Values{"redirect_uri": {"http://127.0.0.1:10/callback"}}, "not one Test Agent registered"},
		{"another path", url.Values{"redirect_uri": {"https://agent.example/cb/"}}, "not one Test Agent registered"},
		{"another site", url.Values{"redirect_uri": {"https://evil.example/cb"}}, "not one Test Agent registered"},
		{"two redirect URIs", url.Values{"redirect_uri": {testRedirect, "https://evil.example/cb"}}, "repeats redirect_uri"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []*http.Client{browser, e.browser("")} {
				resp, page := get(t, c, f.authURL(e.url, tt.edit))
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
					!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, tt.want) {
					t.Fatalf("%d Location=%q\n%s\nwant a 400 page with %q", resp.StatusCode, resp.Header.Get("Location"), page, tt.want)
				}
			}
		})
	}
}

// Once the redirect URI is known good, other errors go back to the client there, with
// the state and the issuer.
func TestAuthorizeErrorsGoBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := e.newFlow()
	for _, tt := range []struct {
		name string
		edit url.Values
		code string
	}{
		{"implicit", url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		{"no response type", url.Values{"response_type": nil}, "unsupported_response_type"},
		{"no PKCE", url.Values{"code_challenge": nil, "code_challenge_method": nil}, "invalid_request"},
		{"plain PKCE", url.Values{"code_challenge_method": {"plain"}, "code_challenge": {f.verifier}}, "invalid_request"},
		{"not a challenge", url.Values{"code_challenge": {"abc"}}, "invalid_request"},
		{"repeated state", url.Values{"state": {f.state, f.state}}, "invalid_request"},
		{"another resource", url.Values{"resource": {"https://api.example.com/mcp"}}, "invalid_target"},
		{"not a namespace", url.Values{"resource": {e.url + "/mcp/Not_A_Name"}}, "invalid_target"},
		{"long scope", url.Values{"scope": {strings.Repeat("s", maxScope+1)}}, "invalid_scope"},
		{"not a scope", url.Values{"scope": {"users:read users/write"}}, "invalid_scope"},
		{"too many scopes", url.Values{"scope": {manyScopes(maxScopes + 1)}}, "invalid_scope"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []*http.Client{e.browser(e.session("alice")), e.browser("")} {
				resp, _ := get(t, c, f.authURL(e.url, tt.edit))
				loc, _ := url.Parse(resp.Header.Get("Location"))
				q := loc.Query()
				if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), testRedirect+"?") || q.Get("error") != tt.code ||
					q.Get("error_description") == "" || q.Get("iss") != e.url || q.Get("code") != "" {
					t.Fatalf("%d Location=%s, want %s at the redirect URI", resp.StatusCode, loc, tt.code)
				}
				if q.Get("state") != f.state && tt.name != "repeated state" {
					t.Errorf("state %q, want %q", q.Get("state"), f.state)
				}
			}
		})
	}
}

// A browser without a session signs in and comes back to the same request.
func TestAuthorizeSignsInFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := e.newFlow()
	authURL := f.authURL(e.url, url.Values{"resource": {e.url + "/mcp"}, "scope": {"tools"}})
	for name, secret := range map[string]string{"no session": "", "unknown session": "mp_" + strings.Repeat("a", 52)} {
		t.Run(name, func(t *testing.T) {
			browser := e.browser(secret)
			resp, _ := get(t, browser, authURL)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
				t.Fatalf("%d Location=%q, want the sign-in", resp.StatusCode, resp.Header.Get("Location"))
			}
			var pending *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == pendingCookie {
					pending = c
				}
			}
			if pending == nil || pending.Path != "/oauth/" || !pending.HttpOnly || pending.SameSite != http.SameSiteLaxMode || pending.MaxAge != 600 {
				t.Fatalf("pending cookie %+v", pending)
			}
			// The sign-in ends at ContinuePath, which brings back the same request.
			resp, _ = get(t, browser, e.url+ContinuePath)
			back, _ := url.Parse(resp.Header.Get("Location"))
			want, _ := url.Parse(authURL)
			if resp.StatusCode != http.StatusSeeOther || back.Path != AuthorizePath || back.Query().Encode() != want.Query().Encode() {
				t.Fatalf("continue: %d Location=%s, want %s", resp.StatusCode, back, want)
			}
			// The cookie is spent: another visit goes home.
			if resp, _ = get(t, browser, e.url+ContinuePath); resp.Header.Get("Location") != "/" {
				t.Errorf("continue again: Location=%q, want /", resp.Header.Get("Location"))
			}
			// Signed in, the same request shows the consent.
			u, _ := url.Parse(e.url)
			browser.Jar.SetCookies(u, []*http.Cookie{{Name: github.SessionCookie, Value: e.session("alice"), Path: "/"}})
			if resp, page := get(t, browser, e.url+back.String()); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Allow Test Agent?") {
				t.Errorf("after sign-in: %d\n%s", resp.StatusCode, page)
			}
		})
	}
	t.Run("sign-in that does not come back", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.SignInURL, o.SignInReturns = "/ui/signin", false })
		f := e.newFlow()
		resp, page := get(t, e.browser(""), f.authURL(e.url, nil))
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, `href="/ui/signin"`) ||
			!strings.Contains(page, `href="/oauth/authorize?client_id=`+f.clientID) {
			t.Fatalf("%d\n%s", resp.StatusCode, page)
		}
	})
}

// The consent page names the client, the user, the organisation and the namespaces the
// user reaches; the answer is CSRF-checked, and deny goes back with access_denied.
func TestConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := e.newFlow()
	alice := e.browser(e.session("alice"))

	t.Run("page", func(t *testing.T) {
		resp, page := get(t, alice, f.authURL(e.url, nil))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%d\n%s", resp.StatusCode, page)
		}
		for _, want := range []string{"<strong>Test Agent</strong>", "<strong>alice</strong>", "<strong>default</strong>",
			`value="acme" checked`, `value="beta"`, "<strong>developer</strong>", "valid 30 days", "mcp:Test Agent", "http://127.0.0.1:9"} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
		if strings.Contains(page, "globex") {
			t.Error("the page offers another organisation's namespace")
		}
		h := resp.Header
		if h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("Cache-Control") != "no-store" {
			t.Errorf("headers %v", h)
		}
		if form(page).Get("csrf_token") == "" {
			t.Error("no CSRF token in the form")
		}
	})
	t.Run("scopes", func(t *testing.T) {
		_, page := get(t, alice, f.authURL(e.url, url.Values{"scope": {"users:write users:write *"}}))
		if strings.Count(page, "<li><code>users:write</code></li>") != 1 || !strings.Contains(page, "<li><code>*</code></li>") || !strings.Contains(page, "is every scope") {
			t.Errorf("the page does not show the scopes:\n%s", page)
		}
		_, page = get(t, alice, f.authURL(e.url, nil))
		if strings.Contains(page, "endpoint scopes") {
			t.Errorf("the page shows scopes nobody asked for:\n%s", page)
		}
	})
	t.Run("resource names a namespace", func(t *testing.T) {
		_, page := get(t, alice, f.authURL(e.url, url.Values{"resource": {e.url + "/mcp/beta"}}))
		if !strings.Contains(page, `value="beta" checked`) || strings.Contains(page, `value="acme"`) {
			t.Errorf("offers more than beta:\n%s", page)
		}
		_, page = get(t, alice, f.authURL(e.url, url.Values{"resource": {e.url + "/mcp/globex"}}))
		if !strings.Contains(page, "You cannot reach the namespace globex") || strings.Contains(page, `value="allow"`) {
			t.Errorf("another organisation's namespace:\n%s", page)
		}
	})
	t.Run("deny", func(t *testing.T) {
		before := len(e.tokens("alice"))
		loc := e.consent(alice, f.authURL(e.url, nil), "deny", "")
		q := loc.Query()
		if q.Get("error") != "access_denied" || q.Get("state") != f.state || q.Get("code") != "" || q.Get("iss") != e.url {
			t.Errorf("deny: %s", loc)
		}
		if n := len(e.tokens("alice")); n != before {
			t.Errorf("deny made %d tokens", n-before)
		}
	})
	_, page := get(t, alice, f.authURL(e.url, nil))
	answer := form(page)
	answer.Set("decision", "allow")
	answer.Set("namespace", "acme")
	for _, tt := range []struct {
		name   string
		edit   func(url.Values)
		origin string
		status int
		want   string
	}{
		{"no CSRF token", func(v url.Values) { v.Del("csrf_token") }, "", http.StatusForbidden, "CSRF token"},
		{"another site", nil, "https://evil.example", http.StatusForbidden, "is not this platform"},
		{"namespace out of reach", func(v url.Values) { v.Set("namespace", "globex") }, "", http.StatusBadRequest, "Choose one of the namespaces"},
		{"no namespace", func(v url.Values) { v.Del("namespace") }, "", http.StatusBadRequest, "Choose one of the namespaces"},
		{"no decision", func(v url.Values) { v.Del("decision") }, "", http.StatusBadRequest, "Choose Allow or Deny"},
		{"redirect URI changed", func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") }, "", http.StatusBadRequest, "not one Test Agent registered"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{}
			for k, vs := range answer {
				v[k] = vs
			}
			if tt.edit != nil {
				tt.edit(v)
			}
			req, _ := http.NewRequest(http.MethodPost, e.url+AuthorizePath, strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", e.url)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := alice.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != "" || !strings.Contains(string(body), tt.want) {
				t.Errorf("%d Location=%q\n%s\nwant %d with %q", resp.StatusCode, resp.Header.Get("Location"), body, tt.status, tt.want)
			}
		})
	}
	for _, tok := range e.tokens("alice") {
		if strings.HasPrefix(tok.Name, "mcp") {
			t.Errorf("a refused answer made token %s (%s)", tok.ID, tok.Name)
		}
	}
}

// manyScopes returns n different scopes.
func manyScopes(n int) string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf("s%d", i))
	}
	return strings.Join(s, " ")
}
