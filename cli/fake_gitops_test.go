package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// Fixtures of the fake's releases and repository links.
const (
	digestV3 = "sha256:3c1f0a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a"
	digestV4 = "sha256:4d2e1b0a9c8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d"
	commitV3 = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
	commitV4 = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	linkID   = "l-1a2b3c4d"
	secretWH = "whsec-0123456789abcdef"
)

// fakeReleases are hello's releases, newest first: one of each origin.
func fakeReleases() []*platform.Release {
	rel := func(v string, st platform.ReleaseStatus, digest string, o *platform.ReleaseOrigin, at time.Time) *platform.Release {
		return &platform.Release{ID: "r-" + strings.TrimPrefix(v, "v"), Namespace: "acme", Service: "hello", Version: v, BuildID: "b-" + v,
			Replicas: 1, Status: st, Digest: digest, Origin: o, CreatedAt: at, UpdatedAt: at}
	}
	return []*platform.Release{
		rel("v5", platform.ReleaseLive, digestV3, &platform.ReleaseOrigin{Kind: platform.OriginRollback, RollbackOf: "v3", User: "alice",
			Repo: "acme/services", Commit: commitV3, Author: "bob"}, t1.Add(4*time.Hour)),
		rel("v4", platform.ReleaseSuperseded, digestV4, &platform.ReleaseOrigin{Kind: platform.OriginPush, Repo: "acme/services",
			Ref: "refs/heads/main", Commit: commitV4, Author: "carol", Delivery: "d-1"}, t1.Add(3*time.Hour)),
		rel("v3", platform.ReleaseSuperseded, digestV3, &platform.ReleaseOrigin{Kind: platform.OriginDeploy, User: "alice", Repo: "acme/services",
			Commit: commitV3, Author: "bob"}, t1.Add(2*time.Hour)),
		rel("v2", platform.ReleaseFailed, "", &platform.ReleaseOrigin{Kind: platform.OriginPullRequest, PR: 42, Commit: "abcdef0123456789", Author: "dave"}, t1.Add(time.Hour)),
		rel("v1", platform.ReleaseSuperseded, "", nil, t0),
	}
}

// fakeLinks are the repository links of acme and globex; the newest delivery of the
// first was received five minutes before the request.
func fakeLinks(now time.Time) []*platform.RepoLink {
	done := now.Add(-5 * time.Minute)
	return []*platform.RepoLink{
		{ID: linkID, Namespace: "acme", Repo: "acme/services", Branch: "main", Path: "services", HookID: 4242, Previews: true, CreatedAt: t0,
			LastDelivery: &platform.Delivery{ID: "d-1", LinkID: linkID, Event: "push", Status: platform.DeliveryDone, Attempts: 1, ReceivedAt: done, DoneAt: &done}},
		{ID: "l-5e6f7a8b", Namespace: "globex", Repo: "globex/api", Branch: "release", CreatedAt: t1},
	}
}

// gitopsRoutes serves releases, rollback and repository links for namespace acme.
func (f *fakeAPI) gitopsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/namespaces/{ns}/services/{svc}/releases", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		list := []*platform.Release{}
		if r.PathValue("svc") == "hello" {
			list = fakeReleases()
		}
		writeJSON(w, 200, map[string]any{"releases": list})
	}))
	mux.HandleFunc("POST /v1/namespaces/{ns}/services/{svc}/rollback", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Version string `json:"version"`
		}
		_ = json.Unmarshal(f.body(r), &body)
		if svc := r.PathValue("svc"); svc != "hello" {
			writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("service %q not found in namespace %q", svc, "acme"), "")
			return
		}
		to := body.Version
		if to == "" {
			to = "v3" // the release live before the current one
		}
		if to != "v3" && to != "v4" {
			writeError(w, 404, platform.ENOTFOUND, "service hello has no release "+to, "`platform releases hello -n acme` lists its versions")
			return
		}
		writeJSON(w, 201, platform.Release{ID: "r-5", Namespace: "acme", Service: "hello", Version: "v5", BuildID: "b-" + to, Replicas: 1,
			Status: platform.ReleasePending, Digest: digestV3, Origin: &platform.ReleaseOrigin{Kind: platform.OriginRollback, RollbackOf: to, User: "admin"},
			CreatedAt: t1, UpdatedAt: t1})
	}))
	mux.HandleFunc("GET /v1/repos", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"links": fakeLinks(time.Now())})
	})
	mux.HandleFunc("GET /v1/namespaces/{ns}/repos", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"links": fakeLinks(time.Now())[:1]})
	}))
	mux.HandleFunc("POST /v1/namespaces/{ns}/repos", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		var req platform.LinkRepoRequest
		_ = json.Unmarshal(f.body(r), &req)
		if req.Repo == "acme/services" && req.Branch == "main" {
			writeError(w, 409, platform.ECONFLICT, "namespace acme already links acme/services@main", "")
			return
		}
		link := &platform.RepoLink{ID: "l-9c8b7a6f", Namespace: req.Namespace, Repo: req.Repo, Branch: req.Branch, Path: strings.Trim(req.Path, "/"),
			CloneURL: req.CloneURL, Previews: !req.NoPreviews, CreatedBy: "u-admin", CreatedAt: t1}
		setup := &platform.LinkSetup{WebhookURL: "https://platform.example.com/webhooks/github/links/" + link.ID, WebhookSecret: secretWH}
		if req.Repo == "acme/hooked" {
			link.HookID, setup.HookInstalled = 99, true
		} else {
			setup.Note = "the platform has no GitHub token (github.repo_token): add the webhook by hand"
		}
		writeJSON(w, 201, map[string]any{"link": link, "setup": setup})
	}))
	mux.HandleFunc("DELETE /v1/namespaces/{ns}/repos/{id}", f.needNS(func(w http.ResponseWriter, r *http.Request) {
		if id := r.PathValue("id"); id != linkID {
			writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("no link %q in namespace %q", id, "acme"), "`platform repos -n acme` lists the links")
			return
		}
		w.WriteHeader(204)
	}))
}
