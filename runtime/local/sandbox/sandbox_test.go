package sandbox_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/micro/platform/runtime/local/sandbox"
)

// probeEnv makes the test binary, started inside a sandbox, run probe instead of tests.
const probeEnv = "SANDBOX_TEST_PROBE"

func TestMain(m *testing.M) {
	sandbox.Init()
	if args := os.Getenv(probeEnv); args != "" {
		probe(args)
		return
	}
	os.Exit(m.Run())
}

// probeResult is what a sandboxed program could see and do.
type probeResult struct {
	UID, GID      int
	CapEff        string
	NoNewPrivs    string
	Hostname      string
	Procs         []string
	Secret        string // read of the host file, or the error
	WriteRoot     string
	WriteTmp      string
	DialHost      string
	KillHost      string
	Interfaces    []string
	ListenFixed   string
	ListenLow     string
	SetuidBinary  string
	ProgramWrite  string
	DevNull       string
	ResolvConf    bool
	HomeDirListed string
	UnshareUser   string
	Mount         string
	Keyctl        string
	Clone3        string
	ExecChild     string
}

func probe(args string) {
	f := strings.Split(args, ",") // secret path, host listener, host pid
	var r probeResult
	r.UID, r.GID = os.Getuid(), os.Getgid()
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			r.CapEff = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "NoNewPrivs:"); ok {
			r.NoNewPrivs = strings.TrimSpace(v)
		}
	}
	r.Hostname, _ = os.Hostname()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			r.Procs = append(r.Procs, e.Name())
		}
	}
	if b, err := os.ReadFile(f[0]); err != nil {
		r.Secret = errText(err)
	} else {
		r.Secret = string(b)
	}
	r.WriteRoot = errText(os.WriteFile("/evil", []byte("x"), 0o644))
	r.WriteTmp = errText(os.WriteFile("/tmp/ok", []byte("x"), 0o644))
	if c, err := net.DialTimeout("tcp", f[1], 500*time.Millisecond); err != nil {
		r.DialHost = errText(err)
	} else {
		c.Close()
		r.DialHost = "connected"
	}
	pid, _ := strconv.Atoi(f[2])
	r.KillHost = errText(syscall.Kill(pid, syscall.SIGTERM))
	if l, err := net.Listen("tcp", ":80"); err != nil {
		r.ListenLow = errText(err)
	} else {
		l.Close()
		r.ListenLow = "ok"
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		r.Interfaces = append(r.Interfaces, i.Name)
	}
	if l, err := net.Listen("tcp", ":9090"); err != nil {
		r.ListenFixed = errText(err)
	} else {
		l.Close()
		r.ListenFixed = "ok"
	}
	// A setuid-root binary gains nothing: su cannot become root.
	if _, err := os.Stat("/usr/bin/su"); err == nil {
		out, err := exec.Command("/usr/bin/su", "-c", "id -u").CombinedOutput()
		r.SetuidBinary = strings.TrimSpace(string(out)) + " " + errText(err)
	}
	self, _ := os.Executable()
	r.ProgramWrite = errText(os.WriteFile(self, []byte("x"), 0o755))
	r.DevNull = errText(os.WriteFile("/dev/null", []byte("x"), 0o644))
	_, err := os.Stat("/etc/resolv.conf")
	r.ResolvConf = err == nil
	if _, err := os.ReadDir("/root"); err != nil {
		r.HomeDirListed = errText(err)
	} else {
		r.HomeDirListed = "listed"
	}
	// The seccomp filter.
	r.UnshareUser = errText(syscall.Unshare(syscall.CLONE_NEWUSER))
	r.Mount = errText(syscall.Mount("tmpfs", "/tmp", "tmpfs", 0, ""))
	_, _, e := syscall.RawSyscall(syscall.SYS_KEYCTL, 0, 0, 0)
	r.Keyctl = errText(errnoOrNil(e))
	_, _, e = syscall.RawSyscall(435 /* clone3 */, 0, 0, 0)
	r.Clone3 = errText(errnoOrNil(e))
	r.ExecChild = errText(exec.Command("/bin/true").Run())
	_ = json.NewEncoder(os.Stdout).Encode(r)
}

func errnoOrNil(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("sandboxes need root")
	}
	if testing.Short() {
		t.Skip("starts sandboxed processes")
	}
}

// run starts the test binary as the sandboxed program with probe arguments and returns
// what it reported.
func run(t *testing.T, spec sandbox.Spec) (probeResult, string) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	spec.Stdout, spec.Stderr = out, out
	p, err := sandbox.Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Release(); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := p.Cmd.Wait(); err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("sandboxed program: %v\n%s", err, b)
	}
	b, _ := os.ReadFile(out.Name())
	var r probeResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("probe output: %v\n%s", err, b)
	}
	return r, string(b)
}

