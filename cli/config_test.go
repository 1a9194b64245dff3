package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recorder is a server that answers every namespace list and records who was asked
// with which token.
type recorder struct {
	mu   sync.Mutex
	hits []string // "name token"
}

func (rec *recorder) server(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.hits = append(rec.hits, name+" "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		rec.mu.Unlock()
		writeJSON(w, 200, map[string]any{"namespaces": []any{}, "services": []any{}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeConfigFile(t *testing.T, dir string, fc fileConfig) {
	t.Helper()
	p := filepath.Join(dir, "micro-platform", "config.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(fc)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestConfigPrecedence checks flags > environment > config file for the server and token.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	fileURL, envURL, flagURL := rec.server(t, "file"), rec.server(t, "env"), rec.server(t, "flag")
	tests := []struct {
		name    string
		env     []string
		args    []string
		wantHit string
	}{
		{name: "file only", wantHit: "file file-token"},
		{name: "env over file", env: []string{"PLATFORM_SERVER=" + envURL, "PLATFORM_TOKEN=env-token", "PLATFORM_NAMESPACE=env-ns"},
			wantHit: "env env-token"},
		{name: "flags over env", env: []string{"PLATFORM_SERVER=" + envURL, "PLATFORM_TOKEN=env-token", "PLATFORM_NAMESPACE=env-ns"},
			args: []string{"--server", flagURL, "--token", "flag-token", "-n", "flag-ns"}, wantHit: "flag flag-token"},
		{name: "flag token with file server", args: []string{"--token", "flag-token"}, wantHit: "file flag-token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeConfigFile(t, dir, fileConfig{Server: fileURL, Token: "file-token", Namespace: "file-ns"})
			rec.mu.Lock()
			rec.hits = nil
			rec.mu.Unlock()
			env := append([]string{"XDG_CONFIG_HOME=" + dir}, tt.env...)
			r := runCLI(t, env, "", append([]string{"services", "-o", "json"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if len(rec.hits) != 1 || rec.hits[0] != tt.wantHit {
				t.Errorf("requests = %q, want [%q]", rec.hits, tt.wantHit)
			}
		})
	}
}

// TestNamespacePrecedence checks which namespace a command acts in.
func TestNamespacePrecedence(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	dir := t.TempDir()
	writeConfigFile(t, dir, fileConfig{Server: f.URL, Token: adminSecret, Namespace: "globex"})
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantPath string
	}{
		{name: "file", wantPath: "GET /v1/namespaces/globex/services"},
		{name: "env over file", env: []string{"PLATFORM_NAMESPACE=acme"}, wantPath: "GET /v1/namespaces/acme/services"},
		{name: "flag over env", env: []string{"PLATFORM_NAMESPACE=initech"}, args: []string{"-n", "acme"}, wantPath: "GET /v1/namespaces/acme/services"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.requests = nil
			f.mu.Unlock()
			runCLI(t, append([]string{"XDG_CONFIG_HOME=" + dir}, tt.env...), "", append([]string{"services"}, tt.args...)...)
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.requests) != 1 || f.requests[0] != tt.wantPath {
				t.Errorf("requests = %q, want [%q]", f.requests, tt.wantPath)
			}
		})
	}
}

func TestDefaultServer(t *testing.T) {
	t.Parallel()
	a := &app{env: map[string]string{"HOME": t.TempDir()}}
	cmd := a.servicesCmd()
	s, err := a.resolve(cmd, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Server != DefaultServer || s.Token != "" {
		t.Errorf("settings = %+v, want the default server and no token", s)
	}
}

func TestBadConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "micro-platform", "config.json")
	os.MkdirAll(filepath.Dir(p), 0o700)
	os.WriteFile(p, []byte("{not json"), 0o600)
	r := runCLI(t, []string{"XDG_CONFIG_HOME=" + dir}, "", "namespaces")
	if r.code != 1 || !strings.Contains(r.stderr, "error: config file "+p+" is not valid JSON") || !strings.Contains(r.stderr, "hint: fix or remove it") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
