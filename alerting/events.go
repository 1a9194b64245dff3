package alerting

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/micro/platform"
	"github.com/micro/platform/billing"
)

// loadCursor reads where the event loop is. On the first start (the cursor was never
// written) it begins at the end of the log and writes that, so turning alerting on does
// not replay history, and a crash right after still resumes there.
func (e *Engine) loadCursor(ctx context.Context) error {
	s := e.opts.Store
	pos, ok, err := s.AlertCursor(ctx, eventCursor)
	if err != nil {
		return fmt.Errorf("alerting: read the event cursor: %w", err)
	}
	if ok {
		e.cursor = pos
		return nil
	}
	var last int64
	for {
		events, err := e.opts.Events.ListEventsAfter(ctx, last, 1000)
		if err != nil {
			return fmt.Errorf("alerting: find the end of the event log: %w", err)
		}
		if len(events) == 0 {
			break
		}
		last = events[len(events)-1].ID
	}
	err = s.CommitAlerts(ctx, &platform.AlertCommit{Cursor: eventCursor, From: 0, To: last})
	if platform.IsConflict(err) {
		// Another engine wrote it first: start where it did.
		pos, _, err = s.AlertCursor(ctx, eventCursor)
		last = pos
	}
	if err != nil {
		return fmt.Errorf("alerting: write the event cursor: %w", err)
	}
	e.cursor = last
	return nil
}

// eventLoop reads the event log whenever Wake is called, and every Poll.
func (e *Engine) eventLoop(ctx context.Context) {
	t := time.NewTicker(e.opts.Poll)
	defer t.Stop()
	for {
		for e.readEvents(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-t.C:
		}
	}
}

// readEvents applies the next batch of events and commits the changes they make with
// the cursor after them. It reports whether to read again at once: the batch was full,
// or the cursor had moved under it (another engine) and was read again.
func (e *Engine) readEvents(ctx context.Context) bool {
	events, err := e.opts.Events.ListEventsAfter(ctx, e.cursor, eventBatch)
	if err != nil {
		e.logErr(ctx, "read events", err)
		return false
	}
	if len(events) == 0 {
		return false
	}
	b := e.newBatch(ctx, nil)
	for _, ev := range events {
		if err := e.apply(b, ev); err != nil {
			e.logErr(ctx, "evaluate event", err, "event", ev.ID, "type", ev.Type)
			return false
		}
	}
	to := events[len(events)-1].ID
	err = b.commit(platform.AlertCommit{Cursor: eventCursor, From: e.cursor, To: to})
	if platform.IsConflict(err) {
		pos, _, err := e.opts.Store.AlertCursor(ctx, eventCursor)
		if err != nil {
			e.logErr(ctx, "read the event cursor", err)
			return false
		}
		e.cursor = pos
		return true
	}
	if err != nil {
		e.logErr(ctx, "commit alerts", err)
		return false
	}
	e.cursor = to
	return len(events) == eventBatch
}

