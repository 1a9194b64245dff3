package cli

import (
	"bufio"
	"context"
	"github.com/micro/platform/internal/testenv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/micro/platform/server"
)

// TestServerConfig checks defaults < file < env < flags, and that only flags actually
// given override.
func TestServerConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "platform.yaml")
	os.WriteFile(file, []byte("addr: 127.0.0.1:7001\nlog_level: debug\nnats_port: 4333\nrollout_timeout: 30s\ndata: "+dir+"\n"), 0o600)
	tests := []struct {
		name    string
		env     []string
		args    []string
		check   func(server.Config) bool
		wantErr string
	}{
		{name: "defaults", args: []string{"--data", dir},
			check: func(c server.Config) bool {
				return c.Addr == "127.0.0.1:8080" && c.LogLevel == "info" && c.Runtime == "local"
			}},
		{name: "file over defaults", args: []string{"--config", file},
			check: func(c server.Config) bool {
				return c.Addr == "127.0.0.1:7001" && c.LogLevel == "debug" && c.NATSPort == 4333 && c.RolloutTimeout == 30*time.Second && c.DataDir == dir
			}},
		{name: "env over file", args: []string{"--config", file}, env: []string{"PLATFORM_ADDR=127.0.0.1:7002", "PLATFORM_ROLLOUT_TIMEOUT=45s"},
			check: func(c server.Config) bool {
				return c.Addr == "127.0.0.1:7002" && c.RolloutTimeout == 45*time.Second && c.LogLevel == "debug"
			}},
		{name: "flags over env", args: []string{"--config", file, "--addr", "127.0.0.1:7003", "--rollout-timeout", "5s", "--nats-port", "0", "--log-format", "json"},
			env: []string{"PLATFORM_ADDR=127.0.0.1:7002"},
			check: func(c server.Config) bool {
				return c.Addr == "127.0.0.1:7003" && c.RolloutTimeout == 5*time.Second && c.NATSPort == 0 && c.LogFormat == "json" && c.LogLevel == "debug"
			}},
		{name: "every invalid setting reported", args: []string{"--data", dir, "--runtime", "k8s", "--log-format", "xml"},
			wantErr: `runtime "k8s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &app{env: envMap(tt.env)}
			var sf serverFlags
			cmd := &cobra.Command{}
			sf.register(cmd)
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := a.serverConfig(cmd, sf)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `log_format "xml"`) {
					t.Fatalf("err = %v, want both problems", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("config %+v", cfg)
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testenv.Buffer{}
	var errb testenv.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"server", "--data", data, "--addr", "127.0.0.1:0", "--log-format", "text"}, strings.NewReader(""), out, &errb, []string{"HOME=" + cfgHome})
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
		r := runCLI(t, env, "", s.args...)
		if r.code != 0 || !strings.Contains(r.stdout, s.want) {
			t.Fatalf("platform %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(s.args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if r := runCLI(t, env, "", "services", "get", "nope", "-n", "acme"); r.code != 1 || !strings.HasPrefix(r.stderr, "error: ") {
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
	r := runCLI(t, env, "", "deploy", filepath.Join("..", "examples", "helloworld"), "-n", "acme")
	if r.code != 0 || !strings.Contains(r.stdout, "Release v1 of helloworld is live.") || !strings.Contains(r.stdout, "build.succeeded") {
		t.Fatalf("deploy: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"services", "-n", "acme"}, "helloworld   v1        running   1/1         nano   Helloworld.Call"},
		{[]string{"call", "helloworld", "Helloworld.Call", `{"name":"Alice"}`, "-n", "acme"}, "{\n  \"message\": \"Hello Alice\"\n}\n"},
		{[]string{"logs", "helloworld", "-n", "acme"}, `stderr] `},
		{[]string{"delete", "helloworld", "-n", "acme"}, "Deleting service helloworld in acme"},
	}
	for _, s := range steps {
		r := runCLI(t, env, "", s.args...)
		if r.code != 0 || !strings.Contains(r.stdout, s.want) {
			t.Errorf("platform %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant %q", strings.Join(s.args, " "), r.code, r.stdout, r.stderr, s.want)
		}
	}
}
