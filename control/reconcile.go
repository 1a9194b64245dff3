package control

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/region"
	"github.com/micro/platform/runtime"
)

// reconcile converges one service on the platform side; the regions do the running:
//
//	desired release pending/building → make sure its build runs (reconcileBuild)
//	desired release rolling_out      → promote it once every connected region of the
//	                                   placement serves it (a canary: runs it beside the
//	                                   live release), fail it when one failed it
//	desired release canary           → fail it when a region failed it (see canary.go)
//	always                           → record each region's instances and the status
//
// The regions' desired states are derived from the store (desiredFor) and sent when they
// change. Every step reads state from the store and the regions' reports and is safe to
// repeat after a crash. It returns how soon to look again (0: when something changes).
func (p *Plane) reconcile(ctx context.Context, ns, name string) (time.Duration, error) {
	svc, err := p.store.GetService(ctx, ns, name)
	if platform.IsNotFound(err) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	if svc.Deleted {
		return p.finishDelete(ctx, svc)
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
		case platform.ReleaseCanary:
			after, err = p.reconcileCanary(ctx, svc, desired)
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
	return after, p.recordStatus(ctx, svc, desired)
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

// placement returns the regions a service runs in: its own, else its namespace's, else
// the platform's default region.
func (p *Plane) placement(svc *platform.Service, ns *platform.Namespace) []string {
	switch {
	case len(svc.Regions) > 0:
		return svc.Regions
	case ns != nil && len(ns.Regions) > 0:
		return ns.Regions
	default:
		return []string{p.opts.DefaultRegion}
	}
}

// placementOf reads the namespace to place svc.
func (p *Plane) placementOf(ctx context.Context, svc *platform.Service) []string {
	if len(svc.Regions) > 0 {
		return svc.Regions
	}
	ns, err := p.store.GetNamespace(ctx, svc.Namespace)
	if err != nil {
		ns = nil
	}
	return p.placement(svc, ns)
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
		r.Artifact, r.Digest = b.Artifact, b.Digest
		r.Status = platform.ReleaseRollingOut
		if err := p.store.UpdateRelease(ctx, r); err != nil {
			return 0, err
		}
		p.publish(ctx, r, platform.EventReleaseRollingOut, fmt.Sprintf("rolling out %s %s (%d instances) in %s", r.Service, r.Version, max(r.Replicas, 1), strings.Join(p.placementOf(ctx, svc), ", ")))
		p.links.kick()
		return p.reconcileRollout(ctx, svc, r)
	default:
		return 0, p.failRelease(ctx, svc, r, buildFailedPrefix+b.Error)
	}
}

// reconcileRollout promotes release r once every connected region of the service's
// placement serves it (makes it a canary once each runs it healthy beside the live
// release, for a canary release), and fails it as soon as one region failed it (the others then go
// back to the current release). Regions that are away get the release when they return.
func (p *Plane) reconcileRollout(ctx context.Context, svc *platform.Service, r *platform.Release) (time.Duration, error) {
	k := key(svc.Namespace, svc.Name)
	connected, live := 0, 0
	for _, name := range p.placementOf(ctx, svc) {
		st := p.links.status(name, k)
		if st.health != platform.RegionConnected || !st.reported {
			continue
		}
		connected++
		o := st.observed
		switch {
		case o != nil && o.Serving == r.ID, liveCanary(r, o):
			live++
		case o != nil && o.Rollout != nil && o.Rollout.Release == r.ID && o.Rollout.State == region.RolloutFailed:
			return 0, p.failRelease(ctx, svc, r, fmt.Sprintf("in region %s: %s", name, o.Rollout.Reason))
		}
	}
	if connected == 0 {
		p.reportUnplaced(ctx, svc)
		// Looked at again when a region connects.
		return 0, nil
	}
	if live == connected {
		if r.Canary > 0 && svc.CurrentRelease != "" && svc.CurrentRelease != r.ID {
			return 0, p.becomeCanary(ctx, svc, r)
		}
		return 0, p.promote(ctx, svc, r)
	}
	return 0, nil
}

// reportUnplaced records once per process and service that no region of its placement
// is connected, so nothing runs it.
func (p *Plane) reportUnplaced(ctx context.Context, svc *platform.Service) {
	k := key(svc.Namespace, svc.Name)
	p.mu.Lock()
	done := p.unplaced[k]
	p.unplaced[k] = true
	p.mu.Unlock()
	if done {
		return
	}
	p.events.Publish(ctx, &platform.Event{
		Namespace: svc.Namespace, Service: svc.Name, Type: platform.EventServiceUnplaced,
		Message: fmt.Sprintf("%s is placed in %s and none of these regions is connected: it rolls out when one connects (see platform regions)", svc.Name, strings.Join(p.placementOf(ctx, svc), ", ")),
	})
}

// promote makes r the serving release; the regions then stop the previous one.
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
			p.forgetWorkload(prev.ID)
			p.publish(ctx, prev, platform.EventReleaseSuperseded, fmt.Sprintf("%s %s is replaced by %s", prev.Service, prev.Version, r.Version))
		}
	}
	p.mu.Lock()
	delete(p.unplaced, key(svc.Namespace, svc.Name))
	p.mu.Unlock()
	p.links.kick()
	p.publish(ctx, r, platform.EventReleaseRolledOut, fmt.Sprintf("%s %s is serving (%d instances)", r.Service, r.Version, max(r.Replicas, 1)))
	return nil
}

