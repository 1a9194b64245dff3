// Package cgroup confines the processes of local runtime instances with Linux control
// groups: a CPU quota, a memory limit that swap does not extend, and a process count
// limit per instance, plus the CPU time, memory use and OOM kills of each.
//
// The platform owns one parent group, a Hierarchy (by default "micro-platform"), created
// under the cgroup the platform process itself is in, and one child Group per instance
// under it. Both cgroup v1 (one hierarchy per controller, e.g. /sys/fs/cgroup/memory,
// including hybrid hosts whose unified hierarchy carries no controllers) and cgroup v2 (one
// unified hierarchy) are supported; New finds out which by reading /proc/self/mountinfo and
// /proc/self/cgroup, then probes each controller by creating a throwaway child and writing a
// limit to it. What does not work is reported in Support, and everything else still does.
//
// On v2 a group with processes cannot delegate controllers to child groups. When the
// platform's own cgroup has to become such a parent, New moves the processes in it to a
// leaf next to the Hierarchy (WithSupervisorLeaf, default "supervisor"), the arrangement
// systemd documents for delegated cgroups.
//
// A Hierarchy and its Groups are safe for concurrent use; they hold no state besides paths.
package cgroup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/micro/platform"
)

// CPUPeriodMicros is the CFS period of every group: quotas are this share of a CPU.
const CPUPeriodMicros = 100_000

// MinCPUMillis is the smallest CPU limit: the kernel refuses quotas below 1 ms per period.
const MinCPUMillis = 10

// DefaultName is the name of the platform's parent group.
const DefaultName = "micro-platform"

// NameFor is the parent group of the platform whose data is in dataDir: one per data dir,
// so platforms sharing a host never touch each other's groups.
func NameFor(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	return DefaultName + "-" + hex.EncodeToString(sum[:4])
}

// Controller names as the kernel spells them.
const (
	cpu     = "cpu"
	cpuacct = "cpuacct"
	memory  = "memory"
	pids    = "pids"
)

// removeTimeout bounds how long Remove keeps killing processes before it gives up.
const removeTimeout = 5 * time.Second

// Limits of one group. Zero means no limit for that resource.
type Limits struct {
	// CPUMillis is CPU time per wall time in thousandths of a CPU (1000 = one CPU); at
	// least MinCPUMillis. v1 cpu.cfs_quota_us over cpu.cfs_period_us, v2 cpu.max.
	CPUMillis int64
	// MemoryBytes caps memory, swap included. v1 memory.limit_in_bytes and
	// memory.memsw.limit_in_bytes, v2 memory.max with memory.swap.max 0.
	MemoryBytes int64
	// Pids caps the processes and threads of the group (pids.max).
	Pids int64
}

// Stats are the cumulative counters of one group.
type Stats struct {
	CPUNanos    uint64 // CPU time used, user and system (v1 cpuacct.usage, v2 cpu.stat usage_usec)
	MemoryBytes uint64 // memory charged now, page cache included (v1 memory.usage_in_bytes, v2 memory.current)
	OOMKills    uint64 // processes the OOM killer killed (memory.oom_control or memory.events oom_kill)
}

// Support says what this host offers.
type Support struct {
	Version int  // 1 or 2; 0 when no cgroup filesystem was found
	CPU     bool // CPU limits work
	Memory  bool // memory limits and OOM counts work
	Pids    bool // process count limits work
	// Problems has one human reason per missing controller, e.g. "memory controller not
	// mounted" or "cannot create /sys/fs/cgroup/memory/micro-platform: permission denied".
	Problems []string
	// Warnings are degradations of a working set-up, e.g. no swap accounting or no CPU
	// accounting, and what New changed on the host (processes moved to a leaf).
	Warnings []string
}

// Option configures New.
type Option func(*config)

type config struct {
	root       string
	selfCgroup func() ([]byte, error)
	mountInfo  func() ([]byte, error)
	leaf       string
	fs         fsys
	kill       func(pid int) error
}

// WithRoot sets where cgroup filesystems are mounted (default DefaultRoot). Mount points
// under DefaultRoot in mountinfo are read as being under dir.
func WithRoot(dir string) Option { return func(c *config) { c.root = path.Clean(dir) } }

// WithSelfCgroup replaces the reader of /proc/self/cgroup.
func WithSelfCgroup(read func() ([]byte, error)) Option {
	return func(c *config) { c.selfCgroup = read }
}

