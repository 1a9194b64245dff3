package control

import (
	"cmp"
	"context"
	"sync"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
)

// Quotas: with billing on (Options.Plans), each organisation's plan bounds what it may
// use, checked where it is used (billing.QuotaKind):
//
//	namespaces           CreateNamespace (previews included)
//	previews             the GitOps worker, before it creates a preview (CheckQuota)
//	instances            Deploy and Rollback: the replicas of every service of the
//	                     organisation in every region of its placement
//	build_minutes        Deploy: the build-seconds of the period so far
//	requests_per_second  the gateway (RequestsPerSecond)
//
// and its spend limit stops new deploys once this period's charges reach it. Each
// refusal is quota_exceeded (EQUOTA, 429) naming the quota, the plan and what is in
// use, and changes nothing. Lowering a quota never stops what runs: only what would add
// to it is refused.

// planCacheTTL is how long the gateway's view of an organisation's plan lasts: a plan
// change reaches the rate limit within it.
const planCacheTTL = 10 * time.Second

// planCache answers the gateway's per-request question from memory.
type planCache struct {
	mu   sync.Mutex
	orgs map[string]cachedPlan
}

type cachedPlan struct {
	plan platform.Plan
	at   time.Time
}

// planOf returns the plan org is on now; ok is false when billing is off.
func (p *Plane) planOf(ctx context.Context, org string) (plan platform.Plan, ok bool, err error) {
	plans := p.opts.Plans
	if plans == nil {
		return platform.Plan{}, false, nil
	}
	history, _, err := p.planHistory(ctx, org, plans)
	if err != nil {
		return platform.Plan{}, false, err
	}
	plan, ok = billing.PlanAt(assignments(history), p.opts.Clock.Now())
	if !ok {
		// Only assignments from later on: the default plan until then.
		plan, ok = plans.DefaultPlan(), true
	}
	return plan, ok, nil
}

