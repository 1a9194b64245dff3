package cgroup

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/micro/platform"
)

// The hosts the unit tests model.
const (
	// v1MountInfo is a hybrid host like the CI machine: v1 controllers, an empty unified
	// hierarchy.
	v1MountInfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	v1Self = `9:name=systemd:/
8:pids:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
`
	v2MountInfo = `25 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`
	v2Self = "0::/system.slice/platform.service\n"
)

// v1Host is a fake v1 host with the hierarchies of mountinfo; memory is at /process_api/abc.
func v1Host(t *testing.T, mountinfo string, setup func(k *fakeKernel)) (*fakeKernel, []Option) {
	k := newFakeKernel(t, 1)
	if setup != nil {
		setup(k)
	}
	for _, m := range parseMountInfo([]byte(mountinfo), k.root) {
		if m.fstype == "cgroup" {
			k.mkdirAll(k.rel(m.point))
		}
	}
	if k.exists("memory") {
		k.mkdirAll("memory/process_api/abc")
	}
	k.writes = nil
	return k, k.options(mountinfo, v1Self)
}

// v2Host is a fake v2 host where the platform runs in platform.service with processes
// pids, and system.slice delegates the controllers sliceControllers.
func v2Host(t *testing.T, sliceControllers string, pids ...string) (*fakeKernel, []Option) {
	k := newFakeKernel(t, 2)
	k.populate(k.root)
	if err := k.WriteFile(k.abs("cgroup.subtree_control"), "+cpu +memory +pids"); err != nil {
		t.Fatal(err)
	}
	k.mkdirAll("system.slice")
	if sliceControllers != "" {
		if err := k.WriteFile(k.abs("system.slice/cgroup.subtree_control"), sliceControllers); err != nil {
			t.Fatal(err)
		}
	}
	k.mkdirAll("system.slice/platform.service")
	k.set("system.slice/platform.service/cgroup.procs", strings.Join(pids, "\n"))
	k.writes = nil
	return k, k.options(v2MountInfo, v2Self)
}

func TestNewV1(t *testing.T) {
	k, opts := v1Host(t, v1MountInfo, nil)
	h, sup, err := New(DefaultName, opts...)
	if err != nil {
		t.Fatal(err)
	}
	want := Support{Version: 1, CPU: true, Memory: true, Pids: true}
	if !reflect.DeepEqual(sup, want) || !reflect.DeepEqual(h.Support(), want) {
		t.Errorf("Support = %+v, want %+v", sup, want)
	}
	var paths []string
	for _, p := range h.Paths() {
		paths = append(paths, k.rel(p))
	}
	wantPaths := []string{"cpu/micro-platform", "cpuacct/micro-platform", "memory/process_api/abc/micro-platform", "pids/micro-platform"}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Errorf("Paths = %q, want %q", paths, wantPaths)
	}
	for _, p := range wantPaths {
		if dirs, _ := (osFS{}).SubDirs(k.abs(p)); len(dirs) != 0 {
			t.Errorf("%s has %q left after probing", p, dirs)
		}
	}
	// New is idempotent.
	_, sup2, err := New(DefaultName, opts...)
	if err != nil || !reflect.DeepEqual(sup2, want) {
		t.Errorf("second New = %+v, %v", sup2, err)
	}
}

