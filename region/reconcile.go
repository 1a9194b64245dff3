package region

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime"
)

// rollout is what this process has seen of a release that is rolling out. Deadlines
// count from when this process first saw it, so a restart never fails a rollout that had
// no chance to finish.
type rollout struct {
	started            time.Time
	reportedUnregister bool
	// healthySince is when the release was first seen healthy with restarts restarts;
	// it must stay so for MinReady before it is promoted.
	healthySince time.Time
	restarts     int
}

// pollInterval is how soon a rolling-out service is looked at again.
const pollInterval = 250 * time.Millisecond

// devPollInterval is pollInterval in a dev namespace (ServiceSpec.Dev), where a release
// replaces the current one the moment it answers: a developer waits on every save. The
// mesh offers no registration event to wait for, so the region looks more often; each
// look is a registry read from the mesh's cache and one health call.
const devPollInterval = 20 * time.Millisecond

// reconcile converges one service:
//
//	not desired          → stop every workload of it
//	Next set             → run it beside Current, wait for registration + health, then
//	                       serve it (promoted in the region) or fail it
//	Next a canary        → the same, but once healthy it stays beside Current, which
//	                       keeps serving, and takes its share of the calls (split)
//	always               → keep the serving release running, stop every other workload of
//	                       the service, restart unregistered instances, record what runs
//
// A canary's life in the region, as the control plane's desired state moves it:
//
//	Current=A Next=B Canary=N ──► B rolls out (0% of the calls) ──► B live: N% of the calls
//	   │                                                               │
//	   │  Current=B Next=nil (promoted): B's instances serve as they   │
//	   │  run, A is drained and stopped ◄──────────────────────────────┤
//	   │                                                               │
//	   └─ Current=A Next=nil or another (replaced): B is stopped ◄─────┘
//
// Every step reads state from the driver and is safe to repeat after a crash. It returns
// how soon to look again (0: when something changes).
func (r *Reconciler) reconcile(ctx context.Context, ns, name string) (time.Duration, error) {
	k := key(ns, name)
	r.mu.Lock()
	applied := r.applied
	spec, desired := r.specs[k]
	promoted := r.promoted[k]
	r.mu.Unlock()
	if !applied {
		return 0, nil
	}
	if !desired {
		r.split(ns, name, spec, nil)
		err := r.stopAll(ctx, ns, name)
		if err == nil {
			r.forget(k)
		}
		return 0, err
	}

	serving := spec.Current
	canary := isCanary(spec)
	switch {
	case !canary && spec.Next != nil && promoted == spec.Next.ID:
		// Promoted here before the control plane made it current.
		serving = spec.Next
	case promoted != "":
		r.setPromoted(k, "")
	}

	var (
		after time.Duration
		ro    *Rollout
		keep  []string
	)
	if next := spec.Next; next != nil && (serving == nil || next.ID != serving.ID) {
		out := r.outcome(next.ID)
		switch {
		case out != nil && out.State == RolloutFailed:
			ro = out
		case canary && out != nil && out.State == RolloutLive:
			// A healthy canary stays as it runs beside Current; it is not rolled out again.
			if err := r.start(ctx, next); err != nil {
				return after, fmt.Errorf("start canary %s %s: %w", name, next.Version, err)
			}
			if err := r.reviveUnregistered(ctx, next); err != nil {
				return after, err
			}
			ro = out
			keep = append(keep, next.ID)
		default:
			var err error
			after, ro, err = r.rollout(ctx, next, spec.Dev)
			if err != nil {
				return after, err
			}
			switch {
			case ro.State == RolloutRunning, ro.State == RolloutLive && canary:
				keep = append(keep, next.ID)
			case ro.State == RolloutLive:
				serving = next
				r.setPromoted(k, next.ID)
			}
		}
	} else if next != nil {
		ro = &Rollout{Release: next.ID, State: RolloutLive}
	}
	if serving != nil {
		if err := r.start(ctx, serving); err != nil {
			return after, fmt.Errorf("start %s %s: %w", name, serving.Version, err)
		}
		keep = append(keep, serving.ID)
	}
	// Before anything is drained: a promoted canary's calls are no longer split, so
	// they all reach it once the previous release's nodes are drained.
	r.split(ns, name, spec, ro)
	if ro != nil && ro.State == RolloutLive && serving != nil {
		// Say it serves before draining the previous release, which takes DrainDelay and
		// the stop: the control plane promotes it meanwhile.
		if err := r.record(ctx, ns, name, serving.ID, ro, keep); err != nil {
			return after, err
		}
	}
	drainDelay := r.opts.DrainDelay
	if spec.Dev {
		drainDelay = 0
	}
	if err := r.stopAllAfter(ctx, ns, name, drainDelay, keep...); err != nil {
		return after, err
	}
	if err := r.reviveUnregistered(ctx, serving); err != nil {
		return after, err
	}
	servingID := ""
	if serving != nil {
		servingID = serving.ID
	}
	return after, r.record(ctx, ns, name, servingID, ro, keep)
}

