package github

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	platform "github.com/micro/platform"
	"github.com/micro/platform/github/githubtest"
)

const jwksPath = "/oidc/.well-known/jwks"

func mustOIDCVerifier(t *testing.T, f *githubtest.Fake) *OIDCVerifier {
	t.Helper()
	v, err := NewOIDCVerifier(OIDCConfig{Issuer: f.OIDCIssuer(), Audience: "micro-platform", HTTPClient: f.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mustRefuse checks that err refuses tok for reason, and holds nothing of the token.
func mustRefuse(t *testing.T, err error, tok, reason string) {
	t.Helper()
	var re *OIDCRefusedError
	switch {
	case err == nil:
		t.Fatalf("accepted, want refused: %s", reason)
	case !errors.As(err, &re):
		t.Fatalf("error %v, want an *OIDCRefusedError (%s)", err, reason)
	case re.Reason != reason:
		t.Errorf("reason %q, want %q", re.Reason, reason)
	}
	if c := platform.ErrorCode(err); c != platform.EUNAUTHENTICATED {
		t.Errorf("code %s, want %s", c, platform.EUNAUTHENTICATED)
	}
	if m := platform.ErrorMessage(err); !strings.HasPrefix(m, "GitHub OIDC token refused: "+reason) {
		t.Errorf("message %q", m)
	}
	if len(tok) > 8 {
		for _, part := range strings.Split(tok, ".") {
			if len(part) > 8 && (strings.Contains(err.Error(), part) || strings.Contains(platform.ErrorHint(err), part)) {
				t.Errorf("the error holds the token: %v", err)
			}
		}
	}
}

// issuerKey reads the fake issuer's current public key and its kid from its JWKS.
func issuerKey(t *testing.T, f *githubtest.Fake) (*rsa.PublicKey, string) {
	t.Helper()
	resp, err := f.Client().Get(f.URL + jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS: %v, %d keys", err, len(set.Keys))
	}
	return set.Keys[0].Key.(*rsa.PublicKey), set.Keys[0].KeyID
}

// payloadOf returns the claims of a token, unverified.
func payloadOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// mustSign signs claims with key for alg, naming kid.
func mustSign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func b64(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }

func TestOIDCVerifyAccepts(t *testing.T) {
	t.Parallel()
	f := githubtest.New(t)
	v := mustOIDCVerifier(t, f)
	ctx := t.Context()

	exp := time.Now().Add(4 * time.Minute).Truncate(time.Second)
	tok := f.ActionsToken(map[string]any{
		"repository": "acme/api", "ref": "refs/pull/42/merge", "sha": "0123456789abcdef0123456789abcdef01234567",
		"actor": "alice", "workflow": "preview", "run_id": "77", "event_name": "pull_request", "environment": "preview",
		"exp": exp,
	})
	got, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	want := ActionsClaims{
		Repository: "acme/api", RepositoryOwner: "acme", Ref: "refs/pull/42/merge", SHA: "0123456789abcdef0123456789abcdef01234567",
		Actor: "alice", Workflow: "preview", RunID: "77", EventName: "pull_request", Environment: "preview",
		Subject: "repo:acme/api:ref:refs/pull/42/merge", Expiry: exp,
	}
	if !got.Expiry.Equal(want.Expiry) {
		t.Errorf("expiry %s, want %s", got.Expiry, want.Expiry)
	}
	got.Expiry = want.Expiry
	if *got != want {
		t.Errorf("claims\n got %+v\nwant %+v", *got, want)
	}

	for _, tc := range []struct {
		name   string
		claims map[string]any
	}{
		{"audience in a list", map[string]any{"aud": []string{"someone-else", "micro-platform"}}},
		{"run id as a number", map[string]any{"run_id": 9000000001}},
		{"expired within the leeway", map[string]any{"exp": time.Now().Add(-10 * time.Second)}},
		{"valid within the leeway", map[string]any{"nbf": time.Now().Add(10 * time.Second)}},
		{"no nbf", map[string]any{"nbf": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(ctx, f.ActionsToken(tc.claims)); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The keys were fetched once for all of these.
	if n := f.Calls(jwksPath); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}
}

func TestOIDCVerifyRefuses(t *testing.T) {
	t.Parallel()
	f := githubtest.New(t)
	v := mustOIDCVerifier(t, f)
	ctx := t.Context()

	pub, kid := issuerKey(t, f)
	valid := f.ActionsToken(nil)
	claims := payloadOf(t, valid)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	parts := strings.Split(valid, ".")
	tamperedClaims := payloadOf(t, valid)
	tamperedClaims["repository"] = "evil/app"
	tampered, _ := json.Marshal(tamperedClaims)
	rs256 := b64(`{"alg":"RS256","typ":"JWT","kid":"` + kid + `"}`)
	now := time.Now()

	for _, tc := range []struct {
		name, tok, reason string
	}{
		{"expired", f.ActionsToken(map[string]any{"iat": now.Add(-10 * time.Minute), "nbf": now.Add(-10 * time.Minute), "exp": now.Add(-5 * time.Minute)}), OIDCExpired},
		{"not valid yet", f.ActionsToken(map[string]any{"nbf": now.Add(5 * time.Minute), "exp": now.Add(10 * time.Minute)}), OIDCNotValidYet},
		{"wrong audience", f.ActionsToken(map[string]any{"aud": "another-platform"}), OIDCWrongAudience},
		{"wrong audiences", f.ActionsToken(map[string]any{"aud": []string{"a", "b"}}), OIDCWrongAudience},
		{"no audience", f.ActionsToken(map[string]any{"aud": nil}), OIDCWrongAudience},
		{"wrong issuer", f.ActionsToken(map[string]any{"iss": DefaultOIDCIssuer}), OIDCWrongIssuer},
		{"issuer with a trailing slash", f.ActionsToken(map[string]any{"iss": f.OIDCIssuer() + "/"}), OIDCWrongIssuer},
		{"another key, unknown kid", mustSign(t, jose.RS256, other, "not-the-issuers", claims), OIDCBadSignature},
		{"another key under the issuer's kid", mustSign(t, jose.RS256, other, kid, claims), OIDCBadSignature},
		{"another key, no kid", mustSign(t, jose.RS256, other, "", claims), OIDCBadSignature},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(tampered) + "." + parts[2], OIDCBadSignature},
		{"signature removed", parts[0] + "." + parts[1] + ".", OIDCBadSignature},
		{"alg none", b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", OIDCUnsupportedAlgorithm},
		{"alg None", b64(`{"alg":"None","typ":"JWT"}`) + "." + parts[1] + ".", OIDCUnsupportedAlgorithm},
		{"HS256 keyed with the public key", mustSign(t, jose.HS256, pubPEM, kid, claims), OIDCUnsupportedAlgorithm},
		{"HS256 keyed with the public key's DER", mustSign(t, jose.HS256, der, kid, claims), OIDCUnsupportedAlgorithm},
		{"PS256", mustSign(t, jose.PS256, other, kid, claims), OIDCUnsupportedAlgorithm},
		{"ES256", mustSign(t, jose.ES256, ec, kid, claims), OIDCUnsupportedAlgorithm},
		{"empty", "", OIDCMalformed},
		{"not a JWT", "not-a-token", OIDCMalformed},
		{"two parts", parts[0] + "." + parts[1], OIDCMalformed},
		{"four parts", valid + ".x", OIDCMalformed},
		{"header not base64", "!!." + parts[1] + "." + parts[2], OIDCMalformed},
		{"header not JSON", b64("RS256") + "." + parts[1] + "." + parts[2], OIDCMalformed},
		{"header without alg", b64(`{"typ":"JWT"}`) + "." + parts[1] + "." + parts[2], OIDCMalformed},
		{"payload not JSON", rs256 + "." + b64("hello") + "." + parts[2], OIDCMalformed},
		{"exp not a date", f.ActionsToken(map[string]any{"exp": "tomorrow"}), OIDCMalformed},
		{"repository not a string", f.ActionsToken(map[string]any{"repository": map[string]any{"name": "app"}}), OIDCMalformed},
		{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, OIDCMalformed},
		{"oversized", rs256 + "." + strings.Repeat("A", maxOIDCToken) + "." + parts[2], OIDCMalformed},
		{"no repository", f.ActionsToken(map[string]any{"repository": nil}), OIDCMissingClaim},
		{"no ref", f.ActionsToken(map[string]any{"ref": nil}), OIDCMissingClaim},
		{"no exp", f.ActionsToken(map[string]any{"exp": nil}), OIDCMissingClaim},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(ctx, tc.tok)
			mustRefuse(t, err, tc.tok, tc.reason)
		})
	}
	// The one the others were made from is good.
	if _, err := v.Verify(ctx, valid); err != nil {
		t.Fatal(err)
	}
}

func TestOIDCWrongAudienceHint(t *testing.T) {
	t.Parallel()
	f := githubtest.New(t)
	_, err := mustOIDCVerifier(t, f).Verify(t.Context(), f.ActionsToken(map[string]any{"aud": "x"}))
	if h := platform.ErrorHint(err); !strings.Contains(h, `"micro-platform"`) {
		t.Errorf("hint %q does not name the audience", h)
	}
}

func TestOIDCKeyRotation(t *testing.T) {
	t.Parallel()
	f := githubtest.New(t)
	v := mustOIDCVerifier(t, f)
	ctx := t.Context()

	old := f.ActionsToken(nil)
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	f.RotateOIDCKey()
	rotated := f.ActionsToken(nil)
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
	if n := f.Calls(jwksPath); n != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (once more for the new key)", n)
	}
	// The old key left the JWKS: its tokens no longer verify.
	_, err := v.Verify(ctx, old)
	mustRefuse(t, err, old, OIDCBadSignature)
}

func TestOIDCIssuerDown(t *testing.T) {
	t.Parallel()
	f := githubtest.New(t)
	f.SetOIDCDown(true)
	v := mustOIDCVerifier(t, f)
	if n := f.Calls("/oidc/.well-known/openid-configuration"); n != 0 {
		t.Fatalf("NewOIDCVerifier reached the issuer (%d calls)", n)
	}
	ctx := t.Context()
	tok := f.ActionsToken(nil)

	mustUnavailable := func(t *testing.T, err error) {
		t.Helper()
		var re *OIDCRefusedError
		if c := platform.ErrorCode(err); c != platform.EUNAVAILABLE || errors.As(err, &re) {
			t.Fatalf("error %v (%s), want EUNAVAILABLE and no refusal", err, c)
		}
	}
	t.Run("discovery fails, and is tried again", func(t *testing.T) {
		_, err := v.Verify(ctx, tok)
		mustUnavailable(t, err)
		f.SetOIDCDown(false)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cached keys serve while the issuer is down", func(t *testing.T) {
		f.SetOIDCDown(true)
		if _, err := v.Verify(ctx, f.ActionsToken(nil)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a new key cannot be fetched", func(t *testing.T) {
		f.RotateOIDCKey()
		rotated := f.ActionsToken(nil)
		_, err := v.Verify(ctx, rotated)
		mustUnavailable(t, err)
		f.SetOIDCDown(false)
		if _, err := v.Verify(ctx, rotated); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("nothing listens", func(t *testing.T) {
		down, err := NewOIDCVerifier(OIDCConfig{Issuer: "http://127.0.0.1:1/oidc", Audience: "micro-platform"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = down.Verify(ctx, f.ActionsToken(map[string]any{"iss": "http://127.0.0.1:1/oidc"}))
		mustUnavailable(t, err)
	})
	t.Run("the JWKS is not one", func(t *testing.T) {
		// An issuer whose key set is garbage cannot verify: unavailable, not a bad signature.
		srv := http.NewServeMux()
		var iss string
		srv.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": iss + "/jwks"})
		})
		srv.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"keys": "none"}`)) })
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		iss = ts.URL
		bad, err := NewOIDCVerifier(OIDCConfig{Issuer: iss, Audience: "micro-platform"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = bad.Verify(ctx, f.ActionsToken(map[string]any{"iss": iss}))
		mustUnavailable(t, err)
	})
}

func TestNewOIDCVerifierInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  OIDCConfig
	}{
		{"no audience", OIDCConfig{}},
		{"issuer not a URL", OIDCConfig{Issuer: "token.actions.githubusercontent.com", Audience: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewOIDCVerifier(tc.cfg); platform.ErrorCode(err) != platform.EINVALID {
				t.Errorf("error %v, want EINVALID", err)
			}
		})
	}
	v, err := NewOIDCVerifier(OIDCConfig{Audience: "a"})
	if err != nil || v.issuer != DefaultOIDCIssuer {
		t.Errorf("default issuer: %v, %v", v, err)
	}
}
