package oauth

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	platform "github.com/micro/platform"
)

// authorizeParams are the parameters of an authorization request the platform reads (RFC
// 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2); others are ignored.
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "resource", "scope"}

// Bounds of an authorization request's free-form parameters, which travel in URLs, the
// pending sign-in's cookie and the code.
const (
	maxState = 512
	maxScope = 512
	// maxScopes is the most scopes a token holds (control.CreateToken's bound).
	maxScopes = 32
)

// scopeRE is the shape of a scope: a go-micro endpoint scope as control.CreateToken
// takes it ("users:read", "billing.admin"), or "*" for every one.
var scopeRE = regexp.MustCompile(`^[A-Za-z0-9:._*-]{1,64}$`)

// The pending sign-in: the authorization a browser without a session left to sign in,
// kept in a cookie (only its parameters, checked again on return) for pendingTTL.
const (
	pendingCookie = "platform_oauth_pending"
	pendingTTL    = 10 * time.Minute
	maxPending    = 3072 // bytes: well below the 4 KiB browsers keep of a cookie
)

// Names of the tokens the flow makes: "mcp-grant:NAME" lives until the code is exchanged
// (at most CodeTTL), "mcp:NAME" is the access token.
const (
	grantPrefix = "mcp-grant:"
	tokenPrefix = "mcp:"
)

// authorization is a checked authorization request.
type authorization struct {
	clientID, redirectURI string
	client                *client
	state, challenge      string
	resource, scope       string
	namespace             string   // the one namespace the resource names, "" for any
	scopes                []string // scope's, each once: the go-micro scopes the token will hold
}

// query returns the request's parameters: for the consent form, the pending sign-in and
// its "Continue" link.
func (a *authorization) query() url.Values {
	q := url.Values{
		"response_type": {"code"}, "client_id": {a.clientID}, "redirect_uri": {a.redirectURI},
		"code_challenge": {a.challenge}, "code_challenge_method": {"S256"},
	}
	for k, v := range map[string]string{"state": a.state, "resource": a.resource, "scope": a.scope} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// oauthError is an error the authorization endpoint sends back to the client at its
// redirect URI (RFC 6749 §4.1.2.1).
type oauthError struct{ code, desc string }

// authorize serves GET /oauth/authorize.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	s.serveAuthorization(w, r, r.URL.Query())
}

// decide serves POST /oauth/authorize: the consent form's answer, which carries the
// request's parameters again and is checked again in full. The HTTP layer has checked
// its CSRF token.
func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		s.fail(w, http.StatusBadRequest, "Request not valid", platform.Errorf(platform.EINVALID, "the form could not be read"))
		return
	}
	s.serveAuthorization(w, r, r.PostForm)
}

// serveAuthorization checks the request; until its client and redirect URI are known to
// match, an error is a page and nothing is redirected anywhere. Then a browser without a
// session goes to sign in, one with a session gets the consent page (GET) or the outcome
// of its answer (POST).
func (s *Server) serveAuthorization(w http.ResponseWriter, r *http.Request, q url.Values) {
	a, err := s.identify(q)
	if err != nil {
		s.log.Info("oauth: authorization request refused", "reason", platform.ErrorMessage(err), "source", r.RemoteAddr)
		s.fail(w, http.StatusBadRequest, "This sign-in link is not valid", err)
		return
	}
	if e := s.check(r, a, q); e != nil {
		s.log.Info("oauth: authorization request refused", "client", a.client.Name, "error", e.code, "reason", e.desc)
		s.redirect(w, r, a, url.Values{"error": {e.code}, "error_description": {e.desc}})
		return
	}
	switch {
	case platform.TokenFromContext(r.Context()) == nil:
		s.toSignIn(w, r, a)
	case r.Method == http.MethodPost:
		s.answer(w, r, a, q)
	default:
		s.consent(w, r, a, q.Get("namespace"), http.StatusOK, "")
	}
}

