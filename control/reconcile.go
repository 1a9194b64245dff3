package control

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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

// reconcile converges one service:
//
//	desired release pending/building  → make sure its build runs (reconcileBuild)
//	desired release rolling_out       → run it, wait for registration + health, promote or fail
//	always                            → keep the current release running, stop every other
//	                                    workload of the service, record instances and status
//
// Every step reads state from the store and the driver and is safe to repeat after a
// crash. It returns how soon to look again (0: when something changes).
func (p *Plane) reconcile(ctx context.Context, ns, name string) (time.Duration, error) {
	svc, err := p.store.GetService(ctx, ns, name)
	if platform.IsNotFound(err) {
		return 0, p.stopAll(ctx, ns, name)
	} else if err != nil {
		return 0, err
	}
	if svc.Deleted {
		return 0, p.finishDelete(ctx, svc)
	}
	p.cancelStaleBuilds(svc)

	var after time.Duration
	desired, err := p.desiredRelease(ctx, svc)
	if err != nil {
		return 0, err
	}
	if desired != nil {
		switch desired.Status {
		case platform.ReleasePending, platform.ReleaseBuilding:
			after, err = p.reconcileBuild(ctx, svc, desired)
		case platform.ReleaseRollingOut:
			after, err = p.reconcileRollout(ctx, svc, desired)
		case platform.ReleaseLive:
			if svc.CurrentRelease != desired.ID {
				// Crashed between marking the release live and the service current.
				err = p.promote(ctx, svc, desired)
			}
		}
		if err != nil {
			return after, err
		}
	}

	keep, cur, err := p.keepRunning(ctx, svc, desired)
	if err != nil {
		return after, err
	}
	if err := p.stopAll(ctx, ns, name, keep...); err != nil {
		return after, err
	}
	if err := p.reviveUnregistered(ctx, svc, cur); err != nil {
		return after, err
	}
	return after, p.recordStatus(ctx, svc, desired, keep)
}

// reviveUnregistered restarts instances of the serving release cur (nil: none) that have
// run without being registered in the namespace for ReviveAfter.
func (p *Plane) reviveUnregistered(ctx context.Context, svc *platform.Service, cur *platform.Release) error {
	restarter, ok := p.opts.Driver.(runtime.Restarter)
	if !ok || cur == nil {
		return nil
	}
	st, err := p.opts.Driver.Inspect(ctx, cur.ID)
	if platform.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	registered := map[string]bool{}
	for _, n := range p.registeredNodes(ctx, cur) {
		registered[n.ID] = true
	}
	now := p.opts.Clock.Now()
	for _, i := range st.Instances {
		if i.State != platform.InstanceRunning || registered[svc.Name+"-"+i.ID] {
			p.setMissing(i.ID, time.Time{})
			continue
		}
		since := p.setMissing(i.ID, now)
		if now.Sub(since) < p.opts.ReviveAfter || now.Sub(i.StartedAt) < p.opts.ReviveAfter {
			continue
		}
		p.setMissing(i.ID, time.Time{})
		if err := restarter.Restart(ctx, cur.ID, i.ID, p.opts.StopGrace); err != nil {
			return fmt.Errorf("restart %s: %w", i.ID, err)
		}
		p.events.Publish(ctx, &platform.Event{
			Namespace: svc.Namespace, Service: svc.Name, Type: platform.EventInstanceRestarted,
			Message: fmt.Sprintf("instance %s ran for %s without being registered in namespace %q (its connection to the namespace may have given up during an outage); restarted it", i.ID, p.opts.ReviveAfter, svc.Namespace),
			Data:    map[string]string{"release": cur.ID, "instance": i.ID, "version": cur.Version},
		})
	}
	return nil
}

// setMissing records when instance id was first seen unregistered (now) and returns that
// time; a zero now forgets it.
func (p *Plane) setMissing(id string, now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.IsZero() {
		delete(p.missing, id)
		return now
	}
	if since, ok := p.missing[id]; ok {
		return since
	}
	p.missing[id] = now
	return now
}