// failRelease marks r failed; the current release, if any, keeps serving, and the
// regions stop r's instances.
func (p *Plane) failRelease(ctx context.Context, svc *platform.Service, r *platform.Release, reason string) error {
	r.Status = platform.ReleaseFailed
	r.Reason = reason
	if err := p.store.UpdateRelease(ctx, r); err != nil {
		return err
	}
	p.forgetWorkload(r.ID)
	p.links.kick()
	p.publish(ctx, r, platform.EventReleaseFailed, fmt.Sprintf("release %s of %s failed: %s", r.Version, r.Service, reason))
	return nil
}

// buildFailedPrefix starts the reason of a release whose build failed.
const buildFailedPrefix = "build failed: "

// finishDelete removes a deleted service from the store once no connected region runs
// it any more (a region that is away stops it when it returns: its desired state no
// longer has it).
func (p *Plane) finishDelete(ctx context.Context, svc *platform.Service) (time.Duration, error) {
	p.links.kick()
	for name := range p.links.reported(key(svc.Namespace, svc.Name)) {
		if p.links.connected(name) {
			return pollInterval, nil
		}
	}
	if err := p.store.DeleteService(ctx, svc.Namespace, svc.Name); err != nil && !platform.IsNotFound(err) {
		return 0, err
	}
	p.forgetWorkload(svc.CurrentRelease)
	p.forgetWorkload(svc.DesiredRelease)
	p.events.Publish(ctx, &platform.Event{
		Namespace: svc.Namespace, Service: svc.Name, Type: platform.EventServiceDeleted,
		Message: fmt.Sprintf("service %s deleted; all its instances are stopped", svc.Name),
	})
	return 0, nil
}

// pollInterval is how soon a service waiting on its regions is looked at again.
const pollInterval = 250 * time.Millisecond

// recordStatus stores each region's instances of the service as last reported, and the
// service's status.
func (p *Plane) recordStatus(ctx context.Context, svc *platform.Service, desired *platform.Release) error {
	k := key(svc.Namespace, svc.Name)
	stored, err := p.store.ListInstances(ctx, svc.Namespace, svc.Name)
	if err != nil {
		return err
	}
	byRegion := map[string][]*platform.Instance{}
	for _, i := range stored {
		byRegion[i.Region] = append(byRegion[i.Region], i)
	}
	placed := p.placementOf(ctx, svc)
	regions := slices.Clone(placed)
	for name := range byRegion {
		if !slices.Contains(regions, name) {
			regions = append(regions, name)
		}
	}
	var all []*platform.Instance
	var lost []string
	for _, name := range regions {
		st := p.links.status(name, k)
		if st.health != platform.RegionConnected || !st.reported {
			// Away: its instances stay as it last reported them.
			all = append(all, byRegion[name]...)
			if st.health == platform.RegionLost && slices.Contains(placed, name) {
				lost = append(lost, name)
			}
			continue
		}
		var now []*platform.Instance
		if st.observed != nil {
			now = st.observed.Instances
		}
		if !region.SameInstances(byRegion[name], now) {
			if err := p.store.ReplaceInstances(ctx, svc.Namespace, svc.Name, name, now); err != nil {
				return err
			}
		}
		all = append(all, now...)
	}

	status, reason := serviceStatus(svc, desired, all)
	if len(lost) > 0 && status == platform.ServiceRunning {
		status, reason = platform.ServiceDegraded, fmt.Sprintf("region %s is lost; its instances are as it last reported them", strings.Join(lost, ", "))
	}
	if org, ok := p.stoppedPreviews(ctx)[svc.Namespace]; ok && status == platform.ServiceRunning && reason == "" {
		reason = spendStopReason(org)
	}
	if status == svc.Status && reason == svc.Reason {
		return nil
	}
	svc.Status, svc.Reason = status, reason
	return p.store.UpdateService(ctx, svc)
}

