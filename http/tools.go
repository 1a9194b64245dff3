package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

func (s *Server) toolRoutes(r chi.Router) {
	r.Get("/namespaces/{ns}/tools", s.handle(s.listTools))
}

// listTools answers the namespace's MCP tools: what an agent connected to the
// namespace's MCP endpoint sees, so that people can check it before handing it one.
func (s *Server) listTools(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListTools(r.Context(), chi.URLParam(r, "ns"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Tools []platform.Tool `json:"tools"`
	}{nonNil(list)})
	return nil
}
