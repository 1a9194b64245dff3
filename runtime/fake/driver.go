// Package fake is a scriptable, in-memory runtime.Driver for control-plane tests. Instances
// are simulated processes on a Host whose behaviour is set per artifact or per workload
// with a Script: fail on start, exit after a duration with a code, print lines, run
// forever, ignore SIGTERM. Restarts follow the same backoff and crash-loop rules as the
// local driver (local.Tracker), events are the same, every call is recorded, and it
// passes the conformance suite, recovery included: a second Driver on the same Host
// re-adopts the live instances.
package fake

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
	"github.com/micro/platform/runtime/local"
)

// Options configure a Driver. Zero fields take the defaults shown.
type Options struct {
	// Host is the simulated machine; a new one by default.
	Host *Host
	// OnEvent receives instance events.
	OnEvent runtime.EventFunc
	// Clock stamps events and times runs; the system clock by default.
	Clock platform.Clock
	// Backoff is the restart schedule (10ms, ×2, at most 200ms, reset after 1s), short so
	// tests stay fast.
	Backoff local.Backoff
	// CrashLoop is the crash-loop threshold (5 exits within a minute).
	CrashLoop local.CrashLoop
	// StopGrace is the grace of Stop when called with 0 (1s).
	StopGrace time.Duration
}

// Call is one recorded call to the driver.
type Call struct {
	Method     string
	WorkloadID string
	Replicas   int // for Start
	Time       time.Time
}

// Driver is the fake driver. Create it with New.
type Driver struct {
	opts Options
	host *Host

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	workloads map[string]*workload
	calls     []Call

	saveMu sync.Mutex // orders saves: a snapshot taken earlier never overwrites a later one
}

var (
	_ runtime.Driver    = (*Driver)(nil)
	_ runtime.Restarter = (*Driver)(nil)
)

// New returns a fake driver.
func New(opts Options) *Driver {
	if opts.Host == nil {
		opts.Host = NewHost()
	}
	if opts.Clock == nil {
		opts.Clock = platform.SystemClock{}
	}
	if opts.Backoff == (local.Backoff{}) {
		opts.Backoff = local.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, Factor: 2, ResetAfter: time.Second}
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = time.Second
	}
	d := &Driver{opts: opts, host: opts.Host, workloads: map[string]*workload{}}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// Host returns the driver's host.
func (d *Driver) Host() *Host { return d.host }

// Name returns "fake".
func (d *Driver) Name() string { return "fake" }

// Calls returns the calls made so far, in order.
func (d *Driver) Calls() []Call {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

func (d *Driver) record(method, id string, replicas int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, Call{Method: method, WorkloadID: id, Replicas: replicas, Time: d.opts.Clock.Now()})
}

// Close stops supervising and leaves the simulated processes running on the Host, as a
// platform crash would.
func (d *Driver) Close() error {
	d.cancel()
	d.wg.Wait()
	return nil
}

// Restart implements runtime.Restarter.
func (d *Driver) Restart(_ context.Context, workloadID, instanceID string, grace time.Duration) error {
	d.record("Restart", workloadID, 0)
	d.mu.Lock()
	var target *instance
	if wl, ok := d.workloads[workloadID]; ok {
		for _, in := range wl.instances {
			if in.id == instanceID {
				target = in
			}
		}
	}
	d.mu.Unlock()
	if target == nil {
		return platform.Errorf(platform.ENOTFOUND, "instance %q of workload %q not found", instanceID, workloadID)
	}
	select {
	case target.restartCh <- grace:
	default: // a restart is already pending
	}
	return nil
}

// PID returns the simulated process of a running instance.
func (d *Driver) PID(workloadID, instanceID string) (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	wl, ok := d.workloads[workloadID]
	if !ok {
		return 0, false
	}
	for _, in := range wl.instances {
		if in.id == instanceID {
			in.mu.Lock()
			defer in.mu.Unlock()
			if in.proc == nil || in.state != platform.InstanceRunning {
				return 0, false
			}
			return in.proc.pid, true
		}
	}
	return 0, false
}

