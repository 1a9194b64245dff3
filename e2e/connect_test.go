package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
)

// goMicroVersion is the go-micro release the platform requires, and the `micro` CLI's.
const goMicroVersion = "v5.30.0"

var microCLI struct {
	once sync.Once
	path string
	err  error
}

// microBinary builds go-micro's own `micro` CLI at goMicroVersion from the Go module proxy,
// in a scratch module so the project's go.mod never depends on it, once per machine (kept
// in the test cache, PLATFORM_TEST_CACHE or ~/.cache/micro-platform-test).
func microBinary(t *testing.T) string {
	t.Helper()
	microCLI.once.Do(func() {
		cache := os.Getenv("PLATFORM_TEST_CACHE")
		if cache == "" {
			home, err := os.UserCacheDir()
			if err != nil {
				microCLI.err = err
				return
			}
			cache = filepath.Join(home, "micro-platform-test")
		}
		dir := filepath.Join(cache, "micro-cli-"+goMicroVersion)
		out := filepath.Join(dir, "micro")
		if _, err := os.Stat(out); err == nil {
			microCLI.path = out
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			microCLI.err = err
			return
		}
		env := append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
		for _, args := range [][]string{
			{"mod", "init", "micro-platform-test/micro-cli"},
			{"get", "go-micro.dev/v5@" + goMicroVersion, "go-micro.dev/v5/cmd/micro@" + goMicroVersion},
			{"build", "-o", out + ".tmp", "go-micro.dev/v5/cmd/micro"},
		} {
			if args[0] == "mod" {
				if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
					continue
				}
			}
			cmd := exec.Command("go", args...)
			cmd.Dir, cmd.Env = dir, env
			if b, err := cmd.CombinedOutput(); err != nil {
				microCLI.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
				return
			}
		}
		microCLI.err = os.Rename(out+".tmp", out)
		microCLI.path = out
	})
	if microCLI.err != nil {
		t.Fatalf("build go-micro's micro CLI %s: %v", goMicroVersion, microCLI.err)
	}
	return microCLI.path
}

// goBuild builds the go-micro service in dir into a binary, as a developer's `go build`.
func goBuild(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(dir))
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, b)
	}
	return out
}

// exports parses `export K='v'` lines.
func exports(t *testing.T, out string) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "export ")
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		env[k] = strings.ReplaceAll(strings.Trim(v, "'"), `'\''`, "'")
	}
	if env["MICRO_REGISTRY"] != "nats" || env["MICRO_TRANSPORT_ADDRESS"] == "" {
		t.Fatalf("no mesh environment in:\n%s", out)
	}
	return env
}

// micro runs go-micro's CLI with env (and nothing of the platform's).
func micro(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, microBinary(t), args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// background runs `platform ARGS...` against s until stopped with SIGINT; it returns the
// stop function, which waits for the exit and returns its status and output.
func (s *serverProc) background(t *testing.T, env []string, args ...string) (stop func() (int, string)) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), s.cliEnv(env...)...)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() (int, string) {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		})
		return cmd.ProcessState.ExitCode(), out.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// retryUntil retries f every 200ms until it returns nil or timeout passes, then fails
