package oauth

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// Stand-ins for the tests that never reach the control plane.
type (
	nilPlane struct{ platform.ControlPlane }
	nilAuth  struct{ platform.Authenticator }
	nilCSRF  struct{}
)

func (nilCSRF) Issue(http.ResponseWriter) string { return "csrf" }

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// Registration takes https and loopback redirect URIs of public clients, and answers
// every problem at once with the RFC 7591 error.
func TestRegister(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	long := "https://app.example.com/" + strings.Repeat("a", MaxRedirectURILen)
	tests := []struct {
		name    string
		body    string
		status  int
		errCode string // "" for success
		want    string // in the description, or the registered redirect URIs joined by spaces
	}{
		{"https", `{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"client_name":"Claude"}`, 201, "", "https://claude.ai/api/mcp/auth_callback"},
		{"loopback", `{"redirect_uris":["http://127.0.0.1:33418/callback","http://localhost:9000/cb","http://[::1]:1/x"]}`, 201, "", "http://127.0.0.1:33418/callback http://localhost:9000/cb http://[::1]:1/x"},
		{"refresh token asked, code given", `{"redirect_uris":["https://a.example/cb"],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}`, 201, "", "https://a.example/cb"},
		{"duplicates kept once", `{"redirect_uris":["https://a.example/cb","https://a.example/cb"]}`, 201, "", "https://a.example/cb"},
		{"http elsewhere", `{"redirect_uris":["http://app.example.com/cb"]}`, 400, errInvalidRedirectURI, "http only on the loopback interface"},
		{"fragment", `{"redirect_uris":["https://app.example.com/cb#x"]}`, 400, errInvalidRedirectURI, "has a fragment"},
		{"user info", `{"redirect_uris":["https://me:pw@app.example.com/cb"]}`, 400, errInvalidRedirectURI, "user information"},
		{"custom scheme", `{"redirect_uris":["cursor://oauth/callback"]}`, 400, errInvalidRedirectURI, "scheme must be https"},
		{"relative", `{"redirect_uris":["/callback"]}`, 400, errInvalidRedirectURI, "not an absolute URL"},
		{"javascript", `{"redirect_uris":["javascript:alert(1)"]}`, 400, errInvalidRedirectURI, "not an absolute URL"},
		{"none", `{"client_name":"x"}`, 400, errInvalidRedirectURI, "at least one is required"},
		{"too many", `{"redirect_uris":["https://a/1","https://a/2","https://a/3","https://a/4","https://a/5","https://a/6"]}`, 400, errInvalidRedirectURI, "at most 5"},
		{"too long", `{"redirect_uris":["` + long + `"]}`, 400, errInvalidRedirectURI, "at most 512"},
		{"long name", `{"redirect_uris":["https://a.example/cb"],"client_name":"` + strings.Repeat("n", MaxClientName+1) + `"}`, 400, errInvalidClientMetadata, "client_name: at most 60 characters"},
		{"control characters", `{"redirect_uris":["https://a.example/cb"],"client_name":"a\u0007b"}`, 400, errInvalidClientMetadata, "control characters"},
		{"secret wanted", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, 400, errInvalidClientMetadata, `only "none"`},
		{"no code grant", `{"redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"]}`, 400, errInvalidClientMetadata, "authorization_code only"},
		{"implicit", `{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}`, 400, errInvalidClientMetadata, "code only"},
		{"not JSON", `redirect_uris=https://a.example/cb`, 400, errInvalidClientMetadata, "JSON object"},
		{"every problem at once", `{"redirect_uris":["http://a.example/cb","https://b.example/#f"],"client_name":"` + strings.Repeat("n", 61) + `"}`, 400, errInvalidRedirectURI, "use https; redirect URI \"https://b.example/#f\" has a fragment; client_name: at most 60"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(e.url+RegisterPath, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				RegistrationResponse
				OAuthError
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("status %d (Cache-Control %q), want %d: %+v", resp.StatusCode, resp.Header.Get("Cache-Control"), tt.status, got)
			}
			if tt.errCode != "" {
				if got.Error != tt.errCode || !strings.Contains(got.Description, tt.want) || got.ClientID != "" {
					t.Errorf("got %q %q, want %q with %q", got.Error, got.Description, tt.errCode, tt.want)
				}
				return
			}
			r := got.RegistrationResponse
			if !strings.HasPrefix(r.ClientID, clientPrefix) || strings.Join(r.RedirectURIs, " ") != tt.want ||
				r.TokenEndpointAuthMethod != "none" || !slices.Equal(r.GrantTypes, []string{"authorization_code"}) ||
				!slices.Equal(r.ResponseTypes, []string{"code"}) || r.ClientIDIssuedAt == 0 || r.ClientName == "" {
				t.Errorf("registration = %+v", r)
			}
			if len(r.ClientID) > 600 {
				t.Errorf("client id of %d bytes: too long for URLs and the pending cookie", len(r.ClientID))
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, _ := get(t, http.DefaultClient, e.url+RegisterPath)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %d, want 405", resp.StatusCode)
		}
	})
}

