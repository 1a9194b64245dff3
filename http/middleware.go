package http

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	platform "github.com/micro/platform"
)

// routeUnmatched labels requests that matched no route, so that scanners cannot blow up
// the metrics' cardinality with arbitrary paths.
const routeUnmatched = "unmatched"

// observe sets X-Request-Id, then records one access log line and the request metrics
// per request, labelled by route pattern. It never logs headers or bodies, so secrets in
// Authorization or in token responses cannot reach the log.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := middleware.GetReqID(r.Context())
		w.Header().Set(middleware.RequestIDHeader, reqID)
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()

		next.ServeHTTP(ww, r)

		route := routeUnmatched
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		status := ww.Status()
		switch {
		case status == 0 && r.Header.Get("Upgrade") != "" && ww.BytesWritten() == 0:
			// Hijacked for an upgrade (an agent's tunnel): the handler answered on the
			// connection itself.
			status = http.StatusSwitchingProtocols
		case status == 0:
			status = http.StatusOK
		}
		elapsed := time.Since(start)
		code := strconv.Itoa(status)
		s.metrics.requests.WithLabelValues(route, r.Method, code).Inc()
		s.metrics.duration.WithLabelValues(route, r.Method, code).Observe(elapsed.Seconds())

		level := slog.LevelInfo
		if route == "/healthz" || route == "/readyz" || route == "/metrics" || route == "/api/*" {
			// Probes, scrapes and the gateway's data path would drown everything else (and
			// cost 10% of the server's CPU under gateway load); the gateway counts its
			// requests in Prometheus and the usage store instead.
			level = slog.LevelDebug
		}
		s.log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Duration("duration", elapsed),
			slog.Int("bytes", ww.BytesWritten()),
			slog.String("request_id", reqID),
		)
	})
}

// recoverPanic turns a handler panic into a logged internal error. chi's Recoverer would
// print to stderr and answer without the error JSON, so the server has its own.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // net/http's way of aborting a response; let it do its job
			}
			s.log.ErrorContext(r.Context(), "panic serving request",
				"request_id", middleware.GetReqID(r.Context()),
				"method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			s.writeError(tw, r, platform.Errorf(platform.EINTERNAL, "internal error"))
		}()
		next.ServeHTTP(tw, r)
	})
}

// Flush implements http.Flusher for handlers that assert it rather than use
// http.ResponseController, as connect-go's streaming RPCs (Options.Regions) do: every
// request passes recoverPanic's trackingWriter. Flushing sends the header.
func (w *trackingWriter) Flush() {
	w.wroteHeader = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker for handlers that assert it, as Flush does.
func (w *trackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// authenticate resolves `Authorization: Bearer <secret>` to a token and puts it in the
// request context. A request without the header goes on without a token (the
// ControlPlane answers EUNAUTHENTICATED where one is needed); a malformed header or an
// unknown secret is rejected here, before any handler runs.
//
// The client's address goes into the context too, for the audit log.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return s.authenticateWith(s.writeError, next)
}

// authenticateWith is authenticate answering a refused request with refuse: the API's
// error JSON, or the dashboard's page (sign in again, or what went wrong).
func (s *Server) authenticateWith(refuse func(http.ResponseWriter, *http.Request, error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(platform.NewContextWithSource(r.Context(), r.RemoteAddr))
		header := r.Header.Get("Authorization")
		if header == "" {
			s.authenticateSession(w, r, next, refuse)
			return
		}
		scheme, secret, ok := strings.Cut(header, " ")
		secret = strings.TrimSpace(secret)
		if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
			refuse(w, r, platform.Errorf(platform.EUNAUTHENTICATED, "the Authorization header must be \"Bearer <token>\""))
			return
		}
		tok, err := s.auth.Authenticate(r.Context(), secret)
		if err == nil && tok == nil {
			err = errors.New("authenticator returned no token and no error")
		}
		if err != nil {
			refuse(w, r, fmt.Errorf("authenticate: %w", err))
			return
		}
		next.ServeHTTP(w, r.WithContext(withSecret(platform.NewContextWithToken(r.Context(), tok), secret)))
	})
}

// authenticateSession authenticates a request without an Authorization header by the
// session cookie, when the server has one configured: a browser session is a token like
// any other. Cookies are sent by browsers whatever site a request comes from, so a
// state-changing request authenticated this way must also pass the CSRF check.
func (s *Server) authenticateSession(w http.ResponseWriter, r *http.Request, next http.Handler, refuse func(http.ResponseWriter, *http.Request, error)) {
	if s.opts.SessionCookie == "" {
		next.ServeHTTP(w, r)
		return
	}
	ck, err := r.Cookie(s.opts.SessionCookie)
	if err != nil || ck.Value == "" {
		next.ServeHTTP(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if s.opts.CSRF == nil {
			refuse(w, r, platform.Errorf(platform.EFORBIDDEN, "changes need a bearer token: this server has no CSRF protection for session cookies"))
			return
		}
		if err := s.opts.CSRF.Check(r); err != nil {
			refuse(w, r, err)
			return
		}
	}
	tok, err := s.auth.Authenticate(r.Context(), ck.Value)
	if err == nil && tok == nil {
		err = errors.New("authenticator returned no token and no error")
	}
	if err != nil {
		refuse(w, r, fmt.Errorf("authenticate session: %w", err))
		return
	}
	next.ServeHTTP(w, r.WithContext(withSecret(platform.NewContextWithToken(r.Context(), tok), ck.Value)))
}

// secretKey is the context key of the secret a request was authenticated with, which an
// event stream authenticates again while it lasts. It never leaves the process.
type secretKey struct{}

func withSecret(ctx context.Context, secret string) context.Context {
	return context.WithValue(ctx, secretKey{}, secret)
}

func secretFromContext(ctx context.Context) string {
	s, _ := ctx.Value(secretKey{}).(string)
	return s
}
