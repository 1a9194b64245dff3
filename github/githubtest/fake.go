// Package githubtest is a fake GitHub for tests: an httptest server that behaves like
// the documented endpoints package github calls, at the paths of GitHub Enterprise
// Server (OAuth at the root, REST API under /api/v3/).
//
// It implements the OAuth web flow (authorize auto-approves a configured user; codes are
// single-use and bound to their PKCE challenge, client and redirect URI), the device
// flow (authorization_pending, slow_down, expired_token, access_denied, scripted per
// test), POST /applications/{client_id}/token (which knows the tokens the app issued
// from personal ones: IssueAppToken versus IssueToken), GET /user, GET /user/teams, GET /orgs/{org}/teams/{slug}/members and
// .../memberships/{user} with Link-header pagination, 401 "Bad credentials" for unknown
// or revoked tokens, and X-RateLimit-* headers with 403 (or 429) once the limit is used
// up. Tests configure users and teams and change them while the code under test runs.
//
// It also serves a GitHub Actions OIDC issuer (oidc.go) and the repositories API of
// GitOps: commit statuses, issue comments and webhooks (repos.go).
package githubtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Credentials of the OAuth app the fake knows.
const (
	ClientID     = "Iv1.fakeclientid"
	ClientSecret = "fake-client-secret-0123456789abcdef"
)

// User is a GitHub account of the fake.
type User struct {
	ID    int64
	Login string
	Name  string
	Email string
}

// DeviceScript scripts the device flow's polling: what the token endpoint answers to
// each poll before the user approves.
type DeviceScript struct {
	// Interval is the polling interval the fake asks for, in seconds (default 1);
	// polling faster gets slow_down with the interval raised by 5, as on GitHub.
	Interval int
	// ExpiresIn is the device code's lifetime in seconds (default 900).
	ExpiresIn int
	// Responses are the errors answered to the first polls, in order:
	// "authorization_pending", "slow_down", "expired_token" or "access_denied". After
	// them the user (Login) has approved and the poll gets a token.
	Responses []string
	// Login approves the device; "" makes every poll after Responses access_denied.
	Login string
}

// Fake is a running fake GitHub. Its methods are safe for concurrent use.
type Fake struct {
	*httptest.Server

	mu         sync.Mutex
	second     time.Duration
	users      map[string]*User               // by lower-case login
	teams      map[string]map[string][]string // org (lower) → slug (lower) → logins
	orgLogins  map[string]string              // org (lower) → as created
	authorizer string
	codes      map[string]*authCode
	tokens     map[string]*token // by the token's value
	devices    map[string]*device
	device     DeviceScript
	maxPerPage int
	nextID     int64

	rateLimit  int
	remaining  int
	window     time.Duration
	reset      time.Time
	rateStatus int

	calls map[string]int

	oidc  oidcState // oidc.go
	repos repoState // repos.go
}

// token is an access token the fake issued: to the OAuth app (through the web or device
// flow, or IssueAppToken) or a personal access token (IssueToken), which GitHub does not
// recognise as the app's.
type token struct {
	login string
	app   bool
	id    int64
}

type authCode struct {
	login, challenge, redirectURI string
	expires                       time.Time
}

type device struct {
	userCode   string
	script     DeviceScript
	polls      int
	lastPoll   time.Time
	interval   int
	expires    time.Time
	done       bool
	scriptUsed int
}

// New starts a fake GitHub, closed when the test ends.
func New(t testing.TB) *Fake {
	t.Helper()
	f := &Fake{
		second: time.Second, users: map[string]*User{}, teams: map[string]map[string][]string{}, orgLogins: map[string]string{},
		codes: map[string]*authCode{}, tokens: map[string]*token{}, devices: map[string]*device{},
		maxPerPage: 100, nextID: 1000, rateLimit: 5000, remaining: 5000, window: time.Hour, rateStatus: http.StatusForbidden,
		calls: map[string]int{},
	}
	f.reset = time.Now().Add(f.window)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", f.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", f.accessToken)
	mux.HandleFunc("POST /login/device/code", f.deviceCode)
	mux.HandleFunc("POST /api/v3/applications/{client_id}/token", f.checkToken)
	mux.HandleFunc("GET /api/v3/user", f.api(f.getUser))
	mux.HandleFunc("GET /api/v3/user/teams", f.api(f.userTeams))
	mux.HandleFunc("GET /api/v3/orgs/{org}/teams/{slug}/members", f.api(f.teamMembers))
	mux.HandleFunc("GET /api/v3/orgs/{org}/teams/{slug}/memberships/{user}", f.api(f.teamMembership))
	f.routeOIDC(mux)
	f.routeRepos(mux)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// WebURL is the fake's web address (Config.WebURL).