// WithMountInfo replaces the reader of /proc/self/mountinfo. Without cgroup mounts in it, New
// looks for a v2 hierarchy at the root, then for v1 controllers in its subdirectories.
func WithMountInfo(read func() ([]byte, error)) Option {
	return func(c *config) { c.mountInfo = read }
}

// WithSupervisorLeaf names the v2 leaf group the platform's processes move to when its own
// cgroup must delegate controllers (default "supervisor").
func WithSupervisorLeaf(name string) Option { return func(c *config) { c.leaf = name } }

// nameRE is what a hierarchy name or group id may be: one path element, no dot first (dot
// names are the package's own probes).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Hierarchy is the platform's parent group and the controllers usable under it.
type Hierarchy struct {
	name    string
	version int
	fs      fsys
	kill    func(pid int) error // SIGKILL
	// dirs maps a controller to the Hierarchy's directory in its hierarchy: on v1 one per
	// usable controller (cpuacct too, for Stats); on v2 the single key "".
	dirs    map[string]string
	memsw   bool // v1 memory.memsw.limit_in_bytes exists
	oomKill bool // the OOM kill counter exists
	swapMax bool // v2 memory.swap.max exists
	support Support
}

// New creates the parent group name (idempotently) under the platform's own cgroup, probes
// which controllers work and returns what it found. It fails with EUNAVAILABLE, still
// returning Support, when no controller is usable.
func New(name string, opts ...Option) (*Hierarchy, Support, error) {
	cfg := config{
		root:       DefaultRoot,
		selfCgroup: func() ([]byte, error) { return os.ReadFile("/proc/self/cgroup") },
		mountInfo:  func() ([]byte, error) { return os.ReadFile("/proc/self/mountinfo") },
		leaf:       "supervisor",
		fs:         osFS{},
		kill:       func(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) },
	}
	for _, o := range opts {
		o(&cfg)
	}
	if !nameRE.MatchString(name) {
		return nil, Support{}, platform.Errorf(platform.EINVALID, "invalid cgroup name %q", name)
	}
	if !nameRE.MatchString(cfg.leaf) || cfg.leaf == name {
		return nil, Support{}, platform.Errorf(platform.EINVALID, "invalid supervisor leaf %q", cfg.leaf)
	}
	h := &Hierarchy{name: name, fs: cfg.fs, kill: cfg.kill, dirs: map[string]string{}}

	var mounts []mount
	if mi, err := cfg.mountInfo(); err == nil {
		mounts = parseMountInfo(mi, cfg.root)
	}
	if len(mounts) == 0 {
		mounts = guessMounts(cfg.fs, cfg.root)
	}
	var pc procCgroups
	if data, err := cfg.selfCgroup(); err == nil {
		pc = parseProcCgroup(data)
	} else {
		pc = procCgroups{v1: map[string]string{}}
	}

	var unified *mount
	v1 := map[string]mount{}
	for i, m := range mounts {
		if m.fstype == "cgroup2" {
			if unified == nil || m.point == cfg.root {
				unified = &mounts[i]
			}
			continue
		}
		for _, c := range []string{cpu, cpuacct, memory, pids} {
			if _, seen := v1[c]; !seen && m.has(c) {
				v1[c] = m
			}
		}
	}
	switch {
	case unified != nil && (unified.point == cfg.root || len(v1) == 0):
		h.version = 2
		h.initV2(*unified, pc, cfg.leaf)
	case len(v1) > 0:
		h.version = 1
		h.initV1(v1, pc)
	default:
		h.support.Problems = append(h.support.Problems, fmt.Sprintf("no cgroup filesystem mounted at %s", cfg.root))
	}
	h.support.Version = h.version
	if !h.support.CPU && !h.support.Memory && !h.support.Pids {
		return nil, h.support, platform.Errorf(platform.EUNAVAILABLE, "no usable cgroup controller: %s",
			strings.Join(h.support.Problems, "; "))
	}
	return h, h.support, nil
}

// guessMounts stands in for mountinfo: v2 at root, else v1 controllers in its subdirectories.
func guessMounts(fs fsys, root string) []mount {
	if fs.Exists(path.Join(root, "cgroup.controllers")) {
		return []mount{{root: "/", point: root, fstype: "cgroup2"}}
	}
	var out []mount
	for _, c := range []string{cpu, cpuacct, memory, pids} {
		if d := path.Join(root, c); fs.Exists(d) {
			out = append(out, mount{root: "/", point: d, fstype: "cgroup", opts: []string{c}})
		}
	}
	return out
}

