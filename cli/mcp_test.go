package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// fakeTools are the tools of namespace acme, as the API orders them.
func fakeTools() []platform.Tool {
	greet := platform.ToolOf("greeter", platform.Endpoint{
		Name:    "Greeter.Hello",
		Request: &platform.Value{Name: "Request", Type: "Request", Values: []*platform.Value{{Name: "name", Type: "string"}, {Name: "times", Type: "int32"}}},
		Metadata: map[string]string{
			platform.EndpointDescription: "\n  Hello greets a person by name,   as many times as asked.\nIt calls helloworld for each greeting.",
			platform.EndpointExample:     `{"name":"Alice","times":2}`,
			platform.EndpointScopes:      "greet",
		},
	})
	purge := platform.ToolOf("hello", platform.Endpoint{
		Name: "Hello.Purge",
		Metadata: map[string]string{
			platform.EndpointDescription: "Purge forgets every greeting this service has ever recorded, in every region of its namespace, at once and for good.",
			platform.EndpointScopes:      "admin, ops",
		},
	})
	return []platform.Tool{greet, platform.ToolOf("hello", platform.Endpoint{Name: "Hello.Call"}), purge}
}

// newToolsAPI serves GET /v1/namespaces/{ns}/tools to the admin token: fakeTools for
// acme, none for empty, 404 for any other namespace.
func newToolsAPI(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/namespaces/{ns}/tools", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+adminSecret {
			writeError(w, 401, platform.EUNAUTHENTICATED, "no valid token", "log in with `platform login --token TOKEN` or set PLATFORM_TOKEN")
			return
		}
		switch ns := r.PathValue("ns"); ns {
		case "acme":
			writeJSON(w, 200, map[string]any{"tools": fakeTools()})
		case "empty":
			writeJSON(w, 200, map[string]any{"tools": []platform.Tool{}})
		default:
			writeError(w, 404, platform.ENOTFOUND, fmt.Sprintf("namespace %q not found", ns), "create it with `platform namespaces create "+ns+"`")
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestMCPGolden checks what `platform mcp tools` and `platform mcp config` print,
// against testdata/mcp*.golden.
func TestMCPGolden(t *testing.T) {
	t.Parallel()
	srv := newToolsAPI(t)
	const server = "https://platform.example.com"
	tests := []struct {
		name string
		args []string
		env  []string // added to the fake's server and admin token
	}{
		{name: "mcp_tools", args: []string{"mcp", "tools", "-n", "acme"}},
		{name: "mcp_tools_narrow", args: []string{"mcp", "tools", "-n", "acme"}, env: []string{"COLUMNS=60"}},
		{name: "mcp_tools_empty", args: []string{"mcp", "tools", "-n", "empty"}},
		{name: "mcp_tools_not_found", args: []string{"mcp", "tools", "-n", "globex"}},
		{name: "mcp_tools_no_namespace", args: []string{"mcp", "tools"}},
		{name: "mcp_config", args: []string{"mcp", "config", "-n", "acme"}, env: []string{"PLATFORM_SERVER=" + server + "/"}},
		{name: "mcp_config_token_env", args: []string{"mcp", "config", "-n", "acme", "--token-env", "ACME_AGENT_TOKEN"},
			env: []string{"PLATFORM_SERVER=" + server}},
		{name: "mcp_config_bad_token_env", args: []string{"mcp", "config", "-n", "acme", "--token-env", "${TOKEN}"}},
		{name: "mcp_config_bad_namespace", args: []string{"mcp", "config", "-n", "Acme/../x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := append([]string{"PLATFORM_SERVER=" + srv.URL, "PLATFORM_TOKEN=" + adminSecret}, tt.env...)
			r := runCLI(t, env, "", tt.args...)
			checkGolden(t, tt.name, transcript(tt.args, r))
			if strings.Contains(r.stdout+r.stderr, adminSecret) {
				t.Errorf("the output shows the user's token:\n%s%s", r.stdout, r.stderr)
			}
		})
	}
}

// TestMCPToolsJSON checks that -o json prints the whole tools, input schemas included,
// and none as [].
func TestMCPToolsJSON(t *testing.T) {
	t.Parallel()
	srv := newToolsAPI(t)
	env := []string{"PLATFORM_SERVER=" + srv.URL, "PLATFORM_TOKEN=" + adminSecret}
	for _, tt := range []struct {
		ns   string
		want []platform.Tool
	}{
		{"acme", fakeTools()},
		{"empty", []platform.Tool{}},
	} {
		t.Run(tt.ns, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, env, "", "mcp", "tools", "-n", tt.ns, "-o", "json")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got []platform.Tool
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("output is not a JSON list of tools: %v\n%s", err, r.stdout)
			}
			// The fixtures as they travel: through JSON, as the CLI received them.
			var want []platform.Tool
			b, _ := json.Marshal(tt.want)
			_ = json.Unmarshal(b, &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("tools = %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestMCPConfig checks the config's endpoint, from wherever the CLI learns its server,
// and that it references the agent's token rather than holding one.
func TestMCPConfig(t *testing.T) {
	t.Parallel()
	loginConfig := func(t *testing.T, server string) string {
		t.Helper()
		dir := t.TempDir()
		p := filepath.Join(dir, "micro-platform", "config.json")
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(fileConfig{Server: server, Token: "login-secret", Namespace: "acme"})
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name    string
		args    []string
		env     func(t *testing.T) []string
		wantURL string
		wantEnv string
	}{
		{name: "default server", args: []string{"-n", "acme"}, env: func(*testing.T) []string { return nil },
			wantURL: DefaultServer + "/mcp/acme", wantEnv: "PLATFORM_TOKEN"},
		{name: "server of the environment", args: []string{"-n", "acme"},
			env: func(*testing.T) []string {
				return []string{"PLATFORM_SERVER=platform.example.com:8443/", "PLATFORM_TOKEN=env-secret"}
			},
			wantURL: "http://platform.example.com:8443/mcp/acme", wantEnv: "PLATFORM_TOKEN"},
		{name: "server of the flag", args: []string{"-n", "acme", "--server", "https://flag.example.com", "--token", "flag-secret", "--token-env", "AGENT"},
			env:     func(*testing.T) []string { return []string{"PLATFORM_SERVER=https://env.example.com"} },
			wantURL: "https://flag.example.com/mcp/acme", wantEnv: "AGENT"},
		{name: "server and namespace of platform login", args: nil,
			env: func(t *testing.T) []string {
				return []string{"XDG_CONFIG_HOME=" + loginConfig(t, "https://login.example.com")}
			},
			wantURL: "https://login.example.com/mcp/acme", wantEnv: "PLATFORM_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, output := range []string{"text", "json"} {
				r := runCLI(t, tt.env(t), "", append([]string{"mcp", "config", "-o", output}, tt.args...)...)
				if r.code != 0 {
					t.Fatalf("-o %s: exit %d: %s", output, r.code, r.stderr)
				}
				var conf mcpConfig
				if err := json.Unmarshal([]byte(r.stdout), &conf); err != nil {
					t.Fatalf("-o %s: output is not JSON: %v\n%s", output, err, r.stdout)
				}
				want := mcpConfig{MCPServers: map[string]mcpServer{"platform-acme": {
					Type: "http", URL: tt.wantURL, Headers: map[string]string{"Authorization": "Bearer ${" + tt.wantEnv + "}"},
				}}}
				if !reflect.DeepEqual(conf, want) {
					t.Errorf("-o %s: config %+v, want %+v", output, conf, want)
				}
				for _, secret := range []string{"env-secret", "flag-secret", "login-secret"} {
					if strings.Contains(r.stdout+r.stderr, secret) {
						t.Errorf("-o %s: the output shows the user's token %s", output, secret)
					}
				}
				if hint := "platform tokens create agent --role developer --namespace acme"; output == "text" && !strings.Contains(r.stderr, hint) {
					t.Errorf("stderr does not tell how to make the agent a token (%q):\n%s", hint, r.stderr)
				} else if output == "json" && r.stderr != "" {
					t.Errorf("-o json: stderr %q, want none", r.stderr)
				}
			}
		})
	}
}
