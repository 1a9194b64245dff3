package http_test

import (
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// TestGitOpsRoutes covers rollback, repository links and the GitHub Actions token
// exchange: status, body and what the ControlPlane was asked.
func TestGitOpsRoutes(t *testing.T) {
	t.Parallel()
	const ts0 = `"2026-01-02T03:04:05Z"`
	link := `{"id":"l-1","namespace":"acme","repo":"acme/services","branch":"main","previews":true,"created_at":` + ts0 + `}`
	rollback := `{"id":"r-1","namespace":"acme","service":"hello","version":"v3","build_id":"b-1","replicas":1,"status":"pending",` +
		`"origin":{"kind":"rollback","rollback_of":"v1"},"created_at":` + ts0 + `,"updated_at":` + ts0 + `}`
	tests := []struct {
		name       string
		method     string
		path       string
		secret     string
		body       string
		wantStatus int
		wantBody   string // JSON compared by value; "" means an empty body
		wantCall   string
		wantArg    any
	}{
		{name: "rollback to a version", method: "POST", path: "/v1/namespaces/acme/services/hello/rollback", secret: adminSecret, body: `{"version":"v1"}`,
			wantStatus: 201, wantBody: rollback, wantCall: "Rollback", wantArg: []string{"hello", "v1"}},
		{name: "rollback without a body goes back one release", method: "POST", path: "/v1/namespaces/acme/services/hello/rollback", secret: adminSecret,
			wantStatus: 201, wantBody: rollback, wantCall: "Rollback", wantArg: []string{"hello", ""}},
		{name: "list links of every namespace encodes none as []", method: "GET", path: "/v1/repos", secret: adminSecret,
			wantStatus: 200, wantBody: `{"links":[]}`, wantCall: "ListRepoLinks", wantArg: ""},
		{name: "list links of a namespace", method: "GET", path: "/v1/namespaces/acme/repos", secret: adminSecret,
			wantStatus: 200, wantBody: `{"links":[` + link + `]}`, wantCall: "ListRepoLinks", wantArg: "acme"},
		{name: "link a repository", method: "POST", path: "/v1/namespaces/acme/repos", secret: adminSecret,
			body:       `{"repo":"acme/services","branch":"main","path":"services/","no_previews":true}`,
			wantStatus: 201, wantCall: "LinkRepo",
			wantBody: `{"link":` + link + `,"setup":{"webhook_url":"https://platform.example.com/webhooks/github/links/l-1","webhook_secret":"new-secret",` +
				`"hook_installed":false,"note":"add it by hand"}}`,
			wantArg: platform.LinkRepoRequest{Namespace: "acme", Repo: "acme/services", Branch: "main", Path: "services/", NoPreviews: true}},
		{name: "unlink a repository", method: "DELETE", path: "/v1/namespaces/acme/repos/l-1", secret: adminSecret,
			wantStatus: 204, wantCall: "UnlinkRepo", wantArg: "l-1"},
		{name: "GitHub Actions token without a platform token", method: "POST", path: "/v1/auth/github-actions", body: `{"token":"eyJhbGciOi.jwt.sig"}`,
			wantStatus: 201, wantCall: "ExchangeActionsToken", wantArg: "eyJhbGciOi.jwt.sig",
			wantBody: `{"token":{"id":"t-9","name":"github-actions acme/services 42","role":"developer","admin":false,"namespaces":["acme"],"created_at":` + ts0 + `},` +
				`"secret":"new-secret","namespace":"acme"}`},
		{name: "GitHub Actions token ignores a stale platform token", method: "POST", path: "/v1/auth/github-actions", secret: "revoked-long-ago",
			body: `{"token":"eyJhbGciOi.jwt.sig"}`, wantStatus: 201, wantCall: "ExchangeActionsToken", wantArg: "eyJhbGciOi.jwt.sig",
			wantBody: `{"token":{"id":"t-9","name":"github-actions acme/services 42","role":"developer","admin":false,"namespaces":["acme"],"created_at":` + ts0 + `},` +
				`"secret":"new-secret","namespace":"acme"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := &fakeControlPlane{tokenSec: "new-secret"}
			ts := newTestServer(t, cp, nil)
			resp, got := ts.do(t, tt.method, tt.path, tt.secret, strings.NewReader(tt.body))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, got)
			}
			if tt.wantBody == "" {
				if len(got) != 0 {
					t.Errorf("body = %q, want empty", got)
				}
			} else {
				assertJSONEqual(t, got, tt.wantBody)
			}
			if calls := cp.Calls(); len(calls) != 1 || calls[0] != tt.wantCall {
				t.Fatalf("ControlPlane calls = %v, want [%s]", calls, tt.wantCall)
			}
			if !reflect.DeepEqual(cp.LastArg(), tt.wantArg) {
				t.Errorf("ControlPlane got %#v, want %#v", cp.LastArg(), tt.wantArg)
			}
		})
	}
}

// TestGitOpsRouteRefusals covers the requests refused before or by the ControlPlane.
func TestGitOpsRouteRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cp         *fakeControlPlane
		method     string
		path       string
		secret     string
		body       string
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{name: "link with another namespace in the body", method: "POST", path: "/v1/namespaces/acme/repos", secret: adminSecret,
			body: `{"namespace":"globex","repo":"acme/services"}`, wantStatus: 400, wantCode: platform.EINVALID, wantMsg: `body names namespace "globex"`},
		{name: "link outside the token's namespaces", method: "POST", path: "/v1/namespaces/globex/repos", secret: scopedSecret,
			body: `{"repo":"acme/services"}`, wantStatus: 403, wantCode: platform.EFORBIDDEN},
		{name: "rollback with an unknown field", method: "POST", path: "/v1/namespaces/acme/services/hello/rollback", secret: adminSecret,
			body: `{"versoin":"v1"}`, wantStatus: 400, wantCode: platform.EINVALID, wantMsg: "versoin"},
		{name: "rollback without a token", method: "POST", path: "/v1/namespaces/acme/services/hello/rollback",
			wantStatus: 401, wantCode: platform.EUNAUTHENTICATED},
		{name: "GitHub Actions exchange without a token in the body", method: "POST", path: "/v1/auth/github-actions",
			body: `{}`, wantStatus: 400, wantCode: platform.EINVALID, wantMsg: "token is required"},
		{name: "GitHub Actions exchange over 16 KiB", method: "POST", path: "/v1/auth/github-actions",
			body: `{"token":"` + strings.Repeat("a", 16<<10) + `"}`, wantStatus: 413, wantCode: platform.EINVALID},
		{name: "GitHub Actions token refused", cp: &fakeControlPlane{err: platform.Errorf(platform.EUNAUTHENTICATED, "GitHub Actions token refused: token expired")},
			method: "POST", path: "/v1/auth/github-actions", body: `{"token":"x.y.z"}`, wantStatus: 401, wantCode: platform.EUNAUTHENTICATED, wantMsg: "token expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := tt.cp
			if cp == nil {
				cp = &fakeControlPlane{}
			}
			ts := newTestServer(t, cp, nil)
			resp, got := ts.do(t, tt.method, tt.path, tt.secret, bytes.NewReader([]byte(tt.body)))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, got)
			}
			e := mustErrorBody(t, resp, got)
			if e.Code != tt.wantCode || !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("error %s %q, want %s containing %q", e.Code, e.Message, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

// TestActionsTokenExchangeKeepsTheClientAddress checks that the exchange, which runs
// without the API's authentication, still gives the ControlPlane the client's address
// for the audit of a refusal.
func TestActionsTokenExchangeKeepsTheClientAddress(t *testing.T) {
	t.Parallel()
	cp := &fakeControlPlane{tokenSec: "new-secret"}
	ts := newTestServer(t, cp, nil)
	resp, body := ts.do(t, "POST", "/v1/auth/github-actions", "", strings.NewReader(`{"token":"x.y.z"}`))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d; body %s", resp.StatusCode, body)
	}
	ctxs := cp.StreamContexts()
	if len(ctxs) != 1 || !strings.HasPrefix(platform.SourceFromContext(ctxs[0]), "127.0.0.1:") {
		t.Fatalf("ControlPlane saw source %q, want the client's address", platform.SourceFromContext(ctxs[0]))
	}
	if platform.TokenFromContext(ctxs[0]) != nil {
		t.Fatal("the exchange ran with a platform token in its context")
	}
}