// apply makes the alert changes of one event: see the table in the package comment.
func (e *Engine) apply(b *batch, ev *platform.Event) error {
	org, err := e.orgOf(b.ctx, ev.Namespace)
	if platform.IsNotFound(err) {
		return nil // the namespace is gone, and its alerts' subject with it
	}
	if err != nil {
		return err
	}
	svc := ev.Service
	sameService := func(a *platform.Alert) bool { return a.Service == svc }
	switch ev.Type {
	case platform.EventBuildFailed:
		return b.fireBuiltin(org, platform.AlertBuildFailed, ev, svc, fmt.Sprintf("the build of %s failed", svc))
	case platform.EventBuildSucceeded:
		return b.resolveKind(org, ev.Namespace, platform.AlertBuildFailed, sameService, ev.Message)
	case platform.EventReleaseFailed:
		if ev.Data["cause"] == "build" {
			return nil // the build_failed alert of its build says it
		}
		return b.fireBuiltin(org, platform.AlertReleaseFailed, ev, svc, fmt.Sprintf("a release of %s failed", svc))
	case platform.EventReleaseRolledOut:
		if err := b.resolveKind(org, ev.Namespace, platform.AlertReleaseFailed, sameService, ev.Message); err != nil {
			return err
		}
		// A new release replacing a crash-looping one begins clearing its alert: the
		// old instances it stops do not start again.
		if err := b.recover(org, ev.Namespace, svc); err != nil {
			return err
		}
		return b.resolveKind(org, ev.Namespace, platform.AlertServiceDown, sameService, ev.Message)
	case platform.EventInstanceCrashLoop:
		// A release being rolled out that crash-loops fails as a release
		// (release_failed); one replaced no longer matters.
		if serving, err := e.serving(b.ctx, ev); err != nil || !serving {
			return err
		}
		summary := fmt.Sprintf("%s is crash-looping", svc)
		if ev.Region != "" {
			summary += " in " + ev.Region
		}
		return b.fireBuiltin(org, platform.AlertCrashLoop, ev, svc, summary)
	case platform.EventInstanceCrashed:
		// Only the serving release's crashes count: an instance of the release a
		// rollout replaced may still exit while it drains.
		if serving, err := e.serving(b.ctx, ev); err != nil || !serving {
			return err
		}
		return b.relapse(org, ev.Namespace, svc)
	case platform.EventInstanceStarted:
		if err := b.recover(org, ev.Namespace, svc); err != nil {
			return err
		}
		return b.resolveKind(org, ev.Namespace, platform.AlertServiceDown, sameService, ev.Message)
	case platform.EventServiceUnplaced:
		return b.fireBuiltin(org, platform.AlertServiceDown, ev, svc,
			fmt.Sprintf("%s is down: no region of its placement is connected", svc))
	case platform.EventRegionLost:
		return b.fireBuiltin(org, platform.AlertRegionLost, ev, ev.Region, fmt.Sprintf("region %s is lost", ev.Region))
	case platform.EventRegionReturned:
		inRegion := func(a *platform.Alert) bool { return a.Region == ev.Region }
		if err := b.resolveKind(org, ev.Namespace, platform.AlertRegionLost, inRegion, ev.Message); err != nil {
			return err
		}
		anyService := func(*platform.Alert) bool { return true }
		return b.resolveKind(org, ev.Namespace, platform.AlertServiceDown, anyService, ev.Message)
	case platform.EventServiceDeleted:
		if svc == "" {
			return nil
		}
		return b.resolveKind(org, ev.Namespace, "", sameService, ev.Message)
	case platform.EventSpendThreshold:
		return b.fireSpend(org, ev)
	}
	return nil
}

// fireSpend fires the spend_limit alerts of the event's namespace, grouped by
// organisation (the subject): each threshold of a period fires once, so an alert firing
// at 75 % fires again, with its new summary, at 90 and at 100 %. At 75 and 90 % it has
// its rule's severity (warning for the built-in), at 100 % critical: the limit stops
// deploys and previews. It resolves when its period ends (tick).
func (b *batch) fireSpend(org string, ev *platform.Event) error {
	t, err := strconv.Atoi(ev.Data["threshold"])
	if err != nil || t <= 0 {
		return nil // not one the control plane publishes
	}
	c, err := b.org(org)
	if err != nil {
		return err
	}
	summary := fmt.Sprintf("organisation %s has spent %d %% of its spend limit", org, t)
	if t >= 100 {
		summary = fmt.Sprintf("organisation %s reached its spend limit", org)
	}
	for _, rule := range c.builtin(org, platform.AlertSpendLimit, ev.Namespace, "") {
		key := platform.AlertKey(ev.Namespace, rule.ID, org)
		a, err := b.alert(key)
		if err != nil {
			return err
		}
		if a == nil {
			a = newAlert(key, org, ev.Namespace, "")
		}
		if a.State == platform.AlertFiring && a.Summary == summary && spendPeriodEnd(a.Since).Equal(spendPeriodEnd(ev.Time)) {
			continue // this threshold of this period already fired
		}
		r := *rule
		if t >= 100 {
			r.Severity = platform.SeverityCritical
		}
		reason := ev.Message
		if reason == "" {
			reason = ev.Type
		}
		if err := b.fire(a, &r, "", summary, reason, ev.Time); err != nil {
			return err
		}
	}
	return nil
}

