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