func (f *Fake) WebURL() string { return f.URL + "/" }

// APIURL is the fake's REST API address (Config.APIURL).
func (f *Fake) APIURL() string { return f.URL + "/api/v3/" }

// AddUser creates an account and returns it; login is unique, case-insensitively.
func (f *Fake) AddUser(login string) *User {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	u := &User{ID: f.nextID, Login: login, Name: strings.ToUpper(login[:1]) + login[1:], Email: login + "@example.com"}
	f.users[strings.ToLower(login)] = u
	return u
}

// SetTeam creates or replaces a team of org with the given members.
func (f *Fake) SetTeam(org, slug string, logins ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := strings.ToLower(org)
	if f.teams[o] == nil {
		f.teams[o] = map[string][]string{}
		f.orgLogins[o] = org
	}
	f.teams[o][strings.ToLower(slug)] = slices.Clone(logins)
}

// AddToTeam adds login to an existing team.
func (f *Fake) AddToTeam(org, slug, login string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.teams[strings.ToLower(org)]
	t[strings.ToLower(slug)] = append(t[strings.ToLower(slug)], login)
}

// RemoveFromTeam removes login from a team.
func (f *Fake) RemoveFromTeam(org, slug, login string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.teams[strings.ToLower(org)]
	t[strings.ToLower(slug)] = slices.DeleteFunc(t[strings.ToLower(slug)], func(l string) bool { return strings.EqualFold(l, login) })
}

// SetAuthorizer makes the authorize endpoint approve as login, as if that user were
// signed in to GitHub and clicked "Authorize"; "" makes it deny (error=access_denied).
func (f *Fake) SetAuthorizer(login string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authorizer = login
}

// SetDevice scripts the next device flows.
func (f *Fake) SetDevice(s DeviceScript) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.device = s
}

// SetMaxPerPage caps the page size (GitHub's is 100), so that small teams span pages.
func (f *Fake) SetMaxPerPage(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maxPerPage = n
}

// SetSecond sets how long the fake's "second" is for device intervals and expiry, so
// that device-flow tests need not wait whole seconds (default time.Second).
func (f *Fake) SetSecond(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.second = d
}

// SetRateLimit gives API calls a budget of limit per window, starting now; status is
// what an exhausted budget answers (403, or 429).
func (f *Fake) SetRateLimit(limit int, window time.Duration, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rateLimit, f.remaining, f.window, f.reset, f.rateStatus = limit, limit, window, time.Now().Add(window), status
}

// IssueToken returns a new personal access token of login (with read:org): it works on
// the API, but it was not issued to the OAuth app, so POST
// /applications/{client_id}/token answers 404 for it. Use it for sync tokens and to
// play someone offering a token of their own or another app's.
func (f *Fake) IssueToken(login string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issueLocked(login, false)
}

// IssueAppToken returns a new token of login issued to the OAuth app (ClientID), as if
// they had authorised it through the web or device flow, for tests that skip the flow.
func (f *Fake) IssueAppToken(login string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issueLocked(login, true)
}

func (f *Fake) issueLocked(login string, app bool) string {
	prefix := "ghp_"
	if app {
		prefix = "gho_"
	}
	v := prefix + random()
	f.nextID++
	f.tokens[v] = &token{login: login, app: app, id: f.nextID}
	return v
}

// IssuedTokens returns every token the fake has issued and not revoked, so that tests
// can check none of them leaks.
func (f *Fake) IssuedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sortedKeys(f.tokens)
}

// Revoke revokes a token: later calls with it get 401.
func (f *Fake) Revoke(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tokens, token)
}

