package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

// agentsGet requests path from a dashboard over cp whose public URL is gateway ("" for
// the request's host), as the session of streamToken; during runs while ListTools is
// answered.
func agentsGet(t *testing.T, cp *streamCP, gateway, path string, during func(*httptest.ResponseRecorder)) *httptest.ResponseRecorder {
	t.Helper()
	d := New(Options{ControlPlane: cp, Auth: nopAuth{}, SessionCookie: "s", CSRF: fixedCSRF{}, CSRFCookie: "c", GatewayURL: gateway})
	rec := httptest.NewRecorder()
	if during != nil {
		cp.during = func() { during(rec) }
	}
	mux := chi.NewRouter()
	mux.Mount(Prefix, d)
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req = req.WithContext(platform.NewContextWithToken(req.Context(), streamToken))
	mux.ServeHTTP(rec, req)
	return rec
}

var helloTools = []platform.Tool{
	platform.ToolOf("helloworld", platform.Endpoint{Name: "Helloworld.Call", Metadata: map[string]string{
		"description": "Call greets a person by name.", "example": `{"name": "Alice"}`,
	}, Request: &platform.Value{Values: []*platform.Value{{Name: "name", Type: "string"}}}}),
	platform.ToolOf("users", platform.Endpoint{Name: "Users.Delete", Metadata: map[string]string{
		"description": "Delete removes a user.\nIt cannot be undone.", "scopes": "users:write,users:admin",
	}}),
}

// mcpConfigOf is the config JSON the page offers to copy, as the browser shows it.
func mcpConfigOf(t *testing.T, body string) map[string]any {
	t.Helper()
	m := regexp.MustCompile(`(?s)<textarea id="mcp-config"[^>]*>(.*?)</textarea>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no config on the page: %s", body)
	}
	var conf map[string]any
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &conf); err != nil {
		t.Fatalf("the config is not JSON: %v: %s", err, m[1])
	}
	return conf
}

// The agents page says how an agent connects to the namespace's MCP server (the
// endpoint at the platform's URL, else the request's host, and the mcpServers JSON
// naming the token's environment variable, never a secret) and lists the tools the
// caller sees, with their descriptions as text, required scopes and example input. The
// connection part is sent before the tools are listed; no tools is an empty state that
// says to deploy; a failed listing shows in their place; a namespace the caller does
// not reach is a 404 before anything is listed.
func TestAgentsPage(t *testing.T) {
	t.Parallel()
	config := func(url string) map[string]any {
		return map[string]any{"mcpServers": map[string]any{"platform-acme": map[string]any{
			"type": "http", "url": url, "headers": map[string]any{"Authorization": "Bearer ${PLATFORM_TOKEN}"},
		}}}
	}
	for _, tt := range []struct {
		name    string
		cp      *streamCP
		gateway string
		path    string
		code    int
		want    []string
		notWant []string
		config  map[string]any // the config JSON on the page, nil for none
	}{
		{
			name: "tools", cp: &streamCP{tools: helloTools}, path: "/ui/n/acme/agents", code: 200,
			want: []string{
				`<a href="/ui/n/acme/agents" aria-current="page">Agents</a>`,
				`<h1>Agents <span class="muted">in acme</span></h1>`,
				`<input id="mcp-url" readonly value="http://example.com/mcp/acme" data-select class="mono">`,
				`platform tokens create agent --role developer --namespace acme --scopes ...`, "OAuth",
				`<caption class="sr-only">Tools of acme</caption>`,
				`<th scope="row"><a href="/ui/n/acme/s/helloworld/endpoints#ep-Helloworld-Call"><code>helloworld.Helloworld.Call</code></a></th>`,
				`<td class="desc">Call greets a person by name.</td>`,
				`<td><span class="muted">none</span></td>`,
				`<td><code>{&#34;name&#34;:&#34;Alice&#34;}</code></td>`,
				`<code>users.Users.Delete</code>`, "Delete removes a user.\nIt cannot be undone.",
				`<span class="badge" title="a token must hold one of these scopes">requires users:write or users:admin</span>`,
			},
			notWant: []string{"No tools yet", `role="alert"`},
			config:  config("http://example.com/mcp/acme"),
		},
		{
			name: "public URL", cp: &streamCP{tools: helloTools}, gateway: "https://platform.example.com", path: "/ui/n/acme/agents", code: 200,
			want:   []string{`value="https://platform.example.com/mcp/acme"`, "helloworld.Helloworld.Call"},
			config: config("https://platform.example.com/mcp/acme"),
		},
		{
			name: "description escaped", path: "/ui/n/acme/agents", code: 200,
			cp: &streamCP{tools: []platform.Tool{platform.ToolOf("x", platform.Endpoint{Name: "X.Y", Metadata: map[string]string{
				"description": `Pwn <script>alert(1)</script> "me"`, "example": `{"a": "</code><script>"}`, "scopes": `<b>s</b>`,
			}})}},
			want:    []string{`Pwn &lt;script&gt;alert(1)&lt;/script&gt; &#34;me&#34;`, `&lt;/code&gt;&lt;script&gt;`, `requires &lt;b&gt;s&lt;/b&gt;`},
			notWant: []string{"<script>alert", "</code><script>", "<b>s</b>"},
		},
		{
			name: "no tools", cp: &streamCP{}, path: "/ui/n/acme/agents", code: 200,
			want: []string{
				"No tools yet: no service of acme is registered.",
				`<a href="/ui/n/acme/new">Deploy a service</a>`, "each endpoint of a service becomes a tool",
			},
			notWant: []string{"<table", `role="alert"`},
			config:  config("http://example.com/mcp/acme"),
		},
		{
			name: "listing fails", path: "/ui/n/acme/agents", code: 200,
			cp:      &streamCP{toolsErr: platform.Errorf(platform.EUNAVAILABLE, "region local does not answer").WithHint("wait for its agent")},
			want:    []string{`<div class="error" role="alert">`, "region local does not answer", "wait for its agent", `id="mcp-config"`},
			notWant: []string{"<table", "No tools yet"},
		},
		{
			name: "internal error", path: "/ui/n/acme/agents", code: 200,
			cp:      &streamCP{toolsErr: errors.New("pq: connection refused to 10.0.0.7")},
			want:    []string{`role="alert"`, "internal error"},
			notWant: []string{"10.0.0.7", "<table"},
		},
		{
			name: "another namespace", cp: &streamCP{tools: helloTools}, path: "/ui/n/other/agents", code: 404,
			want:    []string{`role="alert"`, `no namespace &#34;other&#34;`},
			notWant: []string{"<h1>Agents", "helloworld", "/mcp/other"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var before string
			var flushed bool
			rec := agentsGet(t, tt.cp, tt.gateway, tt.path, func(rec *httptest.ResponseRecorder) {
				before, flushed = rec.Body.String(), rec.Flushed
			})
			body := rec.Body.String()
			if rec.Code != tt.code || !strings.HasSuffix(strings.TrimSpace(body), "</html>") {
				t.Fatalf("HTTP %d, want %d: %s", rec.Code, tt.code, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %q", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, w) {
					t.Errorf("the page has %q", w)
				}
			}
			if tt.config != nil {
				if got := mcpConfigOf(t, body); !reflect.DeepEqual(got, tt.config) {
					t.Errorf("config\n got %v\nwant %v", got, tt.config)
				}
			}
			if tt.code != 200 {
				if tt.cp.toolsListed {
					t.Error("the tools were listed for a namespace the caller does not reach")
				}
				return
			}
			// The connection part went out before the tools were asked for.
			if !tt.cp.toolsListed || !flushed || !strings.Contains(before, `id="mcp-config"`) || !strings.Contains(before, `<h2 id="tools-h">`) || strings.Contains(before, "<table") {
				t.Errorf("before the listing: listed %v, flushed %v, sent %q", tt.cp.toolsListed, flushed, before)
			}
		})
	}
}