// isCanary reports whether spec's Next is a canary of its Current.
func isCanary(spec ServiceSpec) bool {
	return spec.Canary > 0 && spec.Next != nil && spec.Current != nil && spec.Next.ID != spec.Current.ID
}

// split tells the mesh how the service's calls that name no version are shared: a
// canary takes its percent once live in the region and none while it rolls out (calls
// naming its version reach it all along); without a canary, or once it failed, they are
// not split.
func (r *Reconciler) split(ns, name string, spec ServiceSpec, ro *Rollout) {
	s, ok := r.opts.Mesh.(Splitter)
	if !ok {
		return
	}
	if !isCanary(spec) || ro == nil || ro.Release != spec.Next.ID || ro.State == RolloutFailed {
		s.SplitCalls(ns, name, "", "", 0)
		return
	}
	percent := 0
	if ro.State == RolloutLive {
		percent = spec.Canary
	}
	s.SplitCalls(ns, name, spec.Current.Version, spec.Next.Version, percent)
}

// rollout runs release w and reports it live once every instance is registered in the
// namespace and healthy for MinReady (at once with dev), or failed after the rollout
// timeout or a crash loop (its workload is then stopped by the caller).
func (r *Reconciler) rollout(ctx context.Context, w *runtime.WorkloadSpec, dev bool) (time.Duration, *Rollout, error) {
	minReady, poll := r.opts.MinReady, pollInterval
	if dev {
		minReady, poll = 0, devPollInterval
	}
	ro := r.rolloutOf(w.ID)
	running := &Rollout{Release: w.ID, State: RolloutRunning}
	if err := r.start(ctx, w); err != nil {
		if platform.ErrorCode(err) == platform.EINVALID {
			return 0, r.fail(w, platform.ErrorMessage(err)), nil
		}
		// Anything else may pass (an API server away, a write conflict, a namespace still
		// terminating) or not (a namespace someone else owns, no right to): tried until
		// the rollout timeout, then failed with the runtime's reason.
		if elapsed := r.opts.Clock.Now().Sub(ro.started); elapsed >= r.opts.RolloutTimeout {
			return 0, r.fail(w, fmt.Sprintf("%s %s could not be started within %s: %s", w.Service, w.Version, r.opts.RolloutTimeout, platform.ErrorMessage(err))), nil
		}
		return 0, running, fmt.Errorf("start %s %s: %w", w.Service, w.Version, err)
	}
	st, err := r.opts.Driver.Inspect(ctx, w.ID)
	if err != nil {
		return 0, running, fmt.Errorf("inspect %s: %w", w.ID, err)
	}
	nodes := r.registeredNodes(ctx, w, st)
	want := max(w.Replicas, 1)
	now := r.opts.Clock.Now()
	if st.Running() >= want && len(nodes) >= want && r.healthy(ctx, w.Namespace, nodes) {
		// Promote only what stays up: a process that registers and then crashes must not
		// replace a working release.
		restarts := 0
		for _, i := range st.Instances {
			restarts += i.Restarts
		}
		if ro.healthySince.IsZero() || restarts != ro.restarts {
			ro.healthySince, ro.restarts = now, restarts
		}
		ready := now.Sub(ro.healthySince)
		if ready >= minReady {
			r.mu.Lock()
			delete(r.rollouts, w.ID)
			live := &Rollout{Release: w.ID, State: RolloutLive}
			r.outcomes[w.ID] = live
			r.mu.Unlock()
			return 0, live, nil
		}
		return minReady - ready, running, nil
	}
	ro.healthySince = time.Time{}

	elapsed := now.Sub(ro.started)
	unregistered := st.Running() >= want && len(nodes) == 0
	if unregistered && !ro.reportedUnregister && elapsed > min(10*time.Second, r.opts.RolloutTimeout/2) {
		ro.reportedUnregister = true
		r.publish(&platform.Event{
			Namespace: w.Namespace, Service: w.Service, Type: platform.EventInstanceUnregistered,
			Message: unregisteredMessage(w),
			Data:    map[string]string{"release": w.ID, "version": w.Version},
		})
	}
	if elapsed < r.opts.RolloutTimeout && !crashLooping(st) {
		return poll, running, nil
	}
	return 0, r.fail(w, rolloutFailure(w, st, len(nodes), want, r.opts.RolloutTimeout)), nil
}

