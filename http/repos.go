package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

// actionsTokenRoute is where a GitHub Actions job trades its OIDC token for a platform
// token. It is outside the API's authentication: the job has no platform token yet, and
// the OIDC token in the body is what the control plane verifies.
const actionsTokenRoute = "/auth/github-actions"

// maxActionsTokenBytes bounds the body of the token exchange: a GitHub OIDC token is
// about 1 KiB, and the route takes requests from anyone.
const maxActionsTokenBytes = 16 << 10

func (s *Server) repoRoutes(r chi.Router) {
	r.Get("/repos", s.handle(s.listAllRepoLinks))
	const ns = "/namespaces/{ns}"
	r.Get(ns+"/repos", s.handle(s.listRepoLinks))
	r.Post(ns+"/repos", s.handle(s.linkRepo))
	r.Delete(ns+"/repos/{id}", s.handle(s.unlinkRepo))
}

// repoLinkList is the answer of the repository link listings.
type repoLinkList struct {
	Links []*platform.RepoLink `json:"links"`
}

func (s *Server) listAllRepoLinks(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListRepoLinks(r.Context(), "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, repoLinkList{nonNil(list)})
	return nil
}

func (s *Server) listRepoLinks(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListRepoLinks(r.Context(), chi.URLParam(r, "ns"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, repoLinkList{nonNil(list)})
	return nil
}

// linkRepoResponse carries the new link and what GitHub needs; the webhook secret in
// Setup is shown only this once.
type linkRepoResponse struct {
	Link  *platform.RepoLink  `json:"link"`
	Setup *platform.LinkSetup `json:"setup"`
}

func (s *Server) linkRepo(w http.ResponseWriter, r *http.Request) error {
	var req platform.LinkRepoRequest
	if err := decodeJSON(w, r, &req, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	ns, err := pathNamespace(r, req.Namespace)
	if err != nil {
		return err
	}
	req.Namespace = ns
	link, setup, err := s.cp.LinkRepo(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, linkRepoResponse{Link: link, Setup: setup})
	return nil
}

func (s *Server) unlinkRepo(w http.ResponseWriter, r *http.Request) error {
	if err := s.cp.UnlinkRepo(r.Context(), chi.URLParam(r, "ns"), chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// actionsTokenRequest is the body of POST /v1/auth/github-actions.
type actionsTokenRequest struct {
	// Token is the job's GitHub OIDC token (a JWT).
	Token string `json:"token"`
}

func (s *Server) exchangeActionsToken(w http.ResponseWriter, r *http.Request) error {
	var req actionsTokenRequest
	if err := decodeJSON(w, r, &req, maxActionsTokenBytes); err != nil {
		return err
	}
	if req.Token == "" {
		return platform.Errorf(platform.EINVALID, "token is required: the job's GitHub OIDC token").
			WithHint("the workflow needs `permissions: id-token: write`; `platform login --github-oidc` sends it")
	}
	// The client's address goes into the context for the audit of a refusal, as
	// authenticate does for the other routes.
	ctx := platform.NewContextWithSource(r.Context(), r.RemoteAddr)
	tok, err := s.cp.ExchangeActionsToken(ctx, req.Token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tok)
	return nil
}