// RequestsPerSecond returns org's requests-per-second quota, 0 for none (billing off,
// or no limit): the gateway's RateLimits. It answers from a cache refreshed every
// planCacheTTL; a store that fails keeps the last answer.
func (p *Plane) RequestsPerSecond(org string) int {
	if p.opts.Plans == nil {
		return 0
	}
	org = cmp.Or(org, platform.DefaultOrg)
	now := p.opts.Clock.Now()
	p.plans.mu.Lock()
	c, ok := p.plans.orgs[org]
	p.plans.mu.Unlock()
	if ok && now.Sub(c.at) < planCacheTTL {
		return c.plan.Quotas.RequestsPerSecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	plan, _, err := p.planOf(ctx, org)
	if err != nil {
		p.logger.Warn("read the organisation's plan for its rate limit", "org", org, "err", err)
		if ok {
			return c.plan.Quotas.RequestsPerSecond
		}
		return 0
	}
	p.plans.mu.Lock()
	if p.plans.orgs == nil {
		p.plans.orgs = make(map[string]cachedPlan)
	}
	p.plans.orgs[org] = cachedPlan{plan: plan, at: now}
	p.plans.mu.Unlock()
	return plan.Quotas.RequestsPerSecond
}

// CheckQuota returns EQUOTA when org adding more of kind would exceed its plan's
// quota (current is what it uses), nil with billing off. For the GitOps worker's
// previews.
func (p *Plane) CheckQuota(ctx context.Context, org string, kind billing.QuotaKind, current, adding int64) error {
	plan, ok, err := p.planOf(ctx, cmp.Or(org, platform.DefaultOrg))
	if err != nil || !ok {
		return err
	}
	return p.opts.Plans.CheckQuota(plan.Name, kind, current, adding)
}

// checkNamespaceQuota refuses a namespace beyond the organisation's quota.
func (p *Plane) checkNamespaceQuota(ctx context.Context, org string) error {
	plan, ok, err := p.planOf(ctx, org)
	if err != nil || !ok || plan.Quotas.Namespaces == 0 {
		return err
	}
	nss, err := p.orgNamespaces(ctx, org)
	if err != nil {
		return err
	}
	return p.opts.Plans.CheckQuota(plan.Name, billing.QuotaNamespaces, int64(len(nss)), 1)
}

// orgNamespaces returns org's namespaces.
func (p *Plane) orgNamespaces(ctx context.Context, org string) ([]*platform.Namespace, error) {
	all, err := p.store.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	var out []*platform.Namespace
	for _, ns := range all {
		if cmp.Or(ns.Org, platform.DefaultOrg) == org {
			out = append(out, ns)
		}
	}
	return out, nil
}

// checkDeployQuota refuses a release of ns/service with replicas instances in regions
// when it would take the organisation over its instances quota, when the period's
// build minutes are used up (build: the release is built), or when the spend limit is
// reached.
func (p *Plane) checkDeployQuota(ctx context.Context, ns, service string, replicas int, regions []string, build bool) error {
	n, err := p.store.GetNamespace(ctx, ns)
	if err != nil {
		return err
	}
	org := cmp.Or(n.Org, platform.DefaultOrg)
	plan, ok, err := p.planOf(ctx, org)
	if err != nil || !ok {
		return err
	}
	if plan.Quotas.Instances > 0 {
		inUse, err := p.orgInstances(ctx, org, ns, service)
		if err != nil {
			return err
		}
		if len(regions) == 0 {
			regions = p.placement(&platform.Service{}, n)
		}
		adding := int64(replicas * max(1, len(regions)))
		if err := p.opts.Plans.CheckQuota(plan.Name, billing.QuotaInstances, inUse, adding); err != nil {
			return err
		}
	}
	period := billing.MonthOf(p.opts.Clock.Now())
	if build && plan.Quotas.BuildMinutes > 0 {
		secs, err := p.orgUsage(ctx, org, platform.MeterBuildSeconds, period)
		if err != nil {
			return err
		}
		if err := p.opts.Plans.CheckQuota(plan.Name, billing.QuotaBuildMinutes, (secs+59)/60, 1); err != nil {
			return err
		}
	}
	if plan.Quotas.SpendLimit > 0 {
		spend, err := p.spend(ctx, org, plan)
		if err != nil {
			return err
		}
		return spend.CheckSpend()
	}
	return nil
}

// spend returns where org's charges of the current period stand against plan's limit.
func (p *Plane) spend(ctx context.Context, org string, plan platform.Plan) (billing.Spend, error) {
	d, err := p.draft(ctx, org, p.opts.Plans)
	if err != nil {
		return billing.Spend{}, err
	}
	return billing.SpendState(d, plan)
}

// orgInstances counts the instances org's services ask for (their desired release's
// replicas in every region of their placement), leaving out ns/service, which a deploy
// replaces.
func (p *Plane) orgInstances(ctx context.Context, org, ns, service string) (int64, error) {
	nss, err := p.orgNamespaces(ctx, org)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, namespace := range nss {
		svcs, err := p.store.ListServices(ctx, namespace.Name)
		if err != nil {
			return 0, err
		}
		for _, svc := range svcs {
			if svc.Deleted || svc.DesiredRelease == "" || (namespace.Name == ns && svc.Name == service) {
				continue
			}
			r, err := p.store.GetRelease(ctx, svc.DesiredRelease)
			if platform.IsNotFound(err) {
				continue
			}
			if err != nil {
				return 0, err
			}
			n += int64(r.Replicas * max(1, len(p.placement(svc, namespace))))
		}
	}
	return n, nil
}

// orgUsage sums org's rollups of meter in period so far.
func (p *Plane) orgUsage(ctx context.Context, org string, meter platform.Meter, period billing.Period) (int64, error) {
	list, err := p.store.ListUsageRollups(ctx, platform.UsageRollupFilter{Org: org, Meter: meter, From: period.Start, To: period.End})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range list {
		n += r.Quantity
	}
	return n, nil
}