// fail records that release w failed in the region; it is not tried again until the
// desired state names another release.
func (r *Reconciler) fail(w *runtime.WorkloadSpec, reason string) *Rollout {
	out := &Rollout{Release: w.ID, State: RolloutFailed, Reason: reason}
	r.mu.Lock()
	delete(r.rollouts, w.ID)
	r.outcomes[w.ID] = out
	r.mu.Unlock()
	return out
}

// start makes workload w run with the platform's environment and the region's mesh
// wiring.
func (r *Reconciler) start(ctx context.Context, w *runtime.WorkloadSpec) error {
	spec, err := r.resolve(ctx, w)
	if err != nil {
		return err
	}
	return r.opts.Driver.Start(ctx, spec)
}

// resolve completes a desired workload into what the driver runs: the artifact fetched,
// the namespace's mesh environment, and the platform's MICRO_* variables. The result is
// kept per release, so an artifact is fetched once.
func (r *Reconciler) resolve(ctx context.Context, w *runtime.WorkloadSpec) (runtime.WorkloadSpec, error) {
	r.mu.Lock()
	done, ok := r.started[w.ID]
	r.mu.Unlock()
	if ok && sameWorkload(&done.from, w) && maps.Equal(done.from.Env, w.Env) {
		return done.spec, nil
	}
	spec := *w
	if r.opts.Artifacts != nil {
		a, err := r.opts.Artifacts(ctx, w)
		if err != nil {
			return spec, err
		}
		spec.Artifact = a
	}
	meshEnv, err := r.opts.Mesh.InstanceEnv(w.Namespace)
	if err != nil {
		return spec, fmt.Errorf("instance env: %w", err)
	}
	spec.Env = r.envOf(w)
	for k := range meshEnv {
		delete(spec.Env, k)
	}
	spec.NamespaceEnv = meshEnv
	spec.Replicas = max(spec.Replicas, 1)
	r.mu.Lock()
	r.started[w.ID] = &resolved{from: *w, spec: spec}
	r.mu.Unlock()
	return spec, nil
}

// resolved is a desired workload and what it resolved to.
type resolved struct {
	from runtime.WorkloadSpec
	spec runtime.WorkloadSpec
}

// envOf is the environment of w's instances before the mesh wiring.
func (r *Reconciler) envOf(w *runtime.WorkloadSpec) map[string]string {
	env := make(map[string]string, len(w.Env)+len(r.opts.InstanceEnv)+3)
	maps.Copy(env, w.Env)
	maps.Copy(env, r.opts.InstanceEnv)
	env["MICRO_SERVER_NAME"] = w.Service
	env["MICRO_SERVER_VERSION"] = w.Version
	// With the NATS transport a server's address is the subject it listens on: ":0" gives
	// every server its own inbox, whatever address the code fixes (micro.Address(":8081"),
	// as go-micro's examples do), so replicas, releases and services never share one and
	// the registered address is the one that answers.
	env["MICRO_SERVER_ADDRESS"] = ":0"
	return env
}

// crashLooping reports whether an instance of the workload is in crashloop: waiting for
// the timeout would only delay the verdict.
func crashLooping(st *runtime.WorkloadStatus) bool {
	for _, i := range st.Instances {
		if i.State == platform.InstanceCrashLoop {
			return true
		}
	}
	return false
}

func unregisteredMessage(w *runtime.WorkloadSpec) string {
	return fmt.Sprintf("%s %s is running but has not registered in namespace %q's registry: the service must call service.Init() so it picks up the platform's MICRO_* environment (registry, broker and transport over the namespace's NATS account); without it go-micro falls back to mDNS and nothing can reach it", w.Service, w.Version, w.Namespace)
}

