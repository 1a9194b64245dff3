package gitops

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	platform "github.com/micro/platform"
)

// writeTree writes files (path → content) under a new directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func names(ss []Service) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}

// TestMicroMuProject: a go-micro micro.mu of three services, one depending on another,
// gives them in dependency order with the production env; a change touches exactly the
// services whose directories it is in, and shared code or the manifest touches all.
func TestMicroMuProject(t *testing.T) {
	root := writeTree(t, map[string]string{
		"services/micro.mu": `# the shop
service users
    path ./users

service posts
    path ./posts
    depends users

service web
    path ./web
    depends posts users

env development
    STORE file://./data

env production
    STORE postgres://db
`,
		"services/users/main.go": "package main", "services/posts/main.go": "package main", "services/web/main.go": "package main",
		"services/shared/util.go": "package shared", "README.md": "hi",
	})
	p, err := LoadProject(root, "services/", "shop", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p.Services); !slices.Equal(got, []string{"users", "posts", "web"}) {
		t.Fatalf("order = %v, want users, posts, web", got)
	}
	if p.Manifest != "micro.mu" || p.Env["STORE"] != "postgres://db" {
		t.Fatalf("manifest %q env %v", p.Manifest, p.Env)
	}
	if s, _ := p.Service("posts"); s.Path != "services/posts" || !slices.Equal(s.Depends, []string{"users"}) {
		t.Fatalf("posts = %+v", s)
	}
	for _, tc := range []struct {
		changed []string
		want    []string
	}{
		{[]string{"services/posts/main.go"}, []string{"posts"}},
		{[]string{"services/users/db.go", "services/web/index.html"}, []string{"users", "web"}},
		{[]string{"README.md", "docs/x.md"}, nil},
		{[]string{"services/shared/util.go"}, []string{"users", "posts", "web"}},
		{[]string{"services/micro.mu"}, []string{"users", "posts", "web"}},
		{[]string{"go.mod"}, []string{"users", "posts", "web"}},
	} {
		if got := names(p.Affected(tc.changed, true, "services")); !slices.Equal(got, tc.want) {
			t.Errorf("Affected(%v) = %v, want %v", tc.changed, got, tc.want)
		}
	}
	if got := names(p.Affected(nil, false, "services")); len(got) != 3 {
		t.Errorf("unknown changes touch %v, want all", got)
	}
}

// TestDiscoveredProject: without a manifest every directory with a main.go is a
// service, the link's own directory named after the repository.
func TestDiscoveredProject(t *testing.T) {
	root := writeTree(t, map[string]string{
		"main.go": "package main", "cmd/worker/main.go": "package main", "vendor/x/main.go": "package main",
		"internal/lib.go": "package internal",
	})
	p, err := LoadProject(root, "", "Shop", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p.Services); !slices.Equal(got, []string{"shop", "worker"}) {
		t.Fatalf("services = %v, want shop, worker", got)
	}
	if got := names(p.Affected([]string{"cmd/worker/main.go"}, true, "")); !slices.Equal(got, []string{"worker"}) {
		t.Errorf("a change in cmd/worker touches %v", got)
	}
	if got := names(p.Affected([]string{"internal/lib.go"}, true, "")); !slices.Equal(got, []string{"shop"}) {
		t.Errorf("a change in the root service's tree touches %v", got)
	}
}

// TestBadProjects: what go-micro or the platform would not take is EINVALID, naming it.
func TestBadProjects(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"cycle":        {"micro.mu": "service a\n    path ./a\n    depends b\nservice b\n    path ./b\n    depends a\n", "a/main.go": "", "b/main.go": ""},
		"unknown dep":  {"micro.mu": "service a\n    path ./a\n    depends nope\n", "a/main.go": ""},
		"bad name":     {"micro.mu": "service Bad_Name\n    path ./a\n", "a/main.go": ""},
		"escape":       {"micro.mu": "service a\n    path ../../etc\n"},
		"missing path": {"micro.mu": "service a\n    path ./nowhere\n"},
		"syntax":       {"micro.mu": "servce a\n"},
		"empty":        {"README.md": "nothing"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadProject(writeTree(t, files), "", "repo", "")
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("err = %v, want invalid", err)
			}
		})
	}
}

// TestSymlinksOutOfTheRepository: a manifest or service directory that is a symlink out
// of the checkout is refused before anything of the server is read.
func TestSymlinksOutOfTheRepository(t *testing.T) {
	secret := writeTree(t, map[string]string{"id_rsa": "-----BEGIN KEY-----\n"})
	root := writeTree(t, map[string]string{"a/main.go": "package main"})
	if err := os.Symlink(filepath.Join(secret, "id_rsa"), filepath.Join(root, "micro.mu")); err != nil {
		t.Fatal(err)
	}
	_, err := LoadProject(root, "", "repo", "")
	if platform.ErrorCode(err) != platform.EINVALID || strings.Contains(err.Error(), "BEGIN") {
		t.Fatalf("a symlinked micro.mu: %v", err)
	}
	root2 := writeTree(t, map[string]string{"micro.mu": "service a\n    path ./a\n"})
	if err := os.Symlink(secret, filepath.Join(root2, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProject(root2, "", "repo", ""); platform.ErrorCode(err) != platform.EINVALID {
		t.Fatalf("a service directory linked out: %v", err)
	}
	root3 := writeTree(t, map[string]string{})
	if err := os.Symlink(secret, filepath.Join(root3, "svc")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProject(root3, "svc", "repo", ""); platform.ErrorCode(err) != platform.EINVALID {
		t.Fatalf("a link path linked out: %v", err)
	}
}

// TestMirrorSendsTheTokenOnlyToGitHub: the operator's token goes with HTTPS fetches from
// GitHub's host, never to a clone URL elsewhere (a link's is the tenant's to choose).
func TestMirrorSendsTheTokenOnlyToGitHub(t *testing.T) {
	m := &Mirror{Token: "ghs_secret", TokenHost: "ghe.example.com"}
	for url, want := range map[string]bool{
		"https://ghe.example.com/acme/shop.git":      true,
		"https://GHE.example.com/acme/shop.git":      true,
		"http://ghe.example.com/acme/shop.git":       false,
		"https://attacker.example/acme/shop.git":     false,
		"https://ghe.example.com.evil/acme/shop":     false,
		"git://ghe.example.com/acme/shop.git":        false,
		"https://ghe.example.com:8443/acme/shop.git": false,
	} {
		if got := m.auth(url) != nil; got != want {
			t.Errorf("token sent to %s: %v, want %v", url, got, want)
		}
	}
	if (&Mirror{Token: "x"}).auth("https://github.com/a/b.git") == nil {
		t.Error("no token for github.com by default")
	}
}
