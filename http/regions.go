package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtimeapi/runtimev1/runtimev1connect"
	"github.com/micro/platform/runtimeapi/tunnel"
)

// The routes of Options.Regions: the tunnel a region's agent opens (an HTTP/1.1 upgrade
// the handler hijacks) and the ControlService its calls go to.
const (
	agentConnectRoute = tunnel.ConnectPath
	agentControlRoute = "/" + runtimev1connect.ControlServiceName + "/"
)

func (s *Server) regionRoutes(r chi.Router) {
	r.Get("/regions", s.handle(s.listRegions))
	r.Put("/regions/{name}", s.handle(s.putRegion))
	r.Delete("/regions/{name}", s.handle(s.deleteRegion))
	r.Post("/regions/{name}/token", s.handle(s.issueRegionToken))
}

// agentRoutes mounts Options.Regions for the agents of remote regions, outside the API's
// authentication: an agent presents a region token, which the handler checks itself, and
// the API's middleware would refuse it as an unknown API token. The tunnel outlives its
// request, so nothing here may wrap the connection in a timeout, and the writers of
// observe and recoverPanic pass Hijack and Flush through, whether the handler asserts
// them (connect-go's streams) or reaches them with http.ResponseController (the tunnel).
func (s *Server) agentRoutes(r chi.Router) {
	if s.opts.Regions == nil {
		return
	}
	r.Method(http.MethodGet, agentConnectRoute, s.opts.Regions)
	r.Method(http.MethodPost, agentControlRoute+"*", s.opts.Regions)
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

// regionTokenResponse carries a region token's secret, which is shown only this once.
type regionTokenResponse struct {
	Region string `json:"region"`
	Token  string `json:"token"`
}

func (s *Server) issueRegionToken(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "name")
	secret, err := s.cp.IssueRegionToken(r.Context(), name)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, regionTokenResponse{Region: name, Token: secret})
	return nil
}