func rolloutFailure(w *runtime.WorkloadSpec, st *runtime.WorkloadStatus, registered, want int, timeout time.Duration) string {
	for _, i := range st.Instances {
		if i.State == platform.InstanceCrashLoop || i.State == platform.InstanceBackoff || i.State == platform.InstanceExited {
			msg := i.Message
			if msg == "" {
				msg = fmt.Sprintf("exit code %d", i.ExitCode)
			}
			return fmt.Sprintf("%s %s did not stay up: instance %s %s (%s); the previous release keeps serving", w.Service, w.Version, i.ID, i.State, msg)
		}
	}
	if st.Running() >= want && registered == 0 {
		return unregisteredMessage(w)
	}
	return fmt.Sprintf("%s %s was not healthy within %s: %d of %d instances running, %d registered; the previous release keeps serving", w.Service, w.Version, timeout, st.Running(), want, registered)
}

// registeredNodes returns the registry nodes of the workload's own instances: in a
// namespace that spans regions, the registry also holds other regions' nodes of the same
// release.
func (r *Reconciler) registeredNodes(ctx context.Context, w *runtime.WorkloadSpec, st *runtime.WorkloadStatus) []platform.RegistryNode {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	svcs, err := r.opts.Mesh.Services(qctx, w.Namespace, w.Service)
	if err != nil {
		if !platform.IsNotFound(err) {
			r.logger.Warn("registry lookup", "namespace", w.Namespace, "service", w.Service, "err", err)
		}
		return nil
	}
	mine := map[string]bool{}
	for _, i := range st.Instances {
		mine[w.Service+"-"+i.ID] = true
	}
	var nodes []platform.RegistryNode
	for _, s := range svcs {
		for _, n := range s.Nodes {
			if n.Version == w.Version && mine[n.ID] {
				nodes = append(nodes, n)
			}
		}
	}
	return nodes
}

func (r *Reconciler) healthy(ctx context.Context, ns string, nodes []platform.RegistryNode) bool {
	for _, n := range nodes {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := r.opts.Mesh.Health(hctx, ns, n)
		cancel()
		if err != nil {
			r.logger.Debug("health check", "namespace", ns, "node", n.ID, "err", err)
			return false
		}
	}
	return true
}

// reviveUnregistered restarts instances of the serving release w (nil: none) that have
// run without being registered in the namespace for ReviveAfter.
func (r *Reconciler) reviveUnregistered(ctx context.Context, w *runtime.WorkloadSpec) error {
	restarter, ok := r.opts.Driver.(runtime.Restarter)
	if !ok || w == nil {
		return nil
	}
	st, err := r.opts.Driver.Inspect(ctx, w.ID)
	if platform.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	registered := map[string]bool{}
	for _, n := range r.registeredNodes(ctx, w, st) {
		registered[n.ID] = true
	}
	now := r.opts.Clock.Now()
	for _, i := range st.Instances {
		if i.State != platform.InstanceRunning || registered[w.Service+"-"+i.ID] {
			r.setMissing(i.ID, time.Time{})
			continue
		}
		since := r.setMissing(i.ID, now)
		if now.Sub(since) < r.opts.ReviveAfter || now.Sub(i.StartedAt) < r.opts.ReviveAfter {
			continue
		}
		r.setMissing(i.ID, time.Time{})
		if err := restarter.Restart(ctx, w.ID, i.ID, r.opts.StopGrace); err != nil {
			return fmt.Errorf("restart %s: %w", i.ID, err)
		}
		r.publish(&platform.Event{
			Namespace: w.Namespace, Service: w.Service, Type: platform.EventInstanceRestarted,
			Message: fmt.Sprintf("instance %s ran for %s without being registered in namespace %q (its connection to the namespace may have given up during an outage); restarted it", i.ID, r.opts.ReviveAfter, w.Namespace),
			Data:    map[string]string{"release": w.ID, "instance": i.ID, "version": w.Version},
		})
	}
	return nil
}

// setMissing records when instance id was first seen unregistered (now) and returns that
// time; a zero now forgets it.
func (r *Reconciler) setMissing(id string, now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.IsZero() {
		delete(r.missing, id)
		return now
	}
	if since, ok := r.missing[id]; ok {
		return since
	}
	r.missing[id] = now
	return now
}

// stopAll stops every workload of the service except keep.
func (r *Reconciler) stopAll(ctx context.Context, ns, name string, keep ...string) error {
	return r.stopAllAfter(ctx, ns, name, r.opts.DrainDelay, keep...)
}

