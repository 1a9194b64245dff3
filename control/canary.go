package control

import (
	"context"
	"fmt"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/region"
)

// A canary release (Release.Canary > 0) goes through the usual build and rollout, but
// once every connected region of its placement runs it healthy it does not replace the
// live release: it runs beside it and takes its percent of the gateway's calls that
// name no version, until Promote makes it the live release (or a new deploy replaces
// it, or it fails):
//
//	pending ──► building ──► rolling_out ──► canary ──► live ──► superseded
//	                              │             │  Promote
//	                              └──► failed ◄─┘   (a new deploy: superseded)
//
// The regions get it as the Next of the service's desired state with the share
// (region.ServiceSpec.Canary) while it is rolling_out or canary, and as its Current once
// promoted: they then serve its running instances and drain and stop the old ones.

// checkCanary refuses a canary deploy of a service without a live release to be a
// canary of.
func (p *Plane) checkCanary(ctx context.Context, req platform.DeployRequest) error {
	if req.Canary == 0 {
		return nil
	}
	svc, err := p.store.GetService(ctx, req.Namespace, req.Service)
	if platform.IsNotFound(err) || err == nil && (svc.Deleted || svc.CurrentRelease == "") {
		return platform.Errorf(platform.EINVALID, "nothing to canary against: deploy without --canary first").
			WithHint("a canary runs beside the live release of %s, which has none yet", req.Service)
	}
	return err
}

// Promote implements platform.ControlPlane: the service's canary becomes its live
// release at once; the regions serve its instances as they run and drain and stop the
// previous release's. Authorised as a deploy. ENOTFOUND when the service has no canary,
// EINVALID when its canary is still on its way.
func (p *Plane) Promote(ctx context.Context, namespace, service string) (*platform.Release, error) {
	svc, err := p.deployedService(ctx, namespace, service)
	if err != nil {
		return nil, err
	}
	r, err := p.desiredRelease(ctx, svc)
	if err != nil {
		return nil, err
	}
	switch {
	case r != nil && r.Canary > 0 && r.Status == platform.ReleaseCanary:
	case r != nil && r.Canary > 0 && !r.Status.Terminal() && r.Status != platform.ReleaseLive:
		return nil, platform.Errorf(platform.EINVALID, "canary %s of %s is still %s: it can be promoted once it runs beside the live release", r.Version, service, r.Status).
			WithHint("`platform events -n %s` follows it", namespace)
	default:
		return nil, platform.Errorf(platform.ENOTFOUND, "no canary to promote: %s has none", service).
			WithHint("deploy one with `platform deploy DIR -n %s --canary 10%%`", namespace)
	}
	if err := p.promote(ctx, svc, r); err != nil {
		return nil, fmt.Errorf("promote %s %s: %w", service, r.Version, err)
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditPromote, Target: "service/" + namespace + "/" + service,
		Detail: fmt.Sprintf("release %s", r.Version)})
	p.queue.Add(key(namespace, service))
	return redacted(r), nil
}

// becomeCanary marks release r, which every connected region runs healthy beside the
// live release, a canary: it takes its share of the calls until promoted.
func (p *Plane) becomeCanary(ctx context.Context, svc *platform.Service, r *platform.Release) error {
	r.Status = platform.ReleaseCanary
	r.Reason = ""
	if err := p.store.UpdateRelease(ctx, r); err != nil {
		return err
	}
	live := "the live release"
	if cur, err := p.store.GetRelease(ctx, svc.CurrentRelease); err == nil {
		live = cur.Version
	}
	p.links.kick()
	p.publish(ctx, r, platform.EventReleaseCanary, fmt.Sprintf("%s takes %d%% of calls (%s the rest); `platform promote %s -n %s` makes it serve them all",
		r.Version, r.Canary, live, r.Service, r.Namespace))
	return nil
}

// reconcileCanary fails canary r when a connected region reports that it could not run
// it (a region that restarted and found it unhealthy): the live release keeps serving.
func (p *Plane) reconcileCanary(ctx context.Context, svc *platform.Service, r *platform.Release) (time.Duration, error) {
	k := key(svc.Namespace, svc.Name)
	for _, name := range p.placementOf(ctx, svc) {
		st := p.links.status(name, k)
		if st.health != platform.RegionConnected || !st.reported || st.observed == nil {
			continue
		}
		if ro := st.observed.Rollout; ro != nil && ro.Release == r.ID && ro.State == region.RolloutFailed {
			return 0, p.failRelease(ctx, svc, r, fmt.Sprintf("in region %s: %s", name, ro.Reason))
		}
	}
	return 0, nil
}

// liveCanary reports whether observed, a region's report of the service, runs canary r
// healthy beside the live release.
func liveCanary(r *platform.Release, o *region.ServiceStatus) bool {
	return r.Canary > 0 && o != nil && o.Rollout != nil && o.Rollout.Release == r.ID && o.Rollout.State == region.RolloutLive
}
