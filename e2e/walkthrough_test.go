package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
)

// TestWalkthrough is the README's walkthrough, command by command.
func TestWalkthrough(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := startServer(t, t.TempDir())

	t.Run("login", func(t *testing.T) {
		out := s.must(t, "login", "--server", s.url(), "--token", s.token)
		if !strings.Contains(out, "Logged in") {
			t.Errorf("login: %s", out)
		}
		if fi, err := os.Stat(filepath.Join(s.dir, "cfg", "micro-platform", "config.json")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("config file: %v %v", fi, err)
		}
	})
	s.must(t, "namespaces", "create", "acme")
	if regions := s.must(t, "regions"); !containsRow(regions, "local", "local", s.url()) {
		t.Errorf("regions:\n%s", regions)
	}

	deploy := s.must(t, "deploy", "./examples/helloworld", "-n", "acme")
	for _, want := range []string{"build.started", "build.succeeded", "release.rolled_out", "is live"} {
		if !strings.Contains(deploy, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, deploy)
		}
	}

	services := s.must(t, "services", "-n", "acme")
	if !containsRow(services, "helloworld", "v1", "running", "1/1", "Helloworld.Call") {
		t.Errorf("services:\n%s", services)
	}
	views := decode[[]platform.ServiceView](t, s.must(t, "services", "-n", "acme", "-o", "json"))
	if len(views) != 1 || len(views[0].Instances) != 1 || !views[0].Instances[0].Registered || views[0].Instances[0].MemoryBytes == 0 {
		t.Errorf("services -o json: %+v", views)
	}

	if out := s.must(t, "call", "helloworld", "Helloworld.Call", `{"name":"Alice"}`, "-n", "acme"); !strings.Contains(out, `"Hello Alice"`) {
		t.Errorf("call: %s", out)
	}
	status, body, err := s.gateway(s.token, "acme", "helloworld", "Helloworld.Call", `{"name":"Bob"}`)
	if err != nil || status != 200 || strings.TrimSpace(body) != `{"message":"Hello Bob"}` {
		t.Errorf("gateway: %d %s %v", status, body, err)
	}

	eventually(t, "logs show the calls", func() bool {
		logs := s.platform(t, "logs", "helloworld", "-n", "acme")
		return strings.Contains(logs.stdout, `name="Alice"`) && strings.Contains(logs.stdout, `name="Bob"`)
	})
	events := s.must(t, "events", "-n", "acme")
	for _, want := range []string{"namespace.created", "release.created", "build.started", "build.succeeded", "release.rolling_out", "instance.started", "release.rolled_out"} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %s:\n%s", want, events)
		}
	}

	t.Run("greeter calls helloworld inside the namespace", func(t *testing.T) {
		s.must(t, "deploy", "./examples/greeter", "-n", "acme")
		out := s.must(t, "call", "greeter", "Greeter.Hello", `{"name":"Carol"}`, "-n", "acme")
		if !strings.Contains(out, "Hello Carol (via greeter)") {
			t.Errorf("greeter: %s", out)
		}
	})

	t.Run("deploy from git", func(t *testing.T) {
		url := gitDaemon(t, "./examples/helloworld", "services/foo", "v1.2.0")
		out := s.must(t, "deploy", url, "--path", "services/foo", "--ref", "v1.2.0", "-n", "acme")
		if !strings.Contains(out, "is live") {
			t.Errorf("git deploy: %s", out)
		}
		if out := s.must(t, "call", "foo", "Helloworld.Call", `{"name":"Git"}`, "-n", "acme"); !strings.Contains(out, "Hello Git") {
			t.Errorf("call foo: %s", out)
		}
	})

	t.Run("bad input is refused and changes nothing", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			want string
		}{
			{"invalid namespace name", []string{"namespaces", "create", "Bad_Name"}, "invalid namespace name"},
			{"unknown namespace", []string{"services", "-n", "nope"}, `namespace "nope" not found`},
			{"bad git url", []string{"deploy", "ftp://example/repo.git", "-n", "acme", "--name", "bad"}, "error:"},
			{"unreachable git", []string{"deploy", "git://127.0.0.1:1/none.git", "-n", "acme", "--name", "bad"}, "bad"},
			{"malformed call json", []string{"call", "helloworld", "Helloworld.Call", `{"name":`, "-n", "acme"}, "error:"},
			{"invalid service name", []string{"deploy", "./examples/helloworld", "-n", "acme", "--name", "Hello_World"}, "invalid"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := s.platform(t, tt.args...)
				if r.code == 0 || !strings.Contains(r.stdout+r.stderr, tt.want) {
					t.Errorf("want a failure mentioning %q, got %s", tt.want, r)
				}
			})
		}
		services := s.must(t, "services", "-n", "acme")
		if strings.Contains(services, "Hello_World") || strings.Contains(services, "running   0/") {
			t.Errorf("bad input changed services:\n%s", services)
		}
	})

	t.Run("delete", func(t *testing.T) {
		s.must(t, "delete", "helloworld", "-n", "acme")
		eventually(t, "helloworld gone", func() bool {
			return !strings.Contains(s.must(t, "services", "-n", "acme"), "helloworld")
		})
		eventually(t, "its instances stopped", func() bool {
			for _, p := range testenv.Instances(t, s.dir) {
				if p.Env["MICRO_SERVER_NAME"] == "helloworld" {
					return false
				}
			}
			return true
		})
		eventually(t, "the gateway says not found", func() bool {
			status, _, _ := s.gateway(s.token, "acme", "helloworld", "Helloworld.Call", `{}`)
			return status == 404
		})
	})
}