func TestNewV1Degraded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mountinfo string
		setup     func(k *fakeKernel)
		want      Support
	}{{
		name:      "pids not mounted",
		mountinfo: strings.ReplaceAll(v1MountInfo, "rw,pids", "rw,devices"),
		want:      Support{Version: 1, CPU: true, Memory: true, Problems: []string{"pids controller not mounted"}},
	}, {
		name:      "memory not writable",
		mountinfo: v1MountInfo,
		setup: func(k *fakeKernel) {
			k.refuseMkdir["memory/process_api/abc/micro-platform"] = syscall.EACCES
		},
		want: Support{Version: 1, CPU: true, Pids: true, Problems: []string{"cannot create ROOT/memory/process_api/abc/micro-platform: permission denied"}},
	}, {
		name:      "no swap accounting",
		mountinfo: v1MountInfo,
		setup:     func(k *fakeKernel) { k.noMemsw = true },
		want: Support{Version: 1, CPU: true, Memory: true, Pids: true, Warnings: []string{
			"no swap accounting (memory.memsw.limit_in_bytes absent): swap can extend memory limits; swappiness set to 0 instead"}},
	}, {
		name:      "no oom_kill counter",
		mountinfo: v1MountInfo,
		setup:     func(k *fakeKernel) { k.noOOMKill = true },
		want: Support{Version: 1, CPU: true, Memory: true, Pids: true, Warnings: []string{
			"memory.oom_control has no oom_kill counter (kernel before 4.13): Stats.OOMKills stays 0"}},
	}, {
		name:      "no cpuacct",
		mountinfo: strings.ReplaceAll(v1MountInfo, "rw,cpuacct", "rw,freezer"),
		want: Support{Version: 1, CPU: true, Memory: true, Pids: true, Warnings: []string{
			"cpuacct controller not mounted", "no CPU accounting: Stats reports no CPU time"}},
	}, {
		name: "cpu and cpuacct mounted together",
		mountinfo: `32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
`,
		setup: func(k *fakeKernel) { k.mkdirAll("cpu,cpuacct") },
		want:  Support{Version: 1, CPU: true, Memory: true, Pids: true},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k, opts := v1Host(t, tc.mountinfo, tc.setup)
			_, sup, err := New(DefaultName, opts...)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range sup.Problems {
				sup.Problems[i] = strings.ReplaceAll(p, k.root, "ROOT")
			}
			if !reflect.DeepEqual(sup, tc.want) {
				t.Errorf("Support =\n%+v\nwant\n%+v", sup, tc.want)
			}
		})
	}
}