func (p *Plane) desiredRelease(ctx context.Context, svc *platform.Service) (*platform.Release, error) {
	if svc.DesiredRelease == "" {
		return nil, nil
	}
	r, err := p.store.GetRelease(ctx, svc.DesiredRelease)
	if err != nil {
		return nil, fmt.Errorf("desired release: %w", err)
	}
	return r, nil
}

// keepRunning makes sure the current release runs and returns the workloads to keep and
// the current release (nil when nothing serves yet).
func (p *Plane) keepRunning(ctx context.Context, svc *platform.Service, desired *platform.Release) ([]string, *platform.Release, error) {
	var keep []string
	if desired != nil && desired.Status == platform.ReleaseRollingOut {
		keep = append(keep, desired.ID)
	}
	if svc.CurrentRelease == "" {
		return keep, nil, nil
	}
	cur, err := p.store.GetRelease(ctx, svc.CurrentRelease)
	if err != nil {
		return keep, nil, fmt.Errorf("current release: %w", err)
	}
	spec, err := p.spec(cur)
	if err != nil {
		return keep, nil, err
	}
	if err := p.opts.Driver.Start(ctx, spec); err != nil {
		return keep, nil, fmt.Errorf("start %s %s: %w", svc.Name, cur.Version, err)
	}
	return append(keep, cur.ID), cur, nil
}

// spec is the workload of release r.
func (p *Plane) spec(r *platform.Release) (runtime.WorkloadSpec, error) {
	meshEnv, err := p.opts.Mesh.InstanceEnv(r.Namespace)
	if err != nil {
		return runtime.WorkloadSpec{}, fmt.Errorf("instance env: %w", err)
	}
	env, err := p.openEnv(r.Env)
	if err != nil {
		return runtime.WorkloadSpec{}, fmt.Errorf("release %s: %w", r.ID, err)
	}
	maps.Copy(env, p.opts.InstanceEnv)
	for k := range meshEnv {
		delete(env, k)
	}
	env["MICRO_SERVER_NAME"] = r.Service
	env["MICRO_SERVER_VERSION"] = r.Version
	// With the NATS transport a server's address is the subject it listens on: ":0" gives
	// every server its own inbox, whatever address the code fixes (micro.Address(":8081"),
	// as go-micro's examples do), so replicas, releases and services never share one and
	// the registered address is the one that answers.
	env["MICRO_SERVER_ADDRESS"] = ":0"
	replicas := r.Replicas
	if replicas < 1 {
		replicas = 1
	}
	cpu, mem := r.Size.Resources()
	return runtime.WorkloadSpec{
		ID:        r.ID,
		Namespace: r.Namespace,
		Service:   r.Service,
		Version:   r.Version,
		Artifact:  r.Artifact,
		Replicas:  replicas,
		Env:       env,
		// The mesh wiring is the namespace's, not the release's: drivers that can keep it
		// in one place per namespace do.
		NamespaceEnv: meshEnv,
		// Both the request and the limit of each instance; an empty size (a release
		// recorded before sizes) is the default one, what it ran with before.
		Resources: runtime.Resources{CPUMillis: cpu, MemoryBytes: mem},
	}, nil
}

// reconcileBuild makes sure the build of release r runs, and moves r on when it ended.
func (p *Plane) reconcileBuild(ctx context.Context, svc *platform.Service, r *platform.Release) (time.Duration, error) {
	b, err := p.store.GetBuild(ctx, r.BuildID)
	if err != nil {
		return 0, fmt.Errorf("build of %s: %w", r.ID, err)
	}
	switch b.Status {
	case platform.BuildQueued, platform.BuildRunning:
		p.startBuild(ctx, b, r)
		if r.Status == platform.ReleasePending {
			r.Status = platform.ReleaseBuilding
			if err := p.store.UpdateRelease(ctx, r); err != nil {
				return 0, err
			}
		}
		return 0, nil
	case platform.BuildSucceeded:
		r.Artifact = b.Artifact
		r.Status = platform.ReleaseRollingOut
		if err := p.store.UpdateRelease(ctx, r); err != nil {
			return 0, err
		}
		p.publish(ctx, r, platform.EventReleaseRollingOut, fmt.Sprintf("rolling out %s %s (%d instances)", r.Service, r.Version, max(r.Replicas, 1)))
		return p.reconcileRollout(ctx, svc, r)
	default:
		return 0, p.failRelease(ctx, svc, r, "build failed: "+b.Error)
	}
}

