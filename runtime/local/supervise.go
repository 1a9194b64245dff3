package local

import (
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/logstore"
	"github.com/micro/platform/runtime"
)

// workload is one started spec. Its fields are guarded by Driver.mu.
type workload struct {
	spec      runtime.WorkloadSpec // as first started; never written afterwards
	replicas  int                  // wanted now
	instances []*instance          // wanted, in creation order
	stopping  []*instance          // being stopped by a scale-down or Stop
	removed   bool                 // stopped and forgotten: never persist again

	stateMu sync.Mutex // orders state file writes
}

func (wl *workload) status() *runtime.WorkloadStatus {
	st := &runtime.WorkloadStatus{Spec: wl.spec, Instances: make([]runtime.InstanceStatus, 0, len(wl.instances))}
	st.Spec.Replicas = wl.replicas
	for _, inst := range wl.instances {
		st.Instances = append(st.Instances, inst.status())
	}
	return st
}

// instance is one replica; its ID is kept across restarts.
type instance struct {
	id   string
	wl   *workload
	done chan struct{} // closed when its supervisor returns

	stopOnce  sync.Once
	stopCh    chan time.Duration // receives the grace of a stop request
	restartCh chan time.Duration // receives the grace of a restart request

	mu        sync.Mutex
	state     platform.InstanceState
	restarts  int
	exitCode  int
	message   string
	startedAt time.Time
	proc      *proc
	cpuTicks  uint64 // at the last stats sample
	cpuAt     time.Time
	cpuNanos  uint64   // of its cgroup at the last stats sample
	box       confined // its sandbox, when sandboxed
}

func newInstance(wl *workload, id string, now time.Time) *instance {
	return &instance{
		id: id, wl: wl, done: make(chan struct{}), stopCh: make(chan time.Duration, 1), restartCh: make(chan time.Duration, 1),
		state: platform.InstanceStarting, startedAt: now,
	}
}

func (inst *instance) key() logstore.Key {
	return logstore.Key{Namespace: inst.wl.spec.Namespace, Service: inst.wl.spec.Service, Instance: inst.id}
}

func (inst *instance) requestStop(grace time.Duration) {
	inst.stopOnce.Do(func() { inst.stopCh <- grace })
}

func (inst *instance) status() runtime.InstanceStatus {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return runtime.InstanceStatus{
		ID: inst.id, WorkloadID: inst.wl.spec.ID, State: inst.state, Restarts: inst.restarts,
		ExitCode: inst.exitCode, Message: inst.message, StartedAt: inst.startedAt,
	}
}

func (inst *instance) set(f func(*instance)) {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	f(inst)
}

// supervise runs inst until it is stopped or the driver closes: it starts (or, with
// adopted, watches) the process and restarts it on exit after a backoff.
func (d *Driver) supervise(inst *instance, adopted *proc) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(inst.done)
		tracker := NewTracker(d.opts.Backoff, d.opts.CrashLoop)
		looping := false
		p := adopted
		for {
			if p == nil {
				p = d.startProcess(inst)
			}
			var grace time.Duration
			stopped, restart := false, false
			if p != nil {
				select {
				case <-p.exited:
				case grace = <-inst.stopCh:
					stopped = true
				case grace = <-inst.restartCh:
					restart = true
				case <-d.ctx.Done():
					return // closed: the process keeps running, to be re-adopted
				}
			}
			if stopped {
				d.stopProcess(inst, p, grace)
				return
			}
			if restart {
				if err := p.stop(grace); err != nil {
					d.opts.Logger.Error("restart instance", "instance", inst.id, "err", err)
				}
				p = nil
				continue
			}
			delay, crash := d.exited(inst, p, tracker, looping)
			looping = crash
			p = nil
			select {
			case <-time.After(delay):
			case grace = <-inst.stopCh:
				d.stopProcess(inst, nil, grace)
				return
			case <-d.ctx.Done():
				return
			}
		}
	}()
}

// startProcess starts inst's process and reports it, or records the failure as an exit
// and returns nil.
func (d *Driver) startProcess(inst *instance) *proc {
	spec := inst.wl.spec
	p, err := d.spawnInstance(inst)
	now := d.opts.Clock.Now()
	if err != nil {
		d.opts.Logger.Error("start instance", "workload", spec.ID, "instance", inst.id, "err", err)
		inst.set(func(i *instance) { i.exitCode, i.message, i.proc = -1, err.Error(), nil })
		return nil
	}
	inst.set(func(i *instance) {
		if i.proc != nil || i.state != platform.InstanceStarting {
			i.restarts++
		}
		i.proc, i.state, i.startedAt, i.cpuTicks, i.cpuAt = p, platform.InstanceRunning, now, 0, time.Time{}
	})
	if err := d.persist(inst.wl); err != nil {
		d.opts.Logger.Error("persist workload", "workload", spec.ID, "err", err)
	}
	d.emit(runtime.EventStarted, inst, 0, "")
	return p
}

