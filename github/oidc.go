package github

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	platform "github.com/micro/platform"
)

// DefaultOIDCIssuer is the issuer of the ID tokens GitHub Actions jobs request.
const DefaultOIDCIssuer = "https://token.actions.githubusercontent.com"

// oidcLeeway is the clock skew tolerated on exp and nbf.
const oidcLeeway = 30 * time.Second

// maxOIDCToken bounds the size of a token Verify parses; GitHub's are about 1.5 kB.
const maxOIDCToken = 16 << 10

// Reasons for which Verify refuses a token, in OIDCRefusedError.Reason and, after
// "GitHub OIDC token refused: ", in the message.
const (
	OIDCMalformed            = "malformed"
	OIDCUnsupportedAlgorithm = "unsupported algorithm"
	OIDCBadSignature         = "bad signature"
	OIDCWrongIssuer          = "wrong issuer"
	OIDCWrongAudience        = "wrong audience"
	OIDCExpired              = "expired"
	OIDCNotValidYet          = "not valid yet"
	OIDCMissingClaim         = "missing claim"
)

// OIDCConfig configures an OIDCVerifier.
type OIDCConfig struct {
	// Issuer is the tokens' issuer, where discovery starts; "" means
	// DefaultOIDCIssuer. It must match the tokens' iss claim exactly.
	Issuer string
	// Audience must be one of the tokens' audiences: what the workflow asks for with
	// core.getIDToken(audience). Required.
	Audience string
	// HTTPClient fetches the discovery document and the keys; nil means a client with
	// a 30 s timeout.
	HTTPClient *http.Client
}

// ActionsClaims are the claims of a verified GitHub Actions ID token.
type ActionsClaims struct {
	Repository      string // owner/name
	RepositoryOwner string
	Ref             string // e.g. refs/heads/main, refs/pull/42/merge
	SHA             string
	Actor           string
	Workflow        string
	RunID           string
	EventName       string
	Environment     string // "" unless the job names an environment
	Subject         string // e.g. repo:acme/app:ref:refs/heads/main
	Expiry          time.Time
}

// OIDCRefusedError is the error of a token Verify refused: an EUNAUTHENTICATED
// *platform.Error (which it unwraps to) with the reason apart, for the audit.
type OIDCRefusedError struct {
	// Reason is one of the OIDC… reason constants.
	Reason string
	err    *platform.Error
}

// Error implements error.
func (e *OIDCRefusedError) Error() string { return e.err.Error() }

// Unwrap returns the *platform.Error.
func (e *OIDCRefusedError) Unwrap() error { return e.err }

func refuse(reason, detail string) *OIDCRefusedError {
	msg := "GitHub OIDC token refused: " + reason
	if detail != "" {
		msg += " " + detail
	}
	e := platform.Errorf(platform.EUNAUTHENTICATED, "%s", msg)
	switch reason {
	case OIDCExpired:
		e = e.WithHint("request a new token in the job: GitHub's tokens last a few minutes")
	case OIDCMissingClaim:
		e = e.WithHint("only tokens of GitHub Actions jobs are accepted")
	}
	return &OIDCRefusedError{Reason: reason, err: e}
}

// OIDCVerifier verifies the ID tokens of GitHub Actions jobs. It is safe for concurrent
// use, and meant to live as long as the server: it caches the issuer's keys and fetches
// them again when a token names a key it does not have (GitHub rotates its keys).
type OIDCVerifier struct {
	issuer, audience string
	hc               *http.Client // discovery
	keysHC           *http.Client // the JWKS, whose body it checks

	mu   sync.Mutex // serialises discovery
	keys *oidc.RemoteKeySet
}

