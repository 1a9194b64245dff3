// Package local is the runtime driver that runs every instance as an OS process on this
// machine.
//
// Each instance runs spec.Artifact (a binary path) in its own process group, with exactly
// spec.Environ() plus MICRO_SERVER_ID=<instance id>, a minimal PATH and HOME set to its working
// directory. Its stdout and stderr are files of a logstore.Store, not pipes, so it keeps
// running and logging while the platform is down.
//
// A supervisor goroutine per instance restarts it when it exits, after a backoff that grows
// with consecutive failures and resets once a run lasts Backoff.ResetAfter. Exits within
// CrashLoop.Window reaching CrashLoop.Restarts put the instance in crashloop, restarted at
// the Backoff's Max:
//
//	starting ──► running ──exit──► backoff ──delay──► running ...
//	                 │                └──too often──► crashloop ──max delay──► running
//	                 └──Stop──► stopped (SIGTERM to the group, grace, SIGKILL)
//
// # Recovery
//
// On every change the driver writes <Dir>/workloads/<id>.json: the spec and, per instance,
// its PID and the process start time from /proc (against PID reuse). A new Driver on the
// same Dir re-adopts in Recover every instance whose process is still alive, watching it by
// polling /proc since it is no longer a child, and restarts the ones that died meanwhile.
// An instance whose PID was never recorded (the platform died right after starting it) is
// found by its MICRO_SERVER_ID among the process-group leaders, so Recover never starts a
// second copy of a live instance. Close stops supervising and leaves the processes running,
// as a platform restart does.
//
// # Specs
//
// A workload ID is a release ID, and a release never changes: a repeated Start with the
// same ID only takes the new Replicas; every other field of the first Start stays.
// # Sandbox
//
// With Options.Sandbox enabled every instance runs in a sandbox (package sandbox): its own
// mount, PID, IPC, UTS and network namespaces, a read-only root holding the host's system
// directories and its artifact, a private /tmp, the user ID of its namespace (a table in
// Dir/uids.json, from Sandbox.UIDBase), no capabilities, a cgroup enforcing its
// Resources and an address on the platform's bridge. Its cgroup and address are kept
// across restarts of the instance and re-adopted with it.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/seal"
	"github.com/micro/platform/logstore"
	"github.com/micro/platform/runtime"
)

const envServerID = "MICRO_SERVER_ID"

// Options configure a Driver. Zero fields take the defaults shown.
type Options struct {
	// Dir holds the workload state and working directories. Required.
	Dir string
	// Logs stores instance output. When nil the driver opens one in Dir/logs and ingests
	// it itself; a caller-provided store must be run (Store.Start) by the caller.
	Logs *logstore.Store
	// OnEvent receives instance events; it must not block for long.
	OnEvent runtime.EventFunc
	// Clock stamps events and times runs; the system clock by default.
	Clock platform.Clock
	// Backoff is the restart schedule (500ms, ×2, at most 30s, reset after 30s of running).
	Backoff Backoff
	// CrashLoop is the crash-loop threshold (5 exits within 60s).
	CrashLoop CrashLoop
	// StopGrace is the grace of Stop when called with 0 (10s).
	StopGrace time.Duration
	// Logger reports supervision problems; discarded by default.
	Logger *slog.Logger
	// Sandbox confines instances (see Sandbox); the zero value runs them unconfined.
	Sandbox Sandbox
	// Secrets seals the workloads' environment in their state files; by default a key
	// kept in Dir/env.key.
	Secrets *seal.Box
	// LogMetering, when its Publisher is set, counts the bytes of instance output stored
	// (billing's log_bytes) every minute: logstore.Store.Meter. Only with the driver's
	// own log store.
	LogMetering logstore.MeterOptions
}

