package github

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	platform "github.com/micro/platform"
)

// CSRF names.
const (
	// CSRFCookie holds the double-submit token. It is readable by the dashboard's
	// script (not HttpOnly), which copies it into CSRFHeader.
	CSRFCookie = "platform_csrf"
	// CSRFHeader carries the token on script requests; forms send CSRFField.
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf_token"
)

// CSRF protects state-changing requests that a browser authenticates with the session
// cookie. A request passes when it is safe (GET, HEAD, OPTIONS), or carries no session
// cookie (bearer-token clients cannot be driven by another site), or both:
//
//   - its Origin (or, without one, its Referer) is one of Origins, and
//   - it repeats the CSRFCookie value in CSRFHeader or the CSRFField form field
//     (double submit: another site can make the browser send the cookie, never read it).
//
// Anything else is refused with 403 and nothing runs. The session cookie is also
// SameSite=Lax, so most browsers do not send it on cross-site POSTs in the first place.
type CSRF struct {
	// Origins are the platform's own origins, e.g. "https://platform.example.com".
	// Without any, the origin must be the host the request was sent to (the platform
	// reached at whatever address, as on the embedded default): another site's page
	// cannot send a request whose Origin names this host.
	Origins []string
	// Secure marks the cookie Secure (the platform is served over https).
	Secure bool
}

// Issue sets a new CSRF cookie and returns its token, for a form's hidden CSRFField.
// Sign-in calls it; the dashboard may call it when a page needs a fresh token.
func (c CSRF) Issue(w http.ResponseWriter) string {
	tok := randomToken()
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: tok, Path: "/", Secure: c.Secure, SameSite: http.SameSiteStrictMode})
	return tok
}

// Token returns the CSRF token of r's cookie, "" without one: what a page renders into
// its forms.
func Token(r *http.Request) string {
	if ck, err := r.Cookie(CSRFCookie); err == nil {
		return ck.Value
	}
	return ""
}

// Check returns nil when r may proceed, or an EFORBIDDEN error saying why not.
func (c CSRF) Check(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if _, err := r.Cookie(SessionCookie); err != nil {
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		if ref, err := url.Parse(r.Referer()); err == nil && ref.Host != "" {
			origin = ref.Scheme + "://" + ref.Host
		}
	}
	if origin == "" || !c.ownOrigin(r, origin) {
		return platform.Errorf(platform.EFORBIDDEN, "cross-site request refused: origin %q is not this platform", origin).
			WithHint("reload the page and try again")
	}
	want := Token(r)
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		got = r.PostFormValue(CSRFField)
	}
	if want == "" || got == "" || !equal(got, want) {
		return platform.Errorf(platform.EFORBIDDEN, "missing or wrong CSRF token").
			WithHint("reload the page and try again")
	}
	return nil
}

// ownOrigin reports whether origin is the platform's own.
func (c CSRF) ownOrigin(r *http.Request, origin string) bool {
	if len(c.Origins) > 0 {
		return slices.ContainsFunc(c.Origins, func(o string) bool { return strings.EqualFold(o, origin) })
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// Protect wraps next with Check, answering 403 with the API's JSON error shape.
func (c CSRF) Protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := c.Check(r); err != nil {
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
