// Package http serves the platform's versioned JSON API (docs/api.md) over net/http.
//
// The server holds no business logic: it authenticates the bearer token, puts it and the
// client's address (for the audit log) in the request context, decodes the request,
// calls platform.ControlPlane and encodes the answer. Authorisation happens inside the
// ControlPlane methods (package authz), so no route can forget it; RoutePolicy names the
// action each route is held to, and a test checks every route against it for every role.
//
// Every handler returns an error; one adapter turns it into the error JSON of docs/api.md
// with the status from platform.HTTPStatus, logs uncoded errors with the request id and shows them
// as "internal error". Streams are Server-Sent Events (see sse.go).
package http

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxBodyBytes    = 1 << 20
	DefaultMaxUploadBytes  = 64 << 20
	DefaultShutdownTimeout = 10 * time.Second
)

// RepoWebhookRoute is where GitHub sends the deliveries of a repository link.
const RepoWebhookRoute = "/webhooks/github/links/{link}"

// RepoWebhooks takes the deliveries of repository links (gitops.Receiver).
type RepoWebhooks interface {
	ServeLink(w http.ResponseWriter, r *http.Request, link string)
}

// Options configures a Server. ControlPlane and Auth are required.
type Options struct {
	// Addr is the TCP address to listen on; "127.0.0.1:0" picks a free port.
	Addr string
	// TLS, when set, serves HTTPS (HTTP/1.1) with it; nil serves plain HTTP.
	TLS *tls.Config
	// ControlPlane answers every /v1 request.
	ControlPlane platform.ControlPlane
	// Auth resolves bearer secrets to tokens.
	Auth platform.Authenticator
	// Gateway, when set, serves /api/ (HTTP → RPC into namespaces). It sees the full
	// request path, /api prefix included.
	Gateway http.Handler
	// MCP, when set, serves the Model Context Protocol at /mcp and /mcp/{namespace}
	// (package mcp); it authenticates requests itself, with the MCP authorization
	// specification's challenges.
	MCP http.Handler
	// SessionCookie, when set, names the cookie that carries a browser session's secret
	// (github.SessionCookie); a request without an Authorization header is authenticated
	// by it like a bearer token. A state-changing request authenticated by the cookie must
	// pass CSRF, and is refused without one.
	SessionCookie string
	// CSRF checks the state-changing requests authenticated by the session cookie
	// (github.CSRF): nil for a request that may proceed, EFORBIDDEN otherwise.
	CSRF CSRFChecker
	// SignIn, when set, serves the sign-in routes (SignInRoutes, each for every method)
	// without a token: github.Integration and its Routes().
	SignIn       http.Handler
	SignInRoutes []string
	// RepoWebhooks, when set, takes GitHub's deliveries for repository links at POST
	// /webhooks/github/links/{link} without a token (gitops.Receiver: the delivery's
	// signature under the link's secret authenticates it).
	RepoWebhooks RepoWebhooks
	// Regions, when set, serves the agents of remote regions (control.Plane's
	// RegionHandler): GET /v1/regions/connect, the tunnel an agent opens, and POST
	// /platform.runtime.v1.ControlService/*. It authenticates agents by their region
	// token itself; the API's token authentication does not run on these routes.
	Regions http.Handler
	// Dashboard, when set, serves the web dashboard at DashboardPrefix (it needs
	// SessionCookie and CSRF).
	Dashboard Dashboard
	// OAuth, when set, is the OAuth authorization server of MCP clients (package oauth;
	// see oauthRoutes).
	OAuth OAuth
	// Ready reports whether deploys can be taken, for /readyz; nil means always ready.
	Ready func() bool
	// Metrics is served at /metrics and receives the server's own request metrics; nil
	// uses a registry of the server's own.
	Metrics *prometheus.Registry
	// Logger receives access logs and internal errors; nil discards them.
	Logger *slog.Logger
	// MaxBodyBytes bounds JSON request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxUploadBytes bounds source archive uploads; 0 means DefaultMaxUploadBytes.
	MaxUploadBytes int64
	// ShutdownTimeout bounds how long in-flight requests may take to finish once the
	// server stops; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// SSEHeartbeat is the interval of keep-alive comments on idle event streams; 0 means
	// DefaultSSEHeartbeat.
	SSEHeartbeat time.Duration
	// StreamRecheck is how often an open event stream authenticates its secret again and
	// re-checks the policy, so that a stream ends (with an `error` message) once its token
	// is revoked or expired, its user disabled or removed, or its role or scope no longer
	// allows it; 0 means DefaultStreamRecheck. Auth should cache (auth.Authenticator) so
	// that a check is cheap.
	StreamRecheck time.Duration
}