// TestThirdPartyService deploys go-micro's own auth example server, unchanged.
func TestThirdPartyService(t *testing.T) {
	skipShort(t)
	t.Parallel()
	src := goMicroExample(t, "examples/auth/server/main.go")
	s := startServer(t, t.TempDir())
	s.must(t, "namespaces", "create", "outside")
	s.must(t, "deploy", src, "-n", "outside", "--name", "greeter")
	services := s.must(t, "services", "-n", "outside")
	if !containsRow(services, "greeter", "running", "1/1", "Greeter.Health") {
		t.Errorf("services:\n%s", services)
	}
	if out := s.must(t, "call", "greeter", "Greeter.Health", `{}`, "-n", "outside"); !strings.Contains(out, `"ok"`) {
		t.Errorf("Greeter.Health: %s", out)
	}
	status, body, err := s.gateway(s.token, "outside", "greeter", "Greeter.Health", `{}`)
	if err != nil || status != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("gateway: %d %s %v", status, body, err)
	}
}

// goMicroExample copies one file of go-micro's own examples, unchanged, into a module of
// its own that requires go-micro v5.30.0.
func goMicroExample(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go-micro.dev/v5").Output()
	if err != nil {
		t.Fatalf("locate go-micro: %v", err)
	}
	main, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), file))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "thirdparty")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "main.go"), main, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/thirdparty\n\ngo 1.24\n\nrequire go-micro.dev/v5 v5.30.0\n"), 0o644))
	sum, err := os.ReadFile("../examples/helloworld/go.sum")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))
	return dir
}

// gitDaemon commits the directory src (absolute, or relative to the repository's root)
// under path in a new repository, tags it and serves
// it with `git daemon` on a loopback port held until the test ends. It returns the clone
// URL.
func gitDaemon(t *testing.T, src, path, tag string) string {
	t.Helper()
	base := t.TempDir()
	repo := filepath.Join(base, "repo.git")
	work := filepath.Join(base, "work")
	must(t, os.MkdirAll(filepath.Join(work, path), 0o755))
	if !filepath.IsAbs(src) {
		src = filepath.Join("..", src)
	}
	must(t, os.CopyFS(filepath.Join(work, path), os.DirFS(src)))
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git(work, "init", "-q", "-b", "main")
	git(work, "add", ".")
	git(work, "commit", "-q", "-m", "service")
	git(work, "tag", tag)
	git(base, "clone", "-q", "--bare", work, repo)

	return "git://" + testenv.GitDaemon(t, base) + "/repo.git"
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// containsRow reports whether a line of table has every field, in order.
func containsRow(table string, fields ...string) bool {
	for _, line := range strings.Split(table, "\n") {
		rest, ok := line, true
		for _, f := range fields {
			i := strings.Index(rest, f)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(f):]
		}
		if ok {
			return true
		}
	}
	return false
}

// eventually waits up to 3 minutes (builds on a loaded 2-core machine are slow) for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
