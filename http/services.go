package http

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

func (s *Server) serviceRoutes(r chi.Router) {
	const ns = "/namespaces/{ns}"
	r.Post(ns+"/sources", s.handle(s.uploadSource))
	r.Post(ns+"/deploys", s.handle(s.deploy))
	r.Get(ns+"/services", s.handle(s.listServices))
	r.Get(ns+"/services/{svc}", s.handle(s.getService))
	r.Get(ns+"/services/{svc}/metrics", s.handle(s.serviceMetrics))
	r.Delete(ns+"/services/{svc}", s.handle(s.deleteService))
	r.Post(ns+"/services/{svc}/promote", s.handle(s.promote))
	r.Get(ns+"/services/{svc}/releases", s.handle(s.listReleases))
	r.Post(ns+"/services/{svc}/rollback", s.handle(s.rollback))
	r.Get(ns+"/releases/{id}", s.handle(s.getRelease))
	r.Get(ns+"/builds/{id}", s.handle(s.getBuild))
	r.Post(ns+"/call", s.handle(s.call))
}

// archiveTypes are the content types accepted for source uploads; empty is accepted too,
// for clients that send none.
var archiveTypes = map[string]bool{
	"application/gzip":         true,
	"application/x-gzip":       true,
	"application/octet-stream": true,
}

func (s *Server) uploadSource(w http.ResponseWriter, r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !archiveTypes[mt] {
			return platform.Errorf(platform.EINVALID, "source upload has Content-Type %q: send a tar.gz as application/gzip", ct)
		}
	}
	// The ControlPlane may turn a read error into its own message; remember the body
	// limit error here so that the user learns the real reason.
	body := &readErrRecorder{r: http.MaxBytesReader(w, r.Body, s.opts.MaxUploadBytes)}
	sum, err := s.cp.UploadSource(r.Context(), chi.URLParam(r, "ns"), body)
	var tooLarge *http.MaxBytesError
	if errors.As(body.err, &tooLarge) {
		return errBodyTooLarge(s.opts.MaxUploadBytes)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, struct {
		Archive string `json:"archive"`
	}{sum})
	return nil
}

// readErrRecorder remembers the first read error other than io.EOF.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (rr *readErrRecorder) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && err != io.EOF && rr.err == nil {
		rr.err = err
	}
	return n, err
}

// pathNamespace is the namespace of the route, refusing a body that names another.
func pathNamespace(r *http.Request, inBody string) (string, error) {
	ns := chi.URLParam(r, "ns")
	if inBody != "" && inBody != ns {
		return "", platform.Errorf(platform.EINVALID, "body names namespace %q but the path names %q: leave it out of the body", inBody, ns)
	}
	return ns, nil
}

func (s *Server) deploy(w http.ResponseWriter, r *http.Request) error {
	var req platform.DeployRequest
	if err := decodeJSON(w, r, &req, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	ns, err := pathNamespace(r, req.Namespace)
	if err != nil {
		return err
	}
	req.Namespace = ns
	rel, err := s.cp.Deploy(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, rel)
	return nil
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListServices(r.Context(), chi.URLParam(r, "ns"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Services []*platform.ServiceView `json:"services"`
	}{nonNil(list)})
	return nil
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.cp.GetService(r.Context(), chi.URLParam(r, "ns"), chi.URLParam(r, "svc"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, svc)
	return nil
}

// serviceMetrics serves GET .../services/{svc}/metrics?since=1h: the service's traffic
// per minute over the window (an hour without since).
func (s *Server) serviceMetrics(w http.ResponseWriter, r *http.Request) error {
	q := newQueryParams(r)
	since := q.Duration("since")
	if err := q.Err(); err != nil {
		return err
	}
	m, err := s.cp.ServiceMetrics(r.Context(), chi.URLParam(r, "ns"), chi.URLParam(r, "svc"), since)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (s *Server) deleteService(w http.ResponseWriter, r *http.Request) error {
	if err := s.cp.DeleteService(r.Context(), chi.URLParam(r, "ns"), chi.URLParam(r, "svc")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// promote makes the service's canary its live release and answers with it.
func (s *Server) promote(w http.ResponseWriter, r *http.Request) error {
	rel, err := s.cp.Promote(r.Context(), chi.URLParam(r, "ns"), chi.URLParam(r, "svc"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rel)
	return nil
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListReleases(r.Context(), chi.URLParam(r, "ns"), chi.URLParam(r, "svc"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Releases []*platform.Release `json:"releases"`
	}{nonNil(list)})
	return nil
}

// rollbackRequest is the body of POST .../services/{svc}/rollback; an empty body or
// version goes back to the release live before the current one.
type rollbackRequest struct {
	Version string `json:"version"`
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error {
	var req rollbackRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req, s.opts.MaxBodyBytes); err != nil {
			return err
		}
	}
	rel, err := s.cp.Rollback(r.Context(), chi.URLParam(r, "ns"), chi.URLParam(r, "svc"), req.Version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rel)
	return nil
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request) error {
	rel, err := s.cp.GetRelease(r.Context(), chi.URLParam(r, "ns"), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rel)
	return nil
}

func (s *Server) getBuild(w http.ResponseWriter, r *http.Request) error {
	b, err := s.cp.GetBuild(r.Context(), chi.URLParam(r, "ns"), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// callRequest is the body of POST /v1/namespaces/{ns}/call.
type callRequest struct {
	Service  string          `json:"service"`
	Endpoint string          `json:"endpoint"`
	Request  json.RawMessage `json:"request"`
	Version  string          `json:"version"`
}

func (s *Server) call(w http.ResponseWriter, r *http.Request) error {
	var req callRequest
	if err := decodeJSON(w, r, &req, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	body := []byte(req.Request)
	if len(body) == 0 || string(body) == "null" {
		body = []byte("{}") // an RPC with no arguments still takes an (empty) message
	}
	resp, err := s.cp.Call(r.Context(), platform.CallRequest{
		Namespace: chi.URLParam(r, "ns"),
		Service:   req.Service,
		Endpoint:  req.Endpoint,
		Body:      body,
		Version:   req.Version,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp)
	return nil
}