// Dashboard serves the web dashboard's pages (package dashboard), mounted at
// DashboardPrefix behind the same authentication as the API: a page request runs with
// the session's token in its context, and one that authentication refuses (an expired
// session, a failed CSRF check) is answered by Refuse.
type Dashboard interface {
	http.Handler
	Refuse(w http.ResponseWriter, r *http.Request, err error)
}

// DashboardPrefix is where Options.Dashboard is mounted; GET / redirects there.
const DashboardPrefix = "/ui"

// CSRFChecker checks a request authenticated by a cookie for cross-site forgery.
type CSRFChecker interface {
	Check(r *http.Request) error
}

// Server is the platform's HTTP API server. Create it with NewServer, then either call
// Start, or Listen followed by Serve to learn the address in between.
type Server struct {
	opts      Options
	cp        platform.ControlPlane
	auth      platform.Authenticator
	log       *slog.Logger
	heartbeat time.Duration
	recheck   time.Duration
	policy    *authz.Policy // nil unless Auth is an authz.Resolver
	registry  *prometheus.Registry
	metrics   *metrics
	handler   http.Handler
	srv       *http.Server

	mu       sync.Mutex
	ln       net.Listener
	stopping chan struct{} // closed when shutdown begins, ending event streams
	stopOnce sync.Once
}

// NewServer returns a Server for opts. It panics when opts.ControlPlane or opts.Auth is
// nil, which is a wiring mistake rather than a runtime condition.
func NewServer(opts Options) *Server {
	if opts.ControlPlane == nil || opts.Auth == nil {
		panic("http.NewServer: Options.ControlPlane and Options.Auth are required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.SSEHeartbeat <= 0 {
		opts.SSEHeartbeat = DefaultSSEHeartbeat
	}
	if opts.StreamRecheck <= 0 {
		opts.StreamRecheck = DefaultStreamRecheck
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	s := &Server{
		opts:      opts,
		cp:        opts.ControlPlane,
		auth:      opts.Auth,
		log:       opts.Logger,
		heartbeat: opts.SSEHeartbeat,
		recheck:   opts.StreamRecheck,
		registry:  opts.Metrics,
		metrics:   newMetrics(opts.Metrics),
		stopping:  make(chan struct{}),
	}
	if r, ok := opts.Auth.(authz.Resolver); ok {
		s.policy = authz.New(r)
	}
	s.handler = s.routes()
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	// Shutdown waits for handlers to return; event streams return once this closes.
	s.srv.RegisterOnShutdown(s.stopStreams)
	return s
}

// Handler returns the server's routes, for httptest and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds Options.Addr. After it returns, Addr reports the bound address.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("http: server already listening")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Addr, err)
	}
	if s.opts.TLS != nil {
		cfg := s.opts.TLS.Clone()
		// HTTP/1.1 only: the upgrades (agents' tunnels, the mesh tunnel) need it, and
		// streams are server-sent events.
		cfg.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, cfg)
	}
	s.ln = ln
	return nil
}

