package cgroup

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"syscall"
)

// initV1 sets up the Hierarchy in each v1 controller's hierarchy: create the parent group
// under the platform's own cgroup of that controller and probe it.
func (h *Hierarchy) initV1(mounts map[string]mount, pc procCgroups) {
	for _, c := range []string{cpu, cpuacct, memory, pids} {
		report := h.problem
		if c == cpuacct {
			report = h.warn // only Stats' CPU time depends on it
		}
		m, ok := mounts[c]
		if !ok {
			report("%s controller not mounted", c)
			continue
		}
		dir := path.Join(ownDir(m, pc.v1[c]), h.name)
		if err := mkdirOK(h.fs, dir); err != nil {
			report("cannot create %s: %s", dir, reason(err))
			continue
		}
		if err := h.probeV1(c, dir); err != nil {
			report("%s controller unusable: %s", c, err)
			continue
		}
		h.dirs[c] = dir
		switch c {
		case cpu:
			h.support.CPU = true
		case memory:
			h.support.Memory = true
		case pids:
			h.support.Pids = true
		}
	}
	if _, ok := h.dirs[cpuacct]; !ok {
		h.warn("no CPU accounting: Stats reports no CPU time")
	}
}

// probeV1 creates a throwaway child of dir and sets a limit of controller c in it.
func (h *Hierarchy) probeV1(c, dir string) error {
	probe := path.Join(dir, probeName())
	if err := mkdirOK(h.fs, probe); err != nil {
		return fmt.Errorf("cannot create %s: %s", probe, reason(err))
	}
	defer h.fs.Rmdir(probe)
	write := func(file, value string) error {
		if err := h.fs.WriteFile(path.Join(probe, file), value); err != nil {
			return fmt.Errorf("cannot write %s: %s", path.Join(probe, file), reason(err))
		}
		return nil
	}
	switch c {
	case cpu:
		if err := write("cpu.cfs_period_us", strconv.Itoa(CPUPeriodMicros)); err != nil {
			return err
		}
		return write("cpu.cfs_quota_us", strconv.Itoa(CPUPeriodMicros))
	case cpuacct:
		_, err := h.fs.ReadFile(path.Join(probe, "cpuacct.usage"))
		if err != nil {
			return fmt.Errorf("cannot read cpuacct.usage: %s", reason(err))
		}
		return nil
	case memory:
		if err := write("memory.limit_in_bytes", strconv.Itoa(1<<30)); err != nil {
			return err
		}
		h.memsw = h.fs.Exists(path.Join(probe, "memory.memsw.limit_in_bytes"))
		if !h.memsw {
			h.warn("no swap accounting (memory.memsw.limit_in_bytes absent): swap can extend memory limits; swappiness set to 0 instead")
		}
		oc, err := h.fs.ReadFile(path.Join(probe, "memory.oom_control"))
		if err != nil {
			return fmt.Errorf("cannot read memory.oom_control: %s", reason(err))
		}
		if _, h.oomKill = keyed(oc, "oom_kill"); !h.oomKill {
			h.warn("memory.oom_control has no oom_kill counter (kernel before 4.13): Stats.OOMKills stays 0")
		}
		return nil
	case pids:
		return write("pids.max", "64")
	}
	return nil
}

// applyV1 writes l to the group's controllers.
func (g *Group) applyV1(l Limits) error {
	fs := g.h.fs
	if d, ok := g.dirs[cpu]; ok {
		if err := fs.WriteFile(path.Join(d, "cpu.cfs_period_us"), strconv.Itoa(CPUPeriodMicros)); err != nil {
			return err
		}
		quota := int64(-1)
		if l.CPUMillis > 0 {
			quota = l.CPUMillis * CPUPeriodMicros / 1000
		}
		if err := fs.WriteFile(path.Join(d, "cpu.cfs_quota_us"), strconv.FormatInt(quota, 10)); err != nil {
			return err
		}
	}
	if d, ok := g.dirs[memory]; ok {
		if err := g.memoryV1(d, limit(l.MemoryBytes)); err != nil {
			return err
		}
	}
	if d, ok := g.dirs[pids]; ok {
		if err := fs.WriteFile(path.Join(d, "pids.max"), maxOr(l.Pids)); err != nil {
			return err
		}
	}
	return nil
}

// memoryV1 sets the memory limit and, with swap accounting, the memory+swap limit to the
// same value. The kernel wants memsw ≥ limit at every step, so raising the limit above the
// current memsw limit goes memsw first.
func (g *Group) memoryV1(d, v string) error {
	fs := g.h.fs
	lim := path.Join(d, "memory.limit_in_bytes")
	sw := path.Join(d, "memory.memsw.limit_in_bytes")
	err := fs.WriteFile(lim, v)
	if err != nil && g.h.memsw && errors.Is(err, syscall.EINVAL) {
		if err = fs.WriteFile(sw, v); err == nil {
			err = fs.WriteFile(lim, v)
		}
	}
	if err != nil {
		return err
	}
	if g.h.memsw {
		return fs.WriteFile(sw, v)
	}
	if v != "-1" {
		_ = fs.WriteFile(path.Join(d, "memory.swappiness"), "0") // best effort without memsw
	}
	return nil
}

// statsV1 reads cpuacct.usage, memory.usage_in_bytes and memory.oom_control.
func (g *Group) statsV1() (Stats, error) {
	var s Stats
	fs := g.h.fs
	if d, ok := g.dirs[cpuacct]; ok {
		b, err := fs.ReadFile(path.Join(d, "cpuacct.usage"))
		if err != nil {
			return s, err
		}
		if s.CPUNanos, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return s, fmt.Errorf("cpuacct.usage: %w", err)
		}
	}
	if d, ok := g.dirs[memory]; ok {
		b, err := fs.ReadFile(path.Join(d, "memory.usage_in_bytes"))
		if err != nil {
			return s, err
		}
		if s.MemoryBytes, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err != nil {
			return s, fmt.Errorf("memory.usage_in_bytes: %w", err)
		}
		if g.h.oomKill {
			b, err := fs.ReadFile(path.Join(d, "memory.oom_control"))
			if err != nil {
				return s, err
			}
			s.OOMKills, _ = keyed(b, "oom_kill")
		}
	}
	return s, nil
}
