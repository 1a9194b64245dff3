package http

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

func (s *Server) accountRoutes(r chi.Router) {
	r.Get("/whoami", s.handle(s.whoami))
	r.Get("/users", s.handle(s.listUsers))
	r.Post("/users", s.handle(s.createUser))
	r.Put("/users/{login}/role", s.handle(s.setUserRole))
	r.Post("/users/{login}/disable", s.handle(s.setUserDisabled(true)))
	r.Post("/users/{login}/enable", s.handle(s.setUserDisabled(false)))
	r.Get("/audit", s.handle(s.listAudit))
	r.Get("/org/github", s.handle(s.gitHubLinks))
	r.Put("/org/github", s.handle(s.setGitHubLinks))
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	who, err := s.cp.Whoami(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, who)
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListUsers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Users []*platform.Member `json:"users"`
	}{nonNil(list)})
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req platform.CreateUserRequest
	if err := decodeJSON(w, r, &req, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	m, secret, err := s.cp.CreateUser(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createdUser{User: m, Secret: secret})
	return nil
}

// createdUser is the answer of POST /v1/users: the member and the secret of their first
// token, shown only this once.
type createdUser struct {
	User   *platform.Member `json:"user"`
	Secret string           `json:"secret"`
}

// setRoleRequest is the body of PUT /v1/users/{login}/role.
type setRoleRequest struct {
	Role platform.Role `json:"role"`
}

func (s *Server) setUserRole(w http.ResponseWriter, r *http.Request) error {
	var req setRoleRequest
	if err := decodeJSON(w, r, &req, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	m, err := s.cp.SetUserRole(r.Context(), chi.URLParam(r, "login"), req.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (s *Server) setUserDisabled(disabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		m, err := s.cp.SetUserDisabled(r.Context(), chi.URLParam(r, "login"), disabled)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, m)
		return nil
	}
}

// auditPage is the answer of GET /v1/audit. NextBefore, when not 0, is the `before` of
// the next (older) page.
type auditPage struct {
	Entries    []*platform.AuditEntry `json:"entries"`
	NextBefore int64                  `json:"next_before,omitempty"`
}

// listAudit serves GET /v1/audit?actor=&action=&since=&before=&limit=. since is an
// RFC 3339 time or a Go duration back from now ("24h").
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := platform.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action")}
	var problems []string
	if v := q.Get("since"); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			f.Since = t
		} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
			f.Since = time.Now().Add(-d)
		} else {
			problems = append(problems, "since "+strconv.Quote(v)+": want an RFC 3339 time or a duration such as 24h")
		}
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			problems = append(problems, "before "+strconv.Quote(v)+": want a non-negative entry id")
		}
		f.BeforeID = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			problems = append(problems, "limit "+strconv.Quote(v)+": want 1 to 1000")
		}
		f.Limit = n
	}
	if len(problems) > 0 {
		return platform.Errorf(platform.EINVALID, "invalid audit query: %s", strings.Join(problems, "; "))
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	list, err := s.cp.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	page := auditPage{Entries: nonNil(list)}
	if len(list) == f.Limit {
		page.NextBefore = list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// gitHubLinks is the body and answer of /v1/org/github.
type gitHubLinks struct {
	Links []*platform.GitHubLink `json:"links"`
}

func (s *Server) gitHubLinks(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.GitHubLinks(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, gitHubLinks{nonNil(list)})
	return nil
}

func (s *Server) setGitHubLinks(w http.ResponseWriter, r *http.Request) error {
	var req gitHubLinks
	if err := decodeJSON(w, r, &req, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	list, err := s.cp.SetGitHubLinks(r.Context(), req.Links)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, gitHubLinks{nonNil(list)})
	return nil
}