// Calls returns how many requests the fake answered on a path (e.g. "/api/v3/user"),
// rate-limited ones included.
func (f *Fake) Calls(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

func (f *Fake) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	if q.Get("client_id") != ClientID {
		http.Error(w, "unknown client_id", http.StatusNotFound)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Host == "" {
		http.Error(w, "redirect_uri is not valid", http.StatusBadRequest)
		return
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "this fake requires PKCE S256", http.StatusBadRequest)
		return
	}
	if !slices.Contains(strings.Fields(q.Get("scope")), "read:org") {
		http.Error(w, "this fake requires the read:org scope", http.StatusBadRequest)
		return
	}
	v := url.Values{"state": {q.Get("state")}}
	if f.authorizer == "" {
		v.Set("error", "access_denied")
		v.Set("error_description", "The user has denied your application access.")
	} else {
		code := random()[:20]
		f.codes[code] = &authCode{login: f.authorizer, challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri"), expires: time.Now().Add(10 * time.Minute)}
		v.Set("code", code)
	}
	redirect.RawQuery = v.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// accessToken answers like GitHub: 200 with an "error" member for failures.
func (f *Fake) accessToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("grant_type") == "urn:ietf:params:oauth:grant-type:device_code" {
		f.pollDevice(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.PostForm.Get("client_id") != ClientID || r.PostForm.Get("client_secret") != ClientSecret {
		oauthError(w, "incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
		return
	}
	code := r.PostForm.Get("code")
	c, ok := f.codes[code]
	delete(f.codes, code) // single use, whatever happens next
	if !ok || time.Now().After(c.expires) {
		oauthError(w, "bad_verification_code", "The code passed is incorrect or expired.")
		return
	}
	if ru := r.PostForm.Get("redirect_uri"); ru != "" && ru != c.redirectURI {
		oauthError(w, "redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
		oauthError(w, "bad_verification_code", "The code_verifier does not match the code_challenge.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"access_token": f.issueLocked(c.login, true), "token_type": "bearer", "scope": "read:org"})
}

func (f *Fake) deviceCode(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != ClientID {
		oauthError(w, "incorrect_client_credentials", "The client_id is not valid.")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.device
	if s.Interval == 0 {
		s.Interval = 1
	}
	if s.ExpiresIn == 0 {
		s.ExpiresIn = 900
	}
	d := &device{userCode: strings.ToUpper(random()[:4] + "-" + random()[:4]), script: s, interval: s.Interval,
		expires: time.Now().Add(time.Duration(s.ExpiresIn) * f.second)}
	code := random()
	f.devices[code] = d
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code": code, "user_code": d.userCode, "verification_uri": f.URL + "/login/device",
		"expires_in": s.ExpiresIn, "interval": s.Interval,
	})
}

func (f *Fake) pollDevice(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.PostForm.Get("client_id") != ClientID {
		oauthError(w, "incorrect_client_credentials", "The client_id is not valid.")
		return
	}
	d, ok := f.devices[r.PostForm.Get("device_code")]
	if !ok || d.done {
		oauthError(w, "bad_verification_code", "The device_code provided is not valid.")
		return
	}
	now := time.Now()
	if now.After(d.expires) {
		oauthError(w, "expired_token", "The device_code has expired.")
		return
	}
	// Polling faster than the interval (with some slack for a loaded machine) is slowed.
	if !d.lastPoll.IsZero() && now.Sub(d.lastPoll) < time.Duration(d.interval)*f.second*8/10 {
		d.lastPoll = now
		d.interval += 5
		writeJSON(w, http.StatusOK, map[string]any{"error": "slow_down", "error_description": "Too many requests have been made in the same timeframe.", "interval": d.interval})
		return
	}
	d.lastPoll = now
	if d.scriptUsed < len(d.script.Responses) {
		e := d.script.Responses[d.scriptUsed]
		d.scriptUsed++
		body := map[string]any{"error": e, "error_description": "scripted " + e}
		if e == "slow_down" {
			d.interval += 5
			body["interval"] = d.interval
		}
		if e == "expired_token" || e == "access_denied" {
			d.done = true
		}
		writeJSON(w, http.StatusOK, body)
		return
	}
	if d.script.Login == "" {
		d.done = true
		oauthError(w, "access_denied", "The authorization request was denied.")
		return
	}
	d.done = true
	writeJSON(w, http.StatusOK, map[string]string{"access_token": f.issueLocked(d.script.Login, true), "token_type": "bearer", "scope": "read:org"})
}

// api wraps an API endpoint with authentication, rate limiting and call counting.
func (f *Fake) api(h func(w http.ResponseWriter, r *http.Request, u *User)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls[r.URL.Path]++
		now := time.Now()
		if !now.Before(f.reset) {
			f.remaining, f.reset = f.rateLimit, now.Add(f.window)
		}
		limited := f.remaining <= 0
		if !limited {
			f.remaining--
		}
		hdr := w.Header()
		hdr.Set("X-RateLimit-Limit", strconv.Itoa(f.rateLimit))
		hdr.Set("X-RateLimit-Remaining", strconv.Itoa(f.remaining))
		hdr.Set("X-RateLimit-Used", strconv.Itoa(f.rateLimit-f.remaining))
		hdr.Set("X-RateLimit-Reset", strconv.FormatInt(f.reset.Add(time.Second-1).Unix(), 10)) // rounded up, as GitHub's is whole seconds
		hdr.Set("X-RateLimit-Resource", "core")
		status := f.rateStatus
		var u *User
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			tok, ok = strings.CutPrefix(r.Header.Get("Authorization"), "token ")
		}
		if ok {
			if t, found := f.tokens[tok]; found {
				u = f.users[strings.ToLower(t.login)]
			}
		}
		f.mu.Unlock()
		if limited {
			writeJSON(w, status, map[string]string{
				"message":           "API rate limit exceeded for user. (But here's the good news: Authenticated requests get a higher rate limit.)",
				"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
			})
			return
		}
		if u == nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
			return
		}
		h(w, r, u)
	}
}

// checkToken is GitHub's "Check a token" (POST /applications/{client_id}/token): the
// app authenticates with HTTP basic auth (client ID and secret, else 401) and sends
// {"access_token": ...}; a token the app issued gets 200 with the token's app and user,
// anything else (unknown, revoked, personal or another app's token) 404. It counts as a
// call and is not rate limited, as on GitHub.
func (f *Fake) checkToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.URL.Path]++
	f.mu.Unlock()
	id, secret, ok := r.BasicAuth()
	if !ok || id != ClientID || secret != ClientSecret || r.PathValue("client_id") != ClientID {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
		return
	}
	var req struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.AccessToken == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"message": "Invalid request.\n\n\"access_token\" wasn't supplied."})
		return
	}
	f.mu.Lock()
	t := f.tokens[req.AccessToken]
	var u *User
	if t != nil && t.app {
		u = f.users[strings.ToLower(t.login)]
	}
	f.mu.Unlock()
	if u == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest/apps/oauth-applications#check-a-token"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": t.id, "token": req.AccessToken, "scopes": []string{"read:org"},
		"app":  map[string]any{"client_id": ClientID, "name": "Micro Platform (fake)", "url": f.URL},
		"user": userJSON(u),
	})
}

