package http

import (
	_ "embed"
	"net/http"

	platform "github.com/micro/platform"
)

// openAPIDocument is the OpenAPI 3 description of every route; openapi_test.go checks it
// against the router, so a route cannot be added without documenting it.
//
//go:embed openapi.json
var openAPIDocument []byte

// healthz answers 200 while the process runs.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 once deploys can be taken and EUNAVAILABLE before.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Ready != nil && !s.opts.Ready() {
		return platform.Errorf(platform.EUNAVAILABLE, "not ready to take deploys yet").
			WithHint("the server is still starting; retry in a moment")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
	return nil
}

// openAPI serves the OpenAPI document.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}