// identify reads the client and the redirect URI, which must be one the client
// registered, exactly.
func (s *Server) identify(q url.Values) (*authorization, error) {
	for _, p := range []string{"client_id", "redirect_uri"} {
		if len(q[p]) > 1 {
			return nil, platform.Errorf(platform.EINVALID, "the request repeats %s", p)
		}
	}
	a := &authorization{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), client: &client{}}
	again := "start again from the application; if this keeps happening, it should register again"
	switch {
	case a.clientID == "":
		return nil, platform.Errorf(platform.EINVALID, "the request names no application (client_id)").WithHint("%s", again)
	case s.clients.open(a.clientID, a.client) != nil:
		return nil, platform.Errorf(platform.EINVALID, "the application's registration (client_id) is not one this platform issued").WithHint("%s", again)
	case a.redirectURI == "":
		return nil, platform.Errorf(platform.EINVALID, "the request names no redirect_uri").WithHint("%s", again)
	case !a.client.allows(a.redirectURI):
		return nil, platform.Errorf(platform.EINVALID, "the redirect_uri is not one %s registered", a.client.Name).WithHint("%s", again)
	}
	return a, nil
}

// check reads and checks the rest of the request into a; its errors go back to the
// client.
func (s *Server) check(r *http.Request, a *authorization, q url.Values) *oauthError {
	if st := q.Get("state"); len(st) <= maxState {
		a.state = st
	}
	a.challenge, a.resource, a.scope = q.Get("code_challenge"), q.Get("resource"), q.Get("scope")
	for _, p := range authorizeParams {
		if len(q[p]) > 1 {
			return &oauthError{"invalid_request", "the request repeats " + p}
		}
	}
	if len(q.Get("state")) > maxState {
		return &oauthError{"invalid_request", fmt.Sprintf("state: at most %d bytes", maxState)}
	}
	if rt := q.Get("response_type"); rt != "code" {
		return &oauthError{"unsupported_response_type", fmt.Sprintf("response_type %q: the platform offers code only", rt)}
	}
	if q.Get("code_challenge_method") != "S256" {
		return &oauthError{"invalid_request", "PKCE is required, with code_challenge_method S256"}
	}
	if !validChallenge(a.challenge) {
		return &oauthError{"invalid_request", "code_challenge must be the base64url SHA-256 of the verifier (43 characters)"}
	}
	if len(a.scope) > maxScope {
		return &oauthError{"invalid_scope", fmt.Sprintf("scope: at most %d bytes", maxScope)}
	}
	for _, sc := range strings.Fields(a.scope) {
		if !scopeRE.MatchString(sc) {
			return &oauthError{"invalid_scope", fmt.Sprintf("scope %q: a go-micro endpoint scope is 1 to 64 of A-Z a-z 0-9 : . _ * -", sc)}
		}
		if !slices.Contains(a.scopes, sc) {
			a.scopes = append(a.scopes, sc)
		}
	}
	if len(a.scopes) > maxScopes {
		return &oauthError{"invalid_scope", fmt.Sprintf("scope: at most %d scopes", maxScopes)}
	}
	if a.resource != "" {
		ns, ok := s.resourceFor(r, a.resource)
		if !ok {
			return &oauthError{"invalid_target", fmt.Sprintf("resource %q is not this platform's MCP endpoint (%s)", a.resource, s.baseURL(r)+MCPPath)}
		}
		a.namespace = ns
	}
	return nil
}

// validChallenge reports whether c can be an S256 challenge: 32 bytes in unpadded
// base64url.
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == 32
}

// redirect sends the browser back to the client with params, the request's state and the
// issuer (RFC 9207). The redirect URI's own query is kept.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, a *authorization, params url.Values) {
	u, err := url.Parse(a.redirectURI) // checked at registration and matched exactly
	if err != nil {
		s.fail(w, http.StatusBadRequest, "This sign-in link is not valid", platform.Errorf(platform.EINVALID, "the redirect_uri is not a URL"))
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if a.state != "" {
		q.Set("state", a.state)
	}
	q.Set("iss", s.baseURL(r))
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, u.String(), status)
}