// A token narrowed to some tools is told that it may be why it sees none.
func TestAgentsPageNarrowedToken(t *testing.T) {
	t.Parallel()
	cp := &narrowedCP{streamCP: &streamCP{}}
	d := New(Options{ControlPlane: cp, Auth: nopAuth{}, SessionCookie: "s", CSRF: fixedCSRF{}, CSRFCookie: "c"})
	mux := chi.NewRouter()
	mux.Mount(Prefix, d)
	req := httptest.NewRequest(http.MethodGet, "/ui/n/acme/agents", nil)
	req = req.WithContext(platform.NewContextWithToken(req.Context(), narrowedToken))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, "or your token may call none of them") ||
		strings.Contains(body, "/ui/n/acme/new") || !strings.Contains(body, "<code>platform deploy ./dir -n acme</code>") {
		t.Errorf("HTTP %d: %s", rec.Code, body)
	}
}

var narrowedToken = &platform.Token{ID: "t2", Name: "agent", Role: platform.RoleViewer, Namespaces: []string{"acme"}, Tools: []string{"users.*"}}

// narrowedCP is streamCP as a viewer whose token is narrowed to some tools.
type narrowedCP struct{ *streamCP }

func (c *narrowedCP) Whoami(ctx context.Context) (*platform.Whoami, error) {
	return &platform.Whoami{Token: narrowedToken, Org: platform.DefaultOrg, Role: platform.RoleViewer}, nil
}

func TestToolExample(t *testing.T) {
	for _, tt := range []struct {
		name   string
		schema map[string]any
		want   string
	}{
		{"in process", map[string]any{"examples": []string{"{\n  \"name\": \"Alice\"\n}"}}, `{"name":"Alice"}`},
		{"decoded string", map[string]any{"examples": []any{`{"name": "Bob"}`}}, `{"name":"Bob"}`},
		{"decoded object", map[string]any{"examples": []any{map[string]any{"n": 1}}}, `{"n":1}`},
		{"not JSON", map[string]any{"examples": []string{"{oops"}}, `{oops`},
		{"empty list", map[string]any{"examples": []string{}}, ""},
		{"none", map[string]any{"type": "object"}, ""},
		{"nil schema", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := toolExample(tt.schema); got != tt.want {
				t.Errorf("toolExample = %q, want %q", got, tt.want)
			}
		})
	}
}