func TestSandboxConfines(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.key")
	if err := os.WriteFile(secret, []byte("platform secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleeper.Process.Kill()

	self, _ := os.Executable()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	spec := sandbox.Spec{
		Program: self, Name: "probe", UID: 200123, GID: 200123, Root: root, Network: true,
		Env: []string{probeEnv + "=" + fmt.Sprintf("%s,%s,%d", secret, l.Addr(), sleeper.Process.Pid)},
	}
	r, raw := run(t, spec)
	t.Logf("probe: %s", raw)
	checks := []struct {
		name      string
		got, want any
	}{
		{"uid", r.UID, 200123},
		{"gid", r.GID, 200123},
		{"effective capabilities", r.CapEff, "0000000000000000"},
		{"no_new_privs", r.NoNewPrivs, "1"},
		{"hostname", r.Hostname, "probe"},
		{"processes it sees", strings.Join(r.Procs, " "), "1"},
		{"host secret file", r.Secret, "no such file or directory"},
		{"write to its root", r.WriteRoot, "read-only file system"},
		{"write to its /tmp", r.WriteTmp, "ok"},
		{"signal a host process", r.KillHost, "no such process"},
		{"interfaces", strings.Join(r.Interfaces, " "), "lo"},
		{"listen on a fixed port", r.ListenFixed, "ok"},
		{"listen on port 80 (its own network)", r.ListenLow, "ok"},
		{"overwrite its program", r.ProgramWrite, "read-only file system"},
		{"write /dev/null", r.DevNull, "ok"},
		{"/etc/resolv.conf present", r.ResolvConf, true},
		{"list /root", r.HomeDirListed, "no such file or directory"},
		{"unshare a user namespace", r.UnshareUser, "operation not permitted"},
		{"mount", r.Mount, "operation not permitted"},
		{"keyctl", r.Keyctl, "operation not permitted"},
		{"clone3", r.Clone3, "function not implemented"},
		{"run a child process", r.ExecChild, "ok"},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if r.DialHost == "connected" {
		t.Errorf("dialled the host's loopback listener %s", l.Addr())
	}
	if r.SetuidBinary != "" && strings.HasPrefix(r.SetuidBinary, "0 ") {
		t.Errorf("su became root: %q", r.SetuidBinary)
	}
	// The host sees nothing the sandbox mounted.
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("sandbox mounts leaked to the host: %v", ents)
	}
}

func TestSandboxSpecRefused(t *testing.T) {
	for name, spec := range map[string]sandbox.Spec{
		"root uid":        {Program: "/bin/true", Name: "x", UID: 0, GID: 1, Root: "/tmp/x"},
		"relative root":   {Program: "/bin/true", Name: "x", UID: 1, GID: 1, Root: "x"},
		"name with slash": {Program: "/bin/true", Name: "../x", UID: 1, GID: 1, Root: "/tmp/x"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := sandbox.Start(spec); err == nil {
				t.Fatal("started")
			}
		})
	}
}

// TestSandboxReady: Ready returns once the init built the sandbox and waits; the program
// has not run (the process is still the init), and Release then runs it. A sandbox whose
// root cannot be built fails Ready with the init's reason.
func TestSandboxReady(t *testing.T) {
	needRoot(t)
	self, _ := os.Executable()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	p, err := sandbox.Start(sandbox.Spec{Program: self, Name: "probe", UID: 200125, GID: 200125, Root: t.TempDir(),
		Env: []string{fmt.Sprintf("%s=/nonexistent,127.0.0.1:1,%d", probeEnv, os.Getpid())}, Stdout: out, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.Pid())); !strings.HasPrefix(string(cmdline), sandbox.InitName) {
		t.Fatalf("after Ready the process is %q, want the init still waiting", cmdline)
	}
	if err := p.Release(); err != nil {
		t.Fatalf("Release after Ready: %v", err)
	}
	_ = p.Cmd.Wait() // the probe's checks need a host listener; only that it ran matters
	if b, _ := os.ReadFile(out.Name()); !strings.Contains(string(b), `"UID":200125`) {
		t.Errorf("the program did not run as released: %s", b)
	}

	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bad, err := sandbox.Start(sandbox.Spec{Program: self, Name: "probe", UID: 200125, GID: 200125, Root: notDir})
	if err != nil {
		return // refused before the init: nothing to wait for
	}
	if err := bad.Ready(); err == nil {
		t.Error("Ready of a sandbox whose root is a file succeeded")
	}
	_ = bad.Cmd.Wait()
}

func TestSandboxAbortBeforeRelease(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	self, _ := os.Executable()
	p, err := sandbox.Start(sandbox.Spec{Program: self, Name: "probe", UID: 200124, GID: 200124, Root: dir,
		Env: []string{probeEnv + "=x,y,0"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Abort()
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the init outlived an abort")
	}
}

func BenchmarkSandboxStart(b *testing.B) {
	if os.Getuid() != 0 {
		b.Skip("needs root")
	}
	for _, sandboxed := range []bool{false, true} {
		b.Run(fmt.Sprintf("sandboxed=%v", sandboxed), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if !sandboxed {
					if err := exec.Command("/bin/true").Run(); err != nil {
						b.Fatal(err)
					}
					continue
				}
				dir := b.TempDir()
				p, err := sandbox.Start(sandbox.Spec{Program: "/bin/true", Name: "true", UID: 200125, GID: 200125, Root: dir, Network: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Release(); err != nil {
					b.Fatal(err)
				}
				if err := p.Cmd.Wait(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestProbe(t *testing.T) {
	needRoot(t)
	for _, network := range []bool{false, true} {
		if err := sandbox.Probe(network); err != nil {
			t.Errorf("Probe(network=%v) on a host that sandboxes: %v", network, err)
		}
	}
}
