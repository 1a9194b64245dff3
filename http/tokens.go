package http

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

func (s *Server) tokenRoutes(r chi.Router) {
	r.Post("/tokens", s.handle(s.createToken))
	r.Get("/tokens", s.handle(s.listTokens))
	r.Delete("/tokens/{id}", s.handle(s.deleteToken))
}

// createTokenRequest is the body of POST /v1/tokens: platform.CreateTokenRequest with
// the TTL as a Go duration string ("720h").
type createTokenRequest struct {
	Name       string        `json:"name"`
	Role       platform.Role `json:"role"`
	Admin      bool          `json:"admin"`
	Namespaces []string      `json:"namespaces"`
	Scopes     []string      `json:"scopes"`
	Tools      []string      `json:"tools"`
	TTL        string        `json:"ttl"`
}

// createTokenResponse carries the new token's secret, which is shown only this once.
type createTokenResponse struct {
	Token  *platform.Token `json:"token"`
	Secret string          `json:"secret"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var body createTokenRequest
	if err := decodeJSON(w, r, &body, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	req := platform.CreateTokenRequest{Name: body.Name, Role: body.Role, Admin: body.Admin, Namespaces: body.Namespaces,
		Scopes: body.Scopes, Tools: body.Tools}
	if body.TTL != "" {
		ttl, err := time.ParseDuration(body.TTL)
		if err != nil || ttl < 0 {
			return platform.Errorf(platform.EINVALID, "invalid ttl %q: use a positive Go duration such as \"720h\"", body.TTL)
		}
		req.TTL = ttl
	}
	tok, secret, err := s.cp.CreateToken(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createTokenResponse{Token: tok, Secret: secret})
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListTokens(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Tokens []*platform.Token `json:"tokens"`
	}{nonNil(list)})
	return nil
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.cp.DeleteToken(r.Context(), chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