// stopAllAfter stops every workload of the service except keep, drainDelay after it
// steered calls away from them.
func (r *Reconciler) stopAllAfter(ctx context.Context, ns, name string, drainDelay time.Duration, keep ...string) error {
	workloads, err := r.opts.Driver.List(ctx)
	if err != nil {
		return fmt.Errorf("list workloads: %w", err)
	}
	var stop []*runtime.WorkloadStatus
	for _, w := range workloads {
		if w.Spec.Namespace == ns && w.Spec.Service == name && !slices.Contains(keep, w.Spec.ID) {
			stop = append(stop, w)
		}
	}
	r.drain(ns, name, stop, drainDelay)
	var errs []error
	for _, w := range stop {
		if err := r.opts.Driver.Stop(ctx, w.Spec.ID, r.opts.StopGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", w.Spec.ID, err))
			continue
		}
		r.mu.Lock()
		delete(r.started, w.Spec.ID)
		r.mu.Unlock()
	}
	return errors.Join(errs...)
}

// drain steers calls away from the running instances of workloads and gives callers
// delay to notice, so stopping them fails no request.
func (r *Reconciler) drain(ns, name string, workloads []*runtime.WorkloadStatus, delay time.Duration) {
	d, ok := r.opts.Mesh.(Drainer)
	if !ok {
		return
	}
	drained := false
	for _, w := range workloads {
		for _, i := range w.Instances {
			if i.State == platform.InstanceRunning {
				d.DrainNode(ns, name+"-"+i.ID)
				drained = true
			}
		}
	}
	if drained && delay > 0 {
		time.Sleep(delay)
	}
}

// record keeps what the service runs now and tells the agent when it changed.
func (r *Reconciler) record(ctx context.Context, ns, name, serving string, ro *Rollout, keep []string) error {
	var instances []*platform.Instance
	for _, id := range keep {
		st, err := r.opts.Driver.Inspect(ctx, id)
		if platform.IsNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		for _, i := range st.Instances {
			instances = append(instances, &platform.Instance{
				ID: i.ID, Region: r.opts.Name, Namespace: ns, Service: name, ReleaseID: id, Version: st.Spec.Version,
				State: i.State, Restarts: i.Restarts, ExitCode: i.ExitCode, Message: i.Message, StartedAt: i.StartedAt,
			})
		}
	}
	slices.SortFunc(instances, func(a, b *platform.Instance) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	next := &ServiceStatus{Namespace: ns, Service: name, Serving: serving, Rollout: ro, Instances: instances}
	k := key(ns, name)
	r.mu.Lock()
	prev := r.observed[k]
	changed := prev == nil || !sameStatus(prev, next)
	if changed {
		r.observed[k] = next
	}
	r.mu.Unlock()
	if changed {
		r.opts.Notify()
	}
	return nil
}

// forget drops a service that is no longer desired, once nothing of it runs.
func (r *Reconciler) forget(k string) {
	r.mu.Lock()
	_, had := r.observed[k]
	delete(r.observed, k)
	delete(r.promoted, k)
	r.mu.Unlock()
	if had {
		r.opts.Notify()
	}
}

func (r *Reconciler) setPromoted(k, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id == "" {
		delete(r.promoted, k)
	} else {
		r.promoted[k] = id
	}
}

func (r *Reconciler) outcome(id string) *Rollout {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.outcomes[id]
}

func (r *Reconciler) rolloutOf(id string) *rollout {
	r.mu.Lock()
	defer r.mu.Unlock()
	ro, ok := r.rollouts[id]
	if !ok {
		ro = &rollout{started: r.opts.Clock.Now()}
		r.rollouts[id] = ro
	}
	return ro
}

func sameStatus(a, b *ServiceStatus) bool {
	if a.Serving != b.Serving || (a.Rollout == nil) != (b.Rollout == nil) {
		return false
	}
	if a.Rollout != nil && *a.Rollout != *b.Rollout {
		return false
	}
	return SameInstances(a.Instances, b.Instances)
}

// SameInstances reports whether two snapshots of a service's instances are equal, in
// any order, up to what a store keeps (times to the microsecond).
func SameInstances(a, b []*platform.Instance) bool {
	if len(a) != len(b) {
		return false
	}
	byID := make(map[string]*platform.Instance, len(a))
	for _, i := range a {
		byID[i.ID] = i
	}
	for _, j := range b {
		i, ok := byID[j.ID]
		if !ok || i.ReleaseID != j.ReleaseID || i.Version != j.Version || i.State != j.State ||
			i.Restarts != j.Restarts || i.ExitCode != j.ExitCode || i.Message != j.Message ||
			!i.StartedAt.Truncate(time.Microsecond).Equal(j.StartedAt.Truncate(time.Microsecond)) {
			return false
		}
	}
	return true
}
