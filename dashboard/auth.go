package dashboard

import (
	"net/http"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// signInData is the sign-in page's data.
type signInData struct {
	Next string
}

func (d *Dashboard) signInPage(w http.ResponseWriter, r *http.Request) {
	if platform.TokenFromContext(r.Context()) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	v := &view{Title: "Sign in", GitHub: d.opts.GitHubLogin, Flash: flash(r), now: time.Now()}
	// The form posts the double-submit token like every other form; a first visit has
	// no cookie yet, so it gets one here.
	v.CSRF = d.csrfToken(r)
	if v.CSRF == "" {
		v.CSRF = d.opts.CSRF.Issue(w)
	}
	v.Data = signInData{Next: safeNext(r.URL.Query().Get("next"))}
	d.render(w, r, http.StatusOK, "signin", v)
}

// signIn takes a pasted token: the session cookie then carries it, so the browser acts
// exactly as that token does (its role and namespaces), until it expires or is revoked.
func (d *Dashboard) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	secret := strings.TrimSpace(r.PostFormValue("token"))
	next := safeNext(r.PostFormValue("next"))
	fail := func(err error) {
		v := &view{Title: "Sign in", GitHub: d.opts.GitHubLogin, CSRF: d.csrfToken(r), Error: err, now: time.Now()}
		if v.CSRF == "" {
			v.CSRF = d.opts.CSRF.Issue(w)
		}
		v.Data = signInData{Next: next}
		d.render(w, r, platform.HTTPStatus(platform.ErrorCode(err)), "signin", v)
	}
	// Sign-in has no session yet for the HTTP layer's CSRF check: the form must carry the
	// double-submit token this browser got with the page (login CSRF).
	if got, want := r.PostFormValue(csrfField), d.csrfToken(r); want == "" || got != want {
		fail(platform.Errorf(platform.EFORBIDDEN, "the sign-in form expired").WithHint("reload the page and sign in again"))
		return
	}
	if secret == "" {
		fail(platform.Errorf(platform.EINVALID, "paste a token to sign in").
			WithHint("`platform tokens create NAME` makes one; the server prints the first admin token when it starts"))
		return
	}
	tok, err := d.opts.Auth.Authenticate(r.Context(), secret)
	if err != nil || tok == nil {
		// Never echo the secret back, nor say more than that it was refused.
		fail(platform.Errorf(platform.EUNAUTHENTICATED, "that token was not accepted: it is unknown, expired or revoked").
			WithHint("check you copied all of it, or create a new one"))
		return
	}
	ck := &http.Cookie{
		Name: d.opts.SessionCookie, Value: secret, Path: "/",
		HttpOnly: true, Secure: d.opts.Secure, SameSite: http.SameSiteLaxMode,
	}
	if tok.ExpiresAt != nil {
		ck.Expires = *tok.ExpiresAt
	}
	http.SetCookie(w, ck)
	d.opts.CSRF.Issue(w) // a new session gets a new double-submit token
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut ends the browser's session. A GitHub session's token is revoked; a pasted API
// token is only forgotten by this browser (the CLI or a script may still use it).
func (d *Dashboard) signOut(w http.ResponseWriter, r *http.Request) {
	if tok := platform.TokenFromContext(r.Context()); tok != nil && tok.Kind == platform.TokenSession {
		if err := d.cp.DeleteToken(r.Context(), tok.ID); err != nil && !platform.IsNotFound(err) {
			d.log.Warn("dashboard: sign-out could not revoke the session", "token", tok.ID, "err", err)
		}
	}
	d.clearSession(w)
	setFlash(w, "Signed out.", d.opts.Secure)
	http.Redirect(w, r, Prefix+"/signin", http.StatusSeeOther)
}

func (d *Dashboard) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: d.opts.SessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: d.opts.Secure, SameSite: http.SameSiteLaxMode})
}

// oauthContinue is where a sign-in an MCP client's authorization sent the browser to
// goes back to (oauth.ContinuePath; this package does not import the OAuth server).
const oauthContinue = "/oauth/continue"

// safeNext keeps a post-sign-in redirect on the dashboard (or on oauthContinue): anything else (another site,
// a scheme-relative URL) goes to the dashboard's home.
func safeNext(next string) string {
	if next == oauthContinue {
		return next
	}
	if !strings.HasPrefix(next, Prefix+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix + "/"
	}
	return next
}
