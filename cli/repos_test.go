package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	platform "github.com/micro/platform"
)

// TestReposGolden checks the text of repos and its subcommands against testdata/*.golden.
func TestReposGolden(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	tests := []struct {
		name string
		args []string
	}{
		{name: "repos", args: []string{"repos"}},
		{name: "repos_namespace", args: []string{"repos", "-n", "acme"}},
		{name: "repos_link_by_hand", args: []string{"repos", "link", "acme/api", "-n", "acme", "--path", "services/"}},
		{name: "repos_link_installed", args: []string{"repos", "link", "acme/hooked", "-n", "acme", "--branch", "release", "--no-previews"}},
		{name: "repos_link_conflict", args: []string{"repos", "link", "acme/services", "-n", "acme"}},
		{name: "repos_unlink", args: []string{"repos", "unlink", linkID, "-n", "acme"}},
		{name: "repos_unlink_not_found", args: []string{"repos", "unlink", "l-nope", "-n", "acme"}},
		{name: "repos_workflow", args: []string{"repos", "workflow", "-n", "acme", "--server", "https://platform.example.com"}},
		{name: "repos_workflow_service", args: []string{"repos", "workflow", "-n", "acme", "--server", "https://platform.example.com", "--service", "hello", "--branch", "release"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.run(t, tt.args...)
			checkGolden(t, tt.name, transcript(tt.args, r))
		})
	}
}

// TestRepoLinkRequest checks what link sends: the flags, the namespace of -n, the
// default branch.
func TestRepoLinkRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want platform.LinkRepoRequest
	}{
		{name: "defaults", args: []string{"repos", "link", "acme/api", "-n", "acme"},
			want: platform.LinkRepoRequest{Namespace: "acme", Repo: "acme/api", Branch: "main"}},
		{name: "every flag", args: []string{"repos", "link", "acme/api", "-n", "acme", "--branch", "develop", "--path", "services/",
			"--clone-url", "https://git.example.com/acme/api.git", "--no-previews"},
			want: platform.LinkRepoRequest{Namespace: "acme", Repo: "acme/api", Branch: "develop", Path: "services/",
				CloneURL: "https://git.example.com/acme/api.git", NoPreviews: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			if r := f.run(t, tt.args...); r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var got platform.LinkRepoRequest
			if err := json.Unmarshal(f.recorded("POST /v1/namespaces/acme/repos"), &got); err != nil || got != tt.want {
				t.Errorf("link request %+v (%v), want %+v", got, err, tt.want)
			}
		})
	}
}

// TestReposJSON checks -o json of repos and its subcommands.
func TestReposJSON(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, v any)
	}{
		{name: "every namespace", args: []string{"repos"}, check: wantLen(2)},
		{name: "one namespace", args: []string{"repos", "-n", "acme"}, check: func(t *testing.T, v any) {
			l, _ := v.([]any)
			m, _ := l[0].(map[string]any)
			if d, _ := m["last_delivery"].(map[string]any); len(l) != 1 || d["event"] != "push" {
				t.Errorf("got %v, want acme's link with its last delivery", v)
			}
		}},
		{name: "link", args: []string{"repos", "link", "acme/api", "-n", "acme"}, check: func(t *testing.T, v any) {
			m, _ := v.(map[string]any)
			s, _ := m["setup"].(map[string]any)
			l, _ := m["link"].(map[string]any)
			if s["webhook_secret"] != secretWH || l["id"] != "l-9c8b7a6f" {
				t.Errorf("got %v, want the link and its setup", v)
			}
		}},
		{name: "unlink", args: []string{"repos", "unlink", linkID, "-n", "acme"}, check: wantField("status", "unlinked")},
		{name: "workflow", args: []string{"repos", "workflow", "-n", "acme", "--server", "https://p.example.com"}, check: func(t *testing.T, v any) {
			m, _ := v.(map[string]any)
			if m["path"] != ".github/workflows/deploy.yml" || !strings.Contains(m["content"].(string), "id-token: write") {
				t.Errorf("got %v, want the workflow's path and content", v)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := f.run(t, append(tt.args, "-o", "json")...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var v any
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
			}
			tt.check(t, v)
		})
	}
}

// TestRepoWorkflow parses the printed workflow as GitHub would and checks that the job
// may ask for an OIDC token, installs the CLI, signs in with it and deploys.
func TestRepoWorkflow(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	r := f.run(t, "repos", "workflow", "-n", "acme", "--service", "hello", "--branch", "release/2026")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// The fake listens on 127.0.0.1, which no runner reaches.
	if !strings.HasPrefix(r.stderr, "warning: the workflow names "+f.URL+", which GitHub's runners cannot reach") {
		t.Errorf("stderr %q, want a warning about the loopback server", r.stderr)
	}
	var wf struct {
		On struct {
			Push struct {
				Branches []string `yaml:"branches"`
			} `yaml:"push"`
		} `yaml:"on"`
		Permissions map[string]string `yaml:"permissions"`
		Jobs        map[string]struct {
			Steps []struct {
				Uses string `yaml:"uses"`
				Run  string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal([]byte(r.stdout), &wf); err != nil {
		t.Fatalf("workflow is not YAML: %v\n%s", err, r.stdout)
	}
	if len(wf.On.Push.Branches) != 1 || wf.On.Push.Branches[0] != "release/2026" {
		t.Errorf("branches %q, want [release/2026]", wf.On.Push.Branches)
	}
	if wf.Permissions["id-token"] != "write" {
		t.Errorf("permissions %v, want id-token: write", wf.Permissions)
	}
	var runs []string
	for _, s := range wf.Jobs["deploy"].Steps {
		if s.Run != "" {
			runs = append(runs, s.Run)
		}
	}
	want := []string{
		"go install github.com/micro/platform/cmd/platform@latest",
		"platform login --github-oidc --server " + f.URL,
		"platform deploy . -n acme --name hello",
	}
	if strings.Join(runs, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps run\n%s\nwant\n%s", strings.Join(runs, "\n"), strings.Join(want, "\n"))
	}
}

func TestAge(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 42 * time.Second: "42s", 5*time.Minute + time.Millisecond: "5m", 3 * time.Hour: "3h",
		47 * time.Hour: "47h", 72 * time.Hour: "3d",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%s) = %q, want %q", d, got, want)
		}
	}
}
