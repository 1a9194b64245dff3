package control

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
	"github.com/micro/platform/billing"
)

// Usage implements platform.ControlPlane: the caller's organisation's rollups, of the
// namespaces its token reaches, summed over the window unless q.Hourly.
func (p *Plane) Usage(ctx context.Context, q platform.UsageQuery) ([]platform.UsageRollup, error) {
	if err := p.authorize(ctx, authz.NamespaceRead); err != nil {
		return nil, err
	}
	tok := platform.TokenFromContext(ctx)
	org := tok.OrgName()
	from, to, err := usageWindow(q, p.opts.Clock.Now())
	if err != nil {
		return nil, err
	}
	if q.Namespace != "" && !tok.InScope(q.Namespace) {
		return nil, p.audited(ctx, authz.NamespaceRead, "namespace/"+q.Namespace,
			platform.Errorf(platform.EFORBIDDEN, "token %q may not read namespace %s", tok.Name, q.Namespace))
	}
	list, err := p.store.ListUsageRollups(ctx, platform.UsageRollupFilter{Org: org, Namespace: q.Namespace, Service: q.Service,
		Region: q.Region, Meter: q.Meter, From: from, To: to})
	if err != nil {
		return nil, err
	}
	list = slices.DeleteFunc(list, func(r *platform.UsageRollup) bool { return r.Org != org || !tok.InScope(r.Namespace) })
	if len(list) == 0 && q.Namespace != "" {
		// A namespace the organisation used (one deleted since) answers its usage; one
		// it neither has nor used is not found, whether or not another org has it.
		if err := p.orgNamespace(ctx, org, q.Namespace); err != nil {
			return nil, err
		}
	}
	if q.Hourly {
		out := make([]platform.UsageRollup, len(list))
		for i, r := range list {
			out[i] = *r
		}
		return out, nil
	}
	return sumUsage(list, from), nil
}

// usageWindow validates q and returns its window [from, to) with the defaults
// filled: to is now, from the start of the billing period to's last instant is in.
func usageWindow(q platform.UsageQuery, now time.Time) (from, to time.Time, err error) {
	var problems []string
	if q.Meter != "" && !q.Meter.Valid() {
		names := make([]string, len(platform.Meters))
		for i, m := range platform.Meters {
			names[i] = string(m)
		}
		problems = append(problems, fmt.Sprintf("meter %q is not one of %s", q.Meter, strings.Join(names, ", ")))
	}
	to = cmp.Or(q.To, now).UTC()
	from = q.From.UTC()
	if q.From.IsZero() {
		from = billing.MonthOf(to.Add(-time.Nanosecond)).Start
	}
	switch {
	case !from.Before(to):
		problems = append(problems, fmt.Sprintf("the window from %s to %s is empty: from must be before to",
			from.Format(time.RFC3339), to.Format(time.RFC3339)))
	case to.Sub(from) > platform.MaxUsageWindow:
		problems = append(problems, fmt.Sprintf("the window from %s to %s is longer than %d days",
			from.Format(time.RFC3339), to.Format(time.RFC3339), platform.MaxUsageWindow/(24*time.Hour)))
	}
	if len(problems) > 0 {
		return time.Time{}, time.Time{}, platform.Errorf(platform.EINVALID, "invalid usage query: %s", strings.Join(problems, "; ")).
			WithHint("ask for at most %d days at once, with from before to (RFC 3339 times)", platform.MaxUsageWindow/(24*time.Hour))
	}
	return from, to, nil
}

// usageKey is what Usage sums over.
type usageKey struct {
	namespace, service, region string
	meter                      platform.Meter
}