// reconcileRollout runs release r and promotes it once every instance is registered in
// the namespace and healthy, or fails it after the rollout timeout.
func (p *Plane) reconcileRollout(ctx context.Context, svc *platform.Service, r *platform.Release) (time.Duration, error) {
	ro := p.rolloutOf(r.ID)
	spec, err := p.spec(r)
	if err != nil {
		return 0, err
	}
	if err := p.opts.Driver.Start(ctx, spec); err != nil {
		if platform.ErrorCode(err) == platform.EINVALID {
			return 0, p.failRelease(ctx, svc, r, platform.ErrorMessage(err))
		}
		return 0, fmt.Errorf("start %s %s: %w", r.Service, r.Version, err)
	}
	st, err := p.opts.Driver.Inspect(ctx, r.ID)
	if err != nil {
		return 0, fmt.Errorf("inspect %s: %w", r.ID, err)
	}
	nodes := p.registeredNodes(ctx, r)
	want := spec.Replicas
	now := p.opts.Clock.Now()
	if st.Running() >= want && len(nodes) >= want && p.healthy(ctx, r.Namespace, nodes) {
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
		if ready >= p.opts.MinReady {
			return 0, p.promote(ctx, svc, r)
		}
		return p.opts.MinReady - ready, nil
	}
	ro.healthySince = time.Time{}

	elapsed := now.Sub(ro.started)
	unregistered := st.Running() >= want && len(nodes) == 0
	if unregistered && !ro.reportedUnregister && elapsed > min(10*time.Second, p.opts.RolloutTimeout/2) {
		ro.reportedUnregister = true
		p.publish(ctx, r, platform.EventInstanceUnregistered, unregisteredMessage(r))
	}
	if elapsed < p.opts.RolloutTimeout && !crashLooping(st) {
		return pollInterval, nil
	}
	return 0, p.failRelease(ctx, svc, r, rolloutFailure(r, st, len(nodes), want, p.opts.RolloutTimeout))
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

func unregisteredMessage(r *platform.Release) string {
	return fmt.Sprintf("%s %s is running but has not registered in namespace %q's registry: the service must call service.Init() so it picks up the platform's MICRO_* environment (registry, broker and transport over the namespace's NATS account); without it go-micro falls back to mDNS and nothing can reach it", r.Service, r.Version, r.Namespace)
}

func rolloutFailure(r *platform.Release, st *runtime.WorkloadStatus, registered, want int, timeout time.Duration) string {
	for _, i := range st.Instances {
		if i.State == platform.InstanceCrashLoop || i.State == platform.InstanceBackoff || i.State == platform.InstanceExited {
			msg := i.Message
			if msg == "" {
				msg = fmt.Sprintf("exit code %d", i.ExitCode)
			}
			return fmt.Sprintf("%s %s did not stay up: instance %s %s (%s); the previous release keeps serving", r.Service, r.Version, i.ID, i.State, msg)
		}
	}
	if st.Running() >= want && registered == 0 {
		return unregisteredMessage(r)
	}
	return fmt.Sprintf("%s %s was not healthy within %s: %d of %d instances running, %d registered; the previous release keeps serving", r.Service, r.Version, timeout, st.Running(), want, registered)
}

// registeredNodes returns the registry nodes of release r's version.
func (p *Plane) registeredNodes(ctx context.Context, r *platform.Release) []platform.RegistryNode {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	svcs, err := p.opts.Mesh.Services(qctx, r.Namespace, r.Service)
	if err != nil {
		if !platform.IsNotFound(err) {
			p.logger.Warn("registry lookup", "namespace", r.Namespace, "service", r.Service, "err", err)
		}
		return nil
	}
	var nodes []platform.RegistryNode
	for _, s := range svcs {
		for _, n := range s.Nodes {
			if n.Version == r.Version {
				nodes = append(nodes, n)
			}
		}
	}
	return nodes
}

func (p *Plane) healthy(ctx context.Context, ns string, nodes []platform.RegistryNode) bool {
	for _, n := range nodes {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := p.opts.Mesh.Health(hctx, ns, n)
		cancel()
		if err != nil {
			p.logger.Debug("health check", "namespace", ns, "node", n.ID, "err", err)
			return false
		}
	}
	return true
}

// promote makes r the serving release. The old workload is stopped by the caller's
// stopAll, after r serves, so the gateway always has somewhere to send requests.
func (p *Plane) promote(ctx context.Context, svc *platform.Service, r *platform.Release) error {
	if r.Status != platform.ReleaseLive {
		r.Status = platform.ReleaseLive
		r.Reason = ""
		if err := p.store.UpdateRelease(ctx, r); err != nil {
			return err
		}
	}
	old := svc.CurrentRelease
	svc.CurrentRelease = r.ID
	svc.Status = platform.ServiceRunning
	svc.Reason = ""
	if err := p.store.UpdateService(ctx, svc); err != nil {
		return err
	}
	if old != "" && old != r.ID {
		if prev, err := p.store.GetRelease(ctx, old); err == nil && prev.Status == platform.ReleaseLive {
			prev.Status = platform.ReleaseSuperseded
			if err := p.store.UpdateRelease(ctx, prev); err != nil {
				return err
			}
			p.publish(ctx, prev, platform.EventReleaseSuperseded, fmt.Sprintf("%s %s is replaced by %s", prev.Service, prev.Version, r.Version))
		}
	}
	p.forgetRollout(r.ID)
	p.publish(ctx, r, platform.EventReleaseRolledOut, fmt.Sprintf("%s %s is serving (%d instances)", r.Service, r.Version, max(r.Replicas, 1)))
	return nil
}

// failRelease marks r failed; the current release, if any, keeps serving.
func (p *Plane) failRelease(ctx context.Context, svc *platform.Service, r *platform.Release, reason string) error {
	r.Status = platform.ReleaseFailed
	r.Reason = reason
	if err := p.store.UpdateRelease(ctx, r); err != nil {
		return err
	}
	p.forgetRollout(r.ID)
	p.publish(ctx, r, platform.EventReleaseFailed, fmt.Sprintf("release %s of %s failed: %s", r.Version, r.Service, reason))
	if err := p.opts.Driver.Stop(ctx, r.ID, p.opts.StopGrace); err != nil {
		return fmt.Errorf("stop failed release %s: %w", r.ID, err)
	}
	return nil
}

// stopAll stops every workload of the service except keep.
func (p *Plane) stopAll(ctx context.Context, ns, name string, keep ...string) error {
	workloads, err := p.opts.Driver.List(ctx)
	if err != nil {
		return fmt.Errorf("list workloads: %w", err)
	}
	var stop []*runtime.WorkloadStatus
	for _, w := range workloads {
		if w.Spec.Namespace == ns && w.Spec.Service == name && !slices.Contains(keep, w.Spec.ID) {
			stop = append(stop, w)
		}
	}
	p.drain(ns, name, stop)
	var errs []error
	for _, w := range stop {
		if err := p.opts.Driver.Stop(ctx, w.Spec.ID, p.opts.StopGrace); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", w.Spec.ID, err))
		}
	}
	return errors.Join(errs...)
}

