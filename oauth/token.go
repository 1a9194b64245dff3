package oauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// grantCode is what an authorization code carries, sealed: what the token request must
// match, and the secret of the grant the consent created.
type grantCode struct {
	Client    []byte `json:"c"` // SHA-256 of the client id
	Redirect  []byte `json:"r"` // SHA-256 of the redirect URI
	Challenge string `json:"p"` // the PKCE S256 challenge
	Resource  string `json:"res,omitempty"`
	Scope     string `json:"sc,omitempty"`
	Grant     string `json:"g"` // the grant token's secret
	Expires   int64  `json:"x"` // Unix milliseconds
}

// TokenResponse is the access token response of RFC 6749 §5.1.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in,omitempty"`
	// Scope is the scope granted, the go-micro endpoint scopes the token holds (space
	// separated), when the client asked for one.
	Scope *string `json:"scope,omitempty"`
}

// tokenParams are the token request's parameters that must not be repeated.
var tokenParams = []string{"grant_type", "code", "redirect_uri", "client_id", "code_verifier", "resource"}

// tokenError is a refused token request (RFC 6749 §5.2).
type tokenError struct {
	status int
	oauthError
}

func refuse(code, desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, oauthError: oauthError{code, desc}}
}

// invalidClient refuses the client: 401 when it identified itself in the Authorization
// header, as RFC 6749 §5.2 has it.
func invalidClient(r *http.Request, desc string) *tokenError {
	e := refuse("invalid_client", desc)
	if _, _, basic := r.BasicAuth(); basic {
		e.status = http.StatusUnauthorized
	}
	return e
}

// exchange is a checked token request: the code of client, for resource's namespace
// when the request named one.
type exchange struct {
	client *client
	code   grantCode
	target string
}

// token serves POST /oauth/token (RFC 6749 §4.1.3) for the authorization code grant
// of public clients: the code must have been issued to client_id for redirect_uri, be
// unexpired and match code_verifier (PKCE S256). Its grant is then revoked, which the
// store does only once, so a code is used once wherever and whenever it is presented,
// and the access token is created as the grant: the signed-in user's role at most
// developer (and at most theirs now), narrowed to the chosen namespace.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if !allowCORS(w, r, http.MethodPost) {
		return
	}
	x, e := s.checkExchange(w, r)
	if e == nil {
		e = s.issue(w, r, x)
	}
	if e != nil {
		if e.status == http.StatusUnauthorized {
			h.Set("WWW-Authenticate", `Basic realm="oauth"`)
		}
		if e.status < http.StatusInternalServerError {
			s.log.Info("oauth: token request refused", "error", e.code, "reason", e.desc, "source", r.RemoteAddr)
		}
		writeOAuthError(w, e.status, e.code, e.desc)
	}
}

// checkExchange reads and checks a token request, up to the code's grant.
func (s *Server) checkExchange(w http.ResponseWriter, r *http.Request) (*exchange, *tokenError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return nil, refuse("invalid_request", "the body must be application/x-www-form-urlencoded")
	}
	form := r.PostForm
	for _, p := range tokenParams {
		if len(form[p]) > 1 {
			return nil, refuse("invalid_request", "the request repeats "+p)
		}
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
	case "":
		return nil, refuse("invalid_request", "grant_type is required")
	default:
		return nil, refuse("unsupported_grant_type", "grant_type "+gt+": the platform offers authorization_code only (no refresh tokens)")
	}
	x := &exchange{client: &client{}}
	clientID, e := clientOf(r, form)
	if e != nil {
		return nil, e
	}
	if s.clients.open(clientID, x.client) != nil {
		return nil, invalidClient(r, "client_id is not one this platform issued: register again")
	}
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	switch {
	case code == "":
		return nil, refuse("invalid_request", "code is required")
	case redirectURI == "":
		return nil, refuse("invalid_request", "redirect_uri is required: the authorization request's")
	case verifier == "":
		return nil, refuse("invalid_request", "code_verifier is required (PKCE)")
	case s.codes.open(code, &x.code) != nil:
		return nil, refuse("invalid_grant", "the code is not one this platform issued")
	case subtle.ConstantTimeCompare(x.code.Client, digest(clientID)) != 1:
		return nil, refuse("invalid_grant", "the code was issued to another client")
	case subtle.ConstantTimeCompare(x.code.Redirect, digest(redirectURI)) != 1:
		return nil, refuse("invalid_grant", "redirect_uri does not match the authorization request's")
	case s.now().UnixMilli() >= x.code.Expires:
		return nil, refuse("invalid_grant", "the code expired: sign in again")
	case !verifyPKCE(verifier, x.code.Challenge):
		return nil, refuse("invalid_grant", "code_verifier does not match the code_challenge")
	}
	if res := form.Get("resource"); res != "" {
		ns, ok := s.resourceFor(r, res)
		if !ok || (x.code.Resource != "" && res != x.code.Resource) {
			return nil, refuse("invalid_target", "resource "+res+" is not the one the code was issued for")
		}
		x.target = ns
	}
	return x, nil
}

