// Package oauth makes the platform the OAuth 2.1 authorization server of its MCP
// endpoint (/mcp), so that interactive MCP clients (Claude Desktop, IDEs) sign in the way
// the MCP authorization specification (2025-11-25) has them do: they read the
// protected-resource metadata (RFC 9728) and the authorization server metadata (RFC
// 8414), register themselves (RFC 7591) and run the authorization code flow with PKCE
// (S256) in the user's browser. The browser signs in as it does for the dashboard (GitHub,
// or a pasted token) and gets a consent page naming the client, the user and the
// organisation, where the user picks the namespace the agent may use. Headless agents use
// plain API tokens and need none of this.
//
// The access token is an ordinary platform API token made through
// platform.ControlPlane.CreateToken as the user, so the policy, the token caps and the
// audit log hold as for any other token: at most the developer role (and at most the
// user's), narrowed to the chosen namespace, holding the go-micro endpoint scopes the
// client asked for (the OAuth scope, listed on the consent page), valid Options.TokenTTL.
// The MCP endpoint and the gateway accept it with no special case. There are no refresh
// tokens.
//
// The package keeps no state of its own. A client id is the client's registration (name,
// hashes of its redirect URIs, time of issue) sealed with a key derived from the server's
// secret key, so any process of the platform reads it and a restart forgets no client.
// An authorization code is sealed likewise and carries the secret of a grant: a token the
// consent creates as the user, with the role, namespace and scopes the access token will
// have, living only Options.CodeTTL. The token endpoint checks the code (client, redirect
// URI, expiry, PKCE verifier), revokes the grant, which the store does once (so a code is
// used once, whichever process sees it and across restarts), and creates the access
// token as the grant:
//
//	client  ── POST /oauth/register ──────────▶ client_id (sealed registration)
//	browser ── GET /oauth/authorize ─┬─ no session ─▶ sign-in ─▶ /oauth/continue ─┐
//	                                 └─ session ───▶ consent page ◀────────────────┘
//	browser ── POST /oauth/authorize (allow) ─▶ grant token (CodeTTL) ─▶ code ─▶ redirect_uri
//	client  ── POST /oauth/token (code, verifier) ─▶ revoke grant ─▶ CreateToken as the grant
//
// See docs/mcp-oauth.md.
package oauth

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// Paths the Server serves.
const (
	// ProtectedResourcePath is the protected-resource metadata (RFC 9728) of the MCP
	// endpoint, also at /mcp and /mcp/{namespace} below it.
	ProtectedResourcePath = "/.well-known/oauth-protected-resource"
	// AuthServerPath is the authorization server metadata (RFC 8414).
	AuthServerPath = "/.well-known/oauth-authorization-server"
	RegisterPath   = "/oauth/register"
	AuthorizePath  = "/oauth/authorize"
	TokenPath      = "/oauth/token"
	// ContinuePath takes a browser back to the authorization it left to sign in: the
	// sign-in ends there when Options.SignInReturns (GitHub's AfterLogin).
	ContinuePath = "/oauth/continue"
	// MCPPath is the MCP endpoint the tokens are for: the resource is the public URL
	// with this path, or with /{namespace} after it.
	MCPPath = "/mcp"
)

// Defaults of Options.
const (
	// DefaultCodeTTL is how long an authorization code may wait for its exchange:
	// clients exchange at once, and the shorter, the less a leaked code is worth.
	DefaultCodeTTL = 2 * time.Minute
	// DefaultTokenTTL is the access token's lifetime; with no refresh tokens, the client
	// signs in again after it.
	DefaultTokenTTL = 30 * 24 * time.Hour
	// MaxCodeTTL bounds CodeTTL, as RFC 6749 §4.1.2 recommends.
	MaxCodeTTL = 10 * time.Minute
)

// CSRF issues the double-submit token the HTTP layer checks on the consent form's post
// (github.CSRF).
type CSRF interface {
	Issue(w http.ResponseWriter) string
}

// Options configure a Server. ControlPlane, Auth, Secret, CSRF, CSRFCookie and SignInURL
// are required.
type Options struct {
	// ControlPlane creates the grants and the access tokens, as the signed-in user and
	// as the grant; it lists the namespaces the user may pick.
	ControlPlane platform.ControlPlane
	// Auth authenticates a code's grant at the token endpoint.
	Auth platform.Authenticator
	// Secret is the server's secret key (at least 16 bytes): client ids and codes are
	// sealed with keys derived from it, so every process of the platform shares them.
	Secret []byte
	// PublicURL is the platform's address as clients and browsers reach it
	// (https://platform.example.com): the issuer, and the MCP resource below it. ""
	// uses the scheme and host each request was sent to (the embedded default).
	PublicURL string
	// SignInURL is where a browser without a session signs in: GitHub's /login, or the
	// dashboard's sign-in page.
	SignInURL string
	// SignInReturns says the sign-in at SignInURL ends at ContinuePath, which resumes the
	// pending authorization: the browser is sent there straight away. Otherwise a page
	// links to the sign-in and asks the person to come back.
	SignInReturns bool
	// CSRF issues the double-submit token of the consent form, and CSRFCookie names the
	// cookie that holds it (github.CSRFCookie).
	CSRF       CSRF
	CSRFCookie string
	// Secure marks the cookies the Server sets Secure (the platform is served over
	// https); a request that came over TLS gets them Secure anyway.
	Secure bool
	// CodeTTL is how long an authorization code is valid; 0 means DefaultCodeTTL, and it
	// may not exceed MaxCodeTTL.
	CodeTTL time.Duration
	// TokenTTL is the access token's lifetime; 0 means DefaultTokenTTL.
	TokenTTL time.Duration
	// Logger receives what was issued and refused, never a secret, code or verifier.
	Logger *slog.Logger
	// Now is the clock codes expire by; nil means time.Now.
	Now func() time.Time
}

