// Package dashboard is the platform's web dashboard: server-rendered HTML pages, with a
// little script for the live parts (build output, log tail, events) and for calling an
// endpoint from the form generated from its request type.
//
// The dashboard has no back door: every page is built from platform.ControlPlane calls
// made with the browser's session, which the HTTP layer authenticates from the session
// cookie exactly like a bearer token, so authorisation (package authz) and tenancy hold
// as on the API. A state-changing form posts with the CSRF token (double submit, checked
// by the HTTP layer before the request reaches the dashboard), and the live parts read
// the API's own Server-Sent Event streams and call routes with the same cookie.
//
// Pages work without script (forms post and redirect), are labelled for screen readers,
// follow the system's light or dark scheme, and fit a phone. Assets are embedded in the
// binary; nothing is fetched from another site.
package dashboard

import (
	"context"
	"embed"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// Prefix is where the dashboard is mounted.
const Prefix = "/ui"

// csrfField is the form field carrying the double-submit token (github.CSRFField).
const csrfField = "csrf_token"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CSRF issues the double-submit token the HTTP layer checks (github.CSRF).
type CSRF interface {
	Issue(w http.ResponseWriter) string
}

// Options configures a Dashboard. ControlPlane, Auth, SessionCookie and CSRF are
// required.
type Options struct {
	ControlPlane platform.ControlPlane
	// Auth checks a pasted token before it becomes the session.
	Auth platform.Authenticator
	// SessionCookie names the cookie the HTTP layer authenticates browsers by.
	SessionCookie string
	CSRF          CSRF
	// CSRFCookie names the cookie holding the double-submit token, which pages copy into
	// their forms and scripts into the X-CSRF-Token header.
	CSRFCookie string
	// GitHubLogin is the path that starts a GitHub sign-in; "" hides the button (GitHub
	// is not configured).
	GitHubLogin string
	// Secure marks cookies Secure (the platform is served over https).
	Secure bool
	// GatewayURL is the public base URL of the gateway (for the curl lines and the
	// agents page's MCP endpoint); "" uses the address the page was requested at, where
	// the server mounts the gateway at /api and MCP at /mcp.
	GatewayURL string
	Logger     *slog.Logger
}

// Dashboard serves the pages under Prefix.
type Dashboard struct {
	opts    Options
	cp      platform.ControlPlane
	log     *slog.Logger
	pages   map[string]*template.Template
	handler http.Handler
}

// New returns a Dashboard; it panics on a wiring mistake (a missing option or a template
// that does not parse), which tests catch.
func New(opts Options) *Dashboard {
	if opts.ControlPlane == nil || opts.Auth == nil || opts.SessionCookie == "" || opts.CSRF == nil || opts.CSRFCookie == "" {
		panic("dashboard.New: ControlPlane, Auth, SessionCookie, CSRF and CSRFCookie are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dashboard{opts: opts, cp: opts.ControlPlane, log: opts.Logger}
	d.pages = parsePages()
	d.handler = d.routes()
	return d
}

// ServeHTTP serves a request to the dashboard, mounted at Prefix by a chi router (which
// routes on the rest of the path; links and redirects carry Prefix).
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.handler.ServeHTTP(w, r) }

func (d *Dashboard) routes() http.Handler {
	r := chi.NewRouter()
	r.Route("/", func(r chi.Router) {
		static, _ := fs.Sub(staticFS, "static")
		r.Handle("/static/*", http.StripPrefix(Prefix+"/static/", cacheStatic(http.FileServer(http.FS(static)))))
		r.Get("/signin", d.signInPage)
		r.Post("/signin", d.signIn)
		r.Post("/signout", d.signOut)
		r.Group(func(r chi.Router) {
			r.Use(d.requireSession)
			r.Get("/", d.home)
			r.Get("/go", d.goNamespace)
			r.Get("/namespaces", d.page(d.namespaces))
			r.Post("/namespaces", d.action(d.createNamespace))
			r.Post("/namespaces/delete", d.action(d.deleteNamespace))
			r.Get("/n/{ns}", d.page(d.services))
			r.Get("/n/{ns}/activity", d.page(d.activityFragment))
			r.Get("/n/{ns}/new", d.page(d.newService))
			r.Post("/n/{ns}/new", d.action(d.deployService))
			r.Get("/n/{ns}/events", d.page(d.namespaceEvents))
			r.Get("/n/{ns}/agents", d.page(d.agents))
			r.Get("/n/{ns}/s/{svc}", d.page(d.serviceOverview))
			r.Get("/n/{ns}/s/{svc}/endpoints", d.page(d.serviceEndpoints))
			r.Post("/n/{ns}/s/{svc}/endpoints", d.page(d.call))
			r.Get("/n/{ns}/s/{svc}/logs", d.page(d.serviceLogs))
			r.Get("/n/{ns}/s/{svc}/events", d.page(d.serviceEvents))
			r.Get("/n/{ns}/s/{svc}/metrics", d.page(d.serviceMetrics))
			r.Get("/n/{ns}/s/{svc}/releases", d.page(d.serviceReleases))
			r.Get("/n/{ns}/s/{svc}/releases/{id}", d.page(d.release))
			r.Get("/n/{ns}/s/{svc}/settings", d.page(d.serviceSettings))
			r.Post("/n/{ns}/s/{svc}/rollback", d.action(d.rollback))
			r.Post("/n/{ns}/s/{svc}/delete", d.action(d.deleteService))
			r.Get("/team", d.page(d.team))
			r.Post("/team/members/{login}/role", d.action(d.setRole))
			r.Post("/team/members/{login}/disable", d.action(d.setDisabled(true)))
			r.Post("/team/members/{login}/enable", d.action(d.setDisabled(false)))
			r.Get("/tokens", d.page(d.tokens))
			r.Post("/tokens", d.page(d.createToken))
			r.Post("/tokens/{id}/revoke", d.action(d.revokeToken))
			r.Get("/audit", d.page(d.audit))
			r.Get("/regions", d.page(d.regions))
			r.Get("/alerts", d.page(d.alerts))
			r.Post("/alerts/rules", d.action(d.createAlertRule))
			r.Post("/alerts/rules/{id}/delete", d.action(d.deleteAlertRule))
			r.Post("/alerts/channels", d.action(d.createAlertChannel))
			r.Post("/alerts/channels/{id}/test", d.action(d.testAlertChannel))
			r.Post("/alerts/channels/{id}/delete", d.action(d.deleteAlertChannel))
			r.Post("/alerts/silences", d.action(d.createSilence))
			r.Post("/alerts/silences/{id}/delete", d.action(d.deleteSilence))
			r.Get("/usage", d.page(d.usage))
			r.Post("/usage/plan", d.action(d.setPlan))
		})
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			d.fail(w, r, platform.Errorf(platform.ENOTFOUND, "no page at %s", r.URL.Path))
		})
	})
	return r
}

