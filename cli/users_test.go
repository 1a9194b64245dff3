package cli

import (
	"bufio"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/micro/platform/internal/testenv"
	"github.com/micro/platform/server"
)

// liveServer is `platform server` running in process on a temporary data dir, and the
// first owner's token it printed.
type liveServer struct {
	addr, owner string
	logs        *testenv.Buffer
	errs        *testenv.Buffer
}

// startServer runs `platform server` until the test ends, with env added to its
// environment. The CLI's own verbs do not include it (cmd/platform adds it); the tests
// add it the same way.
func startServer(t *testing.T, env ...string) *liveServer {
	t.Helper()
	data := t.TempDir()
	t.Cleanup(func() { testenv.KillInstances(t, data) })
	ctx, cancel := context.WithCancel(context.Background())
	s := &liveServer{logs: &testenv.Buffer{}, errs: &testenv.Buffer{}}
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"server", "--data", data, "--addr", "127.0.0.1:0", "--log-format", "text", "--log-level", "debug"},
			strings.NewReader(""), s.logs, s.errs, append([]string{"HOME=" + t.TempDir()}, env...), server.Command)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("server did not stop")
		}
	})
	addrRE := regexp.MustCompile(`platform server started.* addr=([0-9.:]+)`)
	deadline := time.Now().Add(90 * time.Second)
	for {
		if m := addrRE.FindStringSubmatch(s.logs.String()); m != nil {
			s.addr = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("server exited %d:\n%s%s", code, s.logs.String(), s.errs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", s.logs.String())
		}
	}
	s.owner = adminTokenFrom(t, s.logs.String())
	return s
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

// as runs the CLI against s with secret.
func (s *liveServer) as(t *testing.T, secret string, args ...string) result {
	t.Helper()
	return runCLI(t, []string{"PLATFORM_SERVER=http://" + s.addr, "PLATFORM_TOKEN=" + secret}, "", args...)
}

// must runs the CLI and fails unless it exits 0 with want in stdout.
func (s *liveServer) must(t *testing.T, secret, want string, args ...string) result {
	t.Helper()
	r := s.as(t, secret, args...)
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Fatalf("platform %s: exit %d, want 0 and %q\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// refused runs the CLI and fails unless it exits 1 with want in stderr.
func (s *liveServer) refused(t *testing.T, secret, want string, args ...string) {
	t.Helper()
	r := s.as(t, secret, args...)
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("platform %s: exit %d, want 1 and %q\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
}

var secretRE = regexp.MustCompile(`mp_[a-z2-7]{52}`)

// secretIn returns the one token secret in out.
func secretIn(t *testing.T, out string) string {
	t.Helper()
	s := secretRE.FindAllString(out, -1)
	if len(s) != 1 {
		t.Fatalf("want one secret in:\n%s", out)
	}
	return s[0]
}

// normalise replaces what changes from run to run (ids, secrets, times, ports) so the
// output can be compared with a golden file.
func normalise(s string) string {
	for _, r := range []struct{ re, with string }{
		{`\bt-[0-9a-f]{16}\b`, "t-xxxxxxxxxxxxxxxx"},
		{`\bu-[0-9a-f]{16}\b`, "u-xxxxxxxxxxxxxxxx"},
		{`mp_[a-z2-7]{52}`, "mp_SECRET"},
		{`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`, "YYYY-MM-DD hh:mm:ss"},
		{`127\.0\.0\.1:\d{5}`, "127.0.0.1:PORT_"},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.with)
	}
	return s
}

// noSecretsLogged fails if the server's output after its first-start banner holds any
// of secrets.
func (s *liveServer) noSecretsLogged(t *testing.T, secrets ...string) {
	t.Helper()
	logs := s.logs.String() + s.errs.String()
	if i := strings.Index(logs, "Log in with:"); i >= 0 {
		logs = logs[i+len("Log in with:")+200:] // past the banner, which prints the owner's token once
	}
	for _, sec := range secrets {
		if strings.Contains(logs, sec) || strings.Contains(logs, strings.TrimPrefix(sec, "mp_")) {
			t.Errorf("the server's log holds a token secret")
		}
	}
}

// TestUsersEndToEnd manages local accounts through the CLI against a real server: the
// first owner creates a developer, whose tokens can never exceed their role, demotes and
// disables them, and everyone sees clear refusals.
func TestUsersEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	t.Parallel()
	s := startServer(t)
	owner := s.owner
	s.must(t, owner, "Created namespace acme.", "namespaces", "create", "acme")
	created := s.must(t, owner, "Created user alice with the developer role.", "users", "create", "alice", "--role", "developer", "--email", "alice@example.com")
	alice := secretIn(t, created.stdout)

	s.must(t, alice, "alice, developer of organisation default, through token first token", "users", "whoami")
	s.refused(t, alice, "a token cannot have a higher role than its creator: you have developer, asked for admin", "tokens", "create", "--name", "ci", "--role", "admin")
	ci := s.must(t, alice, "with access to acme, role viewer", "tokens", "create", "--name", "ci", "--role", "viewer", "--namespace", "acme", "--expires", "30d")
	ciSecret := secretIn(t, ci.stdout)
	s.refused(t, ciSecret, `service.delete needs the developer role; token "ci" has the viewer role`, "delete", "nope", "-n", "acme")
	s.refused(t, alice, "member.manage needs the owner role", "users", "create", "bob", "--role", "viewer")
	s.refused(t, alice, "namespace.create needs the admin role", "namespaces", "create", "globex")

	list := s.must(t, owner, "alice", "users", "list")
	checkGolden(t, "users_list", normalise(transcript([]string{"users", "list"}, list)))

	s.must(t, owner, "alice now has the viewer role.", "users", "set-role", "alice", "viewer")
	s.refused(t, alice, "service.delete needs the developer role; token \"first token\" has the viewer role", "delete", "nope", "-n", "acme")
	s.must(t, alice, "No services in acme.", "services", "-n", "acme")

	s.must(t, owner, "Disabled alice", "users", "disable", "alice")
	s.refused(t, alice, "the user of this token is disabled", "tokens", "list")
	s.refused(t, ciSecret, "the user of this token is disabled", "services", "-n", "acme")
	s.must(t, owner, "Enabled alice.", "users", "enable", "alice")
	s.must(t, alice, "ci", "tokens", "list")

	s.refused(t, owner, "you cannot disable yourself", "users", "disable", "admin")
	s.refused(t, owner, "admin is the last owner", "users", "set-role", "admin", "viewer")
	s.refused(t, owner, "user \"nobody\" is not a member", "users", "set-role", "nobody", "viewer")
	if r := s.as(t, owner, "users", "set-role", "alice", "root"); r.code != 2 || !strings.Contains(r.stderr, `role "root"`) {
		t.Fatalf("bad role: exit %d, stderr %s", r.code, r.stderr)
	}
	s.noSecretsLogged(t, owner, alice, ciSecret)
}

func TestParseExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"720h", 720 * time.Hour, ""},
		{"30d", 30 * 24 * time.Hour, ""},
		{"2026-03-02", 12 * time.Hour, ""},
		{"2026-03-01T13:00:00Z", time.Hour, ""},
		{"2026-02-01", 0, "is not in the future"},
		{"0d", 0, "is not in the future"},
		{"soon", 0, "want a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseExpiry(tt.in, now, time.UTC)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseExpiry = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