// sumUsage sums rollups per namespace, service, region and meter, each sum dated from
// (the window's start), ordered by namespace, service, region and the meters' order.
func sumUsage(list []*platform.UsageRollup, from time.Time) []platform.UsageRollup {
	sums := map[usageKey]*platform.UsageRollup{}
	out := []platform.UsageRollup{}
	var order []usageKey
	for _, r := range list {
		k := usageKey{r.Namespace, r.Service, r.Region, r.Meter}
		s, ok := sums[k]
		if !ok {
			s = &platform.UsageRollup{Org: r.Org, Namespace: r.Namespace, Service: r.Service, Region: r.Region, Meter: r.Meter, Hour: from}
			sums[k] = s
			order = append(order, k)
		}
		// Quantities are never negative; a sum beyond int64 saturates rather than wraps
		// (billing refuses such usage with its own error when it rates it).
		if s.Quantity > math.MaxInt64-r.Quantity {
			s.Quantity = math.MaxInt64
		} else {
			s.Quantity += r.Quantity
		}
	}
	for _, k := range order {
		out = append(out, *sums[k])
	}
	slices.SortFunc(out, func(a, b platform.UsageRollup) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Region, b.Region),
			cmp.Compare(slices.Index(platform.Meters, a.Meter), slices.Index(platform.Meters, b.Meter)))
	})
	return out
}

// errBillingOff is what the billing methods answer when the platform has no plans.
func errBillingOff() error {
	return platform.Errorf(platform.EUNAVAILABLE, "billing is not enabled on this platform").
		WithHint("the operator turns it on with billing.enabled in the server's configuration (PLATFORM_BILLING_ENABLED=true); `platform usage` works without it")
}

// billingCaller authorises action and returns the caller's token and the plans, or
// errBillingOff when billing is not enabled.
func (p *Plane) billingCaller(ctx context.Context, action authz.Action) (*platform.Token, *billing.Plans, error) {
	if err := p.authorize(ctx, action); err != nil {
		return nil, nil, err
	}
	if p.opts.Plans == nil {
		return nil, nil, errBillingOff()
	}
	return platform.TokenFromContext(ctx), p.opts.Plans, nil
}

// planHistory returns org's plan history for rating: its assignments, or, for an
// organisation never assigned one, the default plan from its creation on. created
// reports that the history is the implicit default.
func (p *Plane) planHistory(ctx context.Context, org string, plans *billing.Plans) (history []*platform.PlanAssignment, implicit bool, err error) {
	history, err = p.store.PlanHistory(ctx, org)
	if err != nil || len(history) > 0 {
		return history, false, err
	}
	since, err := p.orgCreated(ctx, org)
	if err != nil {
		return nil, false, err
	}
	return []*platform.PlanAssignment{{Org: org, Plan: plans.DefaultPlan(), From: since, By: "platform", CreatedAt: since}}, true, nil
}

// orgCreated returns when org was created, to the second: since then an organisation
// never assigned a plan is on the default one. An organisation the store does not
// know (the default one of a store older than organisations) is treated as created at
// the Unix epoch.
func (p *Plane) orgCreated(ctx context.Context, org string) (time.Time, error) {
	o, err := p.store.GetOrg(ctx, org)
	switch {
	case platform.IsNotFound(err):
		return time.Unix(0, 0).UTC(), nil
	case err != nil:
		return time.Time{}, err
	case o.CreatedAt.IsZero():
		return time.Unix(0, 0).UTC(), nil
	}
	return o.CreatedAt.UTC().Truncate(time.Second), nil
}

// assignments converts a plan history for billing.Rate.
func assignments(history []*platform.PlanAssignment) []billing.Assignment {
	out := make([]billing.Assignment, len(history))
	for i, a := range history {
		out[i] = billing.Assignment{Plan: a.Plan, From: a.From}
	}
	return out
}

// Plan implements platform.ControlPlane.
func (p *Plane) Plan(ctx context.Context) (*platform.PlanView, error) {
	tok, plans, err := p.billingCaller(ctx, authz.BillingRead)
	if err != nil {
		return nil, err
	}
	org := tok.OrgName()
	history, implicit, err := p.planHistory(ctx, org, plans)
	if err != nil {
		return nil, err
	}
	now := p.opts.Clock.Now().UTC()
	v := &platform.PlanView{Org: org, Default: implicit, Catalog: plans.Names(), DefaultPlan: plans.Default}
	// The latest assignment in force now (the last listed of those at one time); one
	// assigned for later is not in force yet, so the first one stands until then.
	cur := history[0]
	for _, a := range history {
		if !a.From.After(now) && !a.From.Before(cur.From) {
			cur = a
		}
	}
	v.Plan, v.Since, v.By = cur.Plan, cur.From, cur.By
	return v, nil
}