// spendPeriodEnd is when the billing period of a spend_limit alert that fired on an
// event at t ends (calendar months, UTC, as billing.MonthOf): its spend starts again.
func spendPeriodEnd(t time.Time) time.Time {
	return billing.MonthOf(t).End
}

// fireBuiltin fires the alerts of the rules of built-in kind k that apply to the
// event's namespace and service, grouped by subject (the service, or the region for
// region_lost). An alert already firing stays as it is: one notification per incident.
func (b *batch) fireBuiltin(org string, k platform.AlertKind, ev *platform.Event, subject, summary string) error {
	c, err := b.org(org)
	if err != nil {
		return err
	}
	for _, rule := range c.builtin(org, k, ev.Namespace, ev.Service) {
		key := platform.AlertKey(ev.Namespace, rule.ID, subject)
		a, err := b.alert(key)
		if err != nil {
			return err
		}
		if a == nil {
			a = newAlert(key, org, ev.Namespace, ev.Service)
		}
		if a.State == platform.AlertFiring {
			if a.ClearingSince != nil { // failed again while clearing
				a.ClearingSince = nil
				b.touch(a)
			}
			continue
		}
		reason := ev.Message
		if reason == "" {
			reason = ev.Type
		}
		if err := b.fire(a, rule, ev.Region, summary, reason, ev.Time); err != nil {
			return err
		}
	}
	return nil
}

// resolveKind resolves the unresolved alerts of namespace ns of kind k ("" any kind)
// that match, whichever rule made them (built-in or the organisation's).
func (b *batch) resolveKind(org, ns string, k platform.AlertKind, match func(*platform.Alert) bool, reason string) error {
	open, err := b.unresolved(org, ns)
	if err != nil {
		return err
	}
	for _, a := range open {
		if (k == "" || a.Kind == k) && match(a) {
			if err := b.resolve(a, reason); err != nil {
				return err
			}
		}
	}
	return nil
}

// recover begins clearing the firing crash-loop alerts of service svc.
func (b *batch) recover(org, ns, svc string) error {
	open, err := b.unresolved(org, ns)
	if err != nil {
		return err
	}
	for _, a := range open {
		if a.Kind == platform.AlertCrashLoop && a.Service == svc && a.State == platform.AlertFiring && a.ClearingSince == nil {
			now := b.now
			a.ClearingSince = &now
			b.touch(a)
		}
	}
	return nil
}

// relapse ends the clearing of the crash-loop alerts of service svc: it crashed again.
func (b *batch) relapse(org, ns, svc string) error {
	open, err := b.unresolved(org, ns)
	if err != nil {
		return err
	}
	for _, a := range open {
		if a.Kind == platform.AlertCrashLoop && a.Service == svc && a.ClearingSince != nil {
			a.ClearingSince = nil
			b.touch(a)
		}
	}
	return nil
}

// serving reports whether an instance event is of the release its service serves now
// (true when the event names no release, or the service has no serving release yet).
func (e *Engine) serving(ctx context.Context, ev *platform.Event) (bool, error) {
	rel := ev.Data["release"]
	if rel == "" || ev.Service == "" {
		return true, nil
	}
	svc, err := e.opts.Store.GetService(ctx, ev.Namespace, ev.Service)
	if platform.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return svc.CurrentRelease == "" || svc.CurrentRelease == rel, nil
}