func (f *Fake) getUser(w http.ResponseWriter, r *http.Request, u *User) {
	writeJSON(w, http.StatusOK, userJSON(u))
}

func (f *Fake) userTeams(w http.ResponseWriter, r *http.Request, u *User) {
	f.mu.Lock()
	var teams []any
	var id int64
	for _, org := range sortedKeys(f.teams) {
		for _, slug := range sortedKeys(f.teams[org]) {
			id++
			if slices.ContainsFunc(f.teams[org][slug], func(l string) bool { return strings.EqualFold(l, u.Login) }) {
				teams = append(teams, map[string]any{"id": id, "slug": slug, "name": slug, "organization": map[string]any{"login": f.orgLogins[org]}})
			}
		}
	}
	f.mu.Unlock()
	f.page(w, r, teams)
}

func (f *Fake) teamMembers(w http.ResponseWriter, r *http.Request, _ *User) {
	f.mu.Lock()
	members, ok := f.teams[strings.ToLower(r.PathValue("org"))][strings.ToLower(r.PathValue("slug"))]
	var out []any
	for _, l := range members {
		if u := f.users[strings.ToLower(l)]; u != nil {
			out = append(out, userJSON(u))
		}
	}
	f.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest/teams/members#list-team-members"})
		return
	}
	f.page(w, r, out)
}

func (f *Fake) teamMembership(w http.ResponseWriter, r *http.Request, _ *User) {
	f.mu.Lock()
	members := f.teams[strings.ToLower(r.PathValue("org"))][strings.ToLower(r.PathValue("slug"))]
	in := slices.ContainsFunc(members, func(l string) bool { return strings.EqualFold(l, r.PathValue("user")) })
	f.mu.Unlock()
	if !in {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"state": "active", "role": "member"})
}

// page writes one page of items with GitHub's Link header (page and per_page, 30 by
// default, capped by SetMaxPerPage).
func (f *Fake) page(w http.ResponseWriter, r *http.Request, items []any) {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	f.mu.Lock()
	per = min(per, f.maxPerPage)
	f.mu.Unlock()
	page, _ := strconv.Atoi(q.Get("page"))
	if page < 1 {
		page = 1
	}
	last := max((len(items)+per-1)/per, 1)
	link := func(p int, rel string) string {
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(per))
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, f.URL, r.URL.Path, q.Encode(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	start := min((page-1)*per, len(items))
	end := min(start+per, len(items))
	out := items[start:end]
	if out == nil {
		out = []any{}
	}
	writeJSON(w, http.StatusOK, out)
}

func userJSON(u *User) map[string]any {
	return map[string]any{"id": u.ID, "login": u.Login, "name": u.Name, "email": u.Email, "type": "User"}
}

func oauthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusOK, map[string]string{"error": code, "error_description": desc, "error_uri": "https://docs.github.com/apps/oauth"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func random() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
