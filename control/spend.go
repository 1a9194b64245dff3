package control

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
)

// The spend limit. With billing on, every Options.SpendInterval the spend watcher
// computes each organisation's spend of the current period (its draft invoice's total)
// against its plan's spend limit, and:
//
//   - announces each threshold of billing.SpendThresholds (75, 90, 100 %) the period
//     crossed with a billing.spend_threshold event in every namespace of the
//     organisation, once a period: the store records each threshold announced
//     (MarkSpendThreshold) before its events are published, so neither a second run
//     nor a restart announces it again;
//   - while the limit is reached (100 %), scales the organisation's preview namespaces
//     to zero: their services are left out of the regions' desired state (desiredFor),
//     so the regions stop their instances, as for a deleted service, while the services
//     and their releases stay as they are. Once the limit is no longer reached (the next
//     period, or a plan with a higher limit or none) the next check puts them back and
//     the regions start them again with the release they served.
//
// New deploys are refused at the limit where they are made (checkDeployQuota), so a push
// to a preview's pull request cannot start it again either. Running services of other
// namespaces keep running.

// spendGate holds what the spend watcher decided last: the preview namespaces whose
// services are scaled to zero.
type spendGate struct {
	run sync.Mutex // one check at a time

	mu      sync.Mutex
	checked bool              // a check has completed since the plane started
	stopped map[string]string // preview namespace → its organisation, at the limit
}

// watchSpend checks every organisation's spend every SpendInterval until ctx ends; with
// billing off it does nothing.
func (p *Plane) watchSpend(ctx context.Context) {
	if p.opts.Plans == nil {
		return
	}
	p.every(ctx, p.opts.SpendInterval, true, "checking spend limits", func(ctx context.Context) error {
		p.gate.run.Lock()
		defer p.gate.run.Unlock()
		return p.checkSpend(ctx)
	})
}

// stoppedPreviews returns the preview namespaces scaled to zero at their organisation's
// spend limit (nil with billing off). Before the watcher's first check completes (just
// after a restart) it checks first, so the regions are never told to run what the
// limit stops.
func (p *Plane) stoppedPreviews(ctx context.Context) map[string]string {
	if p.opts.Plans == nil {
		return nil
	}
	p.gate.mu.Lock()
	checked, stopped := p.gate.checked, p.gate.stopped
	p.gate.mu.Unlock()
	if checked {
		return stopped
	}
	p.gate.run.Lock()
	p.gate.mu.Lock()
	checked = p.gate.checked
	p.gate.mu.Unlock()
	if !checked {
		if err := p.checkSpend(ctx); err != nil && ctx.Err() == nil {
			p.logger.Warn("checking spend limits failed", "err", err)
		}
	}
	p.gate.run.Unlock()
	p.gate.mu.Lock()
	defer p.gate.mu.Unlock()
	return p.gate.stopped
}

