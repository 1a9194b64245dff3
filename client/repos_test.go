package client

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// TestGitOpsRequests covers rollback, repository links and the GitHub Actions token
// exchange: the request sent and the answer decoded.
func TestGitOpsRequests(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	link := `{"id":"l-1","namespace":"acme","repo":"acme/services","branch":"main","previews":true,"created_at":"2026-01-02T03:04:05Z",` +
		`"last_delivery":{"id":"d-1","link_id":"l-1","event":"push","status":"done","attempts":1,"received_at":"2026-01-02T03:04:05Z"}}`
	wantLink := &platform.RepoLink{ID: "l-1", Namespace: "acme", Repo: "acme/services", Branch: "main", Previews: true, CreatedAt: created,
		LastDelivery: &platform.Delivery{ID: "d-1", LinkID: "l-1", Event: "push", Status: platform.DeliveryDone, Attempts: 1, ReceivedAt: created}}
	tests := []struct {
		name     string
		token    string
		status   int
		response string
		call     func(*Client) (any, error)
		want     recorded
		wantOut  any
	}{
		{
			name: "rollback to a version", token: "tok", status: 201,
			response: `{"id":"r-5","version":"v5","status":"pending","origin":{"kind":"rollback","rollback_of":"v3"}}`,
			call:     func(c *Client) (any, error) { return c.Rollback(context.Background(), "acme", "hello", "v3") },
			want: recorded{Method: "POST", Path: "/v1/namespaces/acme/services/hello/rollback", Auth: "Bearer tok",
				ContentType: "application/json", Body: `{"version":"v3"}`},
			wantOut: &platform.Release{ID: "r-5", Version: "v5", Status: platform.ReleasePending,
				Origin: &platform.ReleaseOrigin{Kind: platform.OriginRollback, RollbackOf: "v3"}},
		},
		{
			name: "rollback to the previous release", token: "tok", status: 201, response: `{"id":"r-5"}`,
			call: func(c *Client) (any, error) { return c.Rollback(context.Background(), "acme", "hello", "") },
			want: recorded{Method: "POST", Path: "/v1/namespaces/acme/services/hello/rollback", Auth: "Bearer tok",
				ContentType: "application/json", Body: `{}`},
			wantOut: &platform.Release{ID: "r-5"},
		},
		{
			name: "link a repository", token: "tok", status: 201,
			response: `{"link":` + link + `,"setup":{"webhook_url":"https://p.example.com/webhooks/github/links/l-1","webhook_secret":"whsec","hook_installed":true}}`,
			call: func(c *Client) (any, error) {
				l, s, err := c.LinkRepo(context.Background(), platform.LinkRepoRequest{Namespace: "acme", Repo: "acme/services", Path: "services", NoPreviews: true})
				return []any{l, s}, err
			},
			want: recorded{Method: "POST", Path: "/v1/namespaces/acme/repos", Auth: "Bearer tok", ContentType: "application/json",
				Body: `{"namespace":"acme","repo":"acme/services","path":"services","no_previews":true}`},
			wantOut: []any{wantLink, &platform.LinkSetup{WebhookURL: "https://p.example.com/webhooks/github/links/l-1", WebhookSecret: "whsec", HookInstalled: true}},
		},
		{
			name: "list the links of a namespace", token: "tok", status: 200, response: `{"links":[` + link + `]}`,
			call:    func(c *Client) (any, error) { return c.ListRepoLinks(context.Background(), "acme") },
			want:    recorded{Method: "GET", Path: "/v1/namespaces/acme/repos", Auth: "Bearer tok"},
			wantOut: []*platform.RepoLink{wantLink},
		},
		{
			name: "list the links of every namespace", token: "tok", status: 200, response: `{"links":[]}`,
			call:    func(c *Client) (any, error) { return c.ListRepoLinks(context.Background(), "") },
			want:    recorded{Method: "GET", Path: "/v1/repos", Auth: "Bearer tok"},
			wantOut: []*platform.RepoLink{},
		},
		{
			name: "unlink", token: "tok", status: 204,
			call: func(c *Client) (any, error) { return nil, c.UnlinkRepo(context.Background(), "acme", "l-1") },
			want: recorded{Method: "DELETE", Path: "/v1/namespaces/acme/repos/l-1", Auth: "Bearer tok"},
		},
		{
			name: "exchange a GitHub Actions token without a platform token", status: 201,
			response: `{"token":{"id":"t-9","name":"github-actions","role":"developer","admin":false,"namespaces":["acme"],"created_at":"2026-01-02T03:04:05Z"},"secret":"mp_x","namespace":"acme"}`,
			call:     func(c *Client) (any, error) { return c.ExchangeActionsToken(context.Background(), "a.b.c") },
			want:     recorded{Method: "POST", Path: "/v1/auth/github-actions", ContentType: "application/json", Body: `{"token":"a.b.c"}`},
			wantOut: &platform.ActionsToken{Token: &platform.Token{ID: "t-9", Name: "github-actions", Role: platform.RoleDeveloper,
				Namespaces: []string{"acme"}, CreatedAt: created}, Secret: "mp_x", Namespace: "acme"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.response == "" {
					w.WriteHeader(tt.status)
					return
				}
				writeJSON(w, tt.status, tt.response)
			})
			var opts []Option
			if tt.token != "" {
				opts = append(opts, WithToken(tt.token))
			}
			out, err := tt.call(New(srv.URL, opts...))
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if len(*reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(*reqs))
			}
			got := (*reqs)[0]
			got.UA = ""
			if got != tt.want {
				t.Errorf("request = %+v\nwant      %+v", got, tt.want)
			}
			if tt.wantOut != nil && !reflect.DeepEqual(out, tt.wantOut) {
				t.Errorf("out = %#v\nwant  %#v", out, tt.wantOut)
			}
		})
	}
}

// TestGitOpsAnswersWithoutTheirFields checks that an answer missing what the API
// promises is EUNAVAILABLE, not a nil link or token handed to the caller.
func TestGitOpsAnswersWithoutTheirFields(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 201, `{}`) })
	c := New(srv.URL, WithToken("tok"))
	if _, _, err := c.LinkRepo(context.Background(), platform.LinkRepoRequest{Namespace: "acme", Repo: "a/b"}); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("LinkRepo: %v, want unavailable", err)
	}
	if _, err := c.ExchangeActionsToken(context.Background(), "a.b.c"); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("ExchangeActionsToken: %v, want unavailable", err)
	}
}
