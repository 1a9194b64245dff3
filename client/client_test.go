package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// recorded is what a test server saw of one request.
type recorded struct {
	Method, Path, Query, Auth, UA, ContentType string
	Body                                       string
}

// newServer starts a server answering every request with handler and recording it.
func newServer(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *[]recorded) {
	t.Helper()
	var reqs []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		reqs = append(reqs, recorded{
			Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), UA: r.Header.Get("User-Agent"),
			ContentType: r.Header.Get("Content-Type"), Body: string(b),
		})
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

func writeJSON(w http.ResponseWriter, status int, v string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, v)
}

func TestRequests(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	metricPoint := &platform.MetricPoint{Minute: created.Truncate(time.Minute), Requests: 7, Errors: 1, ClientErrors: 2,
		P50: 500 * time.Microsecond, P99: 64 * time.Millisecond, Mean: 3250 * time.Microsecond, Max: 60001 * time.Microsecond,
		CPU: 1.5, Memory: 1024}
	tests := []struct {
		name     string
		status   int
		response string
		call     func(*Client) (any, error)
		want     recorded
		wantOut  any
	}{
		{
			name: "create namespace", status: 201,
			response: `{"name":"acme","created_at":"2026-01-02T03:04:05Z"}`,
			call:     func(c *Client) (any, error) { return c.CreateNamespace(context.Background(), "acme") },
			want:     recorded{Method: "POST", Path: "/v1/namespaces", ContentType: "application/json", Body: `{"name":"acme"}`},
			wantOut:  &platform.Namespace{Name: "acme", CreatedAt: created},
		},
		{
			name: "create namespace in regions", status: 201,
			response: `{"name":"acme","regions":["lon1","fra1"],"created_at":"2026-01-02T03:04:05Z"}`,
			call:     func(c *Client) (any, error) { return c.CreateNamespace(context.Background(), "acme", "lon1", "fra1") },
			want:     recorded{Method: "POST", Path: "/v1/namespaces", ContentType: "application/json", Body: `{"name":"acme","regions":["lon1","fra1"]}`},
			wantOut:  &platform.Namespace{Name: "acme", Regions: []string{"lon1", "fra1"}, CreatedAt: created},
		},
		{
			name: "list namespaces", status: 200,
			response: `{"namespaces":[{"name":"acme","created_at":"2026-01-02T03:04:05Z"}]}`,
			call:     func(c *Client) (any, error) { return c.ListNamespaces(context.Background()) },
			want:     recorded{Method: "GET", Path: "/v1/namespaces"},
			wantOut:  []*platform.Namespace{{Name: "acme", CreatedAt: created}},
		},
		{
			name: "delete namespace", status: 204,
			call: func(c *Client) (any, error) { return nil, c.DeleteNamespace(context.Background(), "acme") },
			want: recorded{Method: "DELETE", Path: "/v1/namespaces/acme"},
		},
		{
			name: "upload source", status: 201, response: `{"archive":"abc123"}`,
			call: func(c *Client) (any, error) {
				return c.UploadSource(context.Background(), "acme", strings.NewReader("tgz-bytes"))
			},
			want:    recorded{Method: "POST", Path: "/v1/namespaces/acme/sources", ContentType: "application/gzip", Body: "tgz-bytes"},
			wantOut: "abc123",
		},
		{
			name: "deploy", status: 202, response: `{"id":"r-1","namespace":"acme","service":"hello","version":"v1","build_id":"b-1","replicas":2,"status":"pending","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}`,
			call: func(c *Client) (any, error) {
				return c.Deploy(context.Background(), platform.DeployRequest{
					Namespace: "acme", Service: "hello", Replicas: 2,
					Source: platform.Source{Kind: platform.SourceArchive, Archive: "abc123"},
				})
			},
			want: recorded{Method: "POST", Path: "/v1/namespaces/acme/deploys", ContentType: "application/json",
				Body: `{"namespace":"acme","service":"hello","source":{"kind":"archive","archive":"abc123"},"replicas":2}`},
			wantOut: &platform.Release{ID: "r-1", Namespace: "acme", Service: "hello", Version: "v1", BuildID: "b-1",
				Replicas: 2, Status: platform.ReleasePending, CreatedAt: created, UpdatedAt: created},
		},
		{
			name: "deploy in regions", status: 202, response: `{"id":"r-1","regions":["lon1","fra1"]}`,
			call: func(c *Client) (any, error) {
				return c.Deploy(context.Background(), platform.DeployRequest{
					Namespace: "acme", Service: "hello", Regions: []string{"lon1", "fra1"},
					Source: platform.Source{Kind: platform.SourceArchive, Archive: "abc123"},
				})
			},
			want: recorded{Method: "POST", Path: "/v1/namespaces/acme/deploys", ContentType: "application/json",
				Body: `{"namespace":"acme","service":"hello","source":{"kind":"archive","archive":"abc123"},"regions":["lon1","fra1"]}`},
			wantOut: &platform.Release{ID: "r-1", Regions: []string{"lon1", "fra1"}},
		},
		{
			name: "service in regions", status: 200,
			response: `{"namespace":"acme","name":"hello","status":"degraded","regions":["lon1","fra1"],` +
				`"per_region":[{"region":"lon1","status":"running","version":"v1","instances":2,"running":2},{"region":"fra1","status":"degraded","instances":1,"running":0,"reason":"lost"}]}`,
			call: func(c *Client) (any, error) { return c.GetService(context.Background(), "acme", "hello") },
			want: recorded{Method: "GET", Path: "/v1/namespaces/acme/services/hello"},
			wantOut: &platform.ServiceView{
				Service: platform.Service{Namespace: "acme", Name: "hello", Status: platform.ServiceDegraded, Regions: []string{"lon1", "fra1"}},
				PerRegion: []platform.ServiceRegion{
					{Region: "lon1", Status: platform.ServiceRunning, Version: "v1", Instances: 2, Running: 2},
					{Region: "fra1", Status: platform.ServiceDegraded, Instances: 1, Reason: "lost"},
				},
			},
		},
		{
			name: "list services", status: 200,
			response: `{"services":[{"namespace":"acme","name":"hello","status":"running","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","version":"v1","instances":[],"endpoints":[{"name":"Hello.Call"}]}]}`,
			call:     func(c *Client) (any, error) { return c.ListServices(context.Background(), "acme") },
			want:     recorded{Method: "GET", Path: "/v1/namespaces/acme/services"},
			wantOut: []*platform.ServiceView{{
				Service: platform.Service{Namespace: "acme", Name: "hello", Status: platform.ServiceRunning, CreatedAt: created, UpdatedAt: created},
				Version: "v1", Instances: []*platform.Instance{}, Endpoints: []platform.Endpoint{{Name: "Hello.Call"}},
			}},
		},
		{
			name: "get service escapes the name", status: 200, response: `{"namespace":"acme","name":"a b","status":"running"}`,
			call:    func(c *Client) (any, error) { return c.GetService(context.Background(), "acme", "a b") },
			want:    recorded{Method: "GET", Path: "/v1/namespaces/acme/services/a%20b"},
			wantOut: &platform.ServiceView{Service: platform.Service{Namespace: "acme", Name: "a b", Status: platform.ServiceRunning}},
		},
		{
			name: "service metrics", status: 200,
			response: `{"namespace":"acme","service":"hello","from":"2026-01-02T03:04:00Z","to":"2026-01-02T03:05:00Z",` +
				`"points":[{"minute":"2026-01-02T03:04:00Z","requests":7,"errors":1,"client_errors":2,"p50_ms":0.5,"p99_ms":64,"mean_ms":3.25,"max_ms":60.001,"cpu_cores":1.5,"memory_bytes":1024}],` +
				`"total":{"minute":"2026-01-02T03:04:00Z","requests":7,"errors":1,"client_errors":2,"p50_ms":0.5,"p99_ms":64,"mean_ms":3.25,"max_ms":60.001,"cpu_cores":1.5,"memory_bytes":1024}}`,
			call: func(c *Client) (any, error) {
				return c.ServiceMetrics(context.Background(), "acme", "hello", 90*time.Minute)
			},
			want: recorded{Method: "GET", Path: "/v1/namespaces/acme/services/hello/metrics", Query: "since=1h30m0s"},
			wantOut: &platform.ServiceMetrics{Namespace: "acme", Service: "hello", From: created.Truncate(time.Minute), To: created.Truncate(time.Minute).Add(time.Minute),
				Points: []*platform.MetricPoint{metricPoint}, Total: metricPoint},
		},
		{
			name: "service metrics of the default window", status: 200, response: `{"namespace":"acme","service":"hello","points":[]}`,
			call:    func(c *Client) (any, error) { return c.ServiceMetrics(context.Background(), "acme", "hello", 0) },
			want:    recorded{Method: "GET", Path: "/v1/namespaces/acme/services/hello/metrics"},
			wantOut: &platform.ServiceMetrics{Namespace: "acme", Service: "hello", Points: []*platform.MetricPoint{}},
		},
		{
			name: "delete service", status: 202,
			call: func(c *Client) (any, error) { return nil, c.DeleteService(context.Background(), "acme", "hello") },
			want: recorded{Method: "DELETE", Path: "/v1/namespaces/acme/services/hello"},
		},
		{
			name: "list releases", status: 200, response: `{"releases":[{"id":"r-2"},{"id":"r-1"}]}`,
			call:    func(c *Client) (any, error) { return c.ListReleases(context.Background(), "acme", "hello") },
			want:    recorded{Method: "GET", Path: "/v1/namespaces/acme/services/hello/releases"},
			wantOut: []*platform.Release{{ID: "r-2"}, {ID: "r-1"}},
		},
		{
			name: "get release", status: 200, response: `{"id":"r-1","status":"failed","reason":"no"}`,
			call:    func(c *Client) (any, error) { return c.GetRelease(context.Background(), "acme", "r-1") },
			want:    recorded{Method: "GET", Path: "/v1/namespaces/acme/releases/r-1"},
			wantOut: &platform.Release{ID: "r-1", Status: platform.ReleaseFailed, Reason: "no"},
		},
		{
			name: "get build", status: 200, response: `{"id":"b-1","status":"succeeded","source":{"kind":"git","url":"https://x/y.git"}}`,
			call: func(c *Client) (any, error) { return c.GetBuild(context.Background(), "acme", "b-1") },
			want: recorded{Method: "GET", Path: "/v1/namespaces/acme/builds/b-1"},
			wantOut: &platform.Build{ID: "b-1", Status: platform.BuildSucceeded,
				Source: platform.Source{Kind: platform.SourceGit, URL: "https://x/y.git"}},
		},
		{
			name: "events", status: 200, response: `{"events":[{"id":7,"namespace":"acme","type":"build.started","message":"m","data":{"release":"r-1"},"time":"2026-01-02T03:04:05Z"}]}`,
			call: func(c *Client) (any, error) {
				return c.Events(context.Background(), platform.EventFilter{Namespace: "acme", Service: "hello", Type: "build.", AfterID: 3, Limit: 5})
			},
			want: recorded{Method: "GET", Path: "/v1/namespaces/acme/events", Query: "after=3&limit=5&service=hello&type=build."},
			wantOut: []*platform.Event{{ID: 7, Namespace: "acme", Type: "build.started", Message: "m",
				Data: map[string]string{"release": "r-1"}, Time: created}},
		},
		{
			name: "events of a region", status: 200, response: `{"events":[{"id":8,"namespace":"acme","region":"fra1","type":"region.lost","message":"m","time":"2026-01-02T03:04:05Z"}]}`,
			call: func(c *Client) (any, error) {
				return c.Events(context.Background(), platform.EventFilter{Namespace: "acme", Region: "fra1"})
			},
			want:    recorded{Method: "GET", Path: "/v1/namespaces/acme/events", Query: "region=fra1"},
			wantOut: []*platform.Event{{ID: 8, Namespace: "acme", Region: "fra1", Type: platform.EventRegionLost, Message: "m", Time: created}},
		},
		{
			name: "list regions", status: 200,
			response: `{"regions":[{"name":"fra1","provider":"local","health":"connected","last_seen":"2026-01-02T03:04:05Z","agent_version":"v1.2.3",` +
				`"services":2,"runtime":"local","cpu_millis":4000,"memory_mb":8192,"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}]}`,
			call: func(c *Client) (any, error) { return c.ListRegions(context.Background()) },
			want: recorded{Method: "GET", Path: "/v1/regions"},
			wantOut: []*platform.Region{{Name: "fra1", Provider: "local", Health: platform.RegionConnected, LastSeen: &created, AgentVersion: "v1.2.3",
				Services: 2, Runtime: "local", CPUMillis: 4000, MemoryMB: 8192, CreatedAt: created, UpdatedAt: created}},
		},
		{
			name: "issue region token", status: 201, response: `{"region":"fra1","token":"mp_region"}`,
			call:    func(c *Client) (any, error) { return c.IssueRegionToken(context.Background(), "fra1") },
			want:    recorded{Method: "POST", Path: "/v1/regions/fra1/token"},
			wantOut: "mp_region",
		},
		{
			name: "call", status: 200, response: `{"msg":"Hello Alice"}`,
			call: func(c *Client) (any, error) {
				out, err := c.Call(context.Background(), "acme", "hello", "Hello.Call", json.RawMessage(`{"name":"Alice"}`), "v2")
				return string(out), err
			},
			want: recorded{Method: "POST", Path: "/v1/namespaces/acme/call", ContentType: "application/json",
				Body: `{"service":"hello","endpoint":"Hello.Call","request":{"name":"Alice"},"version":"v2"}`},
			wantOut: `{"msg":"Hello Alice"}`,
		},
		{
			name: "call without a body sends {}", status: 200, response: `{}`,
			call: func(c *Client) (any, error) {
				out, err := c.Call(context.Background(), "acme", "hello", "Hello.Ping", nil, "")
				return string(out), err
			},
			want: recorded{Method: "POST", Path: "/v1/namespaces/acme/call", ContentType: "application/json",
				Body: `{"service":"hello","endpoint":"Hello.Ping","request":{}}`},
			wantOut: `{}`,
		},
		{
			name: "create token sends the ttl as a duration string", status: 201,
			response: `{"token":{"id":"t-1","name":"ci","admin":false,"namespaces":["acme"],"created_at":"2026-01-02T03:04:05Z"},"secret":"s3cret"}`,
			call: func(c *Client) (any, error) {
				tok, secret, err := c.CreateToken(context.Background(), platform.CreateTokenRequest{Name: "ci", Namespaces: []string{"acme"}, TTL: 720 * time.Hour})
				return []any{tok, secret}, err
			},
			want: recorded{Method: "POST", Path: "/v1/tokens", ContentType: "application/json",
				Body: `{"name":"ci","admin":false,"namespaces":["acme"],"ttl":"720h0m0s"}`},
			wantOut: []any{&platform.Token{ID: "t-1", Name: "ci", Namespaces: []string{"acme"}, CreatedAt: created}, "s3cret"},
		},
		{
			name: "create token with scopes and tools", status: 201,
			response: `{"token":{"id":"t-1","name":"agent","admin":false,"scopes":["mail:read"],"tools":["mail.*"],"created_at":"2026-01-02T03:04:05Z"},"secret":"s3cret"}`,
			call: func(c *Client) (any, error) {
				tok, secret, err := c.CreateToken(context.Background(), platform.CreateTokenRequest{Name: "agent", Scopes: []string{"mail:read"}, Tools: []string{"mail.*"}})
				return []any{tok, secret}, err
			},
			want: recorded{Method: "POST", Path: "/v1/tokens", ContentType: "application/json",
				Body: `{"name":"agent","admin":false,"scopes":["mail:read"],"tools":["mail.*"]}`},
			wantOut: []any{&platform.Token{ID: "t-1", Name: "agent", Scopes: []string{"mail:read"}, Tools: []string{"mail.*"}, CreatedAt: created}, "s3cret"},
		},
		{
			name: "list tokens", status: 200, response: `{"tokens":[{"id":"t-1","name":"admin","admin":true},{"id":"t-2","name":"agent","admin":false,"scopes":["*"],"tools":["mail.Mail.Read"]}]}`,
			call:    func(c *Client) (any, error) { return c.ListTokens(context.Background()) },
			want:    recorded{Method: "GET", Path: "/v1/tokens"},
			wantOut: []*platform.Token{{ID: "t-1", Name: "admin", Admin: true}, {ID: "t-2", Name: "agent", Scopes: []string{"*"}, Tools: []string{"mail.Mail.Read"}}},
		},
		{
			name: "delete token", status: 204,
			call: func(c *Client) (any, error) { return nil, c.DeleteToken(context.Background(), "t-1") },
			want: recorded{Method: "DELETE", Path: "/v1/tokens/t-1"},
		},
		{
			name: "create token with a role", status: 201,
			response: `{"token":{"id":"t-2","name":"ro","role":"viewer","admin":false,"created_at":"2026-01-02T03:04:05Z"},"secret":"s3cret"}`,
			call: func(c *Client) (any, error) {
				tok, secret, err := c.CreateToken(context.Background(), platform.CreateTokenRequest{Name: "ro", Role: platform.RoleViewer})
				return []any{tok, secret}, err
			},
			want: recorded{Method: "POST", Path: "/v1/tokens", ContentType: "application/json",
				Body: `{"name":"ro","role":"viewer","admin":false}`},
			wantOut: []any{&platform.Token{ID: "t-2", Name: "ro", Role: platform.RoleViewer, CreatedAt: created}, "s3cret"},
		},
		{
			name: "whoami", status: 200, response: `{"token":{"id":"t-1","name":"admin","admin":true},"org":"default","role":"owner"}`,
			call:    func(c *Client) (any, error) { return c.Whoami(context.Background()) },
			want:    recorded{Method: "GET", Path: "/v1/whoami"},
			wantOut: &platform.Whoami{Token: &platform.Token{ID: "t-1", Name: "admin", Admin: true}, Org: "default", Role: platform.RoleOwner},
		},
		{
			name: "list users", status: 200, response: `{"users":[{"id":"u-1","login":"ann","source":"local","role":"admin","role_source":"local"}]}`,
			call: func(c *Client) (any, error) { return c.ListUsers(context.Background()) },
			want: recorded{Method: "GET", Path: "/v1/users"},
			wantOut: []*platform.Member{{User: platform.User{ID: "u-1", Login: "ann", Source: platform.UserLocal},
				Role: platform.RoleAdmin, RoleSource: platform.MemberLocal}},
		},
		{
			name: "create user", status: 201, response: `{"user":{"id":"u-2","login":"bob","source":"local","role":"viewer","role_source":"local"},"secret":"s3cret"}`,
			call: func(c *Client) (any, error) {
				m, secret, err := c.CreateUser(context.Background(), platform.CreateUserRequest{Login: "bob", Role: platform.RoleViewer})
				return []any{m, secret}, err
			},
			want: recorded{Method: "POST", Path: "/v1/users", ContentType: "application/json", Body: `{"login":"bob","role":"viewer"}`},
			wantOut: []any{&platform.Member{User: platform.User{ID: "u-2", Login: "bob", Source: platform.UserLocal},
				Role: platform.RoleViewer, RoleSource: platform.MemberLocal}, "s3cret"},
		},
		{
			name: "set role", status: 200, response: `{"id":"u-2","login":"bob","source":"local","role":"admin","role_source":"local"}`,
			call: func(c *Client) (any, error) { return c.SetUserRole(context.Background(), "bob", platform.RoleAdmin) },
			want: recorded{Method: "PUT", Path: "/v1/users/bob/role", ContentType: "application/json", Body: `{"role":"admin"}`},
			wantOut: &platform.Member{User: platform.User{ID: "u-2", Login: "bob", Source: platform.UserLocal},
				Role: platform.RoleAdmin, RoleSource: platform.MemberLocal},
		},
		{
			name: "disable user", status: 200, response: `{"id":"u-2","login":"bob","source":"local","disabled":true,"role":"admin","role_source":"local"}`,
			call: func(c *Client) (any, error) { return c.SetUserDisabled(context.Background(), "bob", true) },
			want: recorded{Method: "POST", Path: "/v1/users/bob/disable"},
			wantOut: &platform.Member{User: platform.User{ID: "u-2", Login: "bob", Source: platform.UserLocal, Disabled: true},
				Role: platform.RoleAdmin, RoleSource: platform.MemberLocal},
		},
		{
			name: "audit", status: 200, response: `{"entries":[{"id":9,"org":"default","actor":"ann","action":"token.create","target":"token/t-1","outcome":"ok","time":"2026-01-02T03:04:05Z"}],"next_before":9}`,
			call: func(c *Client) (any, error) {
				return c.ListAudit(context.Background(), platform.AuditFilter{Actor: "ann", Action: "token.", Since: created, BeforeID: 20, Limit: 1})
			},
			want: recorded{Method: "GET", Path: "/v1/audit", Query: "action=token.&actor=ann&before=20&limit=1&since=2026-01-02T03%3A04%3A05Z"},
			wantOut: &AuditPage{Entries: []*platform.AuditEntry{{ID: 9, Org: "default", Actor: "ann", Action: "token.create", Target: "token/t-1",
				Outcome: "ok", Time: created}}, NextBefore: 9},
		},
		{
			name: "set github links", status: 200, response: `{"links":[{"org":"default","github_org":"acme-inc","team":"sre","role":"admin"}]}`,
			call: func(c *Client) (any, error) {
				return c.SetGitHubLinks(context.Background(), []*platform.GitHubLink{{GitHubOrg: "acme-inc", Team: "sre", Role: platform.RoleAdmin}})
			},
			want: recorded{Method: "PUT", Path: "/v1/org/github", ContentType: "application/json",
				Body: `{"links":[{"org":"","github_org":"acme-inc","team":"sre","role":"admin"}]}`},
			wantOut: []*platform.GitHubLink{{Org: "default", GitHubOrg: "acme-inc", Team: "sre", Role: platform.RoleAdmin}},
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
			c := New(srv.URL+"/", WithToken("tok"), WithUserAgent("test-agent"))
			out, err := tt.call(c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if len(*reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(*reqs))
			}
			got := (*reqs)[0]
			want := tt.want
			want.Auth, want.UA = "Bearer tok", "test-agent"
			if got != want {
				t.Errorf("request:\n got %+v\nwant %+v", got, want)
			}
			if tt.wantOut != nil && !reflect.DeepEqual(out, tt.wantOut) {
				t.Errorf("result:\n got %s\nwant %s", dump(out), dump(tt.wantOut))
			}
		})
	}
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestErrors(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name                        string
		server                      func(t *testing.T) string
		wantCode, wantMsg, wantHint string
	}{
		{
			name: "error body",
			server: func(t *testing.T) string {
				srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, 404, `{"error":{"code":"not_found","message":"namespace \"acme\" not found","hint":"create it with `+"`platform namespaces create acme`"+`","request_id":"req-1"}}`)
				})
				return srv.URL
			},
			wantCode: platform.ENOTFOUND, wantMsg: `namespace "acme" not found`, wantHint: "create it with `platform namespaces create acme`",
		},
		{
			name: "status without a JSON body",
			server: func(t *testing.T) string {
				srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
				})
				return srv.URL
			},
			wantCode: platform.EUNAVAILABLE, wantMsg: "server answered 502 Bad Gateway",
		},
		{
			name: "JSON error without code takes it from the status",
			server: func(t *testing.T) string {
				srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, 403, `{"error":{"message":"token \"ci\" may not access namespace \"acme\""}}`)
				})
				return srv.URL
			},
			wantCode: platform.EFORBIDDEN, wantMsg: `token "ci" may not access namespace "acme"`,
		},
		{
			name:     "server not running",
			server:   func(t *testing.T) string { return closedURL },
			wantCode: platform.EUNAVAILABLE, wantMsg: "cannot reach the platform at " + closedURL + ": dial tcp",
			wantHint: "is the server running at " + closedURL + "? start it with `platform server`",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.server(t)).ListNamespaces(context.Background())
			if got := platform.ErrorCode(err); got != tt.wantCode {
				t.Errorf("code = %q, want %q (err %v)", got, tt.wantCode, err)
			}
			if got := platform.ErrorMessage(err); !strings.HasPrefix(got, tt.wantMsg) {
				t.Errorf("message = %q, want prefix %q", got, tt.wantMsg)
			}
			if got := platform.ErrorHint(err); got != tt.wantHint {
				t.Errorf("hint = %q, want %q", got, tt.wantHint)
			}
		})
	}
}

func TestCallRejectsInvalidJSON(t *testing.T) {
	t.Parallel()
	srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) {})
	_, err := New(srv.URL).Call(context.Background(), "acme", "hello", "Hello.Call", json.RawMessage(`{name:`), "")
	if platform.ErrorCode(err) != platform.EINVALID {
		t.Fatalf("err = %v, want EINVALID", err)
	}
	if len(*reqs) != 0 {
		t.Errorf("sent %d requests for an invalid body", len(*reqs))
	}
}

func TestReady(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		wantCode string
	}{
		{"ready", 200, ""},
		{"starting", 503, platform.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprintln(w, "ok")
			})
			err := New(srv.URL).Ready(context.Background())
			if got := platform.ErrorCode(err); got != tt.wantCode {
				t.Errorf("Ready = %v, want code %q", err, tt.wantCode)
			}
			if p := (*reqs)[0].Path; p != "/readyz" {
				t.Errorf("path = %s, want /readyz", p)
			}
		})
	}
}

func TestNewAddsScheme(t *testing.T) {
	t.Parallel()
	if got := New("127.0.0.1:9/").Server(); got != "http://127.0.0.1:9" {
		t.Errorf("Server() = %q", got)
	}
}