// checkSpend checks each organisation with namespaces against its spend limit:
// announces the thresholds crossed and scales its previews to zero at the limit. An
// organisation whose spend cannot be computed keeps its previews as they were. The
// caller holds p.gate.run.
func (p *Plane) checkSpend(ctx context.Context) error {
	nss, err := p.store.ListNamespaces(ctx)
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	previews, err := p.store.ListPreviews(ctx, "")
	if err != nil {
		return fmt.Errorf("list previews: %w", err)
	}
	byOrg := map[string][]*platform.Namespace{}
	orgOfNs := map[string]string{}
	for _, ns := range nss {
		org := orgOf(ns)
		byOrg[org] = append(byOrg[org], ns)
		orgOfNs[ns.Name] = org
	}
	previewsOf := map[string][]string{}
	for _, pv := range previews {
		// The namespace's organisation is the one that pays for it.
		if org, ok := orgOfNs[pv.Namespace]; ok {
			previewsOf[org] = append(previewsOf[org], pv.Namespace)
		}
	}
	p.gate.mu.Lock()
	old := p.gate.stopped
	p.gate.mu.Unlock()

	stopped := map[string]string{}
	var errs []error
	for _, org := range slices.Sorted(maps.Keys(byOrg)) {
		reached, err := p.checkOrgSpend(ctx, org, byOrg[org])
		if err != nil {
			errs = append(errs, fmt.Errorf("organisation %s: %w", org, err))
		}
		switch {
		case reached == nil:
			// Unknown: as it was.
			for ns, o := range old {
				if o == org && orgOfNs[ns] == org {
					stopped[ns] = org
				}
			}
		case *reached:
			for _, ns := range previewsOf[org] {
				stopped[ns] = org
			}
		}
	}

	var changed []string
	for ns := range stopped {
		if _, ok := old[ns]; !ok {
			changed = append(changed, ns)
			p.logger.Info("preview scaled to zero: its organisation reached its spend limit", "namespace", ns, "org", stopped[ns])
		}
	}
	for ns := range old {
		if _, ok := stopped[ns]; !ok {
			changed = append(changed, ns)
			p.logger.Info("preview back: its organisation is under its spend limit", "namespace", ns, "org", old[ns])
		}
	}
	p.gate.mu.Lock()
	p.gate.checked, p.gate.stopped = true, stopped
	p.gate.mu.Unlock()
	if len(changed) > 0 {
		p.links.kick()
		for _, ns := range changed {
			svcs, err := p.store.ListServices(ctx, ns)
			if err != nil {
				errs = append(errs, fmt.Errorf("namespace %s: %w", ns, err))
				continue
			}
			for _, svc := range svcs {
				p.queue.Add(key(svc.Namespace, svc.Name))
			}
		}
	}
	return errors.Join(errs...)
}

// checkOrgSpend announces the thresholds org's spend crossed for the first time this
// period in each of its namespaces nss, and reports whether it reached its limit: nil
// when that is not known (its plan or spend could not be read).
func (p *Plane) checkOrgSpend(ctx context.Context, org string, nss []*platform.Namespace) (*bool, error) {
	plan, ok, err := p.planOf(ctx, org)
	if err != nil {
		return nil, err
	}
	no := false
	if !ok || plan.Quotas.SpendLimit <= 0 {
		return &no, nil
	}
	d, err := p.draft(ctx, org, p.opts.Plans)
	if err != nil {
		return nil, err
	}
	s, err := billing.SpendState(d, plan)
	if err != nil {
		return nil, err
	}
	reached := s.Reached()
	for _, t := range s.Crossed {
		first, err := p.store.MarkSpendThreshold(ctx, org, d.PeriodStart, t)
		if err != nil {
			// The next check announces it.
			return &reached, fmt.Errorf("record the %d %% threshold: %w", t, err)
		}
		if first {
			p.announceSpend(ctx, org, nss, s, t)
		}
	}
	return &reached, nil
}

// announceSpend publishes that org's spend s crossed threshold t in each of its
// namespaces.
func (p *Plane) announceSpend(ctx context.Context, org string, nss []*platform.Namespace, s billing.Spend, t int) {
	msg := fmt.Sprintf("organisation %s has spent %s of its %s limit this period (%d %%)",
		org, billing.FormatAmount(s.Amount, s.Currency), billing.FormatAmount(s.Limit, s.Currency), s.Percent)
	if t >= 100 {
		msg += " and reached its spend limit: new deploys are refused and previews are scaled to zero until the period ends or the limit is raised"
	}
	for _, ns := range nss {
		p.events.Publish(ctx, &platform.Event{
			Namespace: ns.Name, Type: platform.EventSpendThreshold, Message: msg,
			Data: map[string]string{
				"org": org, "plan": s.Plan, "threshold": strconv.Itoa(t), "percent": strconv.FormatInt(s.Percent, 10),
				"amount": strconv.FormatInt(s.Amount, 10), "limit": strconv.FormatInt(s.Limit, 10), "currency": s.Currency,
			},
		})
	}
}

// spendStopReason is the reason a service of a preview scaled to zero shows.
func spendStopReason(org string) string {
	return fmt.Sprintf("scaled to zero: organisation %s reached its spend limit; it runs again when the billing period ends or the limit is raised", org)
}