// SetPlan implements platform.ControlPlane.
func (p *Plane) SetPlan(ctx context.Context, name string) (*platform.PlanAssignment, error) {
	tok, plans, err := p.billingCaller(ctx, authz.BillingManage)
	if err != nil {
		return nil, err
	}
	plan, err := plans.Lookup(strings.TrimSpace(name))
	if err != nil {
		return nil, platform.Errorf(platform.EINVALID, "no plan %q on this platform", name).
			WithHint("choose one of %s", strings.Join(plans.Names(), ", "))
	}
	org := tok.OrgName()
	history, implicit, err := p.planHistory(ctx, org, plans)
	if err != nil {
		return nil, err
	}
	now := p.opts.Clock.Now().UTC().Truncate(time.Second)
	if implicit {
		// Record the default plan the organisation was on until now, as it stands, so
		// that this period's invoices rate its first part under it.
		if err := p.store.AssignPlan(ctx, history[0]); err != nil {
			return nil, err
		}
	}
	a := &platform.PlanAssignment{Org: org, Plan: plan, From: now, By: actorName(tok), CreatedAt: now}
	if err := p.store.AssignPlan(ctx, a); err != nil {
		return nil, err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditBillingPlan, Target: "org/" + org,
		Detail: fmt.Sprintf("moved to plan %s from %s", plan.Name, now.Format(time.RFC3339))})
	return a, nil
}

// draft rates org's current period so far: its draft invoice.
func (p *Plane) draft(ctx context.Context, org string, plans *billing.Plans) (*platform.Invoice, error) {
	history, _, err := p.planHistory(ctx, org, plans)
	if err != nil {
		return nil, err
	}
	now := p.opts.Clock.Now().UTC()
	period := billing.MonthOf(now)
	list, err := p.store.ListUsageRollups(ctx, platform.UsageRollupFilter{Org: org, From: period.Start, To: period.End})
	if err != nil {
		return nil, err
	}
	rollups := make([]platform.UsageRollup, 0, len(list))
	for _, r := range list {
		rollups = append(rollups, *r)
	}
	return billing.Rate(org, period, assignments(history), rollups, now)
}

// ListInvoices implements platform.ControlPlane.
func (p *Plane) ListInvoices(ctx context.Context) ([]*platform.Invoice, error) {
	tok, plans, err := p.billingCaller(ctx, authz.BillingRead)
	if err != nil {
		return nil, err
	}
	org := tok.OrgName()
	d, err := p.draft(ctx, org, plans)
	if err != nil {
		return nil, err
	}
	final, err := p.store.ListInvoices(ctx, org, "")
	if err != nil {
		return nil, err
	}
	out := []*platform.Invoice{d}
	for _, inv := range final {
		if inv.Org == org && inv.ID != d.ID {
			out = append(out, inv)
		}
	}
	return out, nil
}

// GetInvoice implements platform.ControlPlane.
func (p *Plane) GetInvoice(ctx context.Context, id string) (*platform.Invoice, error) {
	tok, plans, err := p.billingCaller(ctx, authz.BillingRead)
	if err != nil {
		return nil, err
	}
	org := tok.OrgName()
	id = strings.TrimSpace(id)
	if id == string(platform.InvoiceDraft) || id == billing.InvoiceID(org, billing.MonthOf(p.opts.Clock.Now())) {
		return p.draft(ctx, org, plans)
	}
	inv, err := p.store.GetInvoice(ctx, id)
	if err == nil && inv.Org != org {
		err = platform.Errorf(platform.ENOTFOUND, "no invoice %q", id)
	}
	if platform.IsNotFound(err) {
		return nil, platform.Errorf(platform.ENOTFOUND, "invoice %q not found", id).
			WithHint("`platform invoices` lists your organisation's invoices; `draft` is the current period's")
	}
	return inv, err
}
