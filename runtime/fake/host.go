package fake

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
)

// Script is how the instances of an artifact (or of one workload) behave. The zero Script
// runs forever and prints nothing.
type Script struct {
	// StartErr, when set, is returned by Start and nothing runs.
	StartErr error
	// Exit makes every run end after ExitAfter with ExitCode.
	Exit      bool
	ExitAfter time.Duration
	ExitCode  int
	// Output is printed at the start of every run; $MICRO_SERVER_ID and other variables
	// of the instance's environment are expanded.
	Output []Line
	// Tick, when positive, prints TickLine (a format with one %d, "tick %d" by default)
	// on stdout every Tick, counting from 1.
	Tick     time.Duration
	TickLine string
	// IgnoreTerm makes a run survive SIGTERM, so only SIGKILL after the grace ends it.
	IgnoreTerm bool
	// MemoryBytes and CPUPercent are what Stats reports of a run (16 MiB and 1% by default).
	MemoryBytes uint64
	CPUPercent  float64
}

// Line is one line of output.
type Line struct {
	Stream platform.LogStream
	Text   string
}

// Host is the simulated machine: the processes, the state the driver persists and the
// instance logs, all of which outlive a Driver. Two drivers on the same Host behave like
// two runs of the platform on the same machine. Safe for concurrent use.
type Host struct {
	mu       sync.Mutex
	procs    map[int]*proc
	scripts  map[string]Script // by artifact
	wscripts map[string]Script // by workload ID
	state    map[string]stored
	logs     []platform.LogEntry
	notify   chan struct{}
}

// stored is the persisted state of a workload.
type stored struct {
	spec      runtime.WorkloadSpec
	instances []storedInstance
}

type storedInstance struct {
	id        string
	pid       int
	restarts  int
	startedAt time.Time
}

// lastPID numbers the simulated processes of every Host of the process (from 1001):
// PIDs are unique across Hosts, so tests that look a process up by PID alone (tests
// running in parallel, each with its own Host) never find another test's.
var lastPID atomic.Int64

// NewHost returns an empty host.
func NewHost() *Host {
	return &Host{
		procs: map[int]*proc{}, scripts: map[string]Script{}, wscripts: map[string]Script{},
		state: map[string]stored{}, notify: make(chan struct{}),
	}
}

// SetScript sets how instances of artifact behave.
func (h *Host) SetScript(artifact string, s Script) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.scripts[artifact] = s
}

// SetWorkloadScript sets how the instances of one workload behave, over its artifact's.
func (h *Host) SetWorkloadScript(workloadID string, s Script) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.wscripts[workloadID] = s
}

func (h *Host) script(spec runtime.WorkloadSpec) Script {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.wscripts[spec.ID]; ok {
		return s
	}
	return h.scripts[spec.Artifact]
}

// Alive reports whether process pid is running.
func (h *Host) Alive(pid int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.procs[pid]
	return ok
}

// Kill ends process pid with SIGKILL, as a crash or the OOM killer would.
func (h *Host) Kill(pid int) {
	h.signal(pid, syscall.SIGKILL)
}

func (h *Host) signal(pid int, sig syscall.Signal) {
	h.mu.Lock()
	p := h.procs[pid]
	h.mu.Unlock()
	if p == nil {
		return
	}
	if sig == syscall.SIGTERM {
		if !p.script.IgnoreTerm {
			h.finish(p, 0, 0)
		}
		return
	}
	h.finish(p, -1, sig)
}

// proc is a simulated process.
type proc struct {
	pid    int
	script Script
	exited chan struct{}
	code   int // final once exited is closed
	signal syscall.Signal
}

// spawn starts a process of s for the instance key with env.
func (h *Host) spawn(key logKey, s Script, env map[string]string) *proc {
	h.mu.Lock()
	p := &proc{pid: 1000 + int(lastPID.Add(1)), script: s, exited: make(chan struct{})}
	h.procs[p.pid] = p
	h.mu.Unlock()
	for _, l := range s.Output {
		h.appendLog(key, l.Stream, os.Expand(l.Text, func(k string) string { return env[k] }))
	}
	go h.run(p, key)
	return p
}

func (h *Host) run(p *proc, key logKey) {
	var exit <-chan time.Time
	if p.script.Exit {
		t := time.NewTimer(p.script.ExitAfter)
		defer t.Stop()
		exit = t.C
	}
	var tick <-chan time.Time
	if p.script.Tick > 0 {
		t := time.NewTicker(p.script.Tick)
		defer t.Stop()
		tick = t.C
	}
	format := p.script.TickLine
	if format == "" {
		format = "tick %d"
	}
	for n := 1; ; n++ {
		select {
		case <-p.exited:
			return
		case <-exit:
			h.finish(p, p.script.ExitCode, 0)
			return
		case <-tick:
			h.appendLog(key, platform.Stdout, fmt.Sprintf(format, n))
		}
	}
}

func (h *Host) finish(p *proc, code int, sig syscall.Signal) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.procs[p.pid] != p {
		return
	}
	delete(h.procs, p.pid)
	p.code, p.signal = code, sig
	close(p.exited)
}

// appendLog records a line of the instance named by key (its Namespace, Service and
// InstanceID).
func (h *Host) appendLog(key logKey, stream platform.LogStream, line string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, platform.LogEntry{
		Time: time.Now(), Namespace: key.Namespace, Service: key.Service, InstanceID: key.InstanceID, Stream: stream, Line: line,
	})
	close(h.notify)
	h.notify = make(chan struct{})
}

// lastLine returns the last line an instance wrote to stream.
func (h *Host) lastLine(instanceID string, stream platform.LogStream) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.logs) - 1; i >= 0; i-- {
		if e := h.logs[i]; e.InstanceID == instanceID && e.Stream == stream {
			return e.Line
		}
	}
	return ""
}

// Logs sends the tail of q and, with q.Follow, later lines until ctx ends.
func (h *Host) Logs(ctx context.Context, q platform.LogQuery) (<-chan platform.LogEntry, error) {
	if q.Tail < -1 {
		return nil, platform.Errorf(platform.EINVALID, "tail must be -1, 0 or positive, not %d", q.Tail)
	}
	h.mu.Lock()
	var tail []platform.LogEntry
	for _, e := range h.logs {
		if e.Namespace == q.Namespace && e.Service == q.Service {
			tail = append(tail, e)
		}
	}
	n := q.Tail
	if n == 0 {
		n = 100
	}
	if n > 0 && len(tail) > n {
		tail = tail[len(tail)-n:]
	}
	seen, notify := len(h.logs), h.notify
	h.mu.Unlock()
	ch := make(chan platform.LogEntry, len(tail))
	for _, e := range tail {
		ch <- e
	}
	if !q.Follow {
		close(ch)
		return ch, nil
	}
	go func() {
		defer close(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-notify:
			}
			h.mu.Lock()
			fresh := slices.Clone(h.logs[seen:])
			seen, notify = len(h.logs), h.notify
			h.mu.Unlock()
			for _, e := range fresh {
				if e.Namespace != q.Namespace || e.Service != q.Service {
					continue
				}
				select {
				case ch <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch, nil
}