// Driver runs workloads as local processes. Create it with New.
type Driver struct {
	opts    Options
	logs    *logstore.Store
	ownLogs bool
	uids    *uidTable // per namespace; nil unsandboxed
	secrets *seal.Box

	ctx    context.Context // supervision; ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	workloads map[string]*workload
	closed    bool
}

var (
	_ runtime.Driver    = (*Driver)(nil)
	_ runtime.Restarter = (*Driver)(nil)
)

// New returns a driver keeping its state in opts.Dir. Call Recover before anything else.
func New(opts Options) (*Driver, error) {
	if opts.Dir == "" {
		return nil, platform.Errorf(platform.EINVALID, "local driver: Dir is required")
	}
	if opts.Clock == nil {
		opts.Clock = platform.SystemClock{}
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Backoff = opts.Backoff.withDefaults()
	opts.CrashLoop = opts.CrashLoop.withDefaults()
	for _, sub := range []string{"", "workloads", "run"} {
		dir := filepath.Join(opts.Dir, sub)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("local driver: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("local driver: %w", err)
		}
	}
	d := &Driver{opts: opts, logs: opts.Logs, workloads: map[string]*workload{}, secrets: opts.Secrets}
	if d.secrets == nil {
		box, err := ownSecrets(filepath.Join(opts.Dir, "env.key"))
		if err != nil {
			return nil, fmt.Errorf("local driver: %w", err)
		}
		d.secrets = box
	}
	if opts.Sandbox.Enabled {
		if opts.Sandbox.UIDBase <= 0 {
			d.opts.Sandbox.UIDBase = DefaultUIDBase
		}
		if opts.Sandbox.Pids <= 0 {
			d.opts.Sandbox.Pids = 1024
		}
		uids, err := openUIDTable(filepath.Join(opts.Dir, "uids.json"), d.opts.Sandbox.UIDBase)
		if err != nil {
			return nil, fmt.Errorf("local driver: %w", err)
		}
		d.uids = uids
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if d.logs == nil {
		logs, err := logstore.Open(logstore.Options{Dir: filepath.Join(opts.Dir, "logs"), Clock: opts.Clock, Logger: opts.Logger})
		if err != nil {
			return nil, fmt.Errorf("local driver: %w", err)
		}
		d.logs, d.ownLogs = logs, true
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			_ = logs.Start(d.ctx)
		}()
		if opts.LogMetering.Publisher != nil {
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				logs.Meter(d.ctx, opts.LogMetering)
			}()
		}
	}
	return d, nil
}

// Name returns "local".
func (d *Driver) Name() string { return "local" }

// Close stops supervising and returns once every supervisor has; the instances keep
// running and a new Driver on the same Dir re-adopts them in Recover. Use Stop to end
// instances.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
	if d.ownLogs {
		return d.logs.Close()
	}
	return nil
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// validate reports every problem of spec at once.
func validate(spec runtime.WorkloadSpec) error {
	var errs []error
	if !idRE.MatchString(spec.ID) {
		errs = append(errs, platform.Errorf(platform.EINVALID, "invalid workload id %q", spec.ID))
	}
	if err := platform.ValidateName("namespace", spec.Namespace); err != nil {
		errs = append(errs, err)
	}
	if err := platform.ValidateName("service", spec.Service); err != nil {
		errs = append(errs, err)
	}
	if spec.Replicas < 0 {
		errs = append(errs, platform.Errorf(platform.EINVALID, "replicas must not be negative, got %d", spec.Replicas))
	}
	switch fi, err := os.Stat(spec.Artifact); {
	case spec.Artifact == "":
		errs = append(errs, platform.Errorf(platform.EINVALID, "missing artifact"))
	case !filepath.IsAbs(spec.Artifact):
		errs = append(errs, platform.Errorf(platform.EINVALID, "artifact %q is not an absolute path", spec.Artifact))
	case err != nil:
		errs = append(errs, platform.Errorf(platform.EINVALID, "artifact %q: %v", spec.Artifact, errors.Unwrap(err)))
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		errs = append(errs, platform.Errorf(platform.EINVALID, "artifact %q is not an executable file", spec.Artifact))
	}
	return errors.Join(errs...)
}