// issue uses the code up and answers with the access token.
func (s *Server) issue(w http.ResponseWriter, r *http.Request, x *exchange) *tokenError {
	unavailable := &tokenError{status: http.StatusInternalServerError, oauthError: oauthError{"server_error", "the platform could not issue a token"}}
	ctx := platform.NewContextWithSource(r.Context(), r.RemoteAddr)
	grant, err := s.opts.Auth.Authenticate(ctx, x.code.Grant)
	if err != nil || grant == nil || !strings.HasPrefix(grant.Name, grantPrefix) {
		return refuse("invalid_grant", "the code was already used, or access was withdrawn since it was issued (a removed or disabled member, a deleted namespace)")
	}
	if x.target != "" && !slices.Equal(grant.Namespaces, []string{x.target}) {
		return refuse("invalid_target", "the resource is not the namespace the user chose")
	}
	// Revoking the grant is what makes the code single-use: the store deletes it once.
	// The access token is then created as the grant, authenticated a moment ago, just as
	// any request acts with the token it was authenticated with.
	gctx := platform.NewContextWithToken(ctx, grant)
	if err := s.cp.DeleteToken(gctx, grant.ID); err != nil {
		if platform.IsNotFound(err) {
			return refuse("invalid_grant", "the code was already used")
		}
		s.log.Error("oauth: revoke a grant", "grant", grant.ID, "err", err)
		return unavailable
	}
	tok, secret, err := s.cp.CreateToken(gctx, platform.CreateTokenRequest{
		Name: tokenName(tokenPrefix, x.client.Name), Role: grant.EffectiveRole(), Namespaces: grant.Namespaces, Scopes: grant.Scopes,
		TTL: s.opts.TokenTTL,
	})
	switch platform.ErrorCode(err) {
	case "":
	case platform.EFORBIDDEN, platform.EUNAUTHENTICATED, platform.EINVALID, platform.EQUOTA:
		return refuse("invalid_grant", platform.ErrorMessage(err))
	default:
		s.log.Error("oauth: create an access token", "client", x.client.Name, "user", grant.User, "err", err)
		return unavailable
	}
	resp := TokenResponse{AccessToken: secret, TokenType: "Bearer"}
	if tok.ExpiresAt != nil {
		resp.ExpiresIn = int64(tok.ExpiresAt.Sub(tok.CreatedAt) / time.Second)
	}
	if x.code.Scope != "" || len(tok.Scopes) > 0 {
		granted := strings.Join(tok.Scopes, " ")
		resp.Scope = &granted
	}
	s.log.Info("oauth: access token issued", "client", x.client.Name, "user", tok.User, "org", tok.OrgName(),
		"namespaces", strings.Join(tok.Namespaces, ","), "role", tok.Role, "scopes", strings.Join(tok.Scopes, " "), "token", tok.ID)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// clientOf returns the client id of a token request: the client_id parameter, or the
// user of HTTP Basic authentication (form-encoded, RFC 6749 §2.3.1) with an empty
// password. A client secret is refused: the platform's clients have none. An
// invalid_client error is 401 when the client used the header.
func clientOf(r *http.Request, form url.Values) (string, *tokenError) {
	id := form.Get("client_id")
	user, pass, basic := r.BasicAuth()
	if basic {
		u, err := url.QueryUnescape(user)
		switch {
		case err != nil:
			return "", invalidClient(r, "the Authorization header's client id is not form-encoded")
		case id != "" && id != u:
			return "", refuse("invalid_request", "client_id differs between the Authorization header and the body")
		case pass != "":
			return "", invalidClient(r, "the platform's clients are public: they have no secret")
		}
		id = u
	}
	switch {
	case form.Get("client_secret") != "":
		return "", invalidClient(r, "the platform's clients are public: they have no secret")
	case id == "":
		return "", invalidClient(r, "client_id is required")
	}
	return id, nil
}

// verifyPKCE reports whether verifier is a PKCE code verifier (RFC 7636 §4.1: 43 to 128
// of A-Z a-z 0-9 - . _ ~) whose S256 transform is challenge.
func verifyPKCE(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 || strings.ContainsFunc(verifier, func(c rune) bool {
		return !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.ContainsRune("-._~", c))
	}) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}
