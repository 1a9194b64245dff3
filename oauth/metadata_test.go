package oauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// The protected-resource metadata names the MCP endpoint (of every namespace, or of the
// one in the path) and the platform as its authorization server, whose metadata lists
// the endpoints and what they take.
func TestMetadata(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tt := range []struct{ path, resource string }{
		{ProtectedResourcePath, e.url + "/mcp"},
		{ProtectedResourcePath + "/mcp", e.url + "/mcp"},
		{ProtectedResourcePath + "/mcp/acme", e.url + "/mcp/acme"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, http.DefaultClient, e.url+tt.path)
			var prm oauthex.ProtectedResourceMetadata
			if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &prm) != nil {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if prm.Resource != tt.resource || !slices.Equal(prm.AuthorizationServers, []string{e.url}) || !slices.Equal(prm.BearerMethodsSupported, []string{"header"}) {
				t.Errorf("metadata = %+v", prm)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("no CORS header: browser-based clients cannot read it")
			}
		})
	}
	t.Run("not a namespace", func(t *testing.T) {
		if resp, _ := get(t, http.DefaultClient, e.url+ProtectedResourcePath+"/mcp/Not_A_Name"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})
	t.Run("authorization server", func(t *testing.T) {
		resp, body := get(t, http.DefaultClient, e.url+AuthServerPath)
		var asm oauthex.AuthServerMeta
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &asm) != nil {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		want := oauthex.AuthServerMeta{
			Issuer: e.url, AuthorizationEndpoint: e.url + "/oauth/authorize", TokenEndpoint: e.url + "/oauth/token",
			RegistrationEndpoint: e.url + "/oauth/register", ResponseTypesSupported: []string{"code"},
			ResponseModesSupported: []string{"query"}, GrantTypesSupported: []string{"authorization_code"},
			CodeChallengeMethodsSupported: []string{"S256"}, TokenEndpointAuthMethodsSupported: []string{"none"},
			AuthorizationResponseIssParameterSupported: true,
		}
		if b, _ := json.Marshal(asm); string(b) != mustJSON(t, want) {
			t.Errorf("metadata\n got %s\nwant %s", b, mustJSON(t, want))
		}
		var raw map[string]any
		_ = json.Unmarshal([]byte(body), &raw)
		if _, ok := raw["jwks_uri"]; ok {
			t.Error("jwks_uri given: the platform has no keys")
		}
	})
}

// With a public URL the metadata names it whatever host the request was sent to.
func TestMetadataPublicURL(t *testing.T) {
	t.Parallel()
	s, err := New(Options{ControlPlane: nilPlane{}, Auth: nilAuth{}, Secret: testSecret, SignInURL: "/login", CSRF: nilCSRF{},
		CSRFCookie: "c", PublicURL: "https://platform.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		ProtectedResourcePath + "/mcp/acme": `"resource":"https://platform.example.com/mcp/acme","authorization_servers":["https://platform.example.com"]`,
		AuthServerPath:                      `"issuer":"https://platform.example.com","authorization_endpoint":"https://platform.example.com/oauth/authorize"`,
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "http://10.0.0.7:8080"+path, nil)
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK || !contains(w.Body.String(), want) {
			t.Errorf("%s: %d %s, want %s", path, w.Code, w.Body, want)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	ok := Options{ControlPlane: nilPlane{}, Auth: nilAuth{}, Secret: testSecret, SignInURL: "/login", CSRF: nilCSRF{}, CSRFCookie: "c"}
	for name, edit := range map[string]func(*Options){
		"short secret":     func(o *Options) { o.Secret = []byte("short") },
		"no sign-in":       func(o *Options) { o.SignInURL = "" },
		"relative URL":     func(o *Options) { o.PublicURL = "platform.example.com" },
		"long code life":   func(o *Options) { o.CodeTTL = MaxCodeTTL + 1 },
		"no control plane": func(o *Options) { o.ControlPlane = nil },
	} {
		o := ok
		edit(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := New(ok); err != nil {
		t.Fatal(err)
	}
}