// Start makes the workload run spec.Replicas instances; see the package doc for repeated
// calls. EINVALID for a bad spec, EUNAVAILABLE after Close.
func (d *Driver) Start(ctx context.Context, spec runtime.WorkloadSpec) error {
	if err := validate(spec); err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return platform.Errorf(platform.EUNAVAILABLE, "local driver is closed")
	}
	wl, ok := d.workloads[spec.ID]
	if !ok {
		wl = &workload{spec: spec}
		wl.spec.Env = maps.Clone(spec.Env)
		wl.spec.NamespaceEnv = maps.Clone(spec.NamespaceEnv)
		d.workloads[spec.ID] = wl
	}
	changed := !ok || wl.replicas != spec.Replicas
	wl.replicas = spec.Replicas
	added, removed := d.converge(wl)
	d.mu.Unlock()

	// The reconciler calls Start for every serving workload at each resync; only a
	// change is worth a write.
	if changed || len(added) > 0 || len(removed) > 0 {
		if err := d.persist(wl); err != nil {
			return err
		}
	}
	for _, inst := range added {
		d.supervise(inst, nil)
	}
	return d.stopInstances(ctx, wl, removed, d.opts.StopGrace)
}

// converge adds or picks instances to match wl.replicas. Instances to remove move to
// wl.stopping, preferring those not running, then the newest. Called with d.mu held.
func (d *Driver) converge(wl *workload) (added, removed []*instance) {
	for len(wl.instances) < wl.replicas {
		inst := newInstance(wl, platform.NewID(wl.spec.Service), d.opts.Clock.Now())
		wl.instances = append(wl.instances, inst)
		added = append(added, inst)
	}
	if excess := len(wl.instances) - wl.replicas; excess > 0 {
		// Newest first, then stable-sort the running ones last.
		order := slices.Clone(wl.instances)
		slices.Reverse(order)
		slices.SortStableFunc(order, func(a, b *instance) int {
			ra, rb := a.status().State == platform.InstanceRunning, b.status().State == platform.InstanceRunning
			switch {
			case ra == rb:
				return 0
			case rb:
				return -1
			default:
				return 1
			}
		})
		removed = order[:excess]
		wl.instances = slices.DeleteFunc(wl.instances, func(in *instance) bool { return slices.Contains(removed, in) })
		wl.stopping = append(wl.stopping, removed...)
	}
	return added, removed
}

// stopInstances stops insts with grace, waits for them, then forgets them.
func (d *Driver) stopInstances(ctx context.Context, wl *workload, insts []*instance, grace time.Duration) error {
	for _, inst := range insts {
		inst.requestStop(grace)
	}
	var errs []error
	for _, inst := range insts {
		select {
		case <-inst.done:
		case <-ctx.Done():
			return fmt.Errorf("stop instance %s: %w", inst.id, ctx.Err())
		}
		if d.ctx.Err() != nil {
			return platform.Errorf(platform.EUNAVAILABLE, "local driver closed while stopping %s", inst.id)
		}
		errs = append(errs, d.logs.Detach(inst.key()), d.unconfine(inst), os.RemoveAll(d.workDir(inst)))
		d.mu.Lock()
		wl.stopping = slices.DeleteFunc(wl.stopping, func(in *instance) bool { return in == inst })
		d.mu.Unlock()
	}
	errs = append(errs, d.persist(wl))
	return errors.Join(errs...)
}