func TestCreateV1Limits(t *testing.T) {
	const g = "micro-platform/i-1/"
	const mem = "memory/process_api/abc/" + g
	for _, tc := range []struct {
		name  string
		limit Limits
		want  map[string]string
	}{{
		name:  "nano",
		limit: Limits{CPUMillis: 100, MemoryBytes: 128 << 20, Pids: 64},
		want: map[string]string{
			"cpu/" + g + "cpu.cfs_period_us": "100000", "cpu/" + g + "cpu.cfs_quota_us": "10000",
			mem + "memory.limit_in_bytes": "134217728", mem + "memory.memsw.limit_in_bytes": "134217728",
			"pids/" + g + "pids.max": "64",
		},
	}, {
		name:  "xlarge",
		limit: Limits{CPUMillis: 2000, MemoryBytes: 2 << 30},
		want: map[string]string{
			"cpu/" + g + "cpu.cfs_quota_us": "200000",
			mem + "memory.limit_in_bytes":   "2147483648", mem + "memory.memsw.limit_in_bytes": "2147483648",
			"pids/" + g + "pids.max": "max",
		},
	}, {
		name:  "unlimited",
		limit: Limits{},
		want: map[string]string{
			"cpu/" + g + "cpu.cfs_quota_us": "-1",
			mem + "memory.limit_in_bytes":   "-1", mem + "memory.memsw.limit_in_bytes": "-1",
			"pids/" + g + "pids.max": "max",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k, opts := v1Host(t, v1MountInfo, nil)
			h, _, err := New(DefaultName, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.Create("i-1", tc.limit); err != nil {
				t.Fatal(err)
			}
			for f, v := range tc.want {
				if got := k.get(f); got != v {
					t.Errorf("%s = %q, want %q", f, got, v)
				}
			}
			if !k.exists("cpuacct/" + g) {
				t.Errorf("no cpuacct group")
			}
		})
	}
}

// TestCreateV1ResizesMemory changes a group's memory limit up and down: the kernel wants
// memory.memsw.limit_in_bytes ≥ memory.limit_in_bytes after every write, which the fake
// kernel enforces.
func TestCreateV1ResizesMemory(t *testing.T) {
	k, opts := v1Host(t, v1MountInfo, nil)
	h, _, err := New(DefaultName, opts...)
	if err != nil {
		t.Fatal(err)
	}
	const d = "memory/process_api/abc/micro-platform/i-1/"
	for _, bytes := range []int64{256 << 20, 1 << 30, 128 << 20, 0, 64 << 20} {
		if _, err := h.Create("i-1", Limits{MemoryBytes: bytes}); err != nil {
			t.Fatalf("Create with %d bytes: %v", bytes, err)
		}
		want := limit(bytes)
		if lim, sw := k.get(d+"memory.limit_in_bytes"), k.get(d+"memory.memsw.limit_in_bytes"); lim != want || sw != want {
			t.Errorf("after %d: limit %s, memsw %s; want both %s", bytes, lim, sw, want)
		}
	}
}

func TestCreateV1WithoutMemsw(t *testing.T) {
	k, opts := v1Host(t, v1MountInfo, func(k *fakeKernel) { k.noMemsw = true })
	h, _, err := New(DefaultName, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Create("i-1", Limits{MemoryBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	const d = "memory/process_api/abc/micro-platform/i-1/"
	if got := k.get(d + "memory.limit_in_bytes"); got != "67108864" {
		t.Errorf("limit = %s", got)
	}
	if got := k.get(d + "memory.swappiness"); got != "0" {
		t.Errorf("swappiness = %s, want 0", got)
	}
}

func TestNewV2DelegatedService(t *testing.T) {
	k, opts := v2Host(t, "+cpu +memory +pids", "4242", "4243")
	h, sup, err := New(DefaultName, opts...)
	if err != nil {
		t.Fatal(err)
	}
	const svc = "system.slice/platform.service/"
	want := Support{Version: 2, CPU: true, Memory: true, Pids: true, Warnings: []string{
		"moved 2 processes from " + k.abs(svc[:len(svc)-1]) + " to " + k.abs(svc+"supervisor") + " so that it can delegate controllers"}}
	if !reflect.DeepEqual(sup, want) {
		t.Errorf("Support =\n%+v\nwant\n%+v", sup, want)
	}
	for f, v := range map[string]string{
		svc + "cgroup.procs":                          "",
		svc + "supervisor/cgroup.procs":               "4242\n4243",
		svc + "cgroup.subtree_control":                "cpu memory pids",
		svc + "micro-platform/cgroup.subtree_control": "cpu memory pids",
	} {
		if got := k.get(f); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	if got := h.Paths(); len(got) != 1 || got[0] != k.abs(svc+"micro-platform") {
		t.Errorf("Paths = %q", got)
	}
	// The second start finds everything in place and moves nothing.
	k.writes = nil
	if _, sup, err := New(DefaultName, opts...); err != nil || len(sup.Warnings) != 0 {
		t.Errorf("second New: %+v, %v", sup, err)
	}
	if w := k.writesUnder(svc + "cgroup.subtree_control"); len(w) != 0 {
		t.Errorf("second New wrote %q", w)
	}
}

func TestCreateV2Limits(t *testing.T) {
	const g = "system.slice/platform.service/micro-platform/i-1/"
	for _, tc := range []struct {
		name  string
		limit Limits
		want  map[string]string
	}{{
		name:  "small",
		limit: Limits{CPUMillis: 250, MemoryBytes: 256 << 20, Pids: 128},
		want: map[string]string{
			"cpu.max": "25000 100000", "memory.max": "268435456", "memory.swap.max": "0",
			"memory.oom.group": "1", "pids.max": "128",
		},
	}, {
		name:  "large",
		limit: Limits{CPUMillis: 1000, MemoryBytes: 1 << 30},
		want: map[string]string{
			"cpu.max": "100000 100000", "memory.max": "1073741824", "memory.swap.max": "0", "pids.max": "max",
		},
	}, {
		name:  "unlimited",
		limit: Limits{},
		want:  map[string]string{"cpu.max": "max 100000", "memory.max": "max", "memory.swap.max": "max", "pids.max": "max"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k, opts := v2Host(t, "+cpu +memory +pids", "1")
			h, _, err := New(DefaultName, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.Create("i-1", tc.limit); err != nil {
				t.Fatal(err)
			}
			for f, v := range tc.want {
				if got := k.get(g + f); got != v {
					t.Errorf("%s = %q, want %q", f, got, v)
				}
			}
		})
	}
}

// TestNewV2PartialDelegation is a host whose slice does not delegate pids: limits of the
// other controllers still apply.
func TestNewV2PartialDelegation(t *testing.T) {
	k, opts := v2Host(t, "+cpu +memory")
	h, sup, err := New(DefaultName, opts...)
	if err != nil {
		t.Fatal(err)
	}
	want := Support{Version: 2, CPU: true, Memory: true, Problems: []string{
		"pids controller not available in " + k.abs("system.slice/platform.service") +
			" (not in its cgroup.controllers: the parent group does not delegate it)"}}
	if !reflect.DeepEqual(sup, want) {
		t.Errorf("Support =\n%+v\nwant\n%+v", sup, want)
	}
	if _, err := h.Create("i-1", Limits{CPUMillis: 500, MemoryBytes: 512 << 20, Pids: 10}); err != nil {
		t.Fatal(err)
	}
	const g = "system.slice/platform.service/micro-platform/i-1/"
	if got := k.get(g + "memory.max"); got != "536870912" {
		t.Errorf("memory.max = %q", got)
	}
	if w := k.writesUnder(g + "pids.max"); len(w) != 0 {
		t.Errorf("pids.max written: %q", w)
	}
}

// TestNewV2RootCgroup is a host (or a container with its own cgroup namespace) where the
// platform is in the root group, which may have processes and delegate at once.
func TestNewV2RootCgroup(t *testing.T) {
	k := newFakeKernel(t, 2)
	k.populate(k.root)
	k.set("cgroup.procs", "1\n77")
	h, sup, err := New(DefaultName, k.options(v2MountInfo, "0::/\n")...)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Support{Version: 2, CPU: true, Memory: true, Pids: true}); !reflect.DeepEqual(sup, want) {
		t.Errorf("Support = %+v, want %+v", sup, want)
	}
	if got := h.Paths(); len(got) != 1 || got[0] != k.abs("micro-platform") {
		t.Errorf("Paths = %q", got)
	}
	if k.exists("supervisor") || k.get("cgroup.procs") != "1\n77" {
		t.Errorf("processes of the root group were moved")
	}
}

func TestNewWithoutCgroups(t *testing.T) {
	k := newFakeKernel(t, 1)
	_, sup, err := New(DefaultName, k.options("22 1 0:21 / /proc rw - proc proc rw\n", "")...)
	if platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if sup.Version != 0 || len(sup.Problems) != 1 || !strings.Contains(sup.Problems[0], "no cgroup filesystem mounted") {
		t.Errorf("Support = %+v", sup)
	}
}

// TestNewGuessesWithoutMountInfo finds the hierarchies under the root when mountinfo is
// unreadable.
func TestNewGuessesWithoutMountInfo(t *testing.T) {
	for _, version := range []int{1, 2} {
		k := newFakeKernel(t, version)
		if version == 2 {
			k.populate(k.root)
		} else {
			for _, c := range []string{"cpu", "cpuacct", "memory", "pids"} {
				k.mkdirAll(c)
			}
		}
		opts := append(k.options("", ""), WithMountInfo(func() ([]byte, error) { return nil, os.ErrPermission }))
		_, sup, err := New(DefaultName, opts...)
		if err != nil || sup.Version != version || !sup.CPU || !sup.Memory || !sup.Pids {
			t.Errorf("v%d: Support = %+v, %v", version, sup, err)
		}
	}
}

// hosts are the fake hosts the version-independent tests run on.
var hosts = []struct {
	name string
	host func(t *testing.T) (*fakeKernel, []Option)
}{
	{"v1", func(t *testing.T) (*fakeKernel, []Option) { return v1Host(t, v1MountInfo, nil) }},
	{"v2", func(t *testing.T) (*fakeKernel, []Option) { return v2Host(t, "+cpu +memory +pids") }},
}

func TestGroupLifecycle(t *testing.T) {
	for _, host := range hosts {
		t.Run(host.name, func(t *testing.T) {
			k, opts := host.host(t)
			h, _, err := New(DefaultName, opts...)
			if err != nil {
				t.Fatal(err)
			}
			a, err := h.Create("a", Limits{MemoryBytes: 64 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.Create("b", Limits{}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Create("a", Limits{MemoryBytes: 64 << 20}); err != nil {
				t.Errorf("Create of an existing group: %v", err)
			}
			if ids, err := h.List(); err != nil || !reflect.DeepEqual(ids, []string{"a", "b"}) {
				t.Errorf("List = %q, %v", ids, err)
			}
			if _, err := h.Open("c"); platform.ErrorCode(err) != platform.ENOTFOUND {
				t.Errorf("Open(c) = %v, want not_found", err)
			}
			if g, err := h.Open("a"); err != nil || g.ID() != "a" || !reflect.DeepEqual(g.Paths(), a.Paths()) {
				t.Errorf("Open(a) = %v, %v", g, err)
			}

			if got, want := a.UnifiedDir() != "", host.name == "v2"; got != want {
				t.Errorf("UnifiedDir = %q", a.UnifiedDir())
			}
			if err := a.Add(4242); err != nil {
				t.Fatal(err)
			}
			for _, p := range a.Paths() {
				if got := k.get(k.rel(p) + "/cgroup.procs"); got != "4242" {
					t.Errorf("%s/cgroup.procs = %q", p, got)
				}
			}
			if ps, err := a.Pids(); err != nil || !reflect.DeepEqual(ps, []int{4242}) {
				t.Errorf("Pids = %v, %v", ps, err)
			}
			if err := a.Add(999999); platform.ErrorCode(err) != platform.ENOTFOUND {
				t.Errorf("Add of a missing process = %v, want not_found", err)
			}

			if err := a.Remove(); err != nil {
				t.Fatal(err)
			}
			for _, p := range a.Paths() {
				if k.Exists(p) {
					t.Errorf("%s left", p)
				}
			}
			if host.name == "v1" && !reflect.DeepEqual(k.killed, []int{4242}) {
				t.Errorf("killed %v, want [4242]", k.killed)
			}
			if host.name == "v2" && (len(k.killed) != 0 || len(k.writesUnder("system.slice/platform.service/micro-platform/a/cgroup.kill")) != 1) {
				t.Errorf("v2 Remove killed %v and wrote %q, want cgroup.kill", k.killed, k.writes)
			}
			if err := a.Remove(); err != nil {
				t.Errorf("Remove of a removed group: %v", err)
			}
			if ids, err := h.List(); err != nil || !reflect.DeepEqual(ids, []string{"b"}) {
				t.Errorf("List = %q, %v", ids, err)
			}

			if err := h.Destroy(); err != nil {
				t.Fatal(err)
			}
			for _, p := range h.Paths() {
				if k.Exists(p) {
					t.Errorf("%s left after Destroy", p)
				}
			}
		})
	}
}

func TestStats(t *testing.T) {
	for _, tc := range []struct {
		name  string
		host  func(t *testing.T) (*fakeKernel, []Option)
		files map[string]string
		want  Stats
	}{{
		name: "v1",
		host: hosts[0].host,
		files: map[string]string{
			"cpuacct/micro-platform/i/cpuacct.usage":                        "1234567890\n",
			"memory/process_api/abc/micro-platform/i/memory.usage_in_bytes": "67108864\n",
			"memory/process_api/abc/micro-platform/i/memory.oom_control":    "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
		},
		want: Stats{CPUNanos: 1234567890, MemoryBytes: 64 << 20, OOMKills: 2},
	}, {
		name: "v2",
		host: hosts[1].host,
		files: map[string]string{
			"system.slice/platform.service/micro-platform/i/cpu.stat":       "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
			"system.slice/platform.service/micro-platform/i/memory.current": "4096\n",
			"system.slice/platform.service/micro-platform/i/memory.events":  "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n",
		},
		want: Stats{CPUNanos: 1_500_000, MemoryBytes: 4096, OOMKills: 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			k, opts := tc.host(t)
			h, _, err := New(DefaultName, opts...)
			if err != nil {
				t.Fatal(err)
			}
			g, err := h.Create("i", Limits{MemoryBytes: 64 << 20})
			if err != nil {
				t.Fatal(err)
			}
			before, err := g.Stats()
			if err != nil || before != (Stats{}) {
				t.Fatalf("Stats of a new group = %+v, %v", before, err)
			}
			for f, v := range tc.files {
				k.set(f, v)
			}
			got, err := g.Stats()
			if err != nil || got != tc.want {
				t.Errorf("Stats = %+v, %v; want %+v", got, err, tc.want)
			}
			if !g.OOMKilled(before) || g.OOMKilled(got) {
				t.Errorf("OOMKilled(before) = %v, OOMKilled(now) = %v; want true, false", g.OOMKilled(before), g.OOMKilled(got))
			}
			for _, p := range g.Paths() {
				_ = os.RemoveAll(p)
			}
			if _, err := g.Stats(); platform.ErrorCode(err) != platform.EUNAVAILABLE {
				t.Errorf("Stats of a vanished group = %v, want unavailable", err)
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	k, opts := v1Host(t, v1MountInfo, nil)
	h, _, err := New(DefaultName, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"empty id", func() error { _, err := h.Create("", Limits{}); return err }},
		{"dot id", func() error { _, err := h.Create(".probe-1", Limits{}); return err }},
		{"dotdot id", func() error { _, err := h.Create("..", Limits{}); return err }},
		{"slash id", func() error { _, err := h.Create("a/b", Limits{}); return err }},
		{"open slash id", func() error { _, err := h.Open("../x"); return err }},
		{"negative memory", func() error { _, err := h.Create("a", Limits{MemoryBytes: -1}); return err }},
		{"tiny cpu", func() error { _, err := h.Create("a", Limits{CPUMillis: 5}); return err }},
		{"bad name", func() error { _, _, err := New("a/b", k.options(v1MountInfo, v1Self)...); return err }},
	} {
		if err := tc.call(); platform.ErrorCode(err) != platform.EINVALID {
			t.Errorf("%s: err = %v, want invalid", tc.name, err)
		}
	}
	if ids, _ := h.List(); len(ids) != 0 {
		t.Errorf("groups created: %q", ids)
	}
}

func TestParseMountInfo(t *testing.T) {
	data := `22 1 0:21 / /proc rw - proc proc rw
32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct
33 31 0:30 / /sys/fs/cgroup/my\040mem rw shared:5 master:1 - cgroup cgroup rw,memory
41 31 0:38 / /mnt/cg2 rw - cgroup2 cgroup2 rw
`
	got := parseMountInfo([]byte(data), "/fake")
	want := []mount{
		{root: "/docker/abc", point: "/fake/cpu,cpuacct", fstype: "cgroup", opts: []string{"rw", "cpu", "cpuacct"}},
		{root: "/", point: "/fake/my mem", fstype: "cgroup", opts: []string{"rw", "memory"}},
		{root: "/", point: "/mnt/cg2", fstype: "cgroup2", opts: []string{"rw"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMountInfo =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseProcCgroup(t *testing.T) {
	got := parseProcCgroup([]byte(v1Self))
	want := procCgroups{v1: map[string]string{"name=systemd": "/", "pids": "/", "memory": "/process_api/abc", "cpuacct": "/", "cpu": "/"}, unified: "/", hasV2: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseProcCgroup = %+v, want %+v", got, want)
	}
}

func TestOwnDir(t *testing.T) {
	for _, tc := range []struct {
		root, point, path, want string
	}{
		{"/", "/sys/fs/cgroup/memory", "/process_api/abc", "/sys/fs/cgroup/memory/process_api/abc"},
		{"/", "/sys/fs/cgroup", "/", "/sys/fs/cgroup"},
		{"/docker/abc", "/sys/fs/cgroup/memory", "/docker/abc", "/sys/fs/cgroup/memory"},
		{"/docker/abc", "/sys/fs/cgroup/memory", "/docker/abc/sub", "/sys/fs/cgroup/memory/sub"},
		{"/docker/abc", "/sys/fs/cgroup/memory", "/elsewhere", "/sys/fs/cgroup/memory"},
		{"/", "/sys/fs/cgroup", "/../outside", "/sys/fs/cgroup"},
		{"/", "/sys/fs/cgroup", "", "/sys/fs/cgroup"},
	} {
		if got := ownDir(mount{root: tc.root, point: tc.point}, tc.path); got != tc.want {
			t.Errorf("ownDir(%s on %s, %s) = %s, want %s", tc.root, tc.point, tc.path, got, tc.want)
		}
	}
}

func TestReason(t *testing.T) {
	err := &os.PathError{Op: "mkdir", Path: "/x", Err: syscall.EACCES}
	if got := reason(err); got != "permission denied" {
		t.Errorf("reason = %q", got)
	}
	if got := reason(errors.New("plain")); got != "plain" {
		t.Errorf("reason = %q", got)
	}
}
