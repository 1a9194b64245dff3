package cgroup

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"syscall"
)

// initV2 sets up the Hierarchy on the unified hierarchy m: enable cpu, memory and pids for
// the children of the platform's own cgroup (moving its processes to a leaf when the kernel
// insists), create the parent group, enable them for its children, and probe.
func (h *Hierarchy) initV2(m mount, pc procCgroups, leaf string) {
	own := ownDir(m, pc.unified)
	avail := h.words(path.Join(own, "cgroup.controllers"))
	var want []string
	for _, c := range []string{cpu, memory, pids} {
		if avail[c] {
			want = append(want, c)
		} else {
			h.problem("%s controller not available in %s (not in its cgroup.controllers: the parent group does not delegate it)", c, own)
		}
	}
	failed := h.enable(own, want, leaf)
	for _, c := range want {
		if err := failed[c]; err != nil {
			h.problem("cannot enable %s in %s: %s", c, path.Join(own, "cgroup.subtree_control"), reason(err))
		}
	}

	dir := path.Join(own, h.name)
	if err := mkdirOK(h.fs, dir); err != nil {
		h.problem("cannot create %s: %s", dir, reason(err))
		return
	}
	avail = h.words(path.Join(dir, "cgroup.controllers"))
	var delegated []string
	for _, c := range want {
		if avail[c] {
			delegated = append(delegated, c)
		}
	}
	failed = h.enable(dir, delegated, "")
	for _, c := range delegated {
		if err := failed[c]; err != nil {
			h.problem("cannot enable %s in %s: %s", c, path.Join(dir, "cgroup.subtree_control"), reason(err))
		}
	}
	h.dirs[""] = dir

	probe := path.Join(dir, probeName())
	if err := mkdirOK(h.fs, probe); err != nil {
		h.problem("cannot create %s: %s", probe, reason(err))
		return
	}
	defer h.fs.Rmdir(probe)
	have := h.words(path.Join(probe, "cgroup.controllers"))
	try := func(c, file, value string) bool {
		if !have[c] {
			if avail[c] { // else reported above
				h.problem("%s controller not enabled for the children of %s", c, dir)
			}
			return false
		}
		if err := h.fs.WriteFile(path.Join(probe, file), value); err != nil {
			h.problem("%s controller unusable: cannot write %s: %s", c, path.Join(probe, file), reason(err))
			return false
		}
		return true
	}
	h.support.CPU = try(cpu, "cpu.max", fmt.Sprintf("%d %d", CPUPeriodMicros, CPUPeriodMicros))
	h.support.Memory = try(memory, "memory.max", strconv.Itoa(1<<30))
	h.support.Pids = try(pids, "pids.max", "64")
	if h.support.Memory {
		h.swapMax = h.fs.Exists(path.Join(probe, "memory.swap.max"))
		if !h.swapMax {
			h.warn("no swap accounting (memory.swap.max absent): swap can extend memory limits")
		}
		ev, err := h.fs.ReadFile(path.Join(probe, "memory.events"))
		if _, h.oomKill = keyed(ev, "oom_kill"); err != nil || !h.oomKill {
			h.warn("memory.events has no oom_kill counter: Stats.OOMKills stays 0")
		}
	}
}

// words returns the set of words of a file such as cgroup.controllers; empty when it
// cannot be read.
func (h *Hierarchy) words(file string) map[string]bool {
	b, _ := h.fs.ReadFile(file)
	set := map[string]bool{}
	for _, w := range strings.Fields(string(b)) {
		set[w] = true
	}
	return set
}

// enable turns controllers cs on for the children of dir, one at a time so that one
// refusal does not hide the others, and returns the refusals. When the kernel refuses
// because dir has processes of its own and leaf is set, those processes move to dir/leaf
// first.
func (h *Hierarchy) enable(dir string, cs []string, leaf string) map[string]error {
	file := path.Join(dir, "cgroup.subtree_control")
	on := h.words(file)
	failed := map[string]error{}
	moved := false
	for _, c := range cs {
		if on[c] {
			continue
		}
		err := h.fs.WriteFile(file, "+"+c)
		if err != nil && errors.Is(err, syscall.EBUSY) && leaf != "" && !moved {
			moved = true
			if err = h.evacuate(dir, leaf); err == nil {
				err = h.fs.WriteFile(file, "+"+c)
			}
		}
		if err != nil {
			failed[c] = err
		}
	}
	return failed
}

// evacuate moves every process of dir into its child leaf, so that dir may delegate
// controllers ("no internal processes").
func (h *Hierarchy) evacuate(dir, leaf string) error {
	to := path.Join(dir, leaf)
	if err := mkdirOK(h.fs, to); err != nil {
		return err
	}
	ps, err := readInts(h.fs, path.Join(dir, "cgroup.procs"))
	if err != nil {
		return err
	}
	for _, p := range ps {
		err := h.fs.WriteFile(path.Join(to, "cgroup.procs"), strconv.Itoa(p))
		if err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("cannot move process %d to %s: %w", p, to, err)
		}
	}
	h.warn("moved %d processes from %s to %s so that it can delegate controllers", len(ps), dir, to)
	return nil
}

// applyV2 writes l to the group's control files.
func (g *Group) applyV2(l Limits) error {
	fs, d := g.h.fs, g.dirs[""]
	w := func(file, value string) error { return fs.WriteFile(path.Join(d, file), value) }
	if g.h.support.CPU {
		if err := w("cpu.max", fmt.Sprintf("%s %d", maxOr(l.CPUMillis*CPUPeriodMicros/1000), CPUPeriodMicros)); err != nil {
			return err
		}
	}
	if g.h.support.Memory {
		if err := w("memory.max", maxOr(l.MemoryBytes)); err != nil {
			return err
		}
		if g.h.swapMax {
			swap := "max"
			if l.MemoryBytes > 0 {
				swap = "0"
			}
			if err := w("memory.swap.max", swap); err != nil {
				return err
			}
		}
		if fs.Exists(path.Join(d, "memory.oom.group")) {
			// An OOM kill takes the whole instance: a half-killed one is worse than a restart.
			if err := w("memory.oom.group", "1"); err != nil {
				return err
			}
		}
	}
	if g.h.support.Pids {
		if err := w("pids.max", maxOr(l.Pids)); err != nil {
			return err
		}
	}
	return nil
}

// statsV2 reads cpu.stat, memory.current and memory.events.
func (g *Group) statsV2() (Stats, error) {
	var s Stats
	fs, d := g.h.fs, g.dirs[""]
	b, err := fs.ReadFile(path.Join(d, "cpu.stat"))
	if err != nil {
		return s, err
	}
	usec, _ := keyed(b, "usage_usec")
	s.CPUNanos = usec * 1000
	if g.h.support.Memory {
		b, err := fs.ReadFile(path.Join(d, "memory.current"))
		if err != nil {
			return s, err
		}
		if s.MemoryBytes, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return s, fmt.Errorf("memory.current: %w", err)
		}
		if g.h.oomKill {
			b, err := fs.ReadFile(path.Join(d, "memory.events"))
			if err != nil {
				return s, err
			}
			s.OOMKills, _ = keyed(b, "oom_kill")
		}
	}
	return s, nil
}
