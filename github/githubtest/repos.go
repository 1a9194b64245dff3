package githubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is a commit status the fake recorded.
type Status struct {
	ID                                     int64
	State, Context, Description, TargetURL string
	Creator                                string // login of the token's user
	CreatedAt                              time.Time
}

// Comment is a comment on an issue or pull request.
type Comment struct {
	ID                   int64
	Body                 string
	User                 string // login of the author
	CreatedAt, UpdatedAt time.Time
}

// Hook is a repository webhook as set, secret included (GitHub's answers mask it), so
// that a test can sign deliveries with it.
type Hook struct {
	ID                       int64
	URL, ContentType, Secret string
	Events                   []string
	Active                   bool
}

// repoState is the fake's repositories, guarded by Fake.mu. Every repository exists
// and every token may use it, unless DenyRepo or ForbidRepo says otherwise.
type repoState struct {
	denied   map[string]int        // repo → 404 or 403
	statuses map[string][]Status   // repo@sha
	comments map[string][]*Comment // repo#n
	hooks    map[string][]*Hook    // repo
}

// maxStatusDescription is GitHub's limit on a commit status's description.
const maxStatusDescription = 140

// routeRepos serves the repositories API the platform uses for GitOps: commit
// statuses, issue comments and webhooks.
func (f *Fake) routeRepos(mux *http.ServeMux) {
	for pattern, h := range map[string]func(http.ResponseWriter, *http.Request, *User, string){
		"GET /api/v3/repos/{owner}/{repo}":                        f.getRepo,
		"POST /api/v3/repos/{owner}/{repo}/statuses/{sha}":        f.createStatus,
		"GET /api/v3/repos/{owner}/{repo}/issues/{n}/comments":    f.listComments,
		"POST /api/v3/repos/{owner}/{repo}/issues/{n}/comments":   f.createComment,
		"PATCH /api/v3/repos/{owner}/{repo}/issues/comments/{id}": f.editComment,
		"GET /api/v3/repos/{owner}/{repo}/hooks":                  f.listHooks,
		"POST /api/v3/repos/{owner}/{repo}/hooks":                 f.createHook,
		"PATCH /api/v3/repos/{owner}/{repo}/hooks/{id}":           f.editHook,
		"DELETE /api/v3/repos/{owner}/{repo}/hooks/{id}":          f.deleteHook,
	} {
		mux.HandleFunc(pattern, f.api(f.repoAPI(h)))
	}
}

// DenyRepo makes every call on repo ("owner/name") answer 404, as GitHub does to a
// token that cannot see the repository.
func (f *Fake) DenyRepo(repo string) { f.setRepoAccess(repo, http.StatusNotFound) }

// ForbidRepo makes every call on repo answer 403, as GitHub does to a token that can
// see the repository but lacks the permission.
func (f *Fake) ForbidRepo(repo string) { f.setRepoAccess(repo, http.StatusForbidden) }

// AllowRepo undoes DenyRepo and ForbidRepo.
func (f *Fake) AllowRepo(repo string) { f.setRepoAccess(repo, 0) }

func (f *Fake) setRepoAccess(repo string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.reposLocked()
	if status == 0 {
		delete(s.denied, strings.ToLower(repo))
		return
	}
	s.denied[strings.ToLower(repo)] = status
}

// Statuses returns the statuses set on sha of repo, oldest first.
func (f *Fake) Statuses(repo, sha string) []Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reposLocked().statuses[strings.ToLower(repo)+"@"+sha])
}

// Comments returns the comments of issue or pull request pr of repo, oldest first.
func (f *Fake) Comments(repo string, pr int) []Comment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Comment
	for _, c := range f.reposLocked().comments[commentsKey(strings.ToLower(repo), pr)] {
		out = append(out, *c)
	}
	return out
}

// Hooks returns the webhooks of repo, secrets included.
func (f *Fake) Hooks(repo string) []Hook {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Hook
	for _, h := range f.reposLocked().hooks[strings.ToLower(repo)] {
		c := *h
		c.Events = slices.Clone(h.Events)
		out = append(out, c)
	}
	return out
}

func (f *Fake) reposLocked() *repoState {
	if f.repos.denied == nil {
		f.repos = repoState{denied: map[string]int{}, statuses: map[string][]Status{}, comments: map[string][]*Comment{}, hooks: map[string][]*Hook{}}
	}
	return &f.repos
}

func commentsKey(repo string, n int) string { return repo + "#" + strconv.Itoa(n) }