// consentData is the consent page's.
type consentData struct {
	Client, User, Org string
	Role              platform.Role
	// Redirect is where the browser goes afterwards: the redirect URI's origin.
	Redirect   string
	Namespaces []string
	Selected   string
	// Scopes are the go-micro endpoint scopes the application asks to hold.
	Scopes    []string
	AllScopes bool // "*" is among them
	Days      int
	TokenName string
	CSRF      string
	Params    []param
	Error     string
}

type param struct{ Name, Value string }

// consent renders the consent page: who asks, as whom, where to, and the namespaces the
// user may pick (the ones they reach; only the one the resource names, if it names
// one). Without any, the page says so and offers only to cancel.
func (s *Server) consent(w http.ResponseWriter, r *http.Request, a *authorization, selected string, status int, msg string) {
	me, names, err := s.reach(r.Context(), a)
	if err != nil {
		s.log.Error("oauth: consent page", "err", err)
		s.fail(w, http.StatusInternalServerError, "Something went wrong", platform.Errorf(platform.EINTERNAL, "the platform could not read your namespaces").WithHint("try again"))
		return
	}
	if !slices.Contains(names, selected) && len(names) > 0 {
		selected = names[0]
	}
	d := consentData{
		Client: a.client.Name, User: login(me), Org: me.Org, Role: grantRole(me),
		Redirect: hostOf(a.redirectURI), Namespaces: names, Selected: selected,
		Scopes: a.scopes, AllScopes: slices.Contains(a.scopes, "*"),
		Days: int(s.opts.TokenTTL / (24 * time.Hour)), TokenName: tokenName(tokenPrefix, a.client.Name),
		CSRF: s.csrfToken(w, r), Error: msg,
	}
	q := a.query()
	for _, p := range authorizeParams {
		if v := q.Get(p); v != "" {
			d.Params = append(d.Params, param{p, v})
		}
	}
	if len(names) == 0 {
		d.Error = "You have no namespace this application could use."
		if a.namespace != "" {
			d.Error = fmt.Sprintf("You cannot reach the namespace %s, which the application asks for.", a.namespace)
		}
	}
	s.render(w, status, "consent", "Allow "+a.client.Name+"?", d)
}

// answer acts on the consent form: deny sends access_denied back; allow creates the
// grant as the signed-in user and sends the code back.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, a *authorization, q url.Values) {
	ctx := r.Context()
	switch q.Get("decision") {
	case "deny":
		s.clearPending(w, r)
		s.log.Info("oauth: authorization denied", "client", a.client.Name, "token", platform.TokenFromContext(ctx).ID)
		s.redirect(w, r, a, url.Values{"error": {"access_denied"}, "error_description": {"the user denied the request"}})
		return
	case "allow":
	default:
		s.consent(w, r, a, q.Get("namespace"), http.StatusBadRequest, "Choose Allow or Deny.")
		return
	}
	me, names, err := s.reach(ctx, a)
	if err != nil {
		s.log.Error("oauth: authorize", "err", err)
		s.redirect(w, r, a, url.Values{"error": {"server_error"}, "error_description": {"the platform could not grant access"}})
		return
	}
	ns := q.Get("namespace")
	if !slices.Contains(names, ns) {
		s.consent(w, r, a, "", http.StatusBadRequest, "Choose one of the namespaces below.")
		return
	}
	role := grantRole(me)
	_, secret, err := s.cp.CreateToken(ctx, platform.CreateTokenRequest{
		Name: tokenName(grantPrefix, a.client.Name), Role: role, Namespaces: []string{ns}, Scopes: a.scopes, TTL: s.opts.CodeTTL,
	})
	if err != nil {
		e := oauthError{"server_error", "the platform could not grant access"}
		switch platform.ErrorCode(err) {
		case platform.EFORBIDDEN, platform.EUNAUTHENTICATED, platform.EINVALID, platform.EQUOTA:
			e = oauthError{"access_denied", platform.ErrorMessage(err)}
			s.log.Info("oauth: grant refused", "client", a.client.Name, "user", login(me), "namespace", ns, "reason", platform.ErrorMessage(err))
		default:
			s.log.Error("oauth: create grant", "client", a.client.Name, "user", login(me), "err", err)
		}
		s.redirect(w, r, a, url.Values{"error": {e.code}, "error_description": {e.desc}})
		return
	}
	code, err := s.codes.seal(&grantCode{
		Client: digest(a.clientID), Redirect: digest(a.redirectURI), Challenge: a.challenge,
		Resource: a.resource, Scope: a.scope, Grant: secret, Expires: s.now().Add(s.opts.CodeTTL).UnixMilli(),
	})
	if err != nil {
		s.log.Error("oauth: seal a code", "err", err)
		s.redirect(w, r, a, url.Values{"error": {"server_error"}, "error_description": {"the platform could not grant access"}})
		return
	}
	s.clearPending(w, r)
	s.log.Info("oauth: authorization granted", "client", a.client.Name, "user", login(me), "org", me.Org, "namespace", ns, "role", role,
		"scopes", strings.Join(a.scopes, " "))
	s.redirect(w, r, a, url.Values{"code": {code}})
}