// drain steers calls away from the running instances of workloads and gives callers
// DrainDelay to notice, so stopping them fails no request.
func (p *Plane) drain(ns, name string, workloads []*runtime.WorkloadStatus) {
	d, ok := p.opts.Mesh.(Drainer)
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
	if drained {
		time.Sleep(p.opts.DrainDelay)
	}
}

// finishDelete stops everything of a deleted service and removes it from the store.
func (p *Plane) finishDelete(ctx context.Context, svc *platform.Service) error {
	if err := p.stopAll(ctx, svc.Namespace, svc.Name); err != nil {
		return err
	}
	if err := p.store.DeleteService(ctx, svc.Namespace, svc.Name); err != nil && !platform.IsNotFound(err) {
		return err
	}
	p.events.Publish(ctx, &platform.Event{
		Namespace: svc.Namespace, Service: svc.Name, Type: platform.EventServiceDeleted,
		Message: fmt.Sprintf("service %s deleted; all its instances are stopped", svc.Name),
	})
	return nil
}

// recordStatus stores the service's instances and status as observed now.
func (p *Plane) recordStatus(ctx context.Context, svc *platform.Service, desired *platform.Release, keep []string) error {
	var instances []*platform.Instance
	for _, id := range keep {
		st, err := p.opts.Driver.Inspect(ctx, id)
		if platform.IsNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		for _, i := range st.Instances {
			instances = append(instances, &platform.Instance{
				ID: i.ID, Namespace: svc.Namespace, Service: svc.Name, ReleaseID: id, Version: st.Spec.Version,
				State: i.State, Restarts: i.Restarts, ExitCode: i.ExitCode, Message: i.Message, StartedAt: i.StartedAt,
			})
		}
	}
	stored, err := p.store.ListInstances(ctx, svc.Namespace, svc.Name)
	if err != nil {
		return err
	}
	// Every resync passes here for every service; write only what changed.
	if !sameInstances(stored, instances) {
		if err := p.store.ReplaceInstances(ctx, svc.Namespace, svc.Name, "local", instances); err != nil {
			return err
		}
	}

	status, reason := serviceStatus(svc, desired, instances)
	if status == svc.Status && reason == svc.Reason {
		return nil
	}
	svc.Status, svc.Reason = status, reason
	return p.store.UpdateService(ctx, svc)
}