// repoAPI wraps a repository endpoint: it answers 404 or 403 for a denied repository
// and passes the others the repository's key, "owner/name" in lower case.
func (f *Fake) repoAPI(h func(http.ResponseWriter, *http.Request, *User, string)) func(http.ResponseWriter, *http.Request, *User) {
	return func(w http.ResponseWriter, r *http.Request, u *User) {
		repo := strings.ToLower(r.PathValue("owner") + "/" + r.PathValue("repo"))
		f.mu.Lock()
		status := f.reposLocked().denied[repo]
		f.mu.Unlock()
		switch status {
		case http.StatusNotFound:
			notFound(w)
		case http.StatusForbidden:
			writeJSON(w, http.StatusForbidden, map[string]string{"message": "Resource not accessible by personal access token", "documentation_url": "https://docs.github.com/rest"})
		default:
			h(w, r, u, repo)
		}
	}
}

func (f *Fake) getRepo(w http.ResponseWriter, r *http.Request, _ *User, repo string) {
	owner, name, _ := strings.Cut(repo, "/")
	writeJSON(w, http.StatusOK, map[string]any{
		"id": 4242, "name": name, "full_name": owner + "/" + name, "owner": map[string]any{"login": owner},
		"private": true, "default_branch": "main", "html_url": f.URL + "/" + owner + "/" + name,
	})
}

func (f *Fake) createStatus(w http.ResponseWriter, r *http.Request, u *User, repo string) {
	var req struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if !decode(w, r, &req) {
		return
	}
	switch {
	case !slices.Contains([]string{"pending", "success", "failure", "error"}, req.State):
		validationFailed(w, "Status", "state", "custom", "state is not included in the list")
		return
	case utf8.RuneCountInString(req.Description) > maxStatusDescription:
		validationFailed(w, "Status", "description", "custom", fmt.Sprintf("description is too long (maximum is %d characters)", maxStatusDescription))
		return
	}
	if req.Context == "" {
		req.Context = "default"
	}
	f.mu.Lock()
	f.nextID++
	s := Status{ID: f.nextID, State: req.State, Context: req.Context, Description: req.Description, TargetURL: req.TargetURL, Creator: u.Login, CreatedAt: time.Now().UTC()}
	key, st := repo+"@"+r.PathValue("sha"), f.reposLocked()
	st.statuses[key] = append(st.statuses[key], s)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": s.ID, "url": f.APIURL() + "repos/" + repo + "/statuses/" + r.PathValue("sha"), "state": s.State,
		"description": s.Description, "target_url": s.TargetURL, "context": s.Context,
		"created_at": s.CreatedAt, "updated_at": s.CreatedAt, "creator": userJSON(u),
	})
}

func (f *Fake) listComments(w http.ResponseWriter, r *http.Request, _ *User, repo string) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		notFound(w)
		return
	}
	f.mu.Lock()
	var out []any
	for _, c := range f.reposLocked().comments[commentsKey(repo, n)] {
		out = append(out, f.commentJSONLocked(repo, n, c))
	}
	f.mu.Unlock()
	f.page(w, r, out)
}

