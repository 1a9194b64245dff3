package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of the times in /proc/<pid>/stat. It is 100 on every
// Linux architecture Go supports; reading it needs sysconf, which needs cgo.
const clockTicks = 100

// adoptPoll is how often a re-adopted process, which is not our child and cannot be
// waited for, is checked for liveness.
const adoptPoll = time.Second

// proc is one OS process of an instance: a child we started, or a process adopted after a
// platform restart. exited is closed once it is gone; code and signal are then final.
type proc struct {
	pid        int
	startTicks uint64 // field 22 of /proc/<pid>/stat, against PID reuse
	adopted    bool
	exited     chan struct{}
	code       int // -1 when unknown (adopted) or killed by a signal
	signal     syscall.Signal
}

// spawnSpec is what spawn needs to start a process.
type spawnSpec struct {
	path   string
	env    []string
	dir    string
	stdout *os.File
	stderr *os.File
}

// spawn starts a process in its own process group, so a signal sent to the platform's
// group does not reach it and a stop can signal everything it forked.
func spawn(s spawnSpec) (*proc, error) {
	cmd := exec.Command(s.path)
	cmd.Env = s.env
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.path, err)
	}
	return watch(cmd), nil
}

// watch returns the proc of the started cmd and reaps it when it exits.
func watch(cmd *exec.Cmd) *proc {
	p := &proc{pid: cmd.Process.Pid, exited: make(chan struct{}), code: -1}
	if st, err := readStat(p.pid); err == nil {
		p.startTicks = st.startTicks
	}
	// The waiter outlives Driver.Close on purpose: it only reaps, so an abandoned child
	// does not linger as a zombie in the platform process.
	go func() {
		_ = cmd.Wait()
		ps := cmd.ProcessState
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.signal = ws.Signal()
		} else {
			p.code = ps.ExitCode()
		}
		close(p.exited)
	}()
	return p
}

// adopt watches a live process started by an earlier platform run until it is gone or
// ctx ends.
func adopt(ctx context.Context, pid int, startTicks uint64) *proc {
	p := &proc{pid: pid, startTicks: startTicks, adopted: true, exited: make(chan struct{}), code: -1}
	go func() {
		t := time.NewTicker(adoptPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !alive(pid, startTicks) {
					close(p.exited)
					return
				}
			}
		}
	}()
	return p
}

// signalGroup sends sig to the process group of p; a group that is gone is not an error.
func (p *proc) signalGroup(sig syscall.Signal) error {
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %v to group %d: %w", sig, p.pid, err)
	}
	return nil
}

// stop sends SIGTERM to the group, waits up to grace for p to exit, then sends SIGKILL and
// waits for it to be gone.
func (p *proc) stop(grace time.Duration) error {
	if err := p.signalGroup(syscall.SIGTERM); err != nil {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		// Processes it forked into its group go down with it.
		return p.signalGroup(syscall.SIGKILL)
	case <-t.C:
	}
	if err := p.signalGroup(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("process %d survived SIGKILL", p.pid)
	}
}

// describe explains how p ended, for an event.
func (p *proc) describe() string {
	switch {
	case p.signal != 0:
		return "killed by signal " + p.signal.String()
	case p.adopted:
		return "exited (exit code unknown: the process was re-adopted after a platform restart)"
	default:
		return "exited with code " + strconv.Itoa(p.code)
	}
}

// procStat is the part of /proc/<pid>/stat the driver uses.
type procStat struct {
	state      byte
	pgrp       int
	cpuTicks   uint64 // utime + stime
	startTicks uint64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) may contain spaces and parentheses: split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	return procStat{
		state:      f[0][0],
		pgrp:       int(num(f[2])),
		cpuTicks:   num(f[11]) + num(f[12]),
		startTicks: num(f[19]),
	}, nil
}

// alive reports whether pid is a running (not zombie) process that started at startTicks.
func alive(pid int, startTicks uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readStat(pid)
	return err == nil && st.state != 'Z' && st.state != 'X' && st.startTicks == startTicks
}

// residentBytes returns the resident set size of pid from /proc/<pid>/statm.
func residentBytes(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("short /proc/%d/statm", pid)
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%d/statm: %w", pid, err)
	}
	return pages * uint64(os.Getpagesize()), nil
}

// uptimeTicks returns the time since boot in clock ticks, from /proc/uptime.
func uptimeTicks() (uint64, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, errors.New("empty /proc/uptime")
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/uptime: %w", err)
	}
	return uint64(secs * clockTicks), nil
}

// findLeaders scans /proc for live process-group leaders running one of the executables
// exes[instance ID] (the artifact's host path, or its path inside a sandbox) with
// MICRO_SERVER_ID set to that ID, and returns them by instance ID. It
// finds an instance whose PID was never recorded because the platform died right after
// starting it. Only a group leader counts: processes an instance forks inherit its
// environment.
func findLeaders(exes map[string][]string) map[string]procStatPID {
	found := map[string]procStatPID{}
	if len(exes) == 0 {
		return found
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return found
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.pgrp != pid || st.state == 'Z' {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		for _, kv := range bytes.Split(env, []byte{0}) {
			id, ok := bytes.CutPrefix(kv, []byte(envServerID+"="))
			if ok && slices.Contains(exes[string(id)], exe) {
				found[string(id)] = procStatPID{pid: pid, startTicks: st.startTicks}
			}
		}
	}
	return found
}

// procStatPID identifies a process across PID reuse.
type procStatPID struct {
	pid        int
	startTicks uint64
}