// Recover re-adopts the Host's instances of earlier drivers and restarts the dead ones.
func (d *Driver) Recover(context.Context) error {
	d.record("Recover", "", 0)
	d.host.mu.Lock()
	states := slices.Collect(maps.Values(d.host.state))
	d.host.mu.Unlock()
	for _, st := range states {
		d.mu.Lock()
		if _, ok := d.workloads[st.spec.ID]; ok || d.ctx.Err() != nil {
			d.mu.Unlock()
			continue
		}
		wl := &workload{spec: st.spec, replicas: st.spec.Replicas}
		d.workloads[st.spec.ID] = wl
		type run struct {
			in *instance
			p  *proc
		}
		var runs []run
		for _, si := range st.instances {
			in := newInstance(wl, si.id, si.startedAt)
			in.restarts = si.restarts
			d.host.mu.Lock()
			p := d.host.procs[si.pid]
			d.host.mu.Unlock()
			switch {
			case p != nil:
				in.proc, in.state = p, platform.InstanceRunning
			case si.pid != 0:
				in.state, in.exitCode, in.message = platform.InstanceBackoff, -1, "exited while the platform was down"
			}
			wl.instances = append(wl.instances, in)
			runs = append(runs, run{in, p})
		}
		d.mu.Unlock()
		for _, r := range runs {
			d.supervise(r.in, r.p)
		}
		d.save(wl)
	}
	return nil
}

