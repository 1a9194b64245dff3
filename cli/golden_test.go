package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// transcript renders a run for a golden file.
func transcript(args []string, r result) string {
	return fmt.Sprintf("$ platform %s\n--- stdout\n%s--- stderr\n%s--- exit %d\n", strings.Join(args, " "), r.stdout, r.stderr, r.code)
}

// TestGolden checks the text people see, against testdata/*.golden.
func TestGolden(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.addRegionEvent()
	tests := []struct {
		name string
		args []string
		env  []string // replaces the fake's server and token when set
	}{
		{name: "services", args: []string{"services", "-n", "acme"}},
		{name: "services_get", args: []string{"services", "get", "hello", "-n", "acme"}},
		{name: "services_get_not_found", args: []string{"services", "get", "nope", "-n", "acme"}},
		{name: "events", args: []string{"events", "-n", "acme"}},
		{name: "events_service", args: []string{"events", "-n", "acme", "--service", "hello", "--type", "build."}},
		{name: "events_region", args: []string{"events", "-n", "acme", "--region", "fra1"}},
		{name: "regions", args: []string{"regions"}},
		{name: "regions_token_control", args: []string{"regions", "token", "fra1", "--control", "https://platform.example.com"}},
		{name: "regions_token_not_found", args: []string{"regions", "token", "nope"}},
		{name: "regions_create", args: []string{"regions", "create", "fra1", "--location", "frankfurt", "--gateway", "https://fra1.example.dev"}},
		{name: "regions_create_invalid", args: []string{"regions", "create", "Fra_1", "--provider", "aws2"}},
		{name: "namespaces_create_regions", args: []string{"namespaces", "create", "initech", "--regions", "lon1,fra1"}},
		{name: "namespaces_create_bad_regions", args: []string{"namespaces", "create", "initech", "--regions", "lon1,Bad_Name,lon1"}},
		{name: "tokens", args: []string{"tokens", "list"}},
		{name: "tokens_create", args: []string{"tokens", "create", "ci", "--namespace", "acme", "--namespace", "globex", "--ttl", "720h"}},
		{name: "tokens_create_scoped", args: []string{"tokens", "create", "agent", "--namespace", "acme", "--scopes", "mail:read,mail:send", "--tools", "mail.*", "--tools", "billing.Billing.Quote"}},
		{name: "tokens_delete_not_found", args: []string{"tokens", "delete", "t-nope"}},
		{name: "namespaces", args: []string{"ns"}},
		{name: "namespaces_create_conflict", args: []string{"namespaces", "create", "acme"}},
		{name: "logs", args: []string{"logs", "hello", "-n", "acme", "--tail", "2"}},
		{name: "logs_region", args: []string{"logs", "hello", "-n", "acme", "--region", "fra1"}},
		{name: "call", args: []string{"call", "hello", "Hello.Call", `{"name":"Alice"}`, "-n", "acme", "--version", "v1"}},
		{name: "error_unreachable", args: []string{"services", "-n", "acme"}, env: []string{"PLATFORM_SERVER=http://127.0.0.1:1"}},
		{name: "error_unauthenticated", args: []string{"tokens", "list"}, env: []string{"PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=wrong"}},
		{name: "error_namespace_not_found", args: []string{"services", "-n", "globex"}},
		{name: "error_no_namespace", args: []string{"services"}},
		{name: "error_unknown_flag", args: []string{"services", "--bogus"}},
		{name: "error_unknown_command", args: []string{"deplyo"}},
		{name: "error_missing_args", args: []string{"call", "hello"}},
		{name: "error_bad_output", args: []string{"services", "-n", "acme", "-o", "yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := tt.env
			if env == nil {
				env = []string{"PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret}
			}
			r := runCLI(t, env, "", tt.args...)
			checkGolden(t, tt.name, transcript(tt.args, r))
			if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "HTTP/1.1") {
				t.Errorf("stderr shows internals:\n%s", r.stderr)
			}
		})
	}
}

