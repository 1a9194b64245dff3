package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform/internal/testenv"
)

// TestDev runs `platform dev` on a copy of examples/helloworld in a dev namespace: a save
// that changes the answer is served through the gateway, a compile error is printed and
// the previous version keeps answering, and Ctrl-C ends the command cleanly with the
// last good version still running.
func TestDev(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := startServer(t, t.TempDir())
	if out := s.must(t, "namespaces", "create", "acme-dev", "--dev"); !strings.Contains(out, "Created dev namespace acme-dev") {
		t.Fatalf("namespaces create --dev: %s", out)
	}
	dir := filepath.Join(t.TempDir(), "helloworld")
	if err := os.CopyFS(dir, os.DirFS("../examples/helloworld")); err != nil {
		t.Fatal(err)
	}
	mainGo := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(mainGo)
	if err != nil {
		t.Fatal(err)
	}
	save := func(content string) {
		t.Helper()
		if err := os.WriteFile(mainGo, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	answers := func(want string) func() bool {
		return func() bool {
			status, body, err := s.gateway(s.token, "acme-dev", "helloworld", "Helloworld.Call", `{"name":"Bob"}`)
			return err == nil && status == 200 && strings.TrimSpace(body) == `{"message":"`+want+` Bob"}`
		}
	}

	out := &testenv.Buffer{}
	cmd, exited, _ := spawn(t, []string{"dev", dir, "-n", "acme-dev"}, out, regexp.MustCompile(`^$^`), s.cliEnv()...)
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	printed := func(what string, timeout time.Duration, want ...string) {
		t.Helper()
		eventuallyWithin(t, timeout, what, func() bool {
			for _, w := range want {
				if !strings.Contains(out.String(), w) {
					return false
				}
			}
			return true
		})
	}

	printed("the first version live", 3*time.Minute, "helloworld v1 live in ")
	eventuallyWithin(t, 10*time.Second, "v1 answers through the gateway", answers("Hello"))

	t.Run("a save is served", func(t *testing.T) {
		save(strings.Replace(string(src), `"Hello " + req.Name`, `"Howdy " + req.Name`, 1))
		printed("v2 live", 2*time.Minute, "helloworld v2 live in ")
		eventuallyWithin(t, 5*time.Second, "the new answer", answers("Howdy"))
		printed("the instance's log", 10*time.Second, `helloworld │ `)
	})

	t.Run("a compile error keeps the old version", func(t *testing.T) {
		save(strings.Replace(string(src), `"Hello " + req.Name`, `"Howdy " + req.Name + undefinedName`, 1))
		printed("the compiler's error", 2*time.Minute, "helloworld v3 build failed (v2 keeps serving):", "undefined: undefinedName")
		if !answers("Howdy")() {
			t.Errorf("v2 stopped answering after a failed build")
		}
	})

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("platform dev still running 15 s after SIGINT:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("platform dev exited %d after SIGINT, want 0:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "helloworld v2 keeps running in acme-dev.") {
		t.Errorf("no word of what keeps running:\n%s", out.String())
	}
	if !answers("Howdy")() {
		t.Errorf("v2 stopped answering after platform dev ended")
	}
	t.Logf("platform dev printed:\n%s", out.String())
}
