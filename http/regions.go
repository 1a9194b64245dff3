package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

func (s *Server) regionRoutes(r chi.Router) {
	r.Get("/regions", s.handle(s.listRegions))
	r.Put("/regions/{name}", s.handle(s.putRegion))
	r.Delete("/regions/{name}", s.handle(s.deleteRegion))
}

// regionRequest is the body of PUT /v1/regions/{name}; the name comes from the path.
type regionRequest struct {
	Provider        string `json:"provider"`
	Location        string `json:"location"`
	GatewayEndpoint string `json:"gateway_endpoint"`
	KubeconfigRef   string `json:"kubeconfig_ref"`
}

func (s *Server) putRegion(w http.ResponseWriter, r *http.Request) error {
	var body regionRequest
	if err := decodeJSON(w, r, &body, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	reg, err := s.cp.RegisterRegion(r.Context(), &platform.Region{
		Name: chi.URLParam(r, "name"), Provider: body.Provider, Location: body.Location,
		GatewayEndpoint: body.GatewayEndpoint, KubeconfigRef: body.KubeconfigRef,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reg)
	return nil
}

func (s *Server) listRegions(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListRegions(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Regions []*platform.Region `json:"regions"`
	}{nonNil(list)})
	return nil
}

func (s *Server) deleteRegion(w http.ResponseWriter, r *http.Request) error {
	if err := s.cp.DeleteRegion(r.Context(), chi.URLParam(r, "name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