// Support returns what New found.
func (h *Hierarchy) Support() Support { return h.support }

// Name returns the name of the parent group.
func (h *Hierarchy) Name() string { return h.name }

// Paths returns the directories of the parent group, one per hierarchy.
func (h *Hierarchy) Paths() []string { return uniq(h.dirs) }

func (h *Hierarchy) problem(format string, args ...any) {
	h.support.Problems = append(h.support.Problems, fmt.Sprintf(format, args...))
}

func (h *Hierarchy) warn(format string, args ...any) {
	h.support.Warnings = append(h.support.Warnings, fmt.Sprintf(format, args...))
}

// group is the Group id, whether or not it exists.
func (h *Hierarchy) group(id string) *Group {
	g := &Group{h: h, id: id, dirs: make(map[string]string, len(h.dirs))}
	for c, d := range h.dirs {
		g.dirs[c] = path.Join(d, id)
	}
	return g
}

// Create makes child id with limits l, or updates the limits of an existing one. Limits
// for controllers the host lacks (see Support) are not applied.
func (h *Hierarchy) Create(id string, l Limits) (*Group, error) {
	if !nameRE.MatchString(id) {
		return nil, platform.Errorf(platform.EINVALID, "invalid cgroup id %q", id)
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	// The parent first: something else may have removed it since New.
	for _, d := range append(h.Paths(), h.group(id).Paths()...) {
		if err := mkdirOK(h.fs, d); err != nil {
			return nil, platform.Errorf(platform.EUNAVAILABLE, "cannot create cgroup %s: %s", d, reason(err))
		}
	}
	g := h.group(id)
	var err error
	if h.version == 1 {
		err = g.applyV1(l)
	} else {
		err = g.applyV2(l)
	}
	if err != nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "cannot set limits of cgroup %s: %s", id, reason(err))
	}
	return g, nil
}

// Open returns the existing child id, or an ENOTFOUND error.
func (h *Hierarchy) Open(id string) (*Group, error) {
	if !nameRE.MatchString(id) {
		return nil, platform.Errorf(platform.EINVALID, "invalid cgroup id %q", id)
	}
	g := h.group(id)
	for _, d := range g.Paths() {
		if h.fs.Exists(d) {
			return g, nil
		}
	}
	return nil, platform.Errorf(platform.ENOTFOUND, "cgroup %s not found", id)
}

