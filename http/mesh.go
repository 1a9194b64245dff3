package http

import (
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

func (s *Server) meshRoutes(r chi.Router) {
	r.Post("/namespaces/{ns}/connections", s.handle(s.connect))
	r.Get("/namespaces/{ns}/connections", s.handle(s.listConnections))
	r.Get("/namespaces/{ns}/mesh", s.handle(s.meshTunnel))
}

// connectRequest is the body of POST /v1/namespaces/{ns}/connections: a name and the TTL
// as a Go duration string ("8h").
type connectRequest struct {
	Name string `json:"name"`
	TTL  string `json:"ttl"`
}

func (s *Server) connect(w http.ResponseWriter, r *http.Request) error {
	var body connectRequest
	if r.ContentLength != 0 { // every field is optional: no body asks for the defaults
		if err := decodeJSON(w, r, &body, s.opts.MaxBodyBytes); err != nil {
			return err
		}
	}
	req := platform.ConnectRequest{Namespace: chi.URLParam(r, "ns"), Name: body.Name}
	if body.TTL != "" {
		ttl, err := time.ParseDuration(body.TTL)
		if err != nil || ttl <= 0 {
			return platform.Errorf(platform.EINVALID, "invalid ttl %q: use a positive Go duration such as \"8h\"", body.TTL)
		}
		req.TTL = ttl
	}
	g, err := s.cp.Connect(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, g)
	return nil
}

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListConnections(r.Context(), chi.URLParam(r, "ns"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Connections []*platform.MeshConnection `json:"connections"`
	}{nonNil(list)})
	return nil
}

// meshTunnel upgrades the request to platform.MeshTunnelProtocol and joins the connection
// to the namespace's mesh server until either side closes. The mesh server still asks
// the client for a mesh credential: the tunnel only carries bytes.
func (s *Server) meshTunnel(w http.ResponseWriter, r *http.Request) error {
	mesh, err := s.cp.DialMesh(r.Context(), chi.URLParam(r, "ns"))
	if err != nil {
		return err
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), platform.MeshTunnelProtocol) {
		mesh.Close()
		return platform.Errorf(platform.EINVALID, "this route upgrades to %q: send Connection: Upgrade and Upgrade: %s", platform.MeshTunnelProtocol, platform.MeshTunnelProtocol).
			WithHint("use `platform connect`")
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		mesh.Close()
		return platform.Errorf(platform.EINTERNAL, "mesh tunnel: %v", err)
	}
	// The server's read and write deadlines were for the request, not for the tunnel.
	_ = conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+
		platform.MeshTunnelProtocol+"\r\n\r\n"); err != nil {
		conn.Close()
		mesh.Close()
		return nil
	}
	go splice(conn, brw.Reader, mesh)
	return nil
}

// splice copies between the hijacked client connection (whose buffered reader may hold
// bytes already read) and the mesh server until one side ends, then closes both.
func splice(client net.Conn, buffered io.Reader, mesh net.Conn) {
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(mesh, buffered)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, mesh)
		done <- struct{}{}
	}()
	// Either side going away ends the tunnel: there is nobody to report it to.
	<-done
	client.Close()
	mesh.Close()
}
