package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// oidcState is the fake's GitHub Actions OIDC issuer, guarded by Fake.mu. Its key is
// made at first use, so that fakes of tests that do not use it cost no RSA key.
type oidcState struct {
	key  *rsa.PrivateKey
	kid  string
	down bool
}

// routeOIDC serves the issuer under /oidc: the discovery document and the JWKS.
func (f *Fake) routeOIDC(mux *http.ServeMux) {
	mux.HandleFunc("GET /oidc/.well-known/openid-configuration", f.oidcDiscovery)
	mux.HandleFunc("GET /oidc/.well-known/jwks", f.oidcJWKS)
}

// OIDCIssuer is the issuer of the fake's Actions ID tokens (OIDCConfig.Issuer), as
// token.actions.githubusercontent.com is GitHub's.
func (f *Fake) OIDCIssuer() string { return f.URL + "/oidc" }

// ActionsToken returns an ID token as a GitHub Actions job gets it: RS256, signed with
// the fake's current key (kid in the header), with the claims of a push to main of
// acme/app, audience "micro-platform", issued now and valid five minutes. claims
// override them: a time.Time becomes a NumericDate, a nil value removes the claim, and
// sub follows repository and ref unless given.
func (f *Fake) ActionsToken(claims map[string]any) string {
	repo, _ := claims["repository"].(string)
	if repo == "" {
		repo = "acme/app"
	}
	ref, _ := claims["ref"].(string)
	if ref == "" {
		ref = "refs/heads/main"
	}
	owner, _, _ := strings.Cut(repo, "/")
	now := time.Now()
	c := map[string]any{
		"iss": f.OIDCIssuer(), "aud": "micro-platform", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": random()[:16], "sub": "repo:" + repo + ":ref:" + ref,
		"repository": repo, "repository_owner": owner, "repository_id": "4242", "repository_owner_id": "4200",
		"repository_visibility": "private", "ref": ref, "ref_type": "branch", "sha": random(),
		"actor": "octocat", "actor_id": "583231", "workflow": "deploy",
		"workflow_ref": repo + "/.github/workflows/deploy.yml@" + ref, "job_workflow_ref": repo + "/.github/workflows/deploy.yml@" + ref,
		"run_id": "9000000001", "run_number": "1", "run_attempt": "1", "event_name": "push",
		"runner_environment": "github-hosted",
	}
	for k, v := range claims {
		switch v := v.(type) {
		case nil:
			delete(c, k)
		case time.Time:
			c[k] = v.Unix()
		default:
			c[k] = v
		}
	}
	payload, err := json.Marshal(c)
	if err != nil {
		panic("githubtest: ActionsToken claims: " + err.Error())
	}
	f.mu.Lock()
	key, kid := f.oidcKeyLocked()
	f.mu.Unlock()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic("githubtest: ActionsToken signer: " + err.Error())
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		panic("githubtest: ActionsToken sign: " + err.Error())
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		panic("githubtest: ActionsToken serialize: " + err.Error())
	}
	return tok
}

// RotateOIDCKey replaces the issuer's key: later tokens are signed with a new key
// (and kid), and the JWKS holds only the new one.
func (f *Fake) RotateOIDCKey() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.oidc.key = nil
	f.oidcKeyLocked()
}

// SetOIDCDown makes the issuer's discovery document and JWKS answer 503 (true) or
// serve again (false).
func (f *Fake) SetOIDCDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.oidc.down = down
}

func (f *Fake) oidcKeyLocked() (*rsa.PrivateKey, string) {
	if f.oidc.key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic("githubtest: OIDC key: " + err.Error())
		}
		f.oidc.key, f.oidc.kid = k, random()[:16]
	}
	return f.oidc.key, f.oidc.kid
}

// oidcServe counts the call and reports whether the issuer is up (else it answered).
func (f *Fake) oidcServe(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	f.calls[r.URL.Path]++
	down := f.oidc.down
	f.mu.Unlock()
	if down {
		http.Error(w, "upstream unavailable", http.StatusServiceUnavailable)
		return false
	}
	return true
}

func (f *Fake) oidcDiscovery(w http.ResponseWriter, r *http.Request) {
	if !f.oidcServe(w, r) {
		return
	}
	iss := f.OIDCIssuer()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": iss, "jwks_uri": iss + "/.well-known/jwks",
		"subject_types_supported": []string{"public", "pairwise"}, "response_types_supported": []string{"id_token"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository", "repository_owner", "sha", "actor", "workflow", "run_id", "event_name", "environment"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "scopes_supported": []string{"openid"},
	})
}

func (f *Fake) oidcJWKS(w http.ResponseWriter, r *http.Request) {
	if !f.oidcServe(w, r) {
		return
	}
	f.mu.Lock()
	key, kid := f.oidcKeyLocked()
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}}})
}