// A client id is the registration sealed under the server's secret: another process
// with the same secret (or the same one after a restart) reads it; one with another
// secret does not, and a client id cannot stand for a code.
func TestClientIDIsSealed(t *testing.T) {
	t.Parallel()
	opts := Options{ControlPlane: nilPlane{}, Auth: nilAuth{}, Secret: testSecret, SignInURL: "/login", CSRF: nilCSRF{}, CSRFCookie: "c"}
	a, _ := New(opts)
	b, _ := New(opts)
	opts.Secret = []byte("another secret key, 32 bytes!!!")
	other, _ := New(opts)
	id, err := a.clients.seal(&client{Name: "Claude", Redirects: [][]byte{digest("https://claude.ai/cb")}, IssuedAt: 1})
	if err != nil {
		t.Fatal(err)
	}
	var c client
	if err := b.clients.open(id, &c); err != nil || c.Name != "Claude" || !c.allows("https://claude.ai/cb") || c.allows("https://claude.ai/cb/") {
		t.Errorf("open in another process: %+v, %v", c, err)
	}
	if other.clients.open(id, &client{}) == nil {
		t.Error("opened under another secret key")
	}
	if a.codes.open(strings.Replace(id, clientPrefix, codePrefix, 1), &grantCode{}) == nil {
		t.Error("a client id opened as a code")
	}
	tampered := id[:len(id)-2] + "AA"
	if tampered != id && a.clients.open(tampered, &client{}) == nil {
		t.Error("a tampered client id opened")
	}
}

// The PKCE S256 check, with RFC 7636's own example (Appendix B).
func TestVerifyPKCE(t *testing.T) {
	t.Parallel()
	const verifier, challenge = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	for _, tt := range []struct {
		name, verifier, challenge string
		want                      bool
	}{
		{"RFC 7636 example", verifier, challenge, true},
		{"another verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl", challenge, false},
		{"plain: verifier as challenge", verifier, verifier, false},
		{"too short", verifier[:42], challengeOf(verifier[:42]), false},
		{"too long", strings.Repeat("a", 129), challengeOf(strings.Repeat("a", 129)), false},
		{"longest", strings.Repeat("a", 128), challengeOf(strings.Repeat("a", 128)), true},
		{"outside the alphabet", verifier[:42] + "+", challengeOf(verifier[:42] + "+"), false},
		{"empty", "", challengeOf(""), false},
	} {
		if got := verifyPKCE(tt.verifier, tt.challenge); got != tt.want {
			t.Errorf("%s: verifyPKCE = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !validChallenge(challenge) || validChallenge(verifier+"x") || validChallenge("short") {
		t.Error("validChallenge")
	}
}

func TestTokenName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Claude":                   "mcp:Claude",
		strings.Repeat("é", 40):    "mcp:" + strings.Repeat("é", 30),
		strings.Repeat("n", 60):    "mcp:" + strings.Repeat("n", 60),
		strings.Repeat("n", 70)[:]: "mcp:" + strings.Repeat("n", 60),
	} {
		if got := tokenName(tokenPrefix, in); got != want || len(got) > 64 {
			t.Errorf("tokenName(%q) = %q, want %q", in, got, want)
		}
	}
}
