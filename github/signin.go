package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	platform "github.com/micro/platform"
)

// Cookies the integration sets.
const (
	// SessionCookie carries the browser session's secret; the HTTP layer authenticates
	// it like a bearer token.
	SessionCookie = "platform_session"
	// stateCookie binds a sign-in's state to the browser that started it.
	stateCookie = "platform_oauth_state"
)

// handoffTTL bounds how long the CLI has to collect its token after the browser
// sign-in.
const handoffTTL = 2 * time.Minute

// maxBody bounds request bodies of the JSON endpoints.
const maxBody = 64 << 10

// handleLogin starts a browser sign-in: it stores a single-use state with a PKCE
// verifier, binds it to a cookie, and redirects to GitHub. With cli_port, cli_state and
// cli_challenge the sign-in ends at the CLI's loopback listener instead.
func (i *Integration) handleLogin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := pendingLogin{nonce: randomToken(), verifier: oauth2.GenerateVerifier(), org: q.Get("org")}
	if q.Has("cli_port") {
		port, err := strconv.Atoi(q.Get("cli_port"))
		if err != nil || port < 1 || port > 65535 || q.Get("cli_state") == "" || len(q.Get("cli_challenge")) != 43 {
			i.page(w, http.StatusBadRequest, "Sign-in link is not valid",
				"The command-line sign-in link is incomplete. Run `platform login --github` again.")
			return
		}
		p.cli = &cliLogin{port: port, state: q.Get("cli_state"), challenge: q.Get("cli_challenge")}
	}
	state := randomToken()
	i.states.put(state, p, i.cfg.stateTTL())
	http.SetCookie(w, &http.Cookie{
		Name: stateCookie, Value: p.nonce, Path: i.callback, MaxAge: int(i.cfg.stateTTL() / time.Second),
		HttpOnly: true, Secure: i.cfg.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, i.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(p.verifier)), http.StatusFound)
}

