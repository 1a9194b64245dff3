package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fakeKernel is cgroupfs over a temporary directory: mkdir populates the control files the
// kernel would, and writes to cgroup.subtree_control, cgroup.procs, cgroup.kill and the v1
// memory limits follow the kernel's rules closely enough to test the package against.
type fakeKernel struct {
	t       *testing.T
	root    string
	version int
	// rootControllers are the v2 controllers of the root group.
	rootControllers []string
	noMemsw         bool             // v1 without swap accounting
	noOOMKill       bool             // v1 memory.oom_control without oom_kill
	refuseMkdir     map[string]error // relative path → error of Mkdir
	writes          []string         // "relative/path=value", in order
	killed          []int
}

func newFakeKernel(t *testing.T, version int) *fakeKernel {
	return &fakeKernel{t: t, root: t.TempDir(), version: version, rootControllers: []string{"cpuset", "cpu", "io", "memory", "pids"}, refuseMkdir: map[string]error{}}
}

func (k *fakeKernel) rel(p string) string {
	r, err := filepath.Rel(k.root, p)
	if err != nil || strings.HasPrefix(r, "..") {
		k.t.Fatalf("fake kernel: %s is outside %s", p, k.root)
	}
	return r
}

func (k *fakeKernel) abs(rel string) string { return filepath.Join(k.root, rel) }

// options points New at the fake.
func (k *fakeKernel) options(mountinfo, selfCgroup string) []Option {
	return []Option{
		WithRoot(k.root),
		WithMountInfo(func() ([]byte, error) { return []byte(mountinfo), nil }),
		WithSelfCgroup(func() ([]byte, error) { return []byte(selfCgroup), nil }),
		func(c *config) { c.fs, c.kill = k, k.kill },
	}
}

// hierarchyRoot is the root of the hierarchy p is in: the fake root on v2, root/<controller> on v1.
func (k *fakeKernel) hierarchyRoot(rel string) string {
	if k.version == 2 {
		return ""
	}
	return strings.SplitN(rel, string(filepath.Separator), 2)[0]
}

// mkdirAll creates rel and its parents as cgroups.
func (k *fakeKernel) mkdirAll(rel string) {
	parts := strings.Split(rel, "/")
	for i := range parts {
		d := k.abs(filepath.Join(parts[:i+1]...))
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if err := k.Mkdir(d); err != nil {
			k.t.Fatal(err)
		}
	}
}

// set writes a file directly, as the kernel updating a counter.
func (k *fakeKernel) set(rel, value string) {
	if err := os.WriteFile(k.abs(rel), []byte(value), 0o644); err != nil {
		k.t.Fatal(err)
	}
}

// get reads a file, "" when missing.
func (k *fakeKernel) get(rel string) string {
	b, _ := os.ReadFile(k.abs(rel))
	return strings.TrimSpace(string(b))
}

func (k *fakeKernel) exists(rel string) bool {
	_, err := os.Stat(k.abs(rel))
	return err == nil
}

func (k *fakeKernel) populate(dir string) {
	rel := k.rel(dir)
	files := map[string]string{"cgroup.procs": ""}
	if k.version == 1 {
		files["tasks"] = ""
		for _, c := range strings.Split(k.hierarchyRoot(rel), ",") {
			switch c {
			case "cpu":
				files["cpu.cfs_period_us"], files["cpu.cfs_quota_us"] = "100000", "-1"
			case "cpuacct":
				files["cpuacct.usage"] = "0"
			case "memory":
				files["memory.limit_in_bytes"] = "9223372036854771712"
				if !k.noMemsw {
					files["memory.memsw.limit_in_bytes"] = "9223372036854771712"
				}
				files["memory.usage_in_bytes"] = "0"
				files["memory.swappiness"] = "60"
				files["memory.oom_control"] = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"
				if k.noOOMKill {
					files["memory.oom_control"] = "oom_kill_disable 0\nunder_oom 0\n"
				}
			case "pids":
				files["pids.max"], files["pids.events"] = "max", "max 0"
			}
		}
	} else {
		files["cgroup.subtree_control"] = ""
		files["cpu.stat"] = "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"
		controllers := k.rootControllers
		if rel != "." {
			files["cgroup.type"], files["cgroup.kill"] = "domain", ""
			controllers = strings.Fields(k.get(filepath.Join(filepath.Dir(rel), "cgroup.subtree_control")))
			for _, c := range controllers {
				switch c {
				case "cpu":
					files["cpu.max"] = "max 100000"
				case "memory":
					files["memory.max"], files["memory.swap.max"], files["memory.oom.group"] = "max", "max", "0"
					files["memory.current"] = "0"
					files["memory.events"] = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"
				case "pids":
					files["pids.max"] = "max"
				}
			}
		}
		files["cgroup.controllers"] = strings.Join(controllers, " ")
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			k.t.Fatal(err)
		}
	}
}