func (d *Driver) spawnInstance(inst *instance) (*proc, error) {
	dir := d.workDir(inst)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	stdout, stderr, err := d.logs.Attach(inst.key())
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	defer stderr.Close()
	if d.opts.Sandbox.Enabled {
		return d.spawnSandboxed(inst, stdout, stderr)
	}
	return spawn(spawnSpec{path: inst.wl.spec.Artifact, env: d.environ(inst), dir: dir, stdout: stdout, stderr: stderr})
}

// exited records the end of a run (p nil: the process did not start), emits its events and
// returns the delay before the restart and whether the instance is crash looping.
func (d *Driver) exited(inst *instance, p *proc, tracker *Tracker, looping bool) (time.Duration, bool) {
	now := d.opts.Clock.Now()
	inst.mu.Lock()
	started := inst.startedAt
	code, msg := inst.exitCode, inst.message
	if p != nil {
		code, msg = p.code, p.describe()
		if p.signal == syscall.SIGKILL && inst.oomKilledLocked() {
			msg = "out of memory: killed for using more than its size's " + strconv.FormatInt(inst.wl.spec.Resources.MemoryBytes>>20, 10) + " MiB limit"
		}
		if last := d.logs.LastLine(inst.key(), platform.Stderr); last != "" {
			msg += ": " + last
		}
	} else {
		started = now
	}
	delay, crash := tracker.Exited(started, now)
	inst.exitCode, inst.message = code, msg
	inst.state = platform.InstanceBackoff
	if crash {
		inst.state = platform.InstanceCrashLoop
	}
	restarts := inst.restarts
	inst.mu.Unlock()

	d.emit(runtime.EventExited, inst, code, msg)
	if crash && !looping {
		d.emit(runtime.EventCrashLoop, inst, code, "restarted "+strconv.Itoa(restarts)+" times, exiting too often; last: "+msg)
	}
	return delay, crash
}

// stopProcess stops p (if any) and reports the instance stopped.
func (d *Driver) stopProcess(inst *instance, p *proc, grace time.Duration) {
	if p != nil {
		if err := p.stop(grace); err != nil {
			d.opts.Logger.Error("stop instance", "instance", inst.id, "err", err)
		}
	}
	inst.set(func(i *instance) { i.state, i.proc = platform.InstanceStopped, nil })
	d.emit(runtime.EventStopped, inst, 0, "stopped on request")
}

// sample returns the CPU use since the previous sample (since the process started, for the
// first) and the resident memory of inst's process.
func (inst *instance) sample(now time.Time) runtime.InstanceStats {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	s := runtime.InstanceStats{InstanceID: inst.id, Time: now}
	if inst.proc == nil || inst.state != platform.InstanceRunning {
		return s
	}
	if g := inst.box.group; g != nil {
		// The cgroup counts everything the instance forked too.
		if cs, err := g.Stats(); err == nil {
			if el := now.Sub(inst.cpuAt).Seconds(); !inst.cpuAt.IsZero() && el > 0 && cs.CPUNanos >= inst.cpuNanos {
				s.CPUPercent = 100 * float64(cs.CPUNanos-inst.cpuNanos) / 1e9 / el
			}
			inst.cpuNanos, inst.cpuAt = cs.CPUNanos, now
			s.MemoryBytes = cs.MemoryBytes
			return s
		}
	}
	st, err := readStat(inst.proc.pid)
	if err != nil || st.startTicks != inst.proc.startTicks {
		return s
	}
	if inst.cpuAt.IsZero() {
		if up, err := uptimeTicks(); err == nil && up > st.startTicks {
			s.CPUPercent = 100 * float64(st.cpuTicks) / float64(up-st.startTicks)
		}
	} else if el := now.Sub(inst.cpuAt).Seconds(); el > 0 && st.cpuTicks >= inst.cpuTicks {
		s.CPUPercent = 100 * float64(st.cpuTicks-inst.cpuTicks) / clockTicks / el
	}
	inst.cpuTicks, inst.cpuAt = st.cpuTicks, now
	s.MemoryBytes, _ = residentBytes(inst.proc.pid)
	return s
}