// handleCallback finishes a browser sign-in.
func (i *Integration) handleCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	source := remoteAddr(r)
	// The state cookie has done its job whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: i.callback, MaxAge: -1, HttpOnly: true, Secure: i.cfg.secureCookies(), SameSite: http.SameSiteLaxMode})

	p, ok := i.states.take(q.Get("state"))
	c, err := r.Cookie(stateCookie)
	if !ok || err != nil || !equal(c.Value, p.nonce) {
		i.log.Warn("sign-in refused: unknown, expired, reused or unbound state", "source", source)
		i.refused(ctx, refusalSignIn, &platform.AuditEntry{Org: platform.DefaultOrg, Action: platform.AuditSignInRefused, Outcome: platform.AuditDenied,
			Target: "github/sign-in", Source: source, Detail: "the OAuth state was unknown, expired, already used or not bound to this browser"})
		i.page(w, http.StatusBadRequest, "Sign-in link is not valid",
			"This sign-in link is invalid, has expired or was already used. Start again from the sign-in page.")
		return
	}
	if e := q.Get("error"); e != "" {
		i.fail(w, r, p.cli, http.StatusForbidden, "access_denied", "Sign-in cancelled",
			"GitHub did not authorise the platform ("+e+").")
		return
	}
	tok, err := i.oauth.Exchange(i.clientContext(ctx), q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			i.log.Warn("sign-in refused: GitHub rejected the code", "source", source, "error_code", re.ErrorCode)
			i.refused(ctx, refusalSignIn, &platform.AuditEntry{Org: platform.DefaultOrg, Action: platform.AuditSignInRefused, Outcome: platform.AuditDenied,
				Target: "github/sign-in", Source: source, Detail: "GitHub rejected the authorisation code (" + re.ErrorCode + "): replayed, expired or forged"})
			i.fail(w, r, p.cli, http.StatusBadRequest, "invalid_code", "Sign-in code rejected",
				"GitHub rejected the sign-in code: it was already used or has expired. Start again.")
			return
		}
		i.log.Error("sign-in failed: code exchange", "err", err)
		i.fail(w, r, p.cli, http.StatusBadGateway, "github_unavailable", "GitHub is unavailable",
			"The platform could not reach GitHub to finish signing you in. Try again in a minute.")
		return
	}
	acct, err := i.signIn(ctx, tok.AccessToken, source, refusalSignIn)
	if err != nil {
		i.failSignIn(w, r, p.cli, err)
		return
	}
	org, err := acct.org(p.org)
	if err != nil {
		i.fail(w, r, p.cli, http.StatusForbidden, "not_member", "Not a member", platform.ErrorMessage(err))
		return
	}
	if p.cli != nil {
		code := randomToken()
		i.handoffs.put(code, handoff{acct: acct, org: org, challenge: p.cli.challenge}, handoffTTL)
		http.Redirect(w, r, loopbackURL(p.cli.port, url.Values{"code": {code}, "state": {p.cli.state}}), http.StatusFound)
		return
	}
	issued, err := i.dir.IssueToken(ctx, acct.user.ID, org, platform.TokenSession)
	if err != nil {
		i.log.Error("sign-in failed: issue session", "login", acct.user.Login, "err", err)
		i.page(w, http.StatusInternalServerError, "Sign-in failed", "The platform could not start your session. Try again.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: issued.Secret, Path: "/", Expires: issued.ExpiresAt,
		HttpOnly: true, Secure: i.cfg.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
	i.csrf.Issue(w)
	after := i.cfg.AfterLogin
	if after == "" {
		after = "/"
	}
	http.Redirect(w, r, after, http.StatusFound)
}

// signedIn is a person who signed in with GitHub and is a member of a linked team.
type signedIn struct {
	user  *platform.User
	roles map[string]platform.Role
}

// org picks the organisation a credential acts in: want when the person is a member,
// else their only organisation; a member of several who did not choose is refused
// (errChooseOrg) rather than signed in to whichever comes first.
func (s *signedIn) org(want string) (string, error) {
	if want != "" {
		if _, ok := s.roles[want]; !ok {
			return "", platform.Errorf(platform.EFORBIDDEN, "%s is not a member of organisation %q through a linked GitHub team", s.user.Login, want)
		}
		return want, nil
	}
	if len(s.roles) > 1 {
		return "", errChooseOrg
	}
	for org := range s.roles {
		return org, nil
	}
	return "", errChooseOrg
}

// errChooseOrg refuses a sign-in that did not say which of the person's several
// organisations it is for. It names none of them.
var errChooseOrg = platform.Errorf(platform.EFORBIDDEN, "you are a member of more than one organisation on this platform: sign in with your organisation's sign-in link").
	WithHint("use the sign-in link your organisation gave you (it names the organisation), or pass --org")

// errNotMember says the person is in no linked team.
var errNotMember = errors.New("not a member of a linked team")

// signIn reads the GitHub account of token, and for a member of a linked team records
// the user and their memberships through the Directory: a membership for each
// organisation their teams link to, with the highest role of those teams, and none
// (with its tokens revoked) where they had one through GitHub but no longer have a
// team (unless none of that organisation's links is allowed by Config.Organizations:
// those are kept, see linkSet). A non-member gets errNotMember (in an EFORBIDDEN
// error) and nothing changes; their refusal is audited within kind's bound.
func (i *Integration) signIn(ctx context.Context, token, source string, kind refusalKind) (*signedIn, error) {
	c, err := newAPIClient(i.cfg, i.hc, token)
	if err != nil {
		return nil, err
	}
	id, teams, err := account(ctx, c)
	if err != nil {
		return nil, err
	}
	links, err := i.dir.ListGitHubLinks(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("read GitHub links: %w", err)
	}
	set := i.splitLinks(links)
	grants := grantsFor(set.allowedLinks(), teams)
	if len(grants) == 0 {
		i.log.Info("sign-in refused: not a member of a linked team", "login", id.Login, "source", source)
		i.refused(ctx, kind, &platform.AuditEntry{Org: platform.DefaultOrg, Actor: id.Login, Action: platform.AuditSignInRefused, Outcome: platform.AuditDenied,
			Target: "github/" + id.Login, Source: source, Detail: "not a member of a linked GitHub team"})
		return nil, fmt.Errorf("%w: %w", platform.Errorf(platform.EFORBIDDEN, "you are not a member of a GitHub team linked to this platform").
			WithHint("ask an owner of your organisation to add you to a linked GitHub team"), errNotMember)
	}
	u, err := i.dir.UpsertGitHubUser(ctx, &platform.User{Login: id.Login, Name: id.Name, Email: id.Email, Source: platform.UserGitHub, GitHubID: id.ID})
	if err != nil {
		return nil, fmt.Errorf("record user %s: %w", id.Login, err)
	}
	if !u.Active() {
		i.log.Info("sign-in refused: user disabled or deleted", "login", id.Login, "user", u.ID, "source", source)
		for _, org := range sortedKeys(grants) {
			i.audit(ctx, &platform.AuditEntry{Org: org, Actor: u.Login, ActorID: u.ID, Action: platform.AuditSignInRefused, Outcome: platform.AuditDenied,
				Target: "user/" + u.Login, Source: source, Detail: "the platform user is disabled or deleted"})
		}
		return nil, platform.Errorf(platform.EFORBIDDEN, "your platform account %s is disabled or deleted", u.Login).
			WithHint("ask an owner of the organisation to enable it")
	}
	current, err := i.dir.ListMemberships(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("read memberships of %s: %w", u.Login, err)
	}
	roles := map[string]platform.Role{}
	for _, m := range current {
		if m.Source != platform.MemberGitHubTeam {
			roles[m.Org] = m.Role // set by an owner: GitHub does not override it
		}
	}
	for _, org := range sortedKeys(grants) {
		g := grants[org]
		if _, local := roles[org]; local {
			continue
		}
		roles[org] = g.role
		if err := i.dir.PutMembership(ctx, &platform.Membership{Org: org, UserID: u.ID, Role: g.role, Source: platform.MemberGitHubTeam, Teams: g.teams, UpdatedAt: i.now()}); err != nil {
			return nil, fmt.Errorf("record membership of %s in %s: %w", u.Login, org, err)
		}
		i.audit(ctx, &platform.AuditEntry{Org: org, Actor: u.Login, ActorID: u.ID, Action: platform.AuditSignIn, Outcome: platform.AuditOK,
			Target: "user/" + u.Login, Source: source, Detail: "signed in with GitHub, role " + string(g.role) + " from " + strings.Join(g.teams, ", ")})
	}
	// Memberships GitHub granted earlier but no team grants now go, as the sync would.
	for _, m := range current {
		if m.Source != platform.MemberGitHubTeam || grants[m.Org] != nil || set.frozen[m.Org] {
			continue // frozen: splitLinks warned
		}
		if err := i.removeMember(ctx, m.Org, u.ID, u.Login, "no longer in a linked GitHub team (seen at sign-in)"); err != nil {
			return nil, err
		}
	}
	i.log.Info("signed in with GitHub", "login", u.Login, "user", u.ID, "roles", rolesString(roles), "source", source)
	return &signedIn{user: u, roles: roles}, nil
}

// failSignIn shows why signIn failed.
func (i *Integration) failSignIn(w http.ResponseWriter, r *http.Request, cli *cliLogin, err error) {
	switch {
	case errors.Is(err, errNotMember):
		i.fail(w, r, cli, http.StatusForbidden, "not_member", "Not a member",
			upperFirst(platform.ErrorMessage(err))+". Ask an owner of your organisation to add you to a linked GitHub team.")
	case platform.ErrorCode(err) == platform.EFORBIDDEN:
		i.fail(w, r, cli, http.StatusForbidden, "forbidden", "Sign-in refused", upperFirst(platform.ErrorMessage(err))+".")
	case platform.ErrorCode(err) == platform.EUNAVAILABLE:
		i.log.Warn("sign-in failed: GitHub unavailable", "err", err)
		i.fail(w, r, cli, http.StatusServiceUnavailable, "github_unavailable", "GitHub is unavailable", platform.ErrorMessage(err))
	case platform.ErrorCode(err) == platform.EUNAUTHENTICATED:
		i.fail(w, r, cli, http.StatusUnauthorized, "invalid_token", "Sign-in failed", "GitHub refused the token it had just issued. Start again.")
	default:
		i.log.Error("sign-in failed", "err", err)
		i.fail(w, r, cli, http.StatusInternalServerError, "internal", "Sign-in failed", "The platform could not sign you in. Try again.")
	}
}

// fail ends a browser sign-in with an error: a page, or for a CLI sign-in a redirect
// to the CLI's listener, which shows the message.
func (i *Integration) fail(w http.ResponseWriter, r *http.Request, cli *cliLogin, status int, code, title, msg string) {
	if cli != nil {
		http.Redirect(w, r, loopbackURL(cli.port, url.Values{"error": {code}, "error_description": {msg}, "state": {cli.state}}), http.StatusFound)
		return
	}
	i.page(w, status, title, msg)
}

// loopbackURL is the CLI's listener; only the port comes from the request, so /login
// can never redirect anywhere else.
func loopbackURL(port int, q url.Values) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + "/callback?" + q.Encode()
}