func serviceStatus(svc *platform.Service, desired *platform.Release, instances []*platform.Instance) (platform.ServiceStatus, string) {
	if desired != nil && !desired.Status.Terminal() && desired.Status != platform.ReleaseLive && desired.Status != platform.ReleaseCanary {
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

// desiredFor computes region name's complete desired state from the store: every
// namespace, and every service placed in the region with its current release and the
// release rolling out, or its canary with its share.
func (p *Plane) desiredFor(ctx context.Context, name string) (region.Desired, error) {
	nss, err := p.store.ListNamespaces(ctx)
	if err != nil {
		return region.Desired{}, err
	}
	d := region.Desired{Namespaces: make([]string, 0, len(nss)), NamespaceOrgs: make(map[string]string, len(nss))}
	byName := make(map[string]*platform.Namespace, len(nss))
	for _, ns := range nss {
		d.Namespaces = append(d.Namespaces, ns.Name)
		d.NamespaceOrgs[ns.Name] = orgOf(ns)
		byName[ns.Name] = ns
	}
	svcs, err := p.store.ListServices(ctx, "")
	if err != nil {
		return region.Desired{}, err
	}
	if d.RegionGateways, err = p.regionGateways(ctx); err != nil {
		return region.Desired{}, err
	}
	stopped := p.stoppedPreviews(ctx)
	for _, svc := range svcs {
		if svc.Deleted {
			continue
		}
		placed := p.placement(svc, byName[svc.Namespace])
		if svc.CurrentRelease != "" {
			// A region known lost is left out of the routes: the gateways' own probes
			// would find it too, but only after a call or two.
			reachable := slices.DeleteFunc(slices.Clone(placed), func(r string) bool {
				return p.links.status(r, "").health == platform.RegionLost
			})
			d.Routes = append(d.Routes, region.Route{Namespace: svc.Namespace, Service: svc.Name, Regions: reachable})
		}
		if !slices.Contains(placed, name) {
			continue
		}
		if _, ok := stopped[svc.Namespace]; ok {
			// A preview scaled to zero at its organisation's spend limit (spend.go):
			// the region stops its instances; its releases stay as they are.
			continue
		}
		spec := region.ServiceSpec{Namespace: svc.Namespace, Service: svc.Name}
		if ns := byName[svc.Namespace]; ns != nil {
			spec.Dev = ns.Dev
		}
		if svc.CurrentRelease != "" {
			if spec.Current, err = p.workload(ctx, svc.CurrentRelease); err != nil {
				return region.Desired{}, err
			}
		}
		if svc.DesiredRelease != "" && svc.DesiredRelease != svc.CurrentRelease {
			r, err := p.store.GetRelease(ctx, svc.DesiredRelease)
			if err != nil {
				return region.Desired{}, err
			}
			if r.Status == platform.ReleaseRollingOut || r.Status == platform.ReleaseCanary {
				if spec.Next, err = p.workload(ctx, r.ID); err != nil {
					return region.Desired{}, err
				}
				spec.Canary = r.Canary
			}
		}
		if spec.Current != nil || spec.Next != nil {
			d.Services = append(d.Services, spec)
		}
	}
	return d, nil
}

// regionGateways maps every region to its gateway's URL: as registered (the address the
// operator gave, e.g. behind a load balancer), else as its connected agent reports it.
func (p *Plane) regionGateways(ctx context.Context) (map[string]string, error) {
	regions, err := p.store.ListRegions(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(regions))
	for _, r := range regions {
		gw := r.GatewayEndpoint
		if info := p.links.status(r.Name, "").info; gw == "" && info != nil {
			gw = info.GetGatewayEndpoint()
		}
		if gw != "" {
			out[r.Name] = gw
		}
	}
	return out, nil
}

// workload is the workload of release id as a region runs it: its environment opened,
// its artifact a reference the region can fetch. Releases do not change once they have
// an artifact, so it is kept.
func (p *Plane) workload(ctx context.Context, id string) (*runtime.WorkloadSpec, error) {
	p.mu.Lock()
	w, ok := p.workloads[id]
	p.mu.Unlock()
	if ok {
		return w, nil
	}
	r, err := p.store.GetRelease(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", id, err)
	}
	env, err := p.openEnv(r.Env)
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", r.ID, err)
	}
	cpu, mem := r.Size.Resources()
	w = &runtime.WorkloadSpec{
		ID: r.ID, Namespace: r.Namespace, Service: r.Service, Version: r.Version,
		Artifact: artifactRef(r), Replicas: max(r.Replicas, 1), Env: env,
		// Both the request and the limit of each instance; an empty size (a release
		// recorded before sizes) is the default one, what it ran with before.
		Resources: runtime.Resources{CPUMillis: cpu, MemoryBytes: mem},
	}
	if r.Artifact != "" {
		p.mu.Lock()
		p.workloads[id] = w
		p.mu.Unlock()
	}
	return w, nil
}

// forgetWorkload drops the kept workload of a release no region runs any more.
func (p *Plane) forgetWorkload(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.workloads, id)
}