// Addr returns the address the server listens on, or "" before Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Start listens on Options.Addr and serves until ctx ends (see Serve).
func (s *Server) Start(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Serve serves on the listener bound by Listen until ctx ends, then shuts down
// gracefully: it stops accepting connections, ends event streams and waits up to
// Options.ShutdownTimeout for in-flight requests before closing what is left.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return errors.New("http: Serve called before Listen")
	}
	s.log.Info("HTTP API listening", "addr", ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve HTTP: %w", err)
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	s.stopStreams()
	if err := s.srv.Shutdown(shutdownCtx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP: %w", err)
	}
	return nil
}

func (s *Server) stopStreams() {
	s.stopOnce.Do(func() { close(s.stopping) })
}

// routeMethods are the methods the API's routes take, in the order Allow lists them.
var routeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowedMethods returns the methods a route of router takes at path, for the Allow
// header of a 405 (chi's own 405 handler sets it, but not for a custom handler).
func allowedMethods(router chi.Routes, path string) []string {
	var out []string
	for _, m := range routeMethods {
		if router.Match(chi.NewRouteContext(), m, path) {
			out = append(out, m)
		}
	}
	return out
}

// routes builds the router: probes, metrics and the OpenAPI document without a token;
// the agents' routes with a region token of their own (agentRoutes); every other /v1
// route behind authenticate.
func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, s.observe, s.recoverPanic)
	r.NotFound(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return platform.Errorf(platform.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path).
			WithHint("see /v1/openapi.json for the routes")
	}))
	r.MethodNotAllowed(s.handle(func(w http.ResponseWriter, req *http.Request) error {
		allowed := allowedMethods(r, req.URL.Path)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return withStatus(http.StatusMethodNotAllowed,
			platform.Errorf(platform.EINVALID, "method %s is not allowed on %s", req.Method, req.URL.Path).
				WithHint("%s takes %s", req.URL.Path, strings.Join(allowed, ", ")))
	}))

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.handle(s.readyz))
	r.Method(http.MethodGet, "/metrics", s.metricsHandler())
	if s.opts.Gateway != nil {
		r.Mount("/api", s.opts.Gateway)
	}
	if s.opts.MCP != nil {
		r.Handle("/mcp", s.opts.MCP)
		r.Handle("/mcp/*", s.opts.MCP)
	}
	if s.opts.SignIn != nil {
		for _, p := range s.opts.SignInRoutes {
			r.Handle(p, s.opts.SignIn)
		}
	}
	if s.opts.RepoWebhooks != nil {
		r.Post(RepoWebhookRoute, func(w http.ResponseWriter, req *http.Request) {
			s.opts.RepoWebhooks.ServeLink(w, req, chi.URLParam(req, "link"))
		})
	}
	s.agentRoutes(r)
	s.oauthRoutes(r)
	if d := s.opts.Dashboard; d != nil {
		r.Get("/", func(w http.ResponseWriter, req *http.Request) {
			http.Redirect(w, req, DashboardPrefix+"/", http.StatusSeeOther)
		})
		r.Group(func(r chi.Router) {
			r.Use(func(next http.Handler) http.Handler { return s.authenticateWith(d.Refuse, next) })
			r.Mount(DashboardPrefix, d)
		})
	}

	r.Route("/v1", func(r chi.Router) {
		r.Get("/openapi.json", s.openAPI)
		// A GitHub Actions job has no platform token yet: it trades its OIDC token here.
		r.Post(actionsTokenRoute, s.handle(s.exchangeActionsToken))
		r.Group(func(r chi.Router) {
			r.Use(s.authenticate)
			s.namespaceRoutes(r)
			s.serviceRoutes(r)
			s.toolRoutes(r)
			s.meshRoutes(r)
			s.streamRoutes(r)
			s.tokenRoutes(r)
			s.regionRoutes(r)
			s.accountRoutes(r)
			s.repoRoutes(r)
			s.alertRoutes(r)
			s.billingRoutes(r)
		})
	})
	return r
}