// DeviceConfig is what GET /auth/github/device returns: how the CLI runs GitHub's device
// flow for this platform. It holds no secret.
type DeviceConfig struct {
	ClientID      string `json:"client_id"`
	DeviceCodeURL string `json:"device_code_url"`
	TokenURL      string `json:"token_url"`
	Scope         string `json:"scope"`
}

func (i *Integration) handleDevice(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, DeviceConfig{
		ClientID: i.cfg.ClientID, DeviceCodeURL: i.oauth.Endpoint.DeviceAuthURL,
		TokenURL: i.oauth.Endpoint.TokenURL, Scope: Scope,
	})
}

// TokenRequest is the body of POST /auth/github/token: a GitHub token the CLI obtained
// with the device flow. The platform checks it against GitHub and does not keep it.
type TokenRequest struct {
	GitHubToken string `json:"github_token"`
	// Org is the organisation the API token acts in; "" is the person's only
	// organisation (a member of several must choose).
	Org string `json:"org,omitempty"`
}

// CLIRequest is the body of POST /auth/github/cli: the one-time code the browser
// sign-in sent to the CLI's listener and the PKCE verifier of the challenge the CLI
// passed to /login.
type CLIRequest struct {
	Code     string `json:"code"`
	Verifier string `json:"verifier"`
}

