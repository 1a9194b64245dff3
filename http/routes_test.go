package http_test

import (
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	platformhttp "github.com/micro/platform/http"
)

func TestRoutes(t *testing.T) {
	t.Parallel()
	const ts0 = `"2026-01-02T03:04:05Z"`
	release := `{"id":"r-1","namespace":"acme","service":"hello","version":"v1","build_id":"b-1","replicas":1,"status":"pending","created_at":` + ts0 + `,"updated_at":` + ts0 + `}`
	service := `{"namespace":"acme","name":"hello","status":"degraded","regions":["lon1","fra1"],"created_at":` + ts0 + `,"updated_at":` + ts0 + `,"instances":[],"endpoints":[{"name":"Hello.Call"}],` +
		`"per_region":[{"region":"lon1","status":"running","version":"v1","instances":2,"running":2},` +
		`{"region":"fra1","status":"degraded","version":"v1","instances":1,"running":0,"reason":"region fra1 is lost"}]}`
	// Latencies are milliseconds, fractions kept.
	busy := `"requests":120,"errors":3,"client_errors":2,"p50_ms":4,"p99_ms":64,"mean_ms":5.5,"max_ms":80.25,"cpu_cores":0.25,"memory_bytes":67108864}`
	metrics := `{"namespace":"acme","service":"hello","from":"2026-01-02T03:04:00Z","to":"2026-01-02T03:06:00Z","points":[` +
		`{"minute":"2026-01-02T03:04:00Z","requests":0,"errors":0,"client_errors":0,"p50_ms":0,"p99_ms":0,"mean_ms":0,"max_ms":0,"cpu_cores":0,"memory_bytes":0},` +
		`{"minute":"2026-01-02T03:05:00Z",` + busy + `],"total":{"minute":"2026-01-02T03:04:00Z",` + busy + `}`
	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		header      []string
		wantStatus  int
		wantBody    string // JSON compared by value; "" means an empty body
		wantCall    string
		wantArg     any
		contentType string
	}{
		{name: "create namespace", method: "POST", path: "/v1/namespaces", body: `{"name":"acme"}`,
			wantStatus: 201, wantBody: `{"name":"acme","created_at":` + ts0 + `}`, wantCall: "CreateNamespace", wantArg: platform.Namespace{Name: "acme"}},
		{name: "create namespace in regions", method: "POST", path: "/v1/namespaces", body: `{"name":"acme","regions":["lon1","fra1"]}`,
			wantStatus: 201, wantBody: `{"name":"acme","regions":["lon1","fra1"],"created_at":` + ts0 + `}`,
			wantCall: "CreateNamespace", wantArg: platform.Namespace{Name: "acme", Regions: []string{"lon1", "fra1"}}},
		{name: "list namespaces", method: "GET", path: "/v1/namespaces",
			wantStatus: 200, wantBody: `{"namespaces":[{"name":"acme","created_at":` + ts0 + `}]}`, wantCall: "ListNamespaces"},
		{name: "delete namespace", method: "DELETE", path: "/v1/namespaces/acme",
			wantStatus: 204, wantCall: "DeleteNamespace", wantArg: "acme"},
		{name: "deploy", method: "POST", path: "/v1/namespaces/acme/deploys",
			body:       `{"service":"hello","source":{"kind":"git","url":"https://example.com/x.git","ref":"main"},"replicas":2,"env":{"A":"1"}}`,
			wantStatus: 202, wantBody: release, wantCall: "Deploy",
			wantArg: platform.DeployRequest{Namespace: "acme", Service: "hello", Replicas: 2, Env: map[string]string{"A": "1"},
				Source: platform.Source{Kind: platform.SourceGit, URL: "https://example.com/x.git", Ref: "main"}}},
		{name: "deploy in regions", method: "POST", path: "/v1/namespaces/acme/deploys",
			body:       `{"service":"hello","source":{"kind":"archive","archive":"abc"},"regions":["lon1","fra1"]}`,
			wantStatus: 202, wantBody: release, wantCall: "Deploy",
			wantArg: platform.DeployRequest{Namespace: "acme", Service: "hello", Source: platform.Source{Kind: platform.SourceArchive, Archive: "abc"},
				Regions: []string{"lon1", "fra1"}}},
		{name: "deploy with matching namespace in body", method: "POST", path: "/v1/namespaces/acme/deploys",
			body:       `{"namespace":"acme","service":"hello","source":{"kind":"archive","archive":"abc"}}`,
			wantStatus: 202, wantBody: release, wantCall: "Deploy",
			wantArg: platform.DeployRequest{Namespace: "acme", Service: "hello", Source: platform.Source{Kind: platform.SourceArchive, Archive: "abc"}}},
		{name: "list services", method: "GET", path: "/v1/namespaces/acme/services",
			wantStatus: 200, wantBody: `{"services":[` + service + `]}`, wantCall: "ListServices", wantArg: "acme"},
		{name: "get service", method: "GET", path: "/v1/namespaces/acme/services/hello",
			wantStatus: 200, wantBody: service, wantCall: "GetService", wantArg: "hello"},
		{name: "service metrics of the last hour", method: "GET", path: "/v1/namespaces/acme/services/hello/metrics",
			wantStatus: 200, wantBody: metrics, wantCall: "ServiceMetrics", wantArg: time.Duration(0)},
		{name: "service metrics since", method: "GET", path: "/v1/namespaces/acme/services/hello/metrics?since=15m",
			wantStatus: 200, wantBody: metrics, wantCall: "ServiceMetrics", wantArg: 15 * time.Minute},
		{name: "delete service", method: "DELETE", path: "/v1/namespaces/acme/services/hello",
			wantStatus: 202, wantCall: "DeleteService", wantArg: "hello"},
		{name: "promote", method: "POST", path: "/v1/namespaces/acme/services/hello/promote",
			wantStatus: 200, wantBody: strings.Replace(release, `"replicas":1,`, `"replicas":1,"canary":10,`, 1), wantCall: "Promote", wantArg: "hello"},
		{name: "list releases encodes none as []", method: "GET", path: "/v1/namespaces/acme/services/hello/releases",
			wantStatus: 200, wantBody: `{"releases":[]}`, wantCall: "ListReleases", wantArg: "hello"},
		{name: "get release", method: "GET", path: "/v1/namespaces/acme/releases/r-9",
			wantStatus: 200, wantBody: strings.Replace(release, `"r-1"`, `"r-9"`, 1), wantCall: "GetRelease", wantArg: "r-9"},
		{name: "get build", method: "GET", path: "/v1/namespaces/acme/builds/b-7",
			wantStatus: 200, wantBody: `{"id":"b-7","namespace":"acme","service":"hello","source":{"kind":"archive","archive":"abc"},"status":"succeeded","created_at":` + ts0 + `}`,
			wantCall: "GetBuild", wantArg: "b-7"},
		{name: "logs without follow", method: "GET", path: "/v1/namespaces/acme/services/hello/logs?tail=5",
			wantStatus: 200, wantBody: `{"logs":[{"time":` + ts0 + `,"namespace":"acme","service":"hello","region":"fra1","instance":"i-1","stream":"stdout","line":"hi"}]}`,
			wantCall: "Logs", wantArg: platform.LogQuery{Namespace: "acme", Service: "hello", Tail: 5}},
		{name: "logs of one region", method: "GET", path: "/v1/namespaces/acme/services/hello/logs?region=fra1",
			wantStatus: 200, wantBody: `{"logs":[{"time":` + ts0 + `,"namespace":"acme","service":"hello","region":"fra1","instance":"i-1","stream":"stdout","line":"hi"}]}`,
			wantCall: "Logs", wantArg: platform.LogQuery{Namespace: "acme", Service: "hello", Region: "fra1"}},
		{name: "events without follow", method: "GET", path: "/v1/namespaces/acme/events?service=hello&type=build.&after=3&limit=10",
			wantStatus: 200, wantBody: `{"events":[{"id":4,"namespace":"acme","service":"hello","type":"build.started","message":"building","time":` + ts0 + `}]}`,
			wantCall: "Events", wantArg: platform.EventFilter{Namespace: "acme", Service: "hello", Type: "build.", AfterID: 3, Limit: 10}},
		{name: "events of one region", method: "GET", path: "/v1/namespaces/acme/events?region=fra1",
			wantStatus: 200, wantBody: `{"events":[{"id":4,"namespace":"acme","service":"hello","type":"build.started","message":"building","time":` + ts0 + `}]}`,
			wantCall: "Events", wantArg: platform.EventFilter{Namespace: "acme", Region: "fra1"}},
		{name: "call", method: "POST", path: "/v1/namespaces/acme/call",
			body:       `{"service":"hello","endpoint":"Hello.Call","request":{"name": "Alice"},"version":"v2"}`,
			wantStatus: 200, wantBody: `{"msg":"Hello Alice"}`, wantCall: "Call",
			wantArg: platform.CallRequest{Namespace: "acme", Service: "hello", Endpoint: "Hello.Call", Body: []byte(`{"name": "Alice"}`), Version: "v2"}},
		{name: "call without request sends {}", method: "POST", path: "/v1/namespaces/acme/call",
			body:       `{"service":"hello","endpoint":"Hello.Call"}`,
			wantStatus: 200, wantBody: `{"msg":"Hello Alice"}`, wantCall: "Call",
			wantArg: platform.CallRequest{Namespace: "acme", Service: "hello", Endpoint: "Hello.Call", Body: []byte(`{}`)}},
		{name: "create token", method: "POST", path: "/v1/tokens", body: `{"name":"ci","namespaces":["acme"],"ttl":"720h"}`,
			wantStatus: 201, wantBody: `{"token":{"id":"t-2","name":"ci","admin":false,"namespaces":["acme"],"created_at":` + ts0 + `},"secret":"new-secret"}`,
			wantCall: "CreateToken", wantArg: platform.CreateTokenRequest{Name: "ci", Namespaces: []string{"acme"}, TTL: 720 * time.Hour}},
		{name: "list tokens", method: "GET", path: "/v1/tokens",
			wantStatus: 200, wantBody: `{"tokens":[{"id":"t-1","name":"admin","admin":true,"created_at":` + ts0 + `}]}`, wantCall: "ListTokens"},
		{name: "delete token", method: "DELETE", path: "/v1/tokens/t-2",
			wantStatus: 204, wantCall: "DeleteToken", wantArg: "t-2"},
		{name: "list regions", method: "GET", path: "/v1/regions",
			wantStatus: 200, wantBody: `{"regions":[{"name":"local","provider":"local","gateway_endpoint":"http://127.0.0.1:8080",` +
				`"health":"connected","last_seen":` + ts0 + `,"agent_version":"v1.2.3","services":3,"runtime":"local","cpu_millis":4000,"memory_mb":8192,` +
				`"created_at":` + ts0 + `,"updated_at":` + ts0 + `}]}`, wantCall: "ListRegions"},
		{name: "register region", method: "PUT", path: "/v1/regions/lon1",
			body:       `{"provider":"digitalocean","location":"lon1","gateway_endpoint":"https://lon1.example.dev","kubeconfig_ref":"secret://lon1"}`,
			wantStatus: 200, wantBody: `{"name":"lon1","provider":"digitalocean","location":"lon1","gateway_endpoint":"https://lon1.example.dev","kubeconfig_ref":"secret://lon1","services":0,"created_at":` + ts0 + `,"updated_at":` + ts0 + `}`,
			wantCall: "RegisterRegion", wantArg: platform.Region{Name: "lon1", Provider: "digitalocean", Location: "lon1", GatewayEndpoint: "https://lon1.example.dev", KubeconfigRef: "secret://lon1"}},
		{name: "delete region", method: "DELETE", path: "/v1/regions/lon1",
			wantStatus: 204, wantCall: "DeleteRegion", wantArg: "lon1"},
		{name: "issue region token", method: "POST", path: "/v1/regions/lon1/token",
			wantStatus: 201, wantBody: `{"region":"lon1","token":"new-secret"}`, wantCall: "IssueRegionToken", wantArg: "lon1"},
		{name: "upload source", method: "POST", path: "/v1/namespaces/acme/sources", body: "\x1f\x8bfake-archive",
			header: []string{"Content-Type", "application/gzip"}, contentType: "application/json",
			wantStatus: 201, wantBody: `{"archive":"sha-of-upload"}`, wantCall: "UploadSource", wantArg: "acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := &fakeControlPlane{
				callResp: []byte(`{"msg":"Hello Alice"}`),
				tokenSec: "new-secret",
				logs:     []platform.LogEntry{{Time: t0, Namespace: "acme", Service: "hello", Region: "fra1", InstanceID: "i-1", Stream: platform.Stdout, Line: "hi"}},
				events:   []*platform.Event{{ID: 4, Namespace: "acme", Service: "hello", Type: "build.started", Message: "building", Time: t0}},
			}
			ts := newTestServer(t, cp, nil)
			var body *bytes.Reader
			if tt.body != "" {
				body = bytes.NewReader([]byte(tt.body))
			} else {
				body = bytes.NewReader(nil)
			}
			resp, got := ts.do(t, tt.method, tt.path, adminSecret, body, tt.header...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, got)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("X-Request-Id header missing")
			}
			if tt.wantBody == "" {
				if len(got) != 0 {
					t.Errorf("body = %q, want empty", got)
				}
			} else {
				if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
				assertJSONEqual(t, got, tt.wantBody)
			}
			if calls := cp.Calls(); len(calls) != 1 || calls[0] != tt.wantCall {
				t.Fatalf("ControlPlane calls = %v, want [%s]", calls, tt.wantCall)
			}
			if tt.wantArg != nil && !reflect.DeepEqual(cp.LastArg(), tt.wantArg) {
				t.Errorf("ControlPlane got %#v, want %#v", cp.LastArg(), tt.wantArg)
			}
		})
	}
}

func TestUploadSourceBody(t *testing.T) {
	t.Parallel()
	cp := &fakeControlPlane{}
	ts := newTestServer(t, cp, func(o *platformhttp.Options) { o.MaxUploadBytes = 64 })
	archive := bytes.Repeat([]byte{0x1f, 0x8b}, 16)

	resp, body := ts.do(t, "POST", "/v1/namespaces/acme/sources", adminSecret, bytes.NewReader(archive), "Content-Type", "application/gzip")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d, body %s", resp.StatusCode, body)
	}
	cp.mu.Lock()
	got := cp.upload
	cp.mu.Unlock()
	if !bytes.Equal(got, archive) {
		t.Fatalf("ControlPlane received %d bytes %x, want the %d bytes sent", len(got), got, len(archive))
	}
}
