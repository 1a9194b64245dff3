package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// OAuth is the OAuth 2.1 authorization server interactive MCP clients sign in with
// (oauth.Server, docs/mcp-oauth.md).
type OAuth interface {
	http.Handler
	// PublicRoutes are served without a token, every method: discovery, client
	// registration and the token endpoint (a client proves itself with its code and PKCE
	// verifier, never a platform token).
	PublicRoutes() []string
	// SessionRoutes are the browser's: authenticated like the dashboard, by the session
	// cookie (CSRF-checked on a post), and still served without a session, which the
	// handler sends to sign in.
	SessionRoutes() []string
	// Refuse answers a SessionRoutes request whose authentication failed.
	Refuse(w http.ResponseWriter, r *http.Request, err error)
}

// oauthRoutes mounts Options.OAuth.
func (s *Server) oauthRoutes(r chi.Router) {
	o := s.opts.OAuth
	if o == nil {
		return
	}
	for _, p := range o.PublicRoutes() {
		r.Handle(p, o)
	}
	r.Group(func(r chi.Router) {
		r.Use(func(next http.Handler) http.Handler { return s.authenticateWith(o.Refuse, next) })
		for _, p := range o.SessionRoutes() {
			r.Handle(p, o)
		}
	})
}