// Server serves the authorization server's routes. Mount PublicRoutes without
// authentication and SessionRoutes behind the browser session's (the HTTP layer's
// authenticate, with Refuse for what it refuses).
type Server struct {
	opts    Options
	cp      platform.ControlPlane
	log     *slog.Logger
	now     func() time.Time
	base    string // PublicURL without a trailing slash; "" when unknown
	clients *sealer
	codes   *sealer
	mux     *http.ServeMux
}

// New returns a Server for opts, or an error naming what is missing or wrong.
func New(opts Options) (*Server, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, platform.Errorf(platform.EINVALID, "oauth: "+format, args...))
	}
	if opts.ControlPlane == nil || opts.Auth == nil || opts.CSRF == nil || opts.CSRFCookie == "" || opts.SignInURL == "" {
		bad("ControlPlane, Auth, CSRF, CSRFCookie and SignInURL are required")
	}
	if len(opts.Secret) < 16 {
		bad("the secret key must be at least 16 bytes")
	}
	if opts.PublicURL != "" {
		u, err := url.Parse(opts.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("public URL %q is not an absolute http(s) URL without a query", opts.PublicURL)
		}
	}
	if opts.CodeTTL < 0 || opts.CodeTTL > MaxCodeTTL {
		bad("code lifetime %s: want at most %s", opts.CodeTTL, MaxCodeTTL)
	}
	if opts.TokenTTL < 0 {
		bad("token lifetime %s is negative", opts.TokenTTL)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if opts.CodeTTL == 0 {
		opts.CodeTTL = DefaultCodeTTL
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, cp: opts.ControlPlane, log: opts.Logger, now: opts.Now,
		base: strings.TrimSuffix(opts.PublicURL, "/")}
	var err error
	if s.clients, err = newSealer(opts.Secret, "client", clientPrefix); err != nil {
		return nil, err
	}
	if s.codes, err = newSealer(opts.Secret, "code", codePrefix); err != nil {
		return nil, err
	}
	s.mux = s.routes()
	return s, nil
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc(ProtectedResourcePath, s.protectedResource)
	mux.HandleFunc(ProtectedResourcePath+MCPPath, s.protectedResource)
	mux.HandleFunc(ProtectedResourcePath+MCPPath+"/{ns}", s.protectedResource)
	mux.HandleFunc(AuthServerPath, s.authServer)
	mux.HandleFunc(RegisterPath, s.register)
	mux.HandleFunc(TokenPath, s.token)
	mux.HandleFunc("GET "+AuthorizePath, s.authorize)
	mux.HandleFunc("POST "+AuthorizePath, s.decide)
	mux.HandleFunc("GET "+ContinuePath, s.resume)
	return mux
}

// ServeHTTP serves the routes of PublicRoutes and SessionRoutes; a router hands it the
// request with its full path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// PublicRoutes are the routes served without a token, every method (chi and ServeMux
// patterns): discovery, registration and the token endpoint, where a client proves itself
// with its code and PKCE verifier.
func (s *Server) PublicRoutes() []string {
	return []string{
		ProtectedResourcePath, ProtectedResourcePath + MCPPath, ProtectedResourcePath + MCPPath + "/{ns}",
		AuthServerPath, RegisterPath, TokenPath,
	}
}

// SessionRoutes are the routes a browser uses, to be served behind the session cookie's
// authentication and CSRF check: the authorization endpoint and the return from sign-in.
func (s *Server) SessionRoutes() []string { return []string{AuthorizePath, ContinuePath} }

// Refuse answers a request to a session route that the HTTP layer's authentication
// refused: an unknown, expired or revoked session is no session (the browser signs in
// again); anything else, such as a failed CSRF check, gets an error page.
func (s *Server) Refuse(w http.ResponseWriter, r *http.Request, err error) {
	if platform.ErrorCode(err) == platform.EUNAUTHENTICATED {
		s.ServeHTTP(w, r)
		return
	}
	s.fail(w, http.StatusForbidden, "Request refused", err)
}

// baseURL is the platform's public URL: the configured one, or else the scheme and host
// r was sent to.
func (s *Server) baseURL(r *http.Request) string {
	if s.base != "" {
		return s.base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// resourceFor returns the namespace the resource indicator (RFC 8707) res names, "" for
// the MCP endpoint of every namespace, and whether res is this platform's MCP resource
// at all.
func (s *Server) resourceFor(r *http.Request, res string) (string, bool) {
	mcp := s.baseURL(r) + MCPPath
	if res == mcp {
		return "", true
	}
	ns, ok := strings.CutPrefix(res, mcp+"/")
	if !ok || platform.ValidateName("namespace", ns) != nil {
		return "", false
	}
	return ns, true
}

func (s *Server) secure(r *http.Request) bool { return s.opts.Secure || r.TLS != nil }