// cacheStatic lets browsers keep the embedded assets for a day; their names carry no
// hash, so a new release is picked up at the latest a day later (and on reload).
func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		next.ServeHTTP(w, r)
	})
}

// Refuse answers a browser request the HTTP layer would not authenticate: an expired or
// revoked session goes back to sign-in (its cookie cleared), anything else (a failed CSRF
// check) gets an error page.
func (d *Dashboard) Refuse(w http.ResponseWriter, r *http.Request, err error) {
	if platform.ErrorCode(err) == platform.EUNAUTHENTICATED {
		d.clearSession(w)
		d.toSignIn(w, r)
		return
	}
	d.fail(w, r, err)
}

// requireSession sends a browser without a session to sign-in.
func (d *Dashboard) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if platform.TokenFromContext(r.Context()) == nil {
			d.toSignIn(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (d *Dashboard) toSignIn(w http.ResponseWriter, r *http.Request) {
	target := Prefix + "/signin"
	if r.Method == http.MethodGet && r.URL.Path != Prefix+"/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// view is what every page template gets.
type view struct {
	Title string
	// Section is the navigation entry to highlight.
	Section string
	Me      *platform.Whoami
	CSRF    string
	// Namespaces the caller reaches, for the switcher; NS is the current one.
	Namespaces []*platform.Namespace
	NS         string
	// Service is the current service, Tab its active tab.
	Service string
	Tab     string
	Regions []*platform.Region
	Region  string
	Flash   string
	Error   error
	// Query is the request's query, for filters.
	Query  url.Values
	GitHub string
	Data   any
	now    time.Time
	// later, when set, is the slow part of the page's data (a page template defining
	// "later"): render sends the layout and the page's content before calling it. Its
	// context is the request's, bounded by ctxTimeout.
	later func(ctx context.Context) error
}

// Can reports whether the caller's token allows action in the page's namespace: pages
// show a button only when the API would take the request.
func (v *view) Can(action string) bool {
	if v.Me == nil || v.Me.Token == nil {
		return false
	}
	ns := v.NS
	rule, ok := authz.Table[authz.Action(action)]
	if !ok {
		return false
	}
	if rule.Scope != authz.ScopeNamespace {
		ns = ""
	}
	return authz.Check(v.Me.Token, authz.Action(action), ns, v.Me.Org) == nil
}

// pageFunc fills a view's Data and names the template; an error renders the error page.
type pageFunc func(w http.ResponseWriter, r *http.Request, v *view) (string, error)

// page runs fn with a view of the caller and renders its template.
func (d *Dashboard) page(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := d.newView(r)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		if v.Flash != "" {
			clearFlash(w, d.opts.Secure)
		}
		name, err := fn(w, r, v)
		if err != nil {
			d.failView(w, r, v, err)
			return
		}
		if name == "" {
			return // fn answered itself (a redirect)
		}
		d.render(w, r, http.StatusOK, name, v)
	}
}

// actionFunc changes something and returns where to go next and what to say.
type actionFunc func(r *http.Request) (next, flash string, err error)

// action runs a form post: on success it redirects (post/redirect/get) with a flash
// message, on failure it renders the error page saying what happened, and nothing
// changed.
func (d *Dashboard) action(fn actionFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			d.fail(w, r, platform.Errorf(platform.EINVALID, "could not read the form: %v", err))
			return
		}
		next, flash, err := fn(r)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		if flash != "" {
			setFlash(w, flash, d.opts.Secure)
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

// newView reads who the caller is and the namespaces they reach.
func (d *Dashboard) newView(r *http.Request) (*view, error) {
	ctx := r.Context()
	me, err := d.cp.Whoami(ctx)
	if err != nil {
		return nil, err
	}
	nss, err := d.cp.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	v := &view{
		Me: me, Namespaces: nss, NS: chi.URLParam(r, "ns"), Service: chi.URLParam(r, "svc"),
		CSRF: d.csrfToken(r), Region: r.URL.Query().Get("region"), GitHub: d.opts.GitHubLogin,
		Flash: flash(r), Query: r.URL.Query(), now: time.Now(),
	}
	// A namespace the caller does not reach does not exist for them: another
	// organisation's is a 404, as if it had never been made (the API's 403 would confirm
	// that it exists).
	if v.NS != "" && !slices.ContainsFunc(nss, func(n *platform.Namespace) bool { return n.Name == v.NS }) {
		return nil, platform.Errorf(platform.ENOTFOUND, "no namespace %q", v.NS).WithHint("the namespaces you can reach are in the switcher at the top")
	}
	return v, nil
}

func (d *Dashboard) csrfToken(r *http.Request) string {
	if ck, err := r.Cookie(d.opts.CSRFCookie); err == nil {
		return ck.Value
	}
	return ""
}

// render writes template name with v. Pages are never cached: they hold what only this
// session may see.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	t, ok := d.pages[name]
	if !ok {
		d.log.Error("dashboard: no template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if t.Lookup("later") != nil {
		d.stream(w, r, status, name, t, v)
		return
	}
	root := "layout"
	if t.Lookup("fragment") != nil {
		root = "fragment" // a part of a page, fetched by its script
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, root, v); err != nil {
		d.log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

// stream writes a page in two parts, for a page whose data is partly slow to get (a
// listing that asks every region): the layout down to the page's content and the content
// itself (its heading) go out at once and are flushed, so the browser paints the page
// while the server works; then v.later runs and the template's "later" part follows, or,
// if later failed, the error in its place (the status has been sent by then). Whatever
// decides the status (the caller's access to the namespace) is done before: a namespace
// the caller does not reach is still a 404 page.
func (d *Dashboard) stream(w http.ResponseWriter, r *http.Request, status int, name string, t *template.Template, v *view) {
	var b strings.Builder
	err := t.ExecuteTemplate(&b, "top", v)
	if err == nil {
		err = t.ExecuteTemplate(&b, "content", v)
	}
	if err != nil {
		d.log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
	_ = http.NewResponseController(w).Flush()

	b.Reset()
	part := "later"
	if v.later != nil {
		ctx, cancel := ctxTimeout(r.Context())
		err := v.later(ctx)
		cancel()
		if err != nil {
			v.Error, part = d.shownError(r, err), "inline-error"
		}
	}
	if err := t.ExecuteTemplate(&b, part, v); err != nil {
		d.log.Error("dashboard: render", "page", name, "part", part, "err", err)
		b.Reset()
		v.Error = d.shownError(r, err)
		_ = t.ExecuteTemplate(&b, "inline-error", v)
	}
	_ = t.ExecuteTemplate(&b, "bottom", v)
	_, _ = io.WriteString(w, b.String())
}

// pageHeaders are every page's headers.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
}

// fail renders the error page for err: what happened, and the hint of what to do.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, err error) {
	v := &view{CSRF: d.csrfToken(r), GitHub: d.opts.GitHubLogin, now: time.Now()}
	if platform.TokenFromContext(r.Context()) != nil {
		if me, werr := d.cp.Whoami(r.Context()); werr == nil {
			v.Me = me
		}
	}
	d.failView(w, r, v, err)
}

func (d *Dashboard) failView(w http.ResponseWriter, r *http.Request, v *view, err error) {
	err = d.shownError(r, err)
	v.Title, v.Error = titleOf(platform.ErrorCode(err)), err
	d.render(w, r, platform.HTTPStatus(platform.ErrorCode(err)), "error", v)
}

// shownError is err as a page may show it: an internal error (or one without a code) is
// logged and shown as "internal error", without its details.
func (d *Dashboard) shownError(r *http.Request, err error) error {
	if code := platform.ErrorCode(err); code == "" || code == platform.EINTERNAL {
		d.log.Error("dashboard: request failed", "path", r.URL.Path, "err", err)
		return platform.Errorf(platform.EINTERNAL, "internal error").WithHint("try again; if it persists, the server log has the details")
	}
	return err
}

func titleOf(code string) string {
	switch code {
	case platform.ENOTFOUND:
		return "Not found"
	case platform.EFORBIDDEN:
		return "Not allowed"
	case platform.EINVALID:
		return "Check the input"
	case platform.ECONFLICT:
		return "Conflict"
	case platform.EUNAUTHENTICATED:
		return "Sign in again"
	}
	return "Something went wrong"
}

// home sends the caller to the first namespace's services, or to the namespaces page.
func (d *Dashboard) home(w http.ResponseWriter, r *http.Request) {
	nss, err := d.cp.ListNamespaces(r.Context())
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if len(nss) == 0 {
		http.Redirect(w, r, Prefix+"/namespaces", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, Prefix+"/n/"+url.PathEscape(nss[0].Name), http.StatusSeeOther)
}

// flashCookie carries a one-time message across a post/redirect/get; it never holds a
// secret.
const flashCookie = "platform_flash"

func setFlash(w http.ResponseWriter, msg string, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(msg), Path: Prefix, MaxAge: 30, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

func clearFlash(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: Prefix, MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

func flash(r *http.Request) string {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	s, _ := url.QueryUnescape(ck.Value)
	return s
}

// ctxTimeout bounds the control-plane calls of one page.
func ctxTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Second)
}