// List returns the ids of the existing children, sorted.
func (h *Hierarchy) List() ([]string, error) {
	seen := map[string]bool{}
	for _, d := range h.Paths() {
		names, err := h.fs.SubDirs(d)
		if err != nil {
			return nil, platform.Errorf(platform.EUNAVAILABLE, "cannot list %s: %s", d, reason(err))
		}
		for _, n := range names {
			if !strings.HasPrefix(n, ".") {
				seen[n] = true
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for n := range seen {
		ids = append(ids, n)
	}
	sort.Strings(ids)
	return ids, nil
}

// Destroy removes every child, killing their processes, then the parent group itself.
func (h *Hierarchy) Destroy() error {
	ids, err := h.List()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := h.group(id).Remove(); err != nil {
			return err
		}
	}
	for _, d := range h.Paths() {
		if err := h.fs.Rmdir(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			return platform.Errorf(platform.EUNAVAILABLE, "cannot remove %s: %s", d, reason(err))
		}
	}
	return nil
}

func (l Limits) validate() error {
	switch {
	case l.CPUMillis < 0 || l.MemoryBytes < 0 || l.Pids < 0:
		return platform.Errorf(platform.EINVALID, "negative cgroup limit %+v", l)
	case l.CPUMillis > 0 && l.CPUMillis < MinCPUMillis:
		return platform.Errorf(platform.EINVALID, "CPU limit %dm is below the minimum of %dm", l.CPUMillis, MinCPUMillis)
	}
	return nil
}

// Group is one instance's cgroup.
type Group struct {
	h    *Hierarchy
	id   string
	dirs map[string]string // as Hierarchy.dirs
}

// ID returns the id the group was created or opened with.
func (g *Group) ID() string { return g.id }

// Paths returns the group's directories, one per hierarchy.
func (g *Group) Paths() []string { return uniq(g.dirs) }

// UnifiedDir returns the group's directory on cgroup v2 and "" on v1. Opened, it is what
// syscall.SysProcAttr's CgroupFD (with UseCgroupFD) takes to start a process inside the
// group, with no moment outside it; on v1 start the process gated (e.g. waiting on a pipe)
// and Add it before letting it run.
func (g *Group) UnifiedDir() string {
	if g.h.version != 2 {
		return ""
	}
	return g.dirs[""]
}

// Add moves process pid into the group, in every hierarchy. It fails with ENOTFOUND when
// the process does not exist.
func (g *Group) Add(pid int) error {
	for _, d := range g.Paths() {
		if err := g.h.fs.WriteFile(path.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return platform.Errorf(platform.ENOTFOUND, "process %d not found", pid)
			}
			return platform.Errorf(platform.EUNAVAILABLE, "cannot move process %d into %s: %s", pid, d, reason(err))
		}
	}
	return nil
}

// Pids returns the processes in the group, sorted.
func (g *Group) Pids() ([]int, error) {
	seen := map[int]bool{}
	for _, d := range g.Paths() {
		ps, err := readInts(g.h.fs, path.Join(d, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, platform.Errorf(platform.EUNAVAILABLE, "cannot list processes of %s: %s", d, reason(err))
		}
		for _, p := range ps {
			seen[p] = true
		}
	}
	out := make([]int, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Ints(out)
	return out, nil
}

// Stats reads the group's counters: two or three small files.
func (g *Group) Stats() (Stats, error) {
	var s Stats
	var err error
	if g.h.version == 1 {
		s, err = g.statsV1()
	} else {
		s, err = g.statsV2()
	}
	if err != nil {
		return Stats{}, platform.Errorf(platform.EUNAVAILABLE, "cannot read stats of cgroup %s: %s", g.id, reason(err))
	}
	return s, nil
}

// OOMKilled reports whether the OOM killer killed a process of the group after the sample
// since was taken. It is false when the counters cannot be read.
func (g *Group) OOMKilled(since Stats) bool {
	s, err := g.Stats()
	return err == nil && s.OOMKills > since.OOMKills
}

// Remove kills the processes left in the group (v2 cgroup.kill where the kernel has it,
// else SIGKILL to each, repeated while new ones appear) and removes its directories.
// Removing a group that does not exist is not an error.
func (g *Group) Remove() error {
	dirs := g.Paths()
	if g.h.version == 2 {
		for _, d := range dirs {
			if k := path.Join(d, "cgroup.kill"); g.h.fs.Exists(k) {
				_ = g.h.fs.WriteFile(k, "1") // the loop below finishes the job if this fails
			}
		}
	}
	deadline := time.Now().Add(removeTimeout)
	wait := time.Millisecond
	for {
		ps, err := g.Pids()
		if err != nil {
			return err
		}
		for _, p := range ps {
			_ = g.h.kill(p) // ESRCH: gone already
		}
		var busy []string
		var lastErr error
		for _, d := range dirs {
			err := g.h.fs.Rmdir(d)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				busy, lastErr = append(busy, d), err
			}
		}
		if len(busy) == 0 {
			return nil
		}
		if !errors.Is(lastErr, syscall.EBUSY) || time.Now().After(deadline) {
			return platform.Errorf(platform.EUNAVAILABLE, "cannot remove cgroup %s (processes %v): %s", g.id, ps, reason(lastErr))
		}
		dirs = busy
		time.Sleep(wait)
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
}

// mkdirOK creates a directory that may exist already.
func mkdirOK(fs fsys, dir string) error {
	if err := fs.Mkdir(dir); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// uniq returns the distinct values of m, sorted.
func uniq(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, d := range m {
		out = append(out, d)
	}
	sort.Strings(out)
	j := 0
	for i, d := range out {
		if i == 0 || d != out[j-1] {
			out[j] = d
			j++
		}
	}
	return out[:j]
}

// reason is err as a user reads it: the errno text of a path error, whose path the
// caller's message already names.
func reason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// limit formats n for a v1 limit file, -1 meaning none.
func limit(n int64) string {
	if n <= 0 {
		return "-1"
	}
	return strconv.FormatInt(n, 10)
}

// maxOr formats n for a v2 limit file, "max" meaning none.
func maxOr(n int64) string {
	if n <= 0 {
		return "max"
	}
	return strconv.FormatInt(n, 10)
}

// probes numbers the probe groups of this process, so concurrent News never share one.
var probes atomic.Int64

// probeName is a fresh name for a throwaway probe group (hidden from List by its dot).
func probeName() string {
	return fmt.Sprintf(".probe-%d-%d", os.Getpid(), probes.Add(1))
}
