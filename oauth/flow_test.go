package oauth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// An MCP client signs in with golang.org/x/oauth2 from discovery to a token, and the
// token is an ordinary platform token: the platform's Authenticator takes it, it is
// narrowed to the chosen namespace with at most the developer role, and its creation is
// audited.
func TestFlowOAuth2(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tt := range []struct {
		login  string
		scopes []string // asked for, and held by the token
		role   platform.Role
	}{
		{"alice", []string{"users:read", "mail:send"}, platform.RoleDeveloper},
		{"olivia", nil, platform.RoleDeveloper}, // an owner's agent gets developer
		{"vic", nil, platform.RoleViewer},       // never more than the user
	} {
		t.Run(tt.login, func(t *testing.T) {
			ctx := t.Context()
			// Discovery: the resource's metadata names the authorization server.
			var prm oauthex.ProtectedResourceMetadata
			getJSON(t, e.url+ProtectedResourcePath+"/mcp", &prm)
			var asm AuthServerMetadata
			getJSON(t, prm.AuthorizationServers[0]+AuthServerPath, &asm)

			status, body := e.postJSON(strings.TrimPrefix(asm.RegistrationEndpoint, e.url), RegistrationRequest{
				ClientName: "Test Agent", RedirectURIs: []string{testRedirect}, TokenEndpointAuthMethod: "none",
			})
			var reg RegistrationResponse
			if status != http.StatusCreated || json.Unmarshal(body, &reg) != nil {
				t.Fatalf("register: %d %s", status, body)
			}
			cfg := &oauth2.Config{
				ClientID:    reg.ClientID,
				Endpoint:    oauth2.Endpoint{AuthURL: asm.AuthorizationEndpoint, TokenURL: asm.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
				RedirectURL: testRedirect,
				Scopes:      tt.scopes,
			}
			verifier := oauth2.GenerateVerifier()
			resource := oauth2.SetAuthURLParam("resource", prm.Resource)
			authURL := cfg.AuthCodeURL("state-"+tt.login, oauth2.S256ChallengeOption(verifier), resource)

			session := e.session(tt.login)
			loc := e.consent(e.browser(session), authURL, "allow", "acme")
			if loc.Query().Get("state") != "state-"+tt.login || loc.Query().Get("iss") != asm.Issuer {
				t.Fatalf("redirect %s", loc)
			}
			code := loc.Query().Get("code")
			tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier), resource)
			if err != nil {
				t.Fatal(err)
			}
			if tok.TokenType != "Bearer" || !strings.HasPrefix(tok.AccessToken, "mp_") || tok.RefreshToken != "" ||
				time.Until(tok.Expiry) < DefaultTokenTTL-time.Minute || time.Until(tok.Expiry) > DefaultTokenTTL {
				t.Errorf("token %+v", tok)
			}

			pt, err := e.auth.Authenticate(ctx, tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if pt.Name != "mcp:Test Agent" || pt.Kind != platform.TokenAPI || pt.UserID != e.users[tt.login] || pt.OrgName() != platform.DefaultOrg ||
				pt.Role != tt.role || !slices.Equal(pt.Namespaces, []string{"acme"}) || !slices.Equal(pt.Scopes, tt.scopes) {
				t.Errorf("platform token %+v", pt)
			}
			if granted, _ := tok.Extra("scope").(string); granted != strings.Join(tt.scopes, " ") {
				t.Errorf("granted scope %q, want %q", granted, strings.Join(tt.scopes, " "))
			}
			if err := authz.Check(pt, authz.ServiceRead, "acme", platform.DefaultOrg); err != nil {
				t.Errorf("reading acme: %v", err)
			}
			if err := authz.Check(pt, authz.ServiceRead, "beta", platform.DefaultOrg); platform.ErrorCode(err) != platform.EFORBIDDEN {
				t.Errorf("reading beta: %v, want forbidden", err)
			}
			if err := authz.Check(pt, authz.TokenManage, "", ""); err == nil {
				t.Error("the agent's token may manage tokens")
			}
			if resp, body := bearerGet(t, e.url+"/mcp", tok.AccessToken); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"namespaces":["acme"]`) {
				t.Errorf("MCP endpoint: %d %s", resp.StatusCode, body)
			}
			// The API takes it like any token, as its owner narrowed to acme.
			if resp, body := bearerGet(t, e.url+"/v1/whoami", tok.AccessToken); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"`+tt.login+`"`) {
				t.Errorf("whoami: %d %s", resp.StatusCode, body)
			}

			for _, ut := range e.tokens(tt.login) {
				if strings.HasPrefix(ut.Name, grantPrefix) {
					t.Errorf("grant %s (%s) left behind", ut.ID, ut.Name)
				}
			}
			entries, err := e.store.ListAudit(ctx, platform.AuditFilter{Org: platform.DefaultOrg, Actor: tt.login, Action: "token."})
			if err != nil {
				t.Fatal(err)
			}
			var created []string
			for _, a := range entries {
				if a.Action == platform.AuditTokenCreate {
					created = append(created, a.Detail)
				}
			}
			if len(created) != 2 || !strings.Contains(strings.Join(created, "|"), "mcp:Test Agent") {
				t.Errorf("audited token creations: %q, want the grant's and the token's", created)
			}
			for _, secret := range []string{tok.AccessToken, code, verifier, session} {
				if strings.Contains(e.logs.String(), secret) {
					t.Fatalf("a secret reached the log:\n%s", e.logs)
				}
			}
		})
	}
}

// The MCP Go SDK's own client (discovery from the endpoint's 401, dynamic registration,
// PKCE with the resource indicator, RFC 9207's iss) signs in against the platform.
func TestFlowMCPClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	browser := e.browser(e.session("alice"))
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{testRedirect}, ClientName: "SDK Agent", TokenEndpointAuthMethod: "none",
		}},
		AuthorizationCodeFetcher: func(_ context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			q := e.consent(browser, args.URL, "allow", "beta").Query()
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/mcp", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("MCP endpoint without a token: %d", resp.StatusCode)
	}
	if err := h.Authorize(ctx, req, resp); err != nil {
		t.Fatal(err)
	}
	ts, err := h.TokenSource(ctx)
	if err != nil || ts == nil {
		t.Fatalf("token source: %v", err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := bearerGet(t, e.url+"/mcp", tok.AccessToken); resp.StatusCode != http.StatusOK || !strings.Contains(body, `{"namespaces":["beta"],"scopes":null,"token":"mcp:SDK Agent"}`) {
		t.Errorf("MCP endpoint with the token: %d %s", resp.StatusCode, body)
	}

	// Step-up: an endpoint that needs a scope the token lacks is refused with the
	// insufficient_scope challenge; the client signs in again asking for it, and the new
	// token holds it.
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("X-Need-Scope", "users:write")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("scoped call without the scope: %d", resp.StatusCode)
	}
	if err := h.Authorize(ctx, req, resp); err != nil {
		t.Fatal(err)
	}
	ts, _ = h.TokenSource(ctx)
	if tok, err = ts.Token(); err != nil {
		t.Fatal(err)
	}
	if s, _ := tok.Extra("scope").(string); s != "users:write" {
		t.Errorf("granted scope %q, want users:write", s)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("X-Need-Scope", "users:write")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"scopes":["users:write"]`) {
		t.Errorf("scoped call after the step-up: %d %s", resp.StatusCode, body)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, body := get(t, http.DefaultClient, u)
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), v) != nil {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
}

func bearerGet(t *testing.T, u, secret string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