func (k *fakeKernel) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (k *fakeKernel) Mkdir(name string) error {
	if err := k.refuseMkdir[k.rel(name)]; err != nil {
		return &os.PathError{Op: "mkdir", Path: name, Err: err}
	}
	if err := os.Mkdir(name, 0o755); err != nil {
		return err
	}
	k.populate(name)
	return nil
}

func (k *fakeKernel) Rmdir(name string) error {
	fail := func(errno syscall.Errno) error { return &os.PathError{Op: "rmdir", Path: name, Err: errno} }
	entries, err := os.ReadDir(name)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			return fail(syscall.EBUSY)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(name, "cgroup.procs")); len(strings.TrimSpace(string(b))) > 0 {
		return fail(syscall.EBUSY)
	}
	return os.RemoveAll(name)
}

func (k *fakeKernel) SubDirs(name string) ([]string, error) { return osFS{}.SubDirs(name) }

func (k *fakeKernel) Exists(name string) bool { return osFS{}.Exists(name) }

func (k *fakeKernel) WriteFile(name, data string) error {
	rel := k.rel(name)
	k.writes = append(k.writes, rel+"="+data)
	fail := func(errno syscall.Errno) error { return &os.PathError{Op: "write", Path: name, Err: errno} }
	if _, err := os.Stat(name); err != nil {
		return err
	}
	dir := filepath.Dir(rel)
	switch filepath.Base(rel) {
	case "cgroup.subtree_control":
		avail := strings.Fields(k.get(filepath.Join(dir, "cgroup.controllers")))
		on := strings.Fields(k.get(rel))
		for _, w := range strings.Fields(data) {
			c := w[1:]
			if !slices.Contains(avail, c) {
				return fail(syscall.ENOENT)
			}
			if k.exists(filepath.Join(dir, "cgroup.type")) && k.get(filepath.Join(dir, "cgroup.procs")) != "" {
				return fail(syscall.EBUSY) // no internal processes
			}
			if w[0] == '+' && !slices.Contains(on, c) {
				on = append(on, c)
			}
		}
		sort.Strings(on)
		k.set(rel, strings.Join(on, " "))
	case "cgroup.procs":
		pid := strings.TrimSpace(data)
		if pid == "999999" {
			return fail(syscall.ESRCH)
		}
		k.movePid(k.hierarchyRoot(rel), pid)
		k.set(rel, strings.TrimSpace(k.get(rel)+"\n"+pid))
	case "cgroup.kill":
		k.set(filepath.Join(dir, "cgroup.procs"), "")
	case "memory.limit_in_bytes", "memory.memsw.limit_in_bytes":
		if !k.noMemsw {
			lim, sw := k.get(filepath.Join(dir, "memory.limit_in_bytes")), k.get(filepath.Join(dir, "memory.memsw.limit_in_bytes"))
			if filepath.Base(rel) == "memory.limit_in_bytes" {
				lim = data
			} else {
				sw = data
			}
			if memValue(lim) > memValue(sw) {
				return fail(syscall.EINVAL) // memsw must stay ≥ limit
			}
		}
		k.set(rel, data)
	default:
		k.set(rel, data)
	}
	return nil
}

// memValue reads a v1 memory limit, -1 meaning none.
func memValue(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	if n < 0 {
		return 1<<63 - 1
	}
	return n
}

// movePid removes pid from every cgroup.procs of the hierarchy under hroot.
func (k *fakeKernel) movePid(hroot, pid string) {
	_ = filepath.WalkDir(k.abs(hroot), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "cgroup.procs" {
			return err
		}
		b, _ := os.ReadFile(p)
		var keep []string
		for _, l := range strings.Fields(string(b)) {
			if l != pid {
				keep = append(keep, l)
			}
		}
		return os.WriteFile(p, []byte(strings.Join(keep, "\n")), 0o644)
	})
}

// kill stands in for SIGKILL: the process leaves every group.
func (k *fakeKernel) kill(pid int) error {
	k.killed = append(k.killed, pid)
	hroots := []string{""}
	if k.version == 1 {
		hroots, _ = (osFS{}).SubDirs(k.root)
	}
	for _, h := range hroots {
		k.movePid(h, strconv.Itoa(pid))
	}
	return nil
}

// writesUnder returns the recorded writes under prefix, with the prefix cut.
func (k *fakeKernel) writesUnder(prefix string) []string {
	var out []string
	for _, w := range k.writes {
		if rest, ok := strings.CutPrefix(w, prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}

var _ fsys = (*fakeKernel)(nil)