// with its last error.
func retryUntil(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestConnect is a developer's loop against a real server: processes on the developer's
// machine join namespace acme's mesh with `platform connect` (through the tunnel over the
// platform's address) and `platform env` (direct): a local service calls a deployed one
// and a deployed service calls a local one through the namespace's registry; go-micro's
// own `micro` CLI lists, describes and calls acme's services; the credentials are the
// developer's, refused to viewers and on the API, cut off within a second when revoked or
// expired, and see nothing of namespace globex.
func TestConnect(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.must(t, "namespaces", "create", "acme")
	s.must(t, "namespaces", "create", "globex")
	s.must(t, "deploy", "examples/helloworld", "-n", "acme")
	s.must(t, "deploy", "examples/greeter", "-n", "acme")
	s.must(t, "deploy", "examples/helloworld", "-n", "globex", "--name", "payroll")
	micro(t, nil, "--version") // build it while nothing else waits
	greeterBin := goBuild(t, "../examples/greeter")

	// A local service calls a deployed one: the developer's greeter, under a name of its
	// own, asks acme's deployed helloworld.
	stopGreeter := s.background(t, []string{"MICRO_SERVER_NAME=greeter-laptop"}, "connect", "-n", "acme", "--", greeterBin)
	retryUntil(t, 30*time.Second, "the developer's greeter answers through the gateway", func() error {
		code, body, err := s.gateway(s.token, "acme", "greeter-laptop", "Greeter.Hello", `{"name":"Ann"}`)
		if err != nil || code != 200 || !strings.Contains(body, "Hello Ann (via greeter)") {
			return fmt.Errorf("%d %s %v", code, body, err)
		}
		return nil
	})

	// The credential is the developer's, listed with its live connections.
	out := s.must(t, "connections", "-n", "acme", "-o", "json")
	conns := decode[[]*platform.MeshConnection](t, out)
	if len(conns) != 1 || conns[0].Token.Kind != platform.TokenMesh || conns[0].Token.User != "admin" || len(conns[0].Clients) == 0 {
		t.Fatalf("connections while the developer's greeter runs:\n%s", out)
	}
	if code, out := stopGreeter(); code != 130 && code != 0 {
		t.Fatalf("platform connect exited %d after Ctrl-C:\n%s", code, out)
	}
	if out := s.must(t, "connections", "-n", "acme", "-o", "json"); len(decode[[]*platform.MeshConnection](t, out)) != 0 {
		t.Fatalf("the credential of a finished `platform connect` is still there:\n%s", out)
	}

	// A deployed service calls a local one: acme's helloworld is the developer's now.
	s.must(t, "delete", "helloworld", "-n", "acme")
	local := t.TempDir()
	src, err := os.ReadFile("../examples/helloworld/main.go")
	must(t, err)
	changed := strings.Replace(string(src), `"Hello " + req.Name`, `"Hello " + req.Name + " from the laptop"`, 1)
	if changed == string(src) {
		t.Fatal("examples/helloworld/main.go no longer builds its answer as \"Hello \" + req.Name")
	}
	for name, data := range map[string]string{"main.go": changed} {
		must(t, os.WriteFile(filepath.Join(local, name), []byte(data), 0o644))
	}
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join("../examples/helloworld", name))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(local, name), b, 0o644))
	}
	helloBin := goBuild(t, local)
	s.background(t, nil, "connect", "-n", "acme", "--", helloBin)
	retryUntil(t, 30*time.Second, "the deployed greeter calls the developer's helloworld", func() error {
		code, body, err := s.gateway(s.token, "acme", "greeter", "Greeter.Hello", `{"name":"Bob"}`)
		if err != nil || code != 200 || !strings.Contains(body, "Hello Bob from the laptop (via greeter)") {
			return fmt.Errorf("%d %s %v", code, body, err)
		}
		return nil
	})

	// go-micro's own CLI, unchanged, with `platform env`'s exports.
	r := s.platform(t, "env", "-n", "acme")
	if r.code != 0 {
		t.Fatalf("platform env: %s", r)
	}
	env := exports(t, r.stdout)
	if strings.Contains(env["MICRO_REGISTRY_ADDRESS"], "ns-acme") {
		t.Fatal("platform env hands out the instances' own mesh credentials")
	}
	retryUntil(t, 20*time.Second, "micro services lists acme's services", func() error {
		out, err := micro(t, env, "services")
		if err != nil || !strings.Contains(out, "greeter") || !strings.Contains(out, "helloworld") {
			return fmt.Errorf("%v: %s", err, out)
		}
		if strings.Contains(out, "payroll") {
			t.Fatalf("a connection to acme lists globex's payroll:\n%s", out)
		}
		return nil
	})
	out, err = micro(t, env, "describe", "helloworld")
	if err != nil || !strings.Contains(out, `"name": "helloworld"`) || !strings.Contains(out, "Helloworld.Call") {
		t.Fatalf("micro describe helloworld: %v\n%s", err, out)
	}
	out, err = micro(t, env, "call", "greeter", "Greeter.Hello", `{"name":"x"}`)
	if err != nil || !strings.Contains(out, "Hello x from the laptop (via greeter)") {
		t.Fatalf("micro call greeter: %v\n%s", err, out)
	}
	if out, err := micro(t, env, "describe", "payroll"); err == nil && strings.Contains(out, "payroll") {
		t.Fatalf("a connection to acme describes globex's payroll:\n%s", out)
	}
	// And through the tunnel, as from another machine.
	r = s.platform(t, "connect", "-n", "acme", "--", microBinary(t), "call", "helloworld", "Helloworld.Call", `{"name":"x"}`)
	if r.code != 0 || !strings.Contains(r.stdout, "Hello x from the laptop") {
		t.Fatalf("micro call through platform connect's tunnel: %s", r)
	}

	// The credential opens the mesh only, not the API.
	secret := meshSecret(t, env)
	if code, body, _ := s.gateway(secret, "acme", "greeter", "Greeter.Hello", `{"name":"y"}`); code != 403 {
		t.Fatalf("a mesh credential as a bearer token on the gateway: %d %s, want 403", code, body)
	}
	if r := s.platformAs(t, secret, "services", "-n", "acme"); r.code == 0 {
		t.Fatalf("a mesh credential lists services through the API: %s", r)
	}

	// Only roles that may deploy get one.
	ctx := context.Background()
	_, viewer, err := s.client().CreateToken(ctx, platform.CreateTokenRequest{Name: "viewer", Role: platform.RoleViewer})
	must(t, err)
	if r := s.platformAs(t, viewer, "env", "-n", "acme"); r.code == 0 || !strings.Contains(r.stderr, "mesh.connect needs the developer role") {
		t.Fatalf("a viewer got a mesh credential: %s", r)
	}

	// Revoked: cut off within a second.
	grant, err := s.client().Connect(ctx, platform.ConnectRequest{Namespace: "acme"})
	must(t, err)
	closed := make(chan time.Time, 1)
	nc, err := nats.Connect(grant.Env["MICRO_REGISTRY_ADDRESS"], nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { closed <- time.Now() }))
	must(t, err)
	defer nc.Close()
	revoked := time.Now()
	if r := s.platform(t, "connections", "revoke", grant.Token.ID); r.code != 0 {
		t.Fatalf("platform connections revoke: %s", r)
	}
	select {
	case at := <-closed:
		d := at.Sub(revoked)
		if d > time.Second {
			t.Errorf("a revoked credential's connection closed %s after the revoke began, want within 1s", d)
		}
		t.Logf("revoked through `platform connections revoke`: connection closed %s after the command started", d.Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("a revoked credential's connection is still open after 5s")
	}

	// Expired: cut off when it expires, and no new connection.
	r = s.platform(t, "env", "-n", "acme", "--ttl", "2s")
	short := exports(t, r.stdout)
	closed = make(chan time.Time, 1)
	nc, err = nats.Connect(short["MICRO_REGISTRY_ADDRESS"], nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { closed <- time.Now() }))
	must(t, err)
	defer nc.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("an expired credential's connection is still open 5s after it was issued with --ttl 2s")
	}
	if nc, err := nats.Connect(short["MICRO_REGISTRY_ADDRESS"], nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("an expired credential connects")
	}

	// Every issue is audited, and the viewer's refusal.
	audit := decode[struct {
		Entries []*platform.AuditEntry `json:"entries"`
	}](t, s.must(t, "audit", "-o", "json"))
	issued, denied := 0, 0
	for _, e := range audit.Entries {
		if e.Action != platform.AuditMeshConnect {
			continue
		}
		switch e.Outcome {
		case platform.AuditOK:
			issued++
		case platform.AuditDenied:
			denied++
		}
	}
	if issued < 6 || denied < 1 {
		t.Errorf("audit has %d mesh.connect entries issued and %d denied, want one per credential issued (6) and the viewer's refusal", issued, denied)
	}
}

// meshSecret is the password in a mesh environment's URL.
func meshSecret(t *testing.T, env map[string]string) string {
	t.Helper()
	u, err := url.Parse(env["MICRO_REGISTRY_ADDRESS"])
	must(t, err)
	secret, ok := u.User.Password()
	if !ok || secret == "" {
		t.Fatalf("no credential in the mesh environment")
	}
	return secret
}
