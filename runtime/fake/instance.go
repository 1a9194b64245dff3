package fake

import (
	"strconv"
	"sync"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/local"
)

// logKey names the instance a log line belongs to.
type logKey struct {
	Namespace, Service, InstanceID string
}

// workload is one started spec; guarded by Driver.mu.
type workload struct {
	spec      runtime.WorkloadSpec // as first started; never written afterwards
	replicas  int                  // wanted now
	instances []*instance
}

func (wl *workload) status() *runtime.WorkloadStatus {
	st := &runtime.WorkloadStatus{Spec: wl.spec}
	st.Spec.Replicas = wl.replicas
	for _, in := range wl.instances {
		in.mu.Lock()
		st.Instances = append(st.Instances, runtime.InstanceStatus{
			ID: in.id, WorkloadID: wl.spec.ID, State: in.state, Restarts: in.restarts,
			ExitCode: in.exitCode, Message: in.message, StartedAt: in.startedAt,
		})
		in.mu.Unlock()
	}
	return st
}

// instance is one replica, its ID kept across restarts.
type instance struct {
	id        string
	wl        *workload
	done      chan struct{}
	stopOnce  sync.Once
	stopCh    chan time.Duration
	restartCh chan time.Duration

	mu        sync.Mutex
	state     platform.InstanceState
	restarts  int
	exitCode  int
	message   string
	startedAt time.Time
	proc      *proc
}

func newInstance(wl *workload, id string, now time.Time) *instance {
	return &instance{id: id, wl: wl, done: make(chan struct{}), stopCh: make(chan time.Duration, 1), restartCh: make(chan time.Duration, 1),
		state: platform.InstanceStarting, startedAt: now}
}

func (in *instance) key() logKey {
	return logKey{Namespace: in.wl.spec.Namespace, Service: in.wl.spec.Service, InstanceID: in.id}
}

// supervise runs in (watching adopted when set) and restarts it on exit, like the local
// driver, until it is stopped or the driver closes.
func (d *Driver) supervise(in *instance, adopted *proc) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(in.done)
		tracker := local.NewTracker(d.opts.Backoff, d.opts.CrashLoop)
		looping := false
		p := adopted
		for {
			if p == nil {
				p = d.startRun(in)
			}
			select {
			case <-p.exited:
			case grace := <-in.stopCh:
				d.stopProc(p, grace)
				d.stopped(in)
				return
			case grace := <-in.restartCh:
				d.stopProc(p, grace)
				p = nil
				continue
			case <-d.ctx.Done():
				return
			}
			delay := d.exited(in, p, tracker, &looping)
			p = nil
			select {
			case <-time.After(delay):
			case <-in.stopCh:
				d.stopped(in)
				return
			case <-d.ctx.Done():
				return
			}
		}
	}()
}

func (d *Driver) startRun(in *instance) *proc {
	spec := in.wl.spec
	env := spec.Environ()
	env["MICRO_SERVER_ID"] = in.id
	p := d.host.spawn(in.key(), d.host.script(spec), env)
	now := d.opts.Clock.Now()
	in.mu.Lock()
	if in.proc != nil || in.state != platform.InstanceStarting {
		in.restarts++
	}
	in.proc, in.state, in.startedAt = p, platform.InstanceRunning, now
	in.mu.Unlock()
	d.save(in.wl)
	d.emit(runtime.EventStarted, in, 0, "")
	return p
}

func (d *Driver) exited(in *instance, p *proc, tracker *local.Tracker, looping *bool) time.Duration {
	now := d.opts.Clock.Now()
	msg := describe(p)
	if last := d.host.lastLine(in.id, platform.Stderr); last != "" {
		msg += ": " + last
	}
	in.mu.Lock()
	delay, crash := tracker.Exited(in.startedAt, now)
	in.exitCode, in.message, in.state = p.code, msg, platform.InstanceBackoff
	if crash {
		in.state = platform.InstanceCrashLoop
	}
	restarts := in.restarts
	in.mu.Unlock()
	d.emit(runtime.EventExited, in, p.code, msg)
	if crash && !*looping {
		d.emit(runtime.EventCrashLoop, in, p.code, "restarted "+strconv.Itoa(restarts)+" times, exiting too often; last: "+msg)
	}
	*looping = crash
	return delay
}

func (d *Driver) stopped(in *instance) {
	in.mu.Lock()
	in.state, in.proc = platform.InstanceStopped, nil
	in.mu.Unlock()
	d.emit(runtime.EventStopped, in, 0, "stopped on request")
}
