package oauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// exchange is the token request for code with edit's changes (a nil value drops the
// parameter).
func (f *flow) exchange(e *env, code string, edit url.Values) (int, http.Header, map[string]any) {
	e.t.Helper()
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect},
		"client_id": {f.clientID}, "code_verifier": {f.verifier}}
	for k, vs := range edit {
		if vs == nil {
			v.Del(k)
		} else {
			v[k] = vs
		}
	}
	return e.tokenRequest(v)
}

// The token endpoint trades a code only for its client, its redirect URI and its PKCE
// verifier; a refused attempt leaves the code to its rightful owner.
func TestTokenChecksTheCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := e.newFlow()
	code := e.code(f, "alice", "acme", nil)
	other := e.newFlow()
	for _, tt := range []struct {
		name   string
		edit   url.Values
		status int
		error  string
	}{
		{"another redirect URI", url.Values{"redirect_uri": {"https://agent.example/cb"}}, 400, "invalid_grant"},
		{"no redirect URI", url.Values{"redirect_uri": nil}, 400, "invalid_request"},
		{"wrong verifier", url.Values{"code_verifier": {other.verifier}}, 400, "invalid_grant"},
		{"challenge as verifier", url.Values{"code_verifier": {challengeOf(f.verifier)}}, 400, "invalid_grant"},
		{"no verifier", url.Values{"code_verifier": nil}, 400, "invalid_request"},
		{"another client", url.Values{"client_id": {other.clientID}}, 400, "invalid_grant"},
		{"unknown client", url.Values{"client_id": {"someone"}}, 400, "invalid_client"},
		{"no client", url.Values{"client_id": nil}, 400, "invalid_client"},
		{"client secret", url.Values{"client_secret": {"s3cret"}}, 400, "invalid_client"},
		{"forged code", url.Values{"code": {codePrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, 400, "invalid_grant"},
		{"a client id as code", url.Values{"code": {f.clientID}}, 400, "invalid_grant"},
		{"no code", url.Values{"code": nil}, 400, "invalid_request"},
		{"refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, 400, "unsupported_grant_type"},
		{"client credentials", url.Values{"grant_type": {"client_credentials"}}, 400, "unsupported_grant_type"},
		{"no grant type", url.Values{"grant_type": nil}, 400, "invalid_request"},
		{"repeated code", url.Values{"code": {code, code}}, 400, "invalid_request"},
		{"another resource", url.Values{"resource": {"https://api.example.com/mcp"}}, 400, "invalid_target"},
		{"another namespace's resource", url.Values{"resource": {e.url + "/mcp/beta"}}, 400, "invalid_target"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := f.exchange(e, code, tt.edit)
			if status != tt.status || body["error"] != tt.error || body["error_description"] == "" || body["access_token"] != nil {
				t.Errorf("%d %v, want %d %s", status, body, tt.status, tt.error)
			}
			if h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", h)
			}
		})
	}
	t.Run("client secret in the header", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.url+TokenPath, strings.NewReader(url.Values{"grant_type": {"authorization_code"}, "code": {code}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(f.clientID), "s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%d %v, want 401 with WWW-Authenticate", resp.StatusCode, resp.Header)
		}
	})
	// After every refusal above the code still works, once, for its own client: with
	// the client id in the Basic header (empty password) and the resource it names.
	req, _ := http.NewRequest(http.MethodPost, e.url+TokenPath, strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect}, "code_verifier": {f.verifier},
		"resource": {e.url + "/mcp/acme"},
	}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(f.clientID), "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the rightful exchange: %d", resp.StatusCode)
	}
}

// A code is used once: the second exchange is refused, here and in another process of
// the platform (a Server of its own over the same store and secret), and the grant
// behind it is gone.
func TestTokenCodeIsSingleUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := e.newFlow()
	code := e.code(f, "alice", "acme", nil)
	if status, _, body := f.exchange(e, code, nil); status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("first exchange: %d %v", status, body)
	}
	status, _, body := f.exchange(e, code, nil)
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("second exchange: %d %v, want invalid_grant", status, body)
	}
	// Another process: nothing in memory is shared, only the store and the secret.
	opts := e.oauth.opts
	opts.Now = nil
	again, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, e.url+TokenPath, strings.NewReader(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {f.redirect}, "client_id": {f.clientID}, "code_verifier": {f.verifier}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	again.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "invalid_grant") {
		t.Errorf("exchange in another process: %d %s", w.Code, w.Body)
	}
	for _, tok := range e.tokens("alice") {
		if strings.HasPrefix(tok.Name, grantPrefix) {
			t.Errorf("grant %s left after the exchange", tok.ID)
		}
	}
}

// A code expires CodeTTL after the consent.
func TestTokenCodeExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	f := e.newFlow()
	code := e.code(f, "alice", "acme", nil)
	e.clock.Advance(DefaultCodeTTL)
	status, _, body := f.exchange(e, code, nil)
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" || !strings.Contains(body["error_description"].(string), "expired") {
		t.Errorf("expired code: %d %v", status, body)
	}
	// Just before, it is good.
	code = e.code(f, "alice", "acme", nil)
	e.clock.Advance(DefaultCodeTTL - 1e6)
	if status, _, body := f.exchange(e, code, nil); status != http.StatusOK {
		t.Errorf("code within its lifetime: %d %v", status, body)
	}
}

// What happens to the user between the consent and the exchange holds: a member
// removed from the organisation gets nothing (their grant went with their tokens), one
// demoted gets a token of their new role.
func TestTokenFollowsTheUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	dir := e.plane.Directory()

	f := e.newFlow()
	code := e.code(f, "alice", "acme", nil)
	if err := dir.DeleteMembership(ctx, platform.DefaultOrg, e.users["alice"]); err != nil {
		t.Fatal(err)
	}
	if status, _, body := f.exchange(e, code, nil); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("removed member: %d %v, want invalid_grant", status, body)
	}

	code = e.code(f, "olivia", "beta", nil)
	if err := dir.PutMembership(ctx, &platform.Membership{Org: platform.DefaultOrg, UserID: e.users["olivia"], Role: platform.RoleViewer, Source: platform.MemberLocal}); err != nil {
		t.Fatal(err)
	}
	status, _, body := f.exchange(e, code, nil)
	if status != http.StatusOK {
		t.Fatalf("demoted owner: %d %v", status, body)
	}
	tok, err := e.auth.Authenticate(ctx, body["access_token"].(string))
	if err != nil || tok.Role != platform.RoleViewer {
		t.Errorf("demoted owner's token: %+v, %v; want the viewer role", tok, err)
	}
}
