package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform/internal/testenv"
	"github.com/micro/platform/runtime/local/sandbox"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestMain lets the server TestServerEndToEnd starts run its instances' sandboxes: the
// local runtime starts this test binary again as the sandbox's init, as it does main.
func TestMain(m *testing.M) {
	sandbox.Init()
	os.Exit(m.Run())
}

// result is what one run of the command printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the command in process with env (plus HOME in a temp dir and TZ=UTC unless
// given).
func runCLI(t *testing.T, env []string, args ...string) result {
	t.Helper()
	base := []string{"HOME=" + t.TempDir(), "TZ=UTC"}
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := run(ctx, args, strings.NewReader(""), &out, &errb, append(base, env...))
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// TestServerVerb checks that `platform server` is wired in, with the help and the usage
// errors of the CLI's own verbs, against testdata/*.golden.
func TestServerVerb(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{name: "server_help", args: []string{"server", "--help"}},
		{name: "server_args", args: []string{"server", "extra"}},
		{name: "server_bad_flag", args: []string{"server", "--bogus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, tt.args...)
			got := fmt.Sprintf("$ platform %s\n--- stdout\n%s--- stderr\n%s--- exit %d\n", strings.Join(tt.args, " "), r.stdout, r.stderr, r.code)
			p := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s--- want\n%s", p, got, want)
			}
		})
	}
}

// TestServerEndToEnd runs `platform server` in process and drives it with the CLI.
func TestServerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	data, cfgHome := t.TempDir(), t.TempDir()
	t.Cleanup(func() { testenv.KillInstances(t, data) }) // instances outlive the server by design
	args := []string{"server", "--data", data, "--addr", "127.0.0.1:0", "--log-format", "text"}
	testenv.RemoveCgroups(t, data)
	// A bridge of its own, so that another server on this machine (a benchmark, another
	// test binary) never rewrites this one's firewall table.
	if bridge, subnet := testenv.SandboxNetwork(t, data); bridge != "" {
		args = append(args, "--sandbox-bridge", bridge, "--sandbox-subnet", subnet)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testenv.Buffer{}
	var errb testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, args, strings.NewReader(""), out, &errb, []string{"HOME=" + cfgHome})
	}()
	addrRE := regexp.MustCompile(`platform server started.* addr=([0-9.:]+)`)
	var addr string
	deadline := time.Now().Add(60 * time.Second)
	for addr == "" {
		if m := addrRE.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("server exited %d:\n%s%s", code, out.String(), errb.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", out.String())
		}
	}
	secret := adminTokenFrom(t, out.String())
	env := []string{"XDG_CONFIG_HOME=" + cfgHome, "TZ=UTC"}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"login", "--server", "http://" + addr, "--token", secret}, "Logged in to http://" + addr},
		{[]string{"namespaces", "create", "acme"}, "Created namespace acme."},
		{[]string{"ns", "list"}, "acme"},
		{[]string{"services", "-n", "acme"}, "No services in acme."},
		{[]string{"tokens", "create", "ci", "--namespace", "acme", "--ttl", "24h"}, "with access to acme"},
		{[]string{"tokens"}, "ci "},
		{[]string{"events", "-n", "acme"}, "namespace.created"},
	}
	for _, s := range steps {
		r := runCLI(t, env, s.args...)
		if r.code != 0 || !strings.Contains(r.stdout, s.want) {
			t.Fatalf("platform %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(s.args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := runCLI(t, env, "services", "get", "nope", "-n", "acme"); r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") {
		t.Errorf("services get nope: exit %d, stderr %s", r.code, r.stderr)
	}
	deployAndCall(t, env)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("server exited %d after interrupt:\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop")
	}
}

// adminTokenFrom finds the admin token the server prints at first start.
func adminTokenFrom(t *testing.T, out string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Admin token") {
			for sc.Scan() {
				if s := strings.TrimSpace(sc.Text()); s != "" {
					return s
				}
			}
		}
	}
	t.Fatalf("no admin token in output:\n%s", out)
	return ""
}

// deployAndCall deploys examples/helloworld through the CLI, calls it, reads its logs and
// deletes it.
func deployAndCall(t *testing.T, env []string) {
	t.Helper()
	r := runCLI(t, env, "deploy", filepath.Join("..", "..", "examples", "helloworld"), "-n", "acme")
	if r.code != 0 || !strings.Contains(r.stdout, "Release v1 of helloworld is live.") || !strings.Contains(r.stdout, "build.succeeded") {
		t.Fatalf("deploy: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"services", "-n", "acme"}, "helloworld   v1        running   1/1         nano   local:running 1/1   Helloworld.Call"},
		{[]string{"call", "helloworld", "Helloworld.Call", `{"name":"Alice"}`, "-n", "acme"}, "{\n  \"message\": \"Hello Alice\"\n}\n"},
		{[]string{"logs", "helloworld", "-n", "acme"}, `stderr] `},
		{[]string{"delete", "helloworld", "-n", "acme"}, "Deleting service helloworld in acme"},
	}
	for _, s := range steps {
		r := runCLI(t, env, s.args...)
		if r.code != 0 || !strings.Contains(r.stdout, s.want) {
			t.Errorf("platform %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant %q", strings.Join(s.args, " "), r.code, r.stdout, r.stderr, s.want)
		}
	}
}
