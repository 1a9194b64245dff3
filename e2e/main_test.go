// Package e2e drives the real `platform` binary through what a user does: start the
// server, log in, create namespaces, deploy from a directory and from git, call through
// the CLI and the gateway, read logs and events, roll out under load, and survive
// `kill -9`. Everything runs on 127.0.0.1 with :0 ports and temp data dirs.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/micro/platform/client"
	"github.com/micro/platform/internal/browsertest"
	"github.com/micro/platform/internal/kubetest"
	"github.com/micro/platform/internal/testenv"
)

var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "platform-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "platform")
	cmd := exec.Command("go", "build", "-o", binary, "../cmd/platform")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build platform:", err)
		os.Exit(1)
	}
	// The API server of the kubernetes-runtime tests; a failed start fails only those.
	stopKube, _ := kubetest.Start()
	code := m.Run()
	browsertest.Shutdown()
	stopKube()
	os.RemoveAll(dir)
	os.Exit(code)
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: runs the real server and builds services")
	}
}

// serverProc is a running `platform server`.
type serverProc struct {
	t      *testing.T
	dir    string
	cmd    *exec.Cmd
	out    *testenv.Buffer
	addr   string
	token  string
	exited chan struct{}
}

var addrRE = regexp.MustCompile(`msg="platform server started" addr=(\S+)`)

// startServer starts the binary on 127.0.0.1:0 with dataDir and waits until /readyz is
// 200. Instances the server started are killed when the test ends.
func startServer(t *testing.T, dataDir string, extra ...string) *serverProc {
	t.Helper()
	return startServerEnv(t, dataDir, nil, extra...)
}

// startServerEnv is startServer with env added to the server's environment.
func startServerEnv(t *testing.T, dataDir string, env []string, extra ...string) *serverProc {
	t.Helper()
	args := []string{"server", "--data", dataDir, "--addr", "127.0.0.1:0", "--rollout-timeout", "60s"}
	testenv.RemoveCgroups(t, dataDir)
	if bridge, subnet := testenv.SandboxNetwork(t, dataDir); bridge != "" {
		args = append(args, "--sandbox-bridge", bridge, "--sandbox-subnet", subnet)
	}
	args = append(args, extra...)
	out := &testenv.Buffer{}
	cmd, exited, addrc := spawn(t, args, out, addrRE, env...)
	s := &serverProc{t: t, dir: dataDir, cmd: cmd, out: out, exited: exited}
	t.Cleanup(func() {
		s.stop()
		testenv.KillInstances(t, dataDir)
		if t.Failed() {
			t.Logf("server output:\n%s", out)
		}
	})
	select {
	case s.addr = <-addrc:
	case <-s.exited:
		t.Fatalf("server exited at start:\n%s", out)
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start:\n%s", out)
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	s.token = strings.TrimSpace(string(tok))
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// spawn starts the platform binary with args and env (keeping HOME: builds use the host's Go
// caches, as a user's would), copies its output to out, and sends the first submatch of
// re in it on the returned channel; exited is closed when the process has exited.
func spawn(t *testing.T, args []string, out *testenv.Buffer, re *regexp.Regexp, env ...string) (*exec.Cmd, chan struct{}, <-chan string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(out, line)
			if m := re.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		pw.Close()
		close(exited)
	}()
	return cmd, exited, found
}

// stop ends the server with SIGTERM (instances keep running, as designed).
func (s *serverProc) stop() { stopProcess(s.t, "server", s.cmd, s.exited) }

// stopProcess ends a platform process with SIGTERM, and with SIGKILL (failing the test)
// if it has not exited 30 s later.
func stopProcess(t *testing.T, what string, cmd *exec.Cmd, exited chan struct{}) {
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Errorf("%s did not stop within 30s of SIGTERM", what)
	}
}

// kill9 kills the server the hard way.
func (s *serverProc) kill9() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

func (s *serverProc) url() string { return "http://" + s.addr }

func (s *serverProc) client() *client.Client {
	return client.New(s.url(), client.WithToken(s.token))
}

// result of a CLI run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// platform runs the CLI against s with its admin token from the environment.
func (s *serverProc) platform(t *testing.T, args ...string) result {
	t.Helper()
	return s.platformAs(t, s.token, args...)
}

func (s *serverProc) platformAs(t *testing.T, token string, args ...string) result {
	t.Helper()
	return s.platformEnv(t, []string{"PLATFORM_TOKEN=" + token}, args...)
}

// platformEnv runs the CLI against s with extra environment.
func (s *serverProc) platformEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runCLI(t, 5*time.Minute, s.cliEnv(env...), args...)
}

// platformStdin runs the CLI against s as its admin with stdin as its input.
func (s *serverProc) platformStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runCLIStdin(t, 5*time.Minute, s.cliEnv(), stdin, args...)
}

// cliEnv is the environment of a CLI run against s as its admin, with env added.
func (s *serverProc) cliEnv(env ...string) []string {
	return append([]string{"PLATFORM_SERVER=" + s.url(), "PLATFORM_TOKEN=" + s.token,
		"HOME=" + s.dir, "XDG_CONFIG_HOME=" + filepath.Join(s.dir, "cfg")}, env...)
}

// runCLI runs the platform binary from the repository's root with extra environment.
func runCLI(t *testing.T, timeout time.Duration, env []string, args ...string) result {
	t.Helper()
	return runCLIStdin(t, timeout, env, "", args...)
}

// runCLIStdin is runCLI with stdin as the command's input ("" is none).
func runCLIStdin(t *testing.T, timeout time.Duration, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run platform %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// must runs the CLI and fails the test unless it exits 0.
func (s *serverProc) must(t *testing.T, args ...string) string {
	t.Helper()
	r := s.platform(t, args...)
	if r.code != 0 {
		t.Fatalf("platform %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// gateway posts body to /api/{service}/{endpoint} in ns with token.
func (s *serverProc) gateway(token, ns, service, endpoint, body string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, s.url()+"/api/"+service+"/"+endpoint, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Micro-Namespace", ns)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// decode parses JSON CLI output.
func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}
