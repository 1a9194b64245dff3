package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/client"
	"github.com/micro/platform/github/githubtest"
	"github.com/micro/platform/server"
)

// TestOAuthWithGitHub runs an MCP client's sign-in through the whole server with GitHub
// sign-in: the browser without a session is sent to GitHub and comes back to the
// consent page of the same request, and the code trades for a token narrowed to the
// namespace chosen there.
func TestOAuthWithGitHub(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole server")
	}
	t.Parallel()
	fake := githubtest.New(t)
	fake.AddUser("alice")
	fake.SetTeam("acme-inc", "devs", "alice")
	fake.SetAuthorizer("alice")
	addr, backend := frontProxy(t)
	base := "http://" + addr
	app, owner, out := startServer(t, t.TempDir(), func(c *server.Config) {
		c.GitHub = server.GitHubConfig{
			ClientID: githubtest.ClientID, ClientSecret: githubtest.ClientSecret, RedirectURL: base + "/auth/github/callback",
			WebURL: fake.WebURL(), APIURL: fake.APIURL(), SyncInterval: time.Hour,
		}
	})
	backend.Store(&url.URL{Scheme: "http", Host: app.Addr()})
	ctx := context.Background()
	if _, err := owner.SetGitHubLinks(ctx, []*platform.GitHubLink{{GitHubOrg: "acme-inc", Team: "devs", Role: platform.RoleDeveloper}}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"acme", "beta"} {
		if _, err := owner.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}

	// The metadata names the platform by its GitHub sign-in's address.
	var asm struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		RegistrationEndpoint  string `json:"registration_endpoint"`
	}
	resp, body := fetch(t, http.DefaultClient, http.MethodGet, base+"/.well-known/oauth-authorization-server", nil, "")
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &asm) != nil || asm.Issuer != base {
		t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
	const redirect = "http://127.0.0.1:9/callback"
	resp, body = fetch(t, http.DefaultClient, http.MethodPost, asm.RegistrationEndpoint,
		strings.NewReader(`{"redirect_uris":["`+redirect+`"],"client_name":"Claude"}`), "application/json")
	var reg struct {
		ClientID string `json:"client_id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &reg) != nil {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	authURL := asm.AuthorizationEndpoint + "?" + url.Values{
		"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {redirect}, "state": {"s-1"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {base + "/mcp"},
	}.Encode()

	// The browser follows the redirects: sign-in, GitHub, callback, back to the request.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, body = fetch(t, browser, http.MethodGet, authURL, nil, "")
	page := string(body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/oauth/authorize" || !strings.Contains(page, "<strong>Claude</strong>") || !strings.Contains(page, "<strong>alice</strong>") {
		t.Fatalf("after GitHub sign-in: %d at %s\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	answer := url.Values{"decision": {"allow"}, "namespace": {"beta"}}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		answer.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodPost, asm.AuthorizationEndpoint, strings.NewReader(answer.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("state") != "s-1" || loc.Query().Get("code") == "" {
		t.Fatalf("consent: %d %s", resp.StatusCode, loc)
	}

	accessToken := exchangeCode(t, base, asm.TokenEndpoint, loc.Query().Get("code"), redirect, reg.ClientID, verifier)
	if strings.Contains(out.String(), accessToken) || strings.Contains(out.String(), loc.Query().Get("code")) {
		t.Error("the token or the code reached the server's output")
	}
}

// TestOAuthWithTokenSignIn runs an MCP client's sign-in through the whole server without
// GitHub: the browser without a session lands on the dashboard's token sign-in page, and
// pasting a token brings it back to the consent page of the same request.
func TestOAuthWithTokenSignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole server")
	}
	t.Parallel()
	dataDir := t.TempDir()
	app, owner, out := startServer(t, dataDir)
	base := "http://" + app.Addr()
	ctx := context.Background()
	for _, ns := range []string{"acme", "beta"} {
		if _, err := owner.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	// The browser signs in with the owner's token, the one the server wrote at start.
	secret, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	ownerMe, err := owner.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	user := ownerMe.Token.Name
	if ownerMe.User != nil {
		user = ownerMe.User.Login
	}

	const redirect = "http://127.0.0.1:9/callback"
	resp, body := fetch(t, http.DefaultClient, http.MethodPost, base+"/oauth/register",
		strings.NewReader(`{"redirect_uris":["`+redirect+`"],"client_name":"Claude"}`), "application/json")
	var reg struct {
		ClientID string `json:"client_id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &reg) != nil {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	verifier := strings.Repeat("w", 43)
	sum := sha256.Sum256([]byte(verifier))
	authURL := base + "/oauth/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {redirect}, "state": {"s-2"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {base + "/mcp"},
	}.Encode()
	hidden := regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	form := func(page string) url.Values {
		v := url.Values{}
		for _, m := range hidden.FindAllStringSubmatch(page, -1) {
			v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		return v
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	post := func(u string, v url.Values) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	// Without a session, the browser lands on the dashboard's sign-in page, which will
	// send it back to the pending authorization.
	resp, body = fetch(t, browser, http.MethodGet, authURL, nil, "")
	page := string(body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/ui/signin" || !strings.Contains(page, `name="token"`) {
		t.Fatalf("without a session: %d at %s\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	signIn := form(page)
	if signIn.Get("next") != "/oauth/continue" || signIn.Get("csrf_token") == "" {
		t.Fatalf("sign-in form's hidden inputs: %v", signIn)
	}

	// Pasting the token, the browser follows the redirects back to the consent page.
	signIn.Set("token", strings.TrimSpace(string(secret)))
	var hops []string
	browser.CheckRedirect = func(r *http.Request, _ []*http.Request) error { hops = append(hops, r.URL.Path); return nil }
	resp, body = post(base+"/ui/signin", signIn)
	if strings.Join(hops, " ") != "/oauth/continue /oauth/authorize" {
		t.Errorf("the sign-in's redirects: %v, want /oauth/continue then /oauth/authorize", hops)
	}
	page = string(body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/oauth/authorize" ||
		!strings.Contains(page, "<strong>Claude</strong>") || !strings.Contains(page, "<strong>"+html.EscapeString(user)+"</strong>") {
		t.Fatalf("after the token sign-in: %d at %s\n%s", resp.StatusCode, resp.Request.URL, page)
	}
	if q := resp.Request.URL.Query(); q.Get("client_id") != reg.ClientID || q.Get("state") != "s-2" {
		t.Fatalf("the consent page is not the pending request's: %s", resp.Request.URL)
	}

	answer := form(page)
	answer.Set("decision", "allow")
	answer.Set("namespace", "beta")
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ = post(base+"/oauth/authorize", answer)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("state") != "s-2" || code == "" || loc.Query().Get("iss") != base {
		t.Fatalf("consent: %d %s", resp.StatusCode, loc)
	}

	accessToken := exchangeCode(t, base, base+"/oauth/token", code, redirect, reg.ClientID, verifier)

	// The token opens an MCP session in its namespace, and only there.
	initialize := func(ns string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/mcp/"+ns, strings.NewReader(
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+accessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	if resp, body := initialize("beta"); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"protocolVersion"`) {
		t.Fatalf("initialize in beta: %d %s", resp.StatusCode, body)
	}
	if resp, body := initialize("acme"); resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
		t.Fatalf("initialize in acme: %d %s", resp.StatusCode, body)
	}
	// (The owner's token is printed at start, by design; the flow prints no secret.)
	if s := out.String(); strings.Contains(s, accessToken) || strings.Contains(s, code) {
		t.Error("the token or the code reached the server's output")
	}
}

// fetch sends a request and reads the answer.
func fetch(t *testing.T, c *http.Client, method, u string, body io.Reader, contentType string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = io.Copy(&b, resp.Body)
	return resp, b.Bytes()
}

// exchangeCode trades an authorization code for an access token at endpoint, and checks
// the token is the one the consent gave: Claude's, a developer's, narrowed to beta.
func exchangeCode(t *testing.T, base, endpoint, code, redirect, clientID, verifier string) string {
	t.Helper()
	resp, body := fetch(t, http.DefaultClient, http.MethodPost, endpoint, strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"client_id": {clientID}, "code_verifier": {verifier},
	}.Encode()), "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.TokenType != "Bearer" {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	me, err := client.New(base, client.WithToken(tok.AccessToken)).Whoami(context.Background())
	if err != nil || me.Role != platform.RoleDeveloper || me.Token.Name != "mcp:Claude" || strings.Join(me.Token.Namespaces, ",") != "beta" {
		t.Fatalf("whoami with the token: %+v, %v", me, err)
	}
	return tok.AccessToken
}