// Stop stops every instance of the workload and forgets it. A zero grace means
// Options.StopGrace. Stopping an unknown workload is not an error.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	if grace <= 0 {
		grace = d.opts.StopGrace
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return platform.Errorf(platform.EUNAVAILABLE, "local driver is closed")
	}
	wl, ok := d.workloads[id]
	if ok {
		wl.replicas = 0
		d.converge(wl)
	}
	d.mu.Unlock()
	if !ok {
		return nil
	}
	if err := d.persist(wl); err != nil {
		return err
	}
	d.mu.Lock()
	stopping := slices.Clone(wl.stopping)
	d.mu.Unlock()
	if err := d.stopInstances(ctx, wl, stopping, grace); err != nil {
		return err
	}
	d.mu.Lock()
	if d.workloads[id] == wl {
		delete(d.workloads, id)
	}
	wl.removed = true
	d.mu.Unlock()
	return d.removeState(wl)
}

// Inspect returns the workload's status; ENOTFOUND for an unknown workload.
func (d *Driver) Inspect(_ context.Context, id string) (*runtime.WorkloadStatus, error) {
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
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*runtime.WorkloadStatus, 0, len(d.workloads))
	for _, id := range slices.Sorted(maps.Keys(d.workloads)) {
		out = append(out, d.workloads[id].status())
	}
	return out, nil
}

// Logs streams a service's output from the log store.
func (d *Driver) Logs(ctx context.Context, q platform.LogQuery) (<-chan platform.LogEntry, error) {
	return d.logs.Logs(ctx, q)
}

// Stats samples CPU and resident memory of every instance; an instance without a process
// reports zeros. ENOTFOUND for an unknown workload.
func (d *Driver) Stats(_ context.Context, id string) ([]runtime.InstanceStats, error) {
	d.mu.Lock()
	wl, ok := d.workloads[id]
	var insts []*instance
	if ok {
		insts = slices.Clone(wl.instances)
	}
	d.mu.Unlock()
	if !ok {
		return nil, platform.Errorf(platform.ENOTFOUND, "workload %q not found", id)
	}
	now := d.opts.Clock.Now()
	out := make([]runtime.InstanceStats, 0, len(insts))
	for _, inst := range insts {
		out = append(out, inst.sample(now))
	}
	return out, nil
}

// Restart implements runtime.Restarter: the instance's process is stopped with grace and
// started again at once, keeping its ID.
func (d *Driver) Restart(_ context.Context, workloadID, instanceID string, grace time.Duration) error {
	d.mu.Lock()
	var target *instance
	if wl, ok := d.workloads[workloadID]; ok {
		for _, inst := range wl.instances {
			if inst.id == instanceID {
				target = inst
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

// PID returns the process ID of a running instance, for tests and diagnostics.
func (d *Driver) PID(workloadID, instanceID string) (int, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	wl, ok := d.workloads[workloadID]
	if !ok {
		return 0, false
	}
	for _, inst := range wl.instances {
		if inst.id == instanceID {
			inst.mu.Lock()
			defer inst.mu.Unlock()
			if inst.proc == nil || inst.state != platform.InstanceRunning {
				return 0, false
			}
			return inst.proc.pid, true
		}
	}
	return 0, false
}

func (d *Driver) workDir(inst *instance) string {
	return filepath.Join(d.opts.Dir, "run", inst.wl.spec.ID, inst.id)
}

// environ builds the exact environment of an instance, sorted.
func (d *Driver) environ(inst *instance) []string {
	home := d.workDir(inst)
	if d.opts.Sandbox.Enabled {
		home = "/tmp" // its private tmpfs
	}
	env := map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home}
	maps.Copy(env, inst.wl.spec.Environ())
	env[envServerID] = inst.id
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

func (d *Driver) emit(kind runtime.EventKind, inst *instance, code int, msg string) {
	if d.opts.OnEvent == nil {
		return
	}
	d.opts.OnEvent(runtime.Event{
		Kind: kind, WorkloadID: inst.wl.spec.ID, Namespace: inst.wl.spec.Namespace, Service: inst.wl.spec.Service,
		InstanceID: inst.id, ExitCode: code, Message: msg, Time: d.opts.Clock.Now(),
	})
}