// TestJSONOutput checks that -o json prints parseable JSON of the expected shape.
func TestJSONOutput(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.addRegionEvent()
	tests := []struct {
		name     string
		args     []string
		lines    bool // JSON lines instead of one document
		wantCode int
		check    func(t *testing.T, v any)
	}{
		{name: "services", args: []string{"services", "-n", "acme"}, check: wantLen(2)},
		{name: "services get", args: []string{"services", "get", "hello", "-n", "acme"}, check: wantField("name", "hello")},
		{name: "events", args: []string{"events", "-n", "acme"}, check: wantLen(4)},
		{name: "events of a region", args: []string{"events", "-n", "acme", "--region", "fra1"}, check: wantLen(1)},
		{name: "regions", args: []string{"regions"}, check: wantLen(3)},
		{name: "regions token", args: []string{"regions", "token", "fra1"}, check: func(t *testing.T, v any) {
			m, _ := v.(map[string]any)
			if m["region"] != "fra1" || m["token"] != "mpr_r3g10n" || !strings.HasSuffix(fmt.Sprint(m["command"]), "--token mpr_r3g10n") {
				t.Errorf("got %v, want region fra1, its token and the agent's command", v)
			}
		}},
		{name: "namespaces create in regions", args: []string{"namespaces", "create", "initech", "--regions", "lon1,fra1"},
			check: func(t *testing.T, v any) {
				if r, _ := v.(map[string]any)["regions"].([]any); len(r) != 2 || r[0] != "lon1" || r[1] != "fra1" {
					t.Errorf("got %v, want regions [lon1 fra1]", v)
				}
			}},
		{name: "tokens", args: []string{"tokens", "list"}, check: wantLen(3)},
		{name: "tokens create", args: []string{"tokens", "create", "ci", "--admin"}, check: wantField("secret", "mp_s3cr3t")},
		{name: "namespaces", args: []string{"namespaces", "list"}, check: wantLen(2)},
		{name: "namespaces create", args: []string{"namespaces", "create", "initech"}, check: wantField("name", "initech")},
		{name: "delete", args: []string{"delete", "hello", "-n", "acme"}, check: wantField("status", "deleting")},
		{name: "call", args: []string{"call", "hello", "Hello.Call", `{"name":"Alice"}`, "-n", "acme"}, check: wantField("version", "")},
		{name: "logs", args: []string{"logs", "hello", "-n", "acme"}, lines: true, check: wantLen(3)},
		{name: "logs of a region", args: []string{"logs", "hello", "-n", "acme", "--region", "fra1"}, lines: true, check: wantLen(1)},
		{name: "version", args: []string{"version"}, check: wantField("version", "dev")},
		{name: "error", args: []string{"services", "get", "nope", "-n", "acme"}, wantCode: 1, check: func(t *testing.T, v any) {
			e, _ := v.(map[string]any)["error"].(map[string]any)
			if e["code"] != "not_found" || e["hint"] == "" {
				t.Errorf("error = %v, want not_found with a hint", e)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.run(t, append(tt.args, "-o", "json")...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, tt.wantCode, r.stderr)
			}
			out := r.stdout
			if tt.wantCode != 0 {
				out = r.stderr
			}
			var v any
			if tt.lines {
				var items []any
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					var item any
					if err := json.Unmarshal([]byte(line), &item); err != nil {
						t.Fatalf("line %q: %v", line, err)
					}
					items = append(items, item)
				}
				v = items
			} else if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			tt.check(t, v)
		})
	}
}

func wantLen(n int) func(*testing.T, any) {
	return func(t *testing.T, v any) {
		t.Helper()
		if l, ok := v.([]any); !ok || len(l) != n {
			t.Errorf("got %v, want a list of %d", v, n)
		}
	}
}

func wantField(key string, want any) func(*testing.T, any) {
	return func(t *testing.T, v any) {
		t.Helper()
		m, _ := v.(map[string]any)
		if _, nested := m["token"]; nested && key != "secret" {
			m, _ = m["token"].(map[string]any)
		}
		if m == nil || m[key] != want {
			t.Errorf("got %v, want %s = %v", v, key, want)
		}
	}
}
