package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
		wantSaved  *fileConfig
	}{
		{
			name: "saves a verified token", args: []string{"login", "--server", f.URL, "--token", adminSecret},
			wantStdout: "Logged in to " + f.URL + " (2 namespace(s) accessible).\nSaved server and token to ",
			wantSaved:  &fileConfig{Server: f.URL, Token: adminSecret},
		},
		{
			name: "saves a default namespace", args: []string{"login", "--server", f.URL, "--token", adminSecret, "-n", "acme"},
			wantSaved: &fileConfig{Server: f.URL, Token: adminSecret, Namespace: "acme"},
		},
		{
			name: "rejected token is not saved", args: []string{"login", "--server", f.URL, "--token", "wrong"},
			wantCode: 1, wantStderr: "error: no valid token\n",
		},
		{
			name: "no token", args: []string{"login", "--server", f.URL},
			wantCode: 2, wantStderr: "error: no token given\nhint: pass --token TOKEN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			r := runCLI(t, []string{"XDG_CONFIG_HOME=" + dir}, "", tt.args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, tt.wantCode, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, tt.wantStdout) || !strings.HasPrefix(r.stderr, tt.wantStderr) {
				t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
			p := filepath.Join(dir, "micro-platform", "config.json")
			info, err := os.Stat(p)
			if tt.wantSaved == nil {
				if err == nil {
					t.Errorf("config file written on failure")
				}
				return
			}
			if err != nil {
				t.Fatalf("config file: %v", err)
			}
			if info.Mode().Perm() != 0o600 {
				t.Errorf("config file mode %v, want 0600", info.Mode().Perm())
			}
			if tt.wantStdout != "" && !strings.Contains(r.stdout, p) {
				t.Errorf("output does not say where it saved: %s", r.stdout)
			}
			var got fileConfig
			b, _ := os.ReadFile(p)
			if err := json.Unmarshal(b, &got); err != nil || got != *tt.wantSaved {
				t.Errorf("saved %s, want %+v", b, *tt.wantSaved)
			}
			// A later command uses the saved settings without flags or env.
			if r := runCLI(t, []string{"XDG_CONFIG_HOME=" + dir}, "", "namespaces"); r.code != 0 || !strings.Contains(r.stdout, "acme") {
				t.Errorf("after login, namespaces: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}
