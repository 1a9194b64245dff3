package control

import (
	"context"
	"fmt"
	"slices"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// Rollback implements platform.ControlPlane. The new release reuses the chosen release's
// build, so nothing is built: the reconciler finds the build succeeded and rolls the
// artifact out at once.
func (p *Plane) Rollback(ctx context.Context, namespace, service, version string) (*platform.Release, error) {
	svc, err := p.deployedService(ctx, namespace, service)
	if err != nil {
		return nil, err
	}
	list, err := p.store.ListReleases(ctx, namespace, service, 0)
	if err != nil {
		return nil, err
	}
	target, err := rollbackTarget(svc, list, version)
	if err != nil {
		return nil, err
	}
	b, err := p.store.GetBuild(ctx, target.BuildID)
	if err != nil {
		return nil, err
	}
	if b.Status != platform.BuildSucceeded || b.Artifact == "" {
		return nil, platform.Errorf(platform.EINVALID, "release %s of %s was never built: nothing to roll back to", target.Version, service).
			WithHint("`platform releases %s -n %s` lists the releases that went live", service, namespace)
	}
	now := p.opts.Clock.Now().UTC()
	tok := platform.TokenFromContext(ctx)
	r := &platform.Release{
		ID: platform.NewID("r"), Namespace: namespace, Service: service, BuildID: target.BuildID,
		Replicas: target.Replicas, Size: target.Size, Env: target.Env, Regions: svc.Regions,
		Artifact: b.Artifact, Digest: b.Digest, Status: platform.ReleasePending, CreatedAt: now, UpdatedAt: now,
		Origin: &platform.ReleaseOrigin{Kind: platform.OriginRollback, RollbackOf: target.Version, User: tok.User},
	}
	if o := target.Origin; o != nil {
		r.Origin.Repo, r.Origin.Ref, r.Origin.Commit, r.Origin.Author, r.Origin.Message = o.Repo, o.Ref, o.Commit, o.Author, o.Message
	}
	if err := p.checkDeployQuota(ctx, namespace, service, r.Replicas, r.Regions, false); err != nil {
		return nil, err
	}
	if err := p.store.Deploy(ctx, nil, r); err != nil {
		return nil, err
	}
	for _, e := range list {
		if !e.Status.Terminal() && e.Status != platform.ReleaseLive {
			p.publish(ctx, e, platform.EventReleaseSuperseded, fmt.Sprintf("release %s of %s was replaced by %s before it went live", e.Version, e.Service, r.Version))
		}
	}
	p.publish(ctx, r, platform.EventReleaseCreated, fmt.Sprintf("release %s of %s: a rollback to %s (its artifact, nothing rebuilt)", r.Version, service, target.Version))
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditRollback, Target: "service/" + namespace + "/" + service,
		Detail: fmt.Sprintf("release %s rolls back to %s", r.Version, target.Version)})
	p.queue.Add(key(namespace, service))
	return redacted(r), nil
}

// deployedService authorises a deploy in namespace and returns its service, ENOTFOUND
// when there is none (or it is being deleted).
func (p *Plane) deployedService(ctx context.Context, namespace, service string) (*platform.Service, error) {
	if err := p.authorizeNamespace(ctx, authz.ServiceDeploy, namespace); err != nil {
		return nil, err
	}
	svc, err := p.store.GetService(ctx, namespace, service)
	if err != nil {
		return nil, err
	}
	if svc.Deleted {
		return nil, platform.Errorf(platform.ENOTFOUND, "service %q not found in namespace %q", service, namespace)
	}
	return svc, nil
}

// rollbackTarget picks the release a rollback goes back to: the version named, else the
// newest release that went live before the current one (superseded after serving).
func rollbackTarget(svc *platform.Service, newestFirst []*platform.Release, version string) (*platform.Release, error) {
	if version != "" {
		i := slices.IndexFunc(newestFirst, func(r *platform.Release) bool { return r.Version == version })
		if i < 0 {
			return nil, platform.Errorf(platform.ENOTFOUND, "service %s has no release %s", svc.Name, version).
				WithHint("`platform releases %s -n %s` lists its versions", svc.Name, svc.Namespace)
		}
		if newestFirst[i].ID == svc.CurrentRelease {
			return nil, platform.Errorf(platform.EINVALID, "%s %s is the release serving now: nothing to roll back", svc.Name, version)
		}
		return newestFirst[i], nil
	}
	seenCurrent := svc.CurrentRelease == ""
	for _, r := range newestFirst {
		if r.ID == svc.CurrentRelease {
			seenCurrent = true
			continue
		}
		// A release that was built and replaced (superseded with an artifact); one
		// replaced while it was still building has none.
		if seenCurrent && r.Status == platform.ReleaseSuperseded && r.Artifact != "" {
			return r, nil
		}
	}
	return nil, platform.Errorf(platform.EINVALID, "%s has no earlier release that served: nothing to roll back to", svc.Name).
		WithHint("name a version: `platform rollback %s VERSION -n %s`", svc.Name, svc.Namespace)
}
