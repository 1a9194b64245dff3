package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Init runs the sandbox init and never returns when this process was started as one by
// Start; otherwise it returns at once. Call it first thing in main, and in TestMain of the
// tests that start sandboxes.
func Init() {
	if len(os.Args) == 0 || os.Args[0] != InitName {
		return
	}
	// Mount, credential and prctl changes below are made on this thread and the program is
	// exec'ed from it.
	runtime.LockOSThread()
	status := os.NewFile(4, "status")
	err := runInit(os.NewFile(3, "control"), status)
	// Only a failure gets here: exec replaced the process otherwise.
	fmt.Fprintf(status, "%v", err)
	os.Exit(125)
}

// execMark is what the init writes on the status pipe right before it execs the program
// (or, probing, ends): the pipe closing after it means exec, closing without it means the
// init died.
const execMark = "\x00"

// readyMark is what the init writes on the status pipe once the sandbox's root is built,
// before it waits for Release (see Process.Ready).
const readyMark = "\x01"

func runInit(ctl, status *os.File) error {
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	r := bufio.NewReader(ctl)
	s, err := readSpec(r)
	if err != nil {
		return err
	}
	if err := s.validate(); err != nil {
		return err
	}
	prog := AppDir + "/" + s.Name
	if err := buildRoot(s); err != nil {
		return err
	}
	if s.Network {
		// Its own network namespace: any port is its own, so code that listens on :80 runs
		// unchanged as an unprivileged user (as in a container).
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", []byte("0"), 0o644); err != nil {
			return fmt.Errorf("open low ports: %w", err)
		}
	}
	// Set up: the caller may now put the process into its cgroup (Ready). The set-up
	// above is the platform's own work and runs before the instance's CPU quota applies.
	if _, err := status.WriteString(readyMark); err != nil {
		return err
	}
	// Wait for the caller's cgroup and network: "go", or EOF when it gave up or died.
	if line, err := r.ReadString('\n'); err != nil || line != "go\n" {
		os.Exit(0)
	}
	if err := unix.Sethostname([]byte(s.Name)); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	if err := dropPrivileges(s.UID, s.GID); err != nil {
		return err
	}
	if err := os.Chdir("/tmp"); err != nil {
		return fmt.Errorf("chdir /tmp: %w", err)
	}
	if _, err := status.WriteString(execMark); err != nil {
		return err
	}
	if s.Probe {
		os.Exit(0)
	}
	err = unix.Exec(prog, []string{prog}, os.Environ())
	return fmt.Errorf("exec %s: %w", s.Name, err)
}

// systemDirs are bound read-only from the host: what a program (or a shell it starts)
// needs from the OS. A symlink (merged /usr) is recreated as the same symlink.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// etcFiles are the host's files under /etc that name resolution and TLS need.
var etcFiles = []string{"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf",
	"/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/localtime", "/etc/ssl", "/etc/ca-certificates",
	"/etc/pki", "/etc/mime.types"}

// devices are bound from the host's /dev.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

const (
	roFlags = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV
)

// buildRoot assembles the sandbox's root on s.Root inside this mount namespace and
// pivots into it.
func buildRoot(s Spec) error {
	// Nothing mounted here may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	root := s.Root
	if err := unix.Mount("sandbox", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=4m"); err != nil {
		return fmt.Errorf("mount root: %w", err)
	}
	for _, d := range systemDirs {
		if err := bindSystem(root, d); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(root+"/etc", 0o755); err != nil {
		return err
	}
	for _, f := range etcFiles {
		if err := bindSystem(root, f); err != nil {
			return err
		}
	}
	if err := writeIdentity(root, s); err != nil {
		return err
	}
	if err := buildDev(root); err != nil {
		return err
	}
	if err := mountAt(root+"/proc", "proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return err
	}
	tmp := "mode=0700,uid=" + strconv.Itoa(s.UID) + ",gid=" + strconv.Itoa(s.GID) + ",size=" + strconv.FormatInt(s.TmpBytes, 10)
	if err := mountAt(root+"/tmp", "tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, tmp); err != nil {
		return err
	}
	if err := bindFile(s.Program, root+AppDir+"/"+s.Name, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV); err != nil {
		return fmt.Errorf("mount program: %w", err)
	}
	return pivot(root)
}

// bindSystem recreates host path p under root: a symlink as a symlink, a directory or file
// bound read-only. A missing path is skipped.
func bindSystem(root, p string) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dst := root + p
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(p, "/etc/") {
			// /etc/resolv.conf and friends often point into /run: bind what they point to.
			resolved, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil // a dangling link: the host has none either
			}
			return bindSystemAs(resolved, dst)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.Symlink(target, dst)
	}
	return bindSystemAs(p, dst)
}