// NewOIDCVerifier returns a verifier for cfg, EINVALID if cfg is not valid. It does not
// reach the issuer: discovery happens at the first Verify, and again at the next one
// for as long as it fails, so that a server started offline works once it is online.
func NewOIDCVerifier(cfg OIDCConfig) (*OIDCVerifier, error) {
	issuer := cfg.Issuer
	if issuer == "" {
		issuer = DefaultOIDCIssuer
	}
	var errs []error
	if u, err := url.Parse(issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, platform.Errorf(platform.EINVALID, "github: OIDC issuer %q is not an absolute http(s) URL", issuer))
	}
	if cfg.Audience == "" {
		errs = append(errs, platform.Errorf(platform.EINVALID, "github: the OIDC audience is not set"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	hc := http.Client{Timeout: apiTimeout}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	if hc.Timeout == 0 {
		hc.Timeout = apiTimeout
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	keysHC := hc
	hc.Transport = issuerTransport{base: base}
	keysHC.Transport = issuerTransport{base: base, jwks: true}
	return &OIDCVerifier{issuer: issuer, audience: cfg.Audience, hc: &hc, keysHC: &keysHC}, nil
}

// Verify checks raw, a GitHub Actions ID token, and returns its claims. It refuses,
// with EUNAUTHENTICATED and an *OIDCRefusedError naming the reason, in this order
// (the first two and the issuer without the network):
//
//   - malformed: not a compact JWS with a JSON payload, or claims of the wrong type;
//   - unsupported algorithm: alg is not RS256 (none, HS256 and the rest);
//   - wrong issuer: iss is not the issuer, exactly;
//   - bad signature: no key of the issuer's JWKS verifies it, even fetched again;
//   - wrong audience: aud does not contain the audience;
//   - expired / not valid yet: exp or nbf, with a leeway of 30 s;
//   - missing claim: no exp, repository or ref.
//
// EUNAVAILABLE when the issuer cannot be reached for its discovery document or for
// keys it needs. Neither the errors nor anything else hold the token.
func (v *OIDCVerifier) Verify(ctx context.Context, raw string) (*ActionsClaims, error) {
	if len(raw) > maxOIDCToken {
		return nil, refuse(OIDCMalformed, "")
	}
	// The header first, to tell a token of another algorithm from a malformed one.
	header, _, ok := strings.Cut(raw, ".")
	if !ok {
		return nil, refuse(OIDCMalformed, "")
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if b, err := base64.RawURLEncoding.DecodeString(header); err != nil || json.Unmarshal(b, &h) != nil || h.Alg == "" {
		return nil, refuse(OIDCMalformed, "")
	}
	if h.Alg != string(jose.RS256) {
		return nil, refuse(OIDCUnsupportedAlgorithm, "")
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, refuse(OIDCMalformed, "")
	}
	// The payload is what the signature covers: read it now, so that a token of another
	// issuer is refused without fetching keys for it, and check the rest once signed.
	var c actionsJWT
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		return nil, refuse(OIDCMalformed, "")
	}
	if c.Issuer != v.issuer {
		return nil, refuse(OIDCWrongIssuer, "")
	}

	keys, err := v.keySet(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := keys.VerifySignature(ctx, raw); err != nil {
		if unreachable(err) {
			return nil, v.unavailable(err)
		}
		return nil, refuse(OIDCBadSignature, "")
	}

	if !slices.Contains(c.Audience, v.audience) {
		e := refuse(OIDCWrongAudience, "")
		e.err = e.err.WithHint("the workflow must request the token for the audience %q", v.audience)
		return nil, e
	}
	if c.Expiry == nil {
		return nil, refuse(OIDCMissingClaim, "exp")
	}
	now := time.Now()
	if now.After(c.Expiry.Time().Add(oidcLeeway)) {
		return nil, refuse(OIDCExpired, "")
	}
	if c.NotBefore != nil && now.Add(oidcLeeway).Before(c.NotBefore.Time()) {
		return nil, refuse(OIDCNotValidYet, "")
	}
	for _, m := range []struct{ name, v string }{{"repository", string(c.Repository)}, {"ref", string(c.Ref)}} {
		if m.v == "" {
			return nil, refuse(OIDCMissingClaim, m.name)
		}
	}
	return &ActionsClaims{
		Repository: string(c.Repository), RepositoryOwner: string(c.RepositoryOwner), Ref: string(c.Ref), SHA: string(c.SHA),
		Actor: string(c.Actor), Workflow: string(c.Workflow), RunID: string(c.RunID), EventName: string(c.EventName),
		Environment: string(c.Environment), Subject: c.Subject, Expiry: c.Expiry.Time(),
	}, nil
}

// actionsJWT is the payload of a GitHub Actions ID token.
type actionsJWT struct {
	jwt.Claims
	Repository      claimString `json:"repository"`
	RepositoryOwner claimString `json:"repository_owner"`
	Ref             claimString `json:"ref"`
	SHA             claimString `json:"sha"`
	Actor           claimString `json:"actor"`
	Workflow        claimString `json:"workflow"`
	RunID           claimString `json:"run_id"`
	EventName       claimString `json:"event_name"`
	Environment     claimString `json:"environment"`
}

// claimString is a claim GitHub sends as a string; a number (as other issuers send
// ids) is taken as its decimal text.
type claimString string

func (s *claimString) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = claimString(str)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*s = claimString(n.String())
	return nil
}

// keySet returns the issuer's key set, discovering it first if no discovery has
// succeeded yet.
func (v *OIDCVerifier) keySet(ctx context.Context) (*oidc.RemoteKeySet, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys != nil {
		return v.keys, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, v.hc), v.issuer)
	if err != nil {
		return nil, v.unavailable(err)
	}
	var d struct {
		JWKSURL string `json:"jwks_uri"`
	}
	if err := p.Claims(&d); err != nil {
		return nil, v.unavailable(err)
	}
	if u, err := url.Parse(d.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, v.unavailable(fmt.Errorf("the discovery document's jwks_uri %q is not an absolute http(s) URL", d.JWKSURL))
	}
	// The key set fetches with a context of its own, as configuration: never cancelled.
	v.keys = oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), v.keysHC), d.JWKSURL)
	return v.keys, nil
}

func (v *OIDCVerifier) unavailable(err error) error {
	return fmt.Errorf("%w: %w", platform.Errorf(platform.EUNAVAILABLE, "GitHub OIDC issuer %s cannot be reached", v.issuer).
		WithHint("retry shortly"), err)
}

// unreachable reports whether err, from RemoteKeySet.VerifySignature, is a failure to
// fetch the keys rather than a signature no key verifies. issuerTransport makes every
// failed fetch a *url.Error (the client's), so this needs no error text.
func unreachable(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// issuerTransport makes every answer of the issuer but a 200 with a JSON body (for the
// JWKS: an object with an array of keys) a transport error, so that the HTTP client
// reports it as a *url.Error.
type issuerTransport struct {
	base http.RoundTripper
	jwks bool
}

// maxIssuerBody bounds the discovery document and the JWKS.
const maxIssuerBody = 1 << 20

func (t issuerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", req.URL.Redacted(), resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIssuerBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxIssuerBody {
		return nil, fmt.Errorf("GET %s: the answer is larger than %d bytes", req.URL.Redacted(), maxIssuerBody)
	}
	if t.jwks {
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(body, &set); err != nil || set.Keys == nil {
			return nil, fmt.Errorf("GET %s: not a JSON Web Key Set", req.URL.Redacted())
		}
	} else if !json.Valid(body) {
		return nil, fmt.Errorf("GET %s: not JSON", req.URL.Redacted())
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
