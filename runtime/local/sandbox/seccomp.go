package sandbox

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp filter every sandboxed program runs under. It is a deny list, not an allow
// list: go-micro services (and what they exec) keep every ordinary system call, while the
// calls that only widen the kernel surface a tenant can reach, or that an unprivileged
// user may make but a sandbox must not, fail with EPERM:
//
//   - new namespaces: unshare and clone with any CLONE_NEW* flag (unprivileged user
//     namespaces are the door to most container escapes), setns; clone3 fails with ENOSYS,
//     so C libraries and Go fall back to clone, whose flags the filter can read;
//   - mounts, old and new API: mount, umount2, pivot_root, open_tree, move_mount, fsopen,
//     fsconfig, fsmount, fspick, mount_setattr;
//   - the kernel keyring, which no namespace separates: keyctl, add_key, request_key;
//   - bpf, perf_event_open, userfaultfd, and loading kernels or modules.
//
// A system call of another ABI than the platform's (x32 on amd64, or a foreign
// architecture) kills the process.

// namespaceFlags are the clone/unshare flags that make namespaces.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// deniedCalls fail with EPERM whatever their arguments.
var deniedCalls = []uint32{
	unix.SYS_SETNS, unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_OPEN_TREE,
	unix.SYS_MOVE_MOUNT, unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT, unix.SYS_FSPICK,
	unix.SYS_MOUNT_SETATTR, unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY, unix.SYS_BPF,
	unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD, unix.SYS_KEXEC_LOAD, unix.SYS_INIT_MODULE,
	unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
}

// auditArch is the AUDIT_ARCH of the platform's own system call ABI.
func auditArch() (uint32, error) {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64, nil
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64, nil
	}
	return 0, fmt.Errorf("seccomp: no filter for %s", runtime.GOARCH)
}

// x32SyscallBit marks the system call numbers of the x32 ABI on amd64.
const x32SyscallBit = 0x40000000

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16 // low 32 bits of args[0], little-endian
)

// filter returns the BPF program of the sandbox's seccomp filter.
func filter() ([]unix.SockFilter, error) {
	arch, err := auditArch()
	if err != nil {
		return nil, err
	}
	const (
		ld   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
	)
	// The verdicts sit at the end; jumps to them are resolved once the body's length is
	// known: a jump names its target as a label.
	type jump struct {
		code   uint16
		k      uint32
		target string // taken when the comparison holds; else the next instruction
	}
	var body []any // unix.SockFilter or jump
	stmt := func(code uint16, k uint32) { body = append(body, unix.SockFilter{Code: code, K: k}) }
	to := func(code uint16, k uint32, target string) { body = append(body, jump{code, k, target}) }

	stmt(ld, offArch)
	to(jeq, arch, "nr")
	stmt(ret, unix.SECCOMP_RET_KILL_PROCESS)
	label := map[string]int{"nr": len(body)}
	stmt(ld, offNr)
	if runtime.GOARCH == "amd64" {
		to(jge, x32SyscallBit, "kill") // the x32 ABI
	}
	to(jeq, unix.SYS_CLONE3, "enosys")
	to(jeq, unix.SYS_CLONE, "flags")
	to(jeq, unix.SYS_UNSHARE, "flags")
	for _, nr := range deniedCalls {
		to(jeq, nr, "eperm")
	}
	stmt(ret, unix.SECCOMP_RET_ALLOW)
	label["flags"] = len(body)
	stmt(ld, offArg0)
	to(jset, namespaceFlags, "eperm")
	stmt(ret, unix.SECCOMP_RET_ALLOW)
	label["eperm"] = len(body)
	stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM))
	label["enosys"] = len(body)
	stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	label["kill"] = len(body)
	stmt(ret, unix.SECCOMP_RET_KILL_PROCESS)

	prog := make([]unix.SockFilter, len(body))
	for i, ins := range body {
		switch ins := ins.(type) {
		case unix.SockFilter:
			prog[i] = ins
		case jump:
			skip := label[ins.target] - i - 1
			if skip < 0 || skip > 255 {
				return nil, fmt.Errorf("seccomp: jump to %s out of range", ins.target)
			}
			prog[i] = unix.SockFilter{Code: ins.code, K: ins.k, Jt: uint8(skip)}
		}
	}
	return prog, nil
}

// applyFilter installs the filter on this thread; the program exec'ed from it keeps it.
// no_new_privs must be set first.
func applyFilter() error {
	prog, err := filter()
	if err != nil {
		return err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("seccomp: the kernel has no seccomp filters: %w", err)
		}
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}