func bindSystemAs(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return nil
	}
	if fi.IsDir() {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", src, err)
		}
		return readOnly(dst, true)
	}
	return bindFile(src, dst, roFlags)
}

// bindFile binds the file src onto a new empty file dst and applies flags.
func bindFile(src, dst string, flags uintptr) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	return unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_BIND|flags, "")
}

// readOnly makes the mount at p (and, with recursive, every mount below it) read-only,
// nosuid and nodev.
func readOnly(p string, recursive bool) error {
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	flags := unix.AT_SYMLINK_NOFOLLOW
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	err := unix.MountSetattr(unix.AT_FDCWD, p, uint(flags), attr)
	if errors.Is(err, unix.ENOSYS) {
		// Kernels before 5.12: the top mount only.
		err = unix.Mount("", p, "", unix.MS_REMOUNT|unix.MS_BIND|roFlags, "")
	}
	if err != nil {
		return fmt.Errorf("make %s read-only: %w", p, err)
	}
	return nil
}

func mountAt(dst, src, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(src, dst, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, dst, err)
	}
	return nil
}

// buildDev makes a minimal /dev: the harmless character devices, /dev/shm and the usual
// links into /proc.
func buildDev(root string) error {
	dev := root + "/dev"
	if err := mountAt(dev, "dev", "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return err
	}
	for _, d := range devices {
		if _, err := os.Stat("/dev/" + d); err != nil {
			continue
		}
		if err := bindFile("/dev/"+d, dev+"/"+d, unix.MS_NOSUID|unix.MS_NOEXEC); err != nil {
			return err
		}
	}
	if err := mountAt(dev+"/shm", "shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=16m"); err != nil {
		return err
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, dev+"/"+name); err != nil {
			return err
		}
	}
	return readOnly(dev, false)
}

// writeIdentity gives the sandbox's user a name, so programs that look themselves up work.
func writeIdentity(root string, s Spec) error {
	uid, gid := strconv.Itoa(s.UID), strconv.Itoa(s.GID)
	passwd := "root:x:0:0:root:/root:/usr/sbin/nologin\napp:x:" + uid + ":" + gid + ":app:/tmp:/usr/sbin/nologin\n"
	group := "root:x:0:\napp:x:" + gid + ":\n"
	if err := os.WriteFile(root+"/etc/passwd", []byte(passwd), 0o644); err != nil {
		return err
	}
	return os.WriteFile(root+"/etc/group", []byte(group), 0o644)
}

// pivot makes root the root of this mount namespace, detaches the host's, and makes the
// new root read-only.
func pivot(root string) error {
	old := root + "/.old"
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host's root: %w", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return err
	}
	return unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|roFlags, "")
}

// dropPrivileges leaves this thread, and the program it execs, as uid:gid with no
// supplementary groups, no capabilities (bounding, ambient, inheritable, permitted and
// effective sets all empty), no_new_privs and the seccomp filter (seccomp.go).
func dropPrivileges(uid, gid int) error {
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if err := unix.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := unix.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setresgid %d: %w", gid, err)
	}
	if err := unix.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid %d: %w", uid, err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := applyFilter(); err != nil {
		return err
	}
	// The kernel clears permitted and effective capabilities when every uid leaves 0;
	// clear the inheritable set too, so nothing survives exec.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear capabilities: %w", err)
	}
	return nil
}