// Start runs spec.Replicas instances; a repeated Start only converges the replicas.
// EINVALID for a missing artifact or bad counts; the script's StartErr as is.
func (d *Driver) Start(_ context.Context, spec runtime.WorkloadSpec) error {
	d.record("Start", spec.ID, spec.Replicas)
	var errs []error
	if spec.ID == "" {
		errs = append(errs, platform.Errorf(platform.EINVALID, "missing workload id"))
	}
	if spec.Artifact == "" {
		errs = append(errs, platform.Errorf(platform.EINVALID, "missing artifact"))
	}
	if spec.Replicas < 0 {
		errs = append(errs, platform.Errorf(platform.EINVALID, "replicas must not be negative, got %d", spec.Replicas))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := d.host.script(spec).StartErr; err != nil {
		return err
	}
	d.mu.Lock()
	if d.ctx.Err() != nil {
		d.mu.Unlock()
		return platform.Errorf(platform.EUNAVAILABLE, "fake driver is closed")
	}
	wl, ok := d.workloads[spec.ID]
	if !ok {
		wl = &workload{spec: spec}
		d.workloads[spec.ID] = wl
	}
	wl.replicas = spec.Replicas
	var added, removed []*instance
	for len(wl.instances) < spec.Replicas {
		in := newInstance(wl, platform.NewID(spec.Service), d.opts.Clock.Now())
		wl.instances = append(wl.instances, in)
		added = append(added, in)
	}
	if n := len(wl.instances) - spec.Replicas; n > 0 {
		removed = slices.Clone(wl.instances[spec.Replicas:])
		wl.instances = wl.instances[:spec.Replicas]
	}
	d.mu.Unlock()
	for _, in := range added {
		d.supervise(in, nil)
	}
	d.save(wl)
	d.stopAll(removed, d.opts.StopGrace)
	return nil
}

// Stop stops the workload's instances and forgets it; unknown workloads are no error.
func (d *Driver) Stop(_ context.Context, id string, grace time.Duration) error {
	d.record("Stop", id, 0)
	if grace <= 0 {
		grace = d.opts.StopGrace
	}
	d.mu.Lock()
	wl, ok := d.workloads[id]
	delete(d.workloads, id)
	d.mu.Unlock()
	if !ok {
		return nil
	}
	d.stopAll(wl.instances, grace)
	d.host.mu.Lock()
	delete(d.host.state, id)
	d.host.mu.Unlock()
	return nil
}

func (d *Driver) stopAll(ins []*instance, grace time.Duration) {
	for _, in := range ins {
		in.stopOnce.Do(func() { in.stopCh <- grace })
	}
	for _, in := range ins {
		<-in.done
	}
}

// Inspect returns ENOTFOUND for an unknown workload.
func (d *Driver) Inspect(_ context.Context, id string) (*runtime.WorkloadStatus, error) {
	d.record("Inspect", id, 0)
	d.mu.Lock()
	defer d.mu.Unlock()
	wl, ok := d.workloads[id]
	if !ok {
		return nil, platform.Errorf(platform.ENOTFOUND, "workload %q not found", id)
	}
	return wl.status(), nil
}

// List returns every workload, ordered by ID.
func (d *Driver) List(context.Context) ([]*runtime.WorkloadStatus, error) {
	d.record("List", "", 0)
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*runtime.WorkloadStatus
	for _, id := range slices.Sorted(maps.Keys(d.workloads)) {
		out = append(out, d.workloads[id].status())
	}
	return out, nil
}

// Logs streams the Host's lines of the service.
func (d *Driver) Logs(ctx context.Context, q platform.LogQuery) (<-chan platform.LogEntry, error) {
	d.record("Logs", "", 0)
	return d.host.Logs(ctx, q)
}

// Stats reports the scripted figures of running instances; ENOTFOUND for an unknown
// workload.
func (d *Driver) Stats(_ context.Context, id string) ([]runtime.InstanceStats, error) {
	d.record("Stats", id, 0)
	d.mu.Lock()
	defer d.mu.Unlock()
	wl, ok := d.workloads[id]
	if !ok {
		return nil, platform.Errorf(platform.ENOTFOUND, "workload %q not found", id)
	}
	now := d.opts.Clock.Now()
	out := make([]runtime.InstanceStats, 0, len(wl.instances))
	for _, in := range wl.instances {
		s := runtime.InstanceStats{InstanceID: in.id, Time: now}
		in.mu.Lock()
		if in.proc != nil && in.state == platform.InstanceRunning {
			s.MemoryBytes, s.CPUPercent = in.proc.script.MemoryBytes, in.proc.script.CPUPercent
			if s.MemoryBytes == 0 {
				s.MemoryBytes, s.CPUPercent = 16<<20, 1
			}
		}
		in.mu.Unlock()
		out = append(out, s)
	}
	return out, nil
}

// save persists wl's instances on the Host, for Recover.
func (d *Driver) save(wl *workload) {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	if d.workloads[wl.spec.ID] != wl {
		d.mu.Unlock()
		return
	}
	st := stored{spec: wl.spec}
	st.spec.Replicas = wl.replicas
	for _, in := range wl.instances {
		in.mu.Lock()
		si := storedInstance{id: in.id, restarts: in.restarts, startedAt: in.startedAt}
		if in.proc != nil {
			si.pid = in.proc.pid
		}
		in.mu.Unlock()
		st.instances = append(st.instances, si)
	}
	d.mu.Unlock()
	d.host.mu.Lock()
	d.host.state[wl.spec.ID] = st
	d.host.mu.Unlock()
}

func (d *Driver) emit(kind runtime.EventKind, in *instance, code int, msg string) {
	if d.opts.OnEvent != nil {
		d.opts.OnEvent(runtime.Event{
			Kind: kind, WorkloadID: in.wl.spec.ID, Namespace: in.wl.spec.Namespace, Service: in.wl.spec.Service,
			InstanceID: in.id, ExitCode: code, Message: msg, Time: d.opts.Clock.Now(),
		})
	}
}

func describe(p *proc) string {
	if p.signal != 0 {
		return "killed by signal " + p.signal.String()
	}
	return "exited with code " + strconv.Itoa(p.code)
}

// stopProc sends SIGTERM, waits up to grace, then SIGKILL.
func (d *Driver) stopProc(p *proc, grace time.Duration) {
	d.host.signal(p.pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		d.host.signal(p.pid, syscall.SIGKILL)
		<-p.exited
	}
}