// reach returns who the caller is and the namespaces the application may be given.
func (s *Server) reach(ctx context.Context, a *authorization) (*platform.Whoami, []string, error) {
	me, err := s.cp.Whoami(ctx)
	if err != nil {
		return nil, nil, err
	}
	list, err := s.cp.ListNamespaces(ctx)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for _, n := range list {
		if a.namespace == "" || n.Name == a.namespace {
			names = append(names, n.Name)
		}
	}
	slices.Sort(names)
	return me, names, nil
}

// grantRole is the role an application gets: at most developer, at most the user's.
func grantRole(me *platform.Whoami) platform.Role {
	return platform.MinRole(platform.RoleDeveloper, me.Role)
}

func login(me *platform.Whoami) string {
	if me.User != nil {
		return me.User.Login
	}
	return me.Token.Name
}

// tokenName is prefix and the client's name, cut to the 64 bytes a token name may have.
func tokenName(prefix, client string) string {
	n := prefix + client
	for len(n) > 64 {
		_, size := utf8.DecodeLastRuneInString(n)
		n = n[:len(n)-size]
	}
	return n
}

// csrfToken returns the browser's double-submit token for the consent form, issuing one
// when it has none (or its cookie was held back: it is SameSite=Strict, and the browser
// may arrive from the application or the sign-in's redirects).
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(s.opts.CSRFCookie); err == nil && ck.Value != "" {
		return ck.Value
	}
	return s.opts.CSRF.Issue(w)
}

// signInData is the sign-in page's.
type signInData struct {
	Client, SignIn, Continue string
}

// toSignIn sends a browser without a session to sign in, keeping the request in the
// pending cookie so that the sign-in's end (ContinuePath) brings it back. A sign-in that
// does not end there (the dashboard's pasted token) gets a page linking to it and back.
func (s *Server) toSignIn(w http.ResponseWriter, r *http.Request, a *authorization) {
	pending := a.query().Encode()
	kept := len(pending) <= maxPending
	if kept {
		http.SetCookie(w, &http.Cookie{
			Name: pendingCookie, Value: pending, Path: "/oauth/", MaxAge: int(pendingTTL / time.Second),
			HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode,
		})
	}
	if kept && s.opts.SignInReturns {
		http.Redirect(w, r, s.opts.SignInURL, http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "signin", "Sign in to continue", signInData{
		Client: a.client.Name, SignIn: s.opts.SignInURL, Continue: AuthorizePath + "?" + pending,
	})
}

// resume serves ContinuePath: the browser goes back to the authorization it left to sign
// in, or to the platform's home without one. Only the authorization endpoint is ever the
// target, with the parameters it reads (checked again there).
func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(pendingCookie)
	s.clearPending(w, r)
	target := "/"
	if err == nil {
		if q, err := url.ParseQuery(ck.Value); err == nil && q.Get("client_id") != "" {
			keep := url.Values{}
			for _, p := range authorizeParams {
				if v, ok := q[p]; ok {
					keep[p] = v
				}
			}
			target = AuthorizePath + "?" + keep.Encode()
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (s *Server) clearPending(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(pendingCookie); err != nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: pendingCookie, Path: "/oauth/", MaxAge: -1, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
}

// hostOf is the origin of a URL, for a page.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + u.Host
}