// LoginResponse answers both: a platform API token (shown once) and who it is for.
type LoginResponse struct {
	Token     string                   `json:"token"`
	ExpiresAt time.Time                `json:"expires_at"`
	Org       string                   `json:"org"`
	Login     string                   `json:"login"`
	Roles     map[string]platform.Role `json:"roles"`
}

// handleToken serves POST /auth/github/token. Each source address gets a few
// exchanges, then one every exchangeEvery (429 with Retry-After past that), before
// anything reaches GitHub.
func (i *Integration) handleToken(w http.ResponseWriter, r *http.Request) {
	if wait := i.exchanges.wait(remoteAddr(r), i.now()); wait > 0 {
		i.log.Debug("token exchange refused: rate limited", "source", remoteAddr(r), "retry_after", wait)
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeError(w, errTooManyExchanges)
		return
	}
	var req TokenRequest
	if err := decodeJSON(r, &req); err != nil || req.GitHubToken == "" {
		writeError(w, platform.Errorf(platform.EINVALID, "the body must be JSON with github_token"))
		return
	}
	ctx := r.Context()
	source := remoteAddr(r)
	if err := i.checkToken(ctx, req.GitHubToken); err != nil {
		if platform.ErrorCode(err) == platform.EUNAUTHENTICATED {
			i.log.Warn("token exchange refused: not a token of this platform's GitHub app", "source", source)
			i.refused(ctx, refusalToken, &platform.AuditEntry{Org: platform.DefaultOrg, Action: platform.AuditSignInRefused, Outcome: platform.AuditDenied,
				Target: "github/token", Source: source, Detail: "the GitHub token offered for exchange was not issued to this platform's OAuth app (personal, another app's, revoked or forged)"})
		} else {
			i.log.Error("token exchange failed: check the GitHub token", "err", err)
		}
		writeError(w, err)
		return
	}
	acct, err := i.signIn(ctx, req.GitHubToken, source, refusalToken)
	if err != nil {
		if platform.ErrorCode(err) == platform.EUNAUTHENTICATED {
			i.log.Warn("token exchange refused: GitHub rejected the token", "source", source)
			i.refused(ctx, refusalToken, &platform.AuditEntry{Org: platform.DefaultOrg, Action: platform.AuditSignInRefused, Outcome: platform.AuditDenied,
				Target: "github/token", Source: source, Detail: "GitHub rejected the token offered for exchange (revoked, expired or forged)"})
		} else if !errors.Is(err, errNotMember) {
			i.log.Error("token exchange failed", "err", err)
		}
		writeError(w, err)
		return
	}
	org, err := acct.org(req.Org)
	if err != nil {
		writeError(w, err)
		return
	}
	i.issueAPIToken(w, r, acct, org)
}

