package oci_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/micro/platform/internal/testenv"
)

// runAsImage runs the image's entrypoint from its extracted root file system. As root
// it does what a container runtime does with the config: chroot into the layer, switch
// to the image's user, start in its working directory with its (empty) environment, and
// checks the program saw exactly that. Otherwise it runs the binary in place.
func runAsImage(t *testing.T, root string, cfg v1.Config) string {
	t.Helper()
	if len(cfg.Entrypoint) != 1 {
		t.Fatalf("entrypoint %q", cfg.Entrypoint)
	}
	if os.Geteuid() != 0 {
		cmd := exec.Command(filepath.Join(root, filepath.FromSlash(cfg.Entrypoint[0])), "x")
		cmd.Dir = filepath.Join(root, filepath.FromSlash(cfg.WorkingDir))
		cmd.Env = []string{}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run %s: %v\n%s", cfg.Entrypoint[0], err, out)
		}
		t.Log("not root: ran the binary without chroot or user switch")
		return string(out)
	}
	uid, gid, _ := strings.Cut(cfg.User, ":")
	u, err1 := strconv.ParseUint(uid, 10, 32)
	g, err2 := strconv.ParseUint(gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("user %q is not numeric uid:gid", cfg.User)
	}
	cmd := exec.Command(cfg.Entrypoint[0], "x")
	cmd.Dir = cfg.WorkingDir
	cmd.Env = cfg.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uint32(u), Gid: uint32(g)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run %s in the image's root as %s: %v\n%s", cfg.Entrypoint[0], cfg.User, err, out)
	}
	if want := " wd=" + cfg.WorkingDir + " uid=" + uid + " args=[x]"; !strings.Contains(string(out), want) {
		t.Fatalf("the program printed %q, want %q", out, want)
	}
	return string(out)
}

// closedAddr returns a loopback address that refuses connections, held until the test
// ends so that nothing else can start listening there.
func closedAddr(t *testing.T) string {
	t.Helper()
	return testenv.ClosedAddr(t)
}

// isDynamic reports whether p is a dynamically linked ELF file.
func isDynamic(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}
