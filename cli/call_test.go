package cli

import (
	"strings"
	"testing"
)

func TestCall(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	env := []string{"PLATFORM_SERVER=" + f.URL, "PLATFORM_TOKEN=" + adminSecret, "PLATFORM_NAMESPACE=acme"}
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "body from stdin", args: []string{"call", "hello", "Hello.Call", "-"}, stdin: ` {"name": "Bob"}` + "\n",
			wantStdout: "{\n  \"echo\": {\n    \"name\": \"Bob\"\n  },\n  \"version\": \"\"\n}\n"},
		{name: "no body sends an empty object", args: []string{"call", "hello", "Hello.Call", "-o", "json"},
			wantStdout: `{"echo":{},"version":""}` + "\n"},
		{name: "invalid JSON is a usage error", args: []string{"call", "hello", "Hello.Call", "{name:"},
			wantCode: 2, wantStderr: "error: the request is not valid JSON: {name:\nhint: pass a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, env, tt.stdin, tt.args...)
			if r.code != tt.wantCode || r.stdout != tt.wantStdout || !strings.HasPrefix(r.stderr, tt.wantStderr) {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestShortID(t *testing.T) {
	t.Parallel()
	tests := []struct{ id, want string }{
		{"helloworld-b7fde2c7699f1e96", "b7fde2c7"},
		{"r-1-0a1b2c3d4e5f", "0a1b2c3d"},
		{"r-abc-0", "r-abc-0"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := shortID(tt.id); got != tt.want {
				t.Errorf("shortID(%q) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}
