package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

func (s *Server) namespaceRoutes(r chi.Router) {
	r.Post("/namespaces", s.handle(s.createNamespace))
	r.Get("/namespaces", s.handle(s.listNamespaces))
	r.Delete("/namespaces/{ns}", s.handle(s.deleteNamespace))
}

// createNamespaceRequest is the body of POST /v1/namespaces.
type createNamespaceRequest struct {
	Name string `json:"name"`
	// Regions are where the namespace's services run unless a deploy names its own.
	Regions []string `json:"regions"`
	// Dev makes it a dev namespace (platform.Namespace.Dev).
	Dev bool `json:"dev"`
}

func (s *Server) createNamespace(w http.ResponseWriter, r *http.Request) error {
	var req createNamespaceRequest
	if err := decodeJSON(w, r, &req, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	ns, err := s.cp.CreateNamespace(r.Context(), req.Name, req.Regions...)
	if err != nil {
		return err
	}
	if req.Dev {
		// Authorised as the create was; a namespace that exists but could not be made a
		// dev namespace is reported, and `platform dev` refuses it until it is one.
		if ns, err = s.cp.SetNamespaceDev(r.Context(), req.Name, true); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusCreated, ns)
	return nil
}

func (s *Server) listNamespaces(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListNamespaces(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Namespaces []*platform.Namespace `json:"namespaces"`
	}{nonNil(list)})
	return nil
}

func (s *Server) deleteNamespace(w http.ResponseWriter, r *http.Request) error {
	if err := s.cp.DeleteNamespace(r.Context(), chi.URLParam(r, "ns")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nonNil returns list, or an empty slice for nil, so that lists encode as [] not null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