// artifactRef is how a region asks for release r's artifact: a binary built here is
// fetched by release ("fetch:<id>", see ControlService.FetchArtifact); an image
// reference is pulled by the region itself.
func artifactRef(r *platform.Release) string {
	if strings.HasPrefix(r.Artifact, "/") {
		return ArtifactPrefix + r.ID
	}
	return r.Artifact
}

// ArtifactPrefix marks an artifact a region fetches from the control plane.
const ArtifactPrefix = "fetch:"

// regionEvent records an event about region name in every namespace with a service
// placed there.
func (p *Plane) regionEvent(ctx context.Context, name, typ, msg string) {
	nss, err := p.store.ListNamespaces(ctx)
	if err != nil {
		p.logger.Error("region event: list namespaces", "err", err)
		return
	}
	byName := map[string]*platform.Namespace{}
	for _, ns := range nss {
		byName[ns.Name] = ns
	}
	svcs, err := p.store.ListServices(ctx, "")
	if err != nil {
		p.logger.Error("region event: list services", "err", err)
		return
	}
	done := map[string]bool{}
	for _, svc := range svcs {
		if done[svc.Namespace] || svc.Deleted || !slices.Contains(p.placement(svc, byName[svc.Namespace]), name) {
			continue
		}
		done[svc.Namespace] = true
		p.events.Publish(ctx, &platform.Event{Namespace: svc.Namespace, Region: name, Type: typ, Message: msg, Data: map[string]string{"region": name}})
	}
}

// publish records an event about release r.
func (p *Plane) publish(ctx context.Context, r *platform.Release, typ, msg string) {
	p.events.Publish(ctx, &platform.Event{
		Namespace: r.Namespace, Service: r.Service, Type: typ, Message: msg,
		Data: releaseEventData(r, typ),
	})
}

// releaseEventData is what a release's event carries: its release, build and version,
// and for a release that failed because its build did, cause "build" (build.failed
// already said so: alerting fires one alert for it, not two).
func releaseEventData(r *platform.Release, typ string) map[string]string {
	d := map[string]string{"release": r.ID, "build": r.BuildID, "version": r.Version}
	if typ == platform.EventReleaseFailed && strings.HasPrefix(r.Reason, buildFailedPrefix) {
		d["cause"] = "build"
	}
	return d
}