func (i *Integration) handleCLI(w http.ResponseWriter, r *http.Request) {
	var req CLIRequest
	if err := decodeJSON(r, &req); err != nil || req.Code == "" || req.Verifier == "" {
		writeError(w, platform.Errorf(platform.EINVALID, "the body must be JSON with code and verifier"))
		return
	}
	h, ok := i.handoffs.take(req.Code)
	if !ok || !equal(s256(req.Verifier), h.challenge) {
		i.refused(r.Context(), refusalSignIn, &platform.AuditEntry{Org: platform.DefaultOrg, Action: platform.AuditSignInRefused, Outcome: platform.AuditDenied,
			Target: "github/cli-sign-in", Source: remoteAddr(r), Detail: "the CLI sign-in code was unknown, expired, already used or its verifier did not match"})
		writeError(w, platform.Errorf(platform.EUNAUTHENTICATED, "the sign-in code is invalid, expired or already used").
			WithHint("run `platform login --github` again"))
		return
	}
	i.issueAPIToken(w, r, h.acct, h.org)
}

func (i *Integration) issueAPIToken(w http.ResponseWriter, r *http.Request, acct *signedIn, org string) {
	issued, err := i.dir.IssueToken(r.Context(), acct.user.ID, org, platform.TokenAPI)
	if err != nil {
		i.log.Error("issue API token", "login", acct.user.Login, "err", err)
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, LoginResponse{Token: issued.Secret, ExpiresAt: issued.ExpiresAt, Org: org, Login: acct.user.Login, Roles: acct.roles})
}

// upperFirst capitalises an error message for a page.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// clientContext makes oauth2 use the integration's HTTP client.
func (i *Integration) clientContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, i.hc)
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · Micro Platform</title></head>
<body><main><h1>{{.Title}}</h1><p>{{.Message}}</p><p><a href="/login">Sign in with GitHub</a></p></main></body></html>
`))

// page writes a small HTML page for people in a browser.
func (i *Integration) page(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, struct{ Title, Message string }{title, msg})
}

// statusByCode maps platform error codes to HTTP, like the API does.
var statusByCode = map[string]int{
	platform.EINVALID:         http.StatusBadRequest,
	platform.ENOTFOUND:        http.StatusNotFound,
	platform.ECONFLICT:        http.StatusConflict,
	platform.EUNAUTHENTICATED: http.StatusUnauthorized,
	platform.EFORBIDDEN:       http.StatusForbidden,
	platform.EQUOTA:           http.StatusTooManyRequests,
	platform.EUNAVAILABLE:     http.StatusServiceUnavailable,
	platform.ETIMEOUT:         http.StatusGatewayTimeout,
}

// ErrorBody is the JSON error of the integration's JSON endpoints, the shape the API
// uses: {"error":{"code":..., "message":..., "hint":...}}.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Hint    string `json:"hint,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	var b ErrorBody
	b.Error.Code, b.Error.Message, b.Error.Hint = platform.ErrorCode(err), platform.ErrorMessage(err), platform.ErrorHint(err)
	status, ok := statusByCode[b.Error.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// remoteAddr is the request's source address for the audit log (without the port).
func remoteAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func rolesString(roles map[string]platform.Role) string {
	var b strings.Builder
	for i, k := range sortedKeys(roles) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + string(roles[k]))
	}
	return b.String()
}