func (f *Fake) createComment(w http.ResponseWriter, r *http.Request, u *User, repo string) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		notFound(w)
		return
	}
	var req struct {
		Body string `json:"body"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Body == "" {
		validationFailed(w, "IssueComment", "body", "missing_field", "body is missing")
		return
	}
	f.mu.Lock()
	f.nextID++
	now := time.Now().UTC()
	c := &Comment{ID: f.nextID, Body: req.Body, User: u.Login, CreatedAt: now, UpdatedAt: now}
	key, st := commentsKey(repo, n), f.reposLocked()
	st.comments[key] = append(st.comments[key], c)
	body := f.commentJSONLocked(repo, n, c)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, body)
}

// editComment edits any comment of the repository: on GitHub, anyone with write access
// may.
func (f *Fake) editComment(w http.ResponseWriter, r *http.Request, _ *User, repo string) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		notFound(w)
		return
	}
	var req struct {
		Body string `json:"body"`
	}
	if !decode(w, r, &req) {
		return
	}
	if req.Body == "" {
		validationFailed(w, "IssueComment", "body", "missing_field", "body is missing")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for key, cs := range f.reposLocked().comments {
		prefix, num, _ := strings.Cut(key, "#")
		if prefix != repo {
			continue
		}
		for _, c := range cs {
			if c.ID == id {
				c.Body, c.UpdatedAt = req.Body, time.Now().UTC()
				n, _ := strconv.Atoi(num)
				writeJSON(w, http.StatusOK, f.commentJSONLocked(repo, n, c))
				return
			}
		}
	}
	notFound(w)
}

func (f *Fake) commentJSONLocked(repo string, n int, c *Comment) map[string]any {
	user := map[string]any{"login": c.User, "type": "User"}
	if u := f.users[strings.ToLower(c.User)]; u != nil {
		user = userJSON(u)
	}
	return map[string]any{
		"id": c.ID, "url": fmt.Sprintf("%srepos/%s/issues/comments/%d", f.APIURL(), repo, c.ID),
		"html_url":  fmt.Sprintf("%s/%s/pull/%d#issuecomment-%d", f.URL, repo, n, c.ID),
		"issue_url": fmt.Sprintf("%srepos/%s/issues/%d", f.APIURL(), repo, n),
		"body":      c.Body, "user": user, "created_at": c.CreatedAt, "updated_at": c.UpdatedAt,
	}
}

// hookRequest is the body of POST and PATCH .../hooks.
type hookRequest struct {
	Name   string   `json:"name"`
	Active *bool    `json:"active"`
	Events []string `json:"events"`
	Config *struct {
		URL         string `json:"url"`
		ContentType string `json:"content_type"`
		Secret      string `json:"secret"`
		InsecureSSL any    `json:"insecure_ssl"`
	} `json:"config"`
}

func (f *Fake) listHooks(w http.ResponseWriter, r *http.Request, _ *User, repo string) {
	f.mu.Lock()
	var out []any
	for _, h := range f.reposLocked().hooks[repo] {
		out = append(out, f.hookJSON(repo, h))
	}
	f.mu.Unlock()
	f.page(w, r, out)
}

func (f *Fake) createHook(w http.ResponseWriter, r *http.Request, _ *User, repo string) {
	var req hookRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Name != "" && req.Name != "web" {
		validationFailed(w, "Hook", "name", "invalid", "name must be web")
		return
	}
	if req.Config == nil || req.Config.URL == "" {
		validationFailed(w, "Hook", "config", "custom", "Config must contain URL for webhooks")
		return
	}
	h := &Hook{URL: req.Config.URL, ContentType: req.Config.ContentType, Secret: req.Config.Secret, Events: req.Events, Active: true}
	if h.ContentType == "" {
		h.ContentType = "form"
	}
	if len(h.Events) == 0 {
		h.Events = []string{"push"}
	}
	if req.Active != nil {
		h.Active = *req.Active
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.reposLocked()
	if slices.ContainsFunc(s.hooks[repo], func(o *Hook) bool { return o.URL == h.URL }) {
		validationFailed(w, "Hook", "", "custom", "Hook already exists on this repository")
		return
	}
	f.nextID++
	h.ID = f.nextID
	s.hooks[repo] = append(s.hooks[repo], h)
	writeJSON(w, http.StatusCreated, f.hookJSON(repo, h))
}

// editHook replaces the config when one is sent (secret included: one left out is
// removed), the events and active when sent.
func (f *Fake) editHook(w http.ResponseWriter, r *http.Request, _ *User, repo string) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		notFound(w)
		return
	}
	var req hookRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Config != nil && req.Config.URL == "" {
		validationFailed(w, "Hook", "config", "custom", "Config must contain URL for webhooks")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	hooks := f.reposLocked().hooks[repo]
	i := slices.IndexFunc(hooks, func(h *Hook) bool { return h.ID == id })
	if i < 0 {
		notFound(w)
		return
	}
	h := hooks[i]
	if req.Config != nil {
		h.URL, h.ContentType, h.Secret = req.Config.URL, req.Config.ContentType, req.Config.Secret
		if h.ContentType == "" {
			h.ContentType = "form"
		}
	}
	if req.Events != nil {
		h.Events = req.Events
	}
	if req.Active != nil {
		h.Active = *req.Active
	}
	writeJSON(w, http.StatusOK, f.hookJSON(repo, h))
}

func (f *Fake) deleteHook(w http.ResponseWriter, r *http.Request, _ *User, repo string) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		notFound(w)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.reposLocked()
	i := slices.IndexFunc(s.hooks[repo], func(h *Hook) bool { return h.ID == id })
	if i < 0 {
		notFound(w)
		return
	}
	s.hooks[repo] = slices.Delete(s.hooks[repo], i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

// hookJSON is a hook as GitHub answers it: the secret masked.
func (f *Fake) hookJSON(repo string, h *Hook) map[string]any {
	config := map[string]any{"url": h.URL, "content_type": h.ContentType, "insecure_ssl": "0"}
	if h.Secret != "" {
		config["secret"] = "********"
	}
	self := fmt.Sprintf("%srepos/%s/hooks/%d", f.APIURL(), repo, h.ID)
	return map[string]any{
		"type": "Repository", "id": h.ID, "name": "web", "active": h.Active, "events": h.Events, "config": config,
		"url": self, "test_url": self + "/test", "ping_url": self + "/pings", "deliveries_url": self + "/deliveries",
	}
}

// decode reads a JSON body, answering 400 as GitHub does when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON", "documentation_url": "https://docs.github.com/rest"})
		return false
	}
	return true
}

func validationFailed(w http.ResponseWriter, resource, field, code, message string) {
	e := map[string]string{"resource": resource, "code": code, "message": message}
	if field != "" {
		e["field"] = field
	}
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "errors": []any{e}, "documentation_url": "https://docs.github.com/rest",
	})
}

func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
}
