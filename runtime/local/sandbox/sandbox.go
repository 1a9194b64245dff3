// Package sandbox starts an untrusted program in a sandbox of its own on Linux: new mount,
// PID, IPC, UTS and (optionally) network namespaces, a root filesystem that holds the
// host's system directories read-only, the program itself read-only, a private /tmp and a
// fresh /proc — and nothing of the platform's data dir or of other instances — run as an
// unprivileged user with no capabilities and no_new_privs, so setuid binaries gain nothing.
//
// The sandbox is set up by an init: the platform's own executable, started again with
// argv[0] InitName, inside the new namespaces (Init runs it; every binary that starts
// sandboxes calls Init first thing in main, and in TestMain). Start hands the init its Spec
// over a pipe; the init assembles the root, pivots into it, says so (Ready) and waits. The
// caller then puts the process into its cgroup and attaches its network, and Release lets the init
// drop its privileges and exec the program, which then is PID 1 of its namespace. Release
// returns once exec succeeded, or the init's error:
//
//	Start ──► init: mounts, pivot_root ──► ready, wait ◄── Release ──► setuid, no_new_privs ──► exec
//	                                          │        ▲
//	                         Ready ◄──────────┘        │
//	                           └── caller: cgroup, network
//
// A platform killed between Start and Release closes the pipe: the init exits without
// running the program.
package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	platform "github.com/micro/platform"
)

// InitName is argv[0] of a sandbox init.
const InitName = "micro-platform-sandbox-init"

// AppDir is where the program is mounted inside the sandbox, as AppDir/<Spec.Name>.
const AppDir = "/app"

// Spec is one sandboxed process.
type Spec struct {
	// Program is the executable on the host (a static binary); it is bind-mounted
	// read-only at AppDir/Name.
	Program string `json:"program"`
	// Name is the program's file name inside the sandbox and the hostname.
	Name string `json:"name"`
	// Env is the program's whole environment.
	Env []string `json:"-"`
	// UID and GID the program runs as; never 0.
	UID int `json:"uid"`
	GID int `json:"gid"`
	// Root is an empty directory on the host where the init mounts the sandbox's root
	// (inside its own mount namespace: the host sees nothing there).
	Root string `json:"root"`
	// TmpBytes bounds the private /tmp (a tmpfs, charged to the memory cgroup): 64 MiB
	// when zero.
	TmpBytes int64 `json:"tmp_bytes"`
	// Network gives the process a network namespace of its own (empty until the caller
	// attaches an interface); false shares the host's.
	Network bool `json:"network"`
	// Stdout and Stderr receive the program's output.
	Stdout, Stderr *os.File `json:"-"`
	// probe makes the init stop, successfully, where it would exec the program.
	Probe bool `json:"probe,omitempty"`
}

// validate reports every problem of s at once.
func (s Spec) validate() error {
	var errs []error
	if s.Program == "" || !strings.HasPrefix(s.Program, "/") {
		errs = append(errs, fmt.Errorf("program %q is not an absolute path", s.Program))
	}
	if s.Name == "" || strings.ContainsAny(s.Name, "/\x00") || s.Name == "." || s.Name == ".." {
		errs = append(errs, fmt.Errorf("invalid program name %q", s.Name))
	}
	if s.UID <= 0 || s.GID <= 0 {
		errs = append(errs, fmt.Errorf("uid and gid must be unprivileged, got %d:%d", s.UID, s.GID))
	}
	if s.Root == "" || !strings.HasPrefix(s.Root, "/") {
		errs = append(errs, fmt.Errorf("root %q is not an absolute path", s.Root))
	}
	if err := errors.Join(errs...); err != nil {
		return platform.Errorf(platform.EINVALID, "sandbox: %v", err)
	}
	return nil
}

// Process is a started sandbox, waiting for Release.
type Process struct {
	Cmd    *exec.Cmd
	ctl    *os.File // write end: "go" releases the init; closing it aborts
	status *os.File // read end: readyMark, then the init's error, or EOF at exec
	ready  bool     // Ready read readyMark
}

// Pid is the host's PID of the process (the init, then the program).
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// cloneFlags are the namespaces every sandbox gets.
const cloneFlags = syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS

// Start starts the init for s in new namespaces, in a process group of its own, and hands
// it s. The program does not run before Release; the caller owns reaping (Cmd.Wait).
func Start(s Spec) (*Process, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if s.TmpBytes <= 0 {
		s.TmpBytes = 64 << 20
	}
	cfgR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		ctlW.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	cmd := &exec.Cmd{
		// The running binary itself, even when an upgrade replaced its file meanwhile.
		Path:       "/proc/self/exe",
		Args:       []string{InitName},
		Env:        s.Env,
		Dir:        "/",
		Stdout:     s.Stdout,
		Stderr:     s.Stderr,
		ExtraFiles: []*os.File{cfgR, statusW}, // fds 3 and 4
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:    true,
			Cloneflags: cloneFlags,
		},
	}
	if s.Network {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNET
	}
	err = cmd.Start()
	cfgR.Close()
	statusW.Close()
	if err != nil {
		ctlW.Close()
		statusR.Close()
		return nil, fmt.Errorf("sandbox: start init: %w", err)
	}
	p := &Process{Cmd: cmd, ctl: ctlW, status: statusR}
	b, _ := json.Marshal(s)
	if _, err := ctlW.Write(append(b, '\n')); err != nil {
		p.Abort()
		return nil, fmt.Errorf("sandbox: hand over spec: %w", err)
	}
	return p, nil
}

// releaseTimeout bounds the init's wait for exec once released.
const releaseTimeout = 30 * time.Second

// readyTimeout bounds the wait for the init to build the sandbox.
const readyTimeout = 30 * time.Second

// Ready waits until the init has built the sandbox (mounts, pivot_root) and waits for
// Release. A caller that puts the process into a cgroup does so after Ready, so the
// platform's own set-up does not run under the instance's CPU quota (at a tenth of a core
// it took most of a second). On failure the process is killed and the error says why.
func (p *Process) Ready() error {
	_ = p.status.SetReadDeadline(time.Now().Add(readyTimeout))
	defer p.status.SetReadDeadline(time.Time{})
	var b [1]byte
	n, err := io.ReadFull(p.status, b[:])
	if n == 1 && string(b[:]) == readyMark {
		p.ready = true
		return nil
	}
	rest, _ := io.ReadAll(io.LimitReader(p.status, 4096))
	p.kill()
	return initError(append(b[:n], rest...), err)
}

// Release lets the program run and returns once it was exec'ed; on failure the process is
// killed and the error says why (EUNAVAILABLE: the host refused part of the sandbox, or
// the init died before running the program).
func (p *Process) Release() error {
	defer p.status.Close()
	_, err := p.ctl.Write([]byte("go\n"))
	p.ctl.Close()
	if err != nil {
		// The init is gone: it says why on the status pipe.
		msg, _ := io.ReadAll(io.LimitReader(p.status, 4096))
		p.kill()
		return initError(msg, err)
	}
	_ = p.status.SetReadDeadline(time.Now().Add(releaseTimeout))
	msg, err := io.ReadAll(io.LimitReader(p.status, 4096))
	if !p.ready {
		msg = []byte(strings.TrimPrefix(string(msg), readyMark))
	}
	if string(msg) == execMark && (err == nil || errors.Is(err, io.EOF)) {
		return nil
	}
	p.kill()
	if m, ok := strings.CutPrefix(string(msg), execMark); ok {
		msg = []byte(m) // exec failed
	}
	return initError(msg, err)
}

// Abort ends a process that was not released.
func (p *Process) Abort() {
	p.ctl.Close()
	p.status.Close()
	p.kill()
}

func (p *Process) kill() { _ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL) }

func initError(msg []byte, err error) error {
	if m := strings.TrimSpace(string(msg)); m != "" {
		return platform.Errorf(platform.EUNAVAILABLE, "sandbox: %s", m)
	}
	if err == nil || errors.Is(err, io.EOF) {
		return platform.Errorf(platform.EUNAVAILABLE, "sandbox: the init ended before running the program")
	}
	return platform.Errorf(platform.EUNAVAILABLE, "sandbox: the init ended before running the program: %v", err)
}

// Probe sets up a whole sandbox (namespaces, root, user) without running anything in it,
// and says what this host refused (EUNAVAILABLE), or nil. It needs root; network tells
// whether to include a network namespace.
func Probe(network bool) error {
	if os.Geteuid() != 0 {
		return platform.Errorf(platform.EUNAVAILABLE, "sandbox: the platform does not run as root, so it cannot make namespaces, switch users or mount")
	}
	self, err := os.Executable()
	if err != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "sandbox: find own executable: %v", err)
	}
	root, err := os.MkdirTemp("", "sandbox-probe-")
	if err != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "sandbox: %v", err)
	}
	defer os.RemoveAll(root)
	p, err := Start(Spec{Program: self, Name: "probe", UID: 65534, GID: 65534, Root: root, Network: network, Probe: true})
	if err != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "%v", err)
	}
	err = p.Release()
	if werr := p.Cmd.Wait(); err == nil && werr != nil {
		err = platform.Errorf(platform.EUNAVAILABLE, "sandbox: probe: %v", werr)
	}
	return err
}

// readSpec reads the Spec line from r.
func readSpec(r *bufio.Reader) (Spec, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return Spec{}, fmt.Errorf("read spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(line, &s); err != nil {
		return Spec{}, fmt.Errorf("decode spec: %w", err)
	}
	return s, nil
}