// sameInstances reports whether two snapshots of a service's instances are equal, in any
// order, up to what the store keeps (times to the microsecond).
func sameInstances(a, b []*platform.Instance) bool {
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

func serviceStatus(svc *platform.Service, desired *platform.Release, instances []*platform.Instance) (platform.ServiceStatus, string) {
	if desired != nil && !desired.Status.Terminal() && desired.Status != platform.ReleaseLive {
		return platform.ServiceDeploying, ""
	}
	if svc.CurrentRelease == "" {
		if desired != nil && desired.Status == platform.ReleaseFailed {
			return platform.ServiceFailed, desired.Reason
		}
		return platform.ServiceDeploying, ""
	}
	for _, i := range instances {
		if i.ReleaseID == svc.CurrentRelease && i.State == platform.InstanceCrashLoop {
			return platform.ServiceCrashLoop, strings.TrimSpace("instance " + i.ID + " keeps crashing: " + i.Message)
		}
	}
	return platform.ServiceRunning, ""
}

func (p *Plane) rolloutOf(id string) *rollout {
	p.mu.Lock()
	defer p.mu.Unlock()
	ro, ok := p.rollouts[id]
	if !ok {
		ro = &rollout{started: p.opts.Clock.Now()}
		p.rollouts[id] = ro
	}
	return ro
}

func (p *Plane) forgetRollout(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.rollouts, id)
}

// publish records an event about release r.
func (p *Plane) publish(ctx context.Context, r *platform.Release, typ, msg string) {
	p.events.Publish(ctx, &platform.Event{
		Namespace: r.Namespace, Service: r.Service, Type: typ, Message: msg,
		Data: map[string]string{"release": r.ID, "build": r.BuildID, "version": r.Version},
	})
}
