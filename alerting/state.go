package alerting

import (
	"context"
	"time"

	"github.com/micro/platform"
)

// orgConfig is what an organisation has configured, read once per batch.
type orgConfig struct {
	rules    []*platform.AlertRule
	channels []*platform.AlertChannel
	silences []*platform.Silence
}

// builtin returns the rules of built-in kind k that apply to namespace ns and service
// svc: the organisation's rules of that kind that apply there and are enabled, or, when
// none of its rules of that kind applies there, the implicit built-in.
func (c *orgConfig) builtin(org string, k platform.AlertKind, ns, svc string) []*platform.AlertRule {
	var rules []*platform.AlertRule
	overridden := false
	for _, r := range c.rules {
		if r.Kind != k || !r.Applies(ns, svc) {
			continue
		}
		overridden = true
		if !r.Disabled {
			rules = append(rules, r)
		}
	}
	if !overridden {
		rules = append(rules, platform.BuiltinRule(org, k))
	}
	return rules
}

// batch collects the alert changes made at one moment, to be committed in one
// transaction: the alerts it read (by key), those it changed (in order) with the
// notifications each enqueues, and the configuration of the organisations involved.
type batch struct {
	e    *Engine
	ctx  context.Context
	now  time.Time
	orgs map[string]*orgConfig

	alerts  map[string]*platform.Alert // by key; a nil value: no alert has the key
	open    map[string]bool            // namespaces whose unresolved alerts are in alerts
	changed []string                   // keys, in the order first changed
	notes   map[string][]*platform.Notification
}

func (e *Engine) newBatch(ctx context.Context, orgs map[string]*orgConfig) *batch {
	if orgs == nil {
		orgs = map[string]*orgConfig{}
	}
	return &batch{
		e: e, ctx: ctx, now: e.now(), orgs: orgs,
		alerts: map[string]*platform.Alert{}, open: map[string]bool{}, notes: map[string][]*platform.Notification{},
	}
}

// org returns the configuration of org, reading it on first use.
func (b *batch) org(org string) (*orgConfig, error) {
	if c, ok := b.orgs[org]; ok {
		return c, nil
	}
	s := b.e.opts.Store
	rules, err := s.ListAlertRules(b.ctx, org)
	if err != nil {
		return nil, err
	}
	channels, err := s.ListAlertChannels(b.ctx, org)
	if err != nil {
		return nil, err
	}
	silences, err := s.ListSilences(b.ctx, org, b.now)
	if err != nil {
		return nil, err
	}
	c := &orgConfig{rules: rules, channels: channels, silences: silences}
	b.orgs[org] = c
	return c, nil
}

// alert returns the alert of key as this batch has it, nil when there is none.
func (b *batch) alert(key string) (*platform.Alert, error) {
	if a, ok := b.alerts[key]; ok {
		return a, nil
	}
	a, err := b.e.opts.Store.GetAlertByKey(b.ctx, key)
	if platform.IsNotFound(err) {
		a, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	b.alerts[key] = a
	return a, nil
}

// unresolved returns the alerts of namespace ns (of org) that are pending or firing,
// as this batch has them.
func (b *batch) unresolved(org, ns string) ([]*platform.Alert, error) {
	if !b.open[ns] {
		list, err := b.e.opts.Store.ListAlerts(b.ctx, platform.AlertFilter{Org: org, Namespace: ns})
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			if _, ok := b.alerts[a.Key]; !ok {
				b.alerts[a.Key] = a
			}
		}
		b.open[ns] = true
	}
	var out []*platform.Alert
	for _, a := range b.alerts {
		if a != nil && a.Namespace == ns && a.State != platform.AlertResolved {
			out = append(out, a)
		}
	}
	return out, nil
}

// add takes an alert the caller read into the batch.
func (b *batch) add(a *platform.Alert) { b.alerts[a.Key] = a }

// touch records that a changed.
func (b *batch) touch(a *platform.Alert) {
	if _, ok := b.notes[a.Key]; !ok {
		b.notes[a.Key] = nil
		b.changed = append(b.changed, a.Key)
	}
	b.alerts[a.Key] = a
}

// newAlert returns a new alert of key, not stored yet.
func newAlert(key, org, ns, svc string) *platform.Alert {
	return &platform.Alert{ID: platform.NewID("al"), Key: key, Org: org, Namespace: ns, Service: svc}
}

// fire makes alert a fire for a new incident of rule (since when the condition began),
// notifying its channels.
func (b *batch) fire(a *platform.Alert, rule *platform.AlertRule, region, summary, reason string, since time.Time) error {
	b.setRule(a, rule)
	now := b.now
	a.State = platform.AlertFiring
	a.Region, a.Summary, a.Reason, a.Since = region, summary, reason, since
	a.FiredAt, a.ResolvedAt, a.ClearingSince, a.LastNotifiedAt = &now, nil, nil, &now
	return b.notify(a, platform.NotifyFiring, reason)
}

// setRule copies what the alert says of its rule.
func (b *batch) setRule(a *platform.Alert, rule *platform.AlertRule) {
	a.RuleID, a.Rule, a.Kind, a.Severity, a.RepeatInterval = rule.ID, rule.Name, rule.Kind, rule.Severity, rule.Repeat()
}

// resolve clears a firing alert, notifying its channels, or a pending one quietly.
func (b *batch) resolve(a *platform.Alert, reason string) error {
	switch a.State {
	case platform.AlertPending:
		now := b.now
		a.State, a.ResolvedAt, a.ClearingSince = platform.AlertResolved, &now, nil
		b.touch(a)
	case platform.AlertFiring:
		now := b.now
		a.State, a.ResolvedAt, a.ClearingSince = platform.AlertResolved, &now, nil
		return b.notify(a, platform.NotifyResolved, reason)
	}
	return nil
}

// repeat notifies a firing alert's channels again.
func (b *batch) repeat(a *platform.Alert) error {
	now := b.now
	a.LastNotifiedAt = &now
	return b.notify(a, platform.NotifyRepeat, a.Reason)
}

// notify records a's change and enqueues a notification of kind to each channel of its
// organisation that routes it: silenced when an active silence matches the alert.
func (b *batch) notify(a *platform.Alert, kind platform.NotificationKind, reason string) error {
	b.touch(a)
	c, err := b.org(a.Org)
	if err != nil {
		return err
	}
	silenced := false
	for _, s := range c.silences {
		if s.Active(b.now) && s.Matches(a) {
			silenced = true
			break
		}
	}
	for _, ch := range c.channels {
		if !ch.Routes(a) {
			continue
		}
		n := &platform.Notification{
			ID: platform.NewID("n"), Org: a.Org, AlertID: a.ID, ChannelID: ch.ID, Kind: kind,
			Key: a.Key, Rule: a.Rule, Severity: a.Severity, Namespace: a.Namespace, Service: a.Service, Region: a.Region,
			Summary: a.Summary, Reason: reason, Since: a.Since,
			Status: platform.NotificationPending, NextAttemptAt: b.now, CreatedAt: b.now,
		}
		if silenced {
			n.Status = platform.NotificationSilenced
		}
		b.notes[a.Key] = append(b.notes[a.Key], n)
	}
	return nil
}

// changes returns the batch's alert changes in the order made.
func (b *batch) changes() []platform.AlertChange {
	out := make([]platform.AlertChange, 0, len(b.changed))
	for _, k := range b.changed {
		out = append(out, platform.AlertChange{Alert: b.alerts[k], Notifications: b.notes[k]})
	}
	return out
}

// sends reports whether the batch enqueues a notification to deliver.
func (b *batch) sends() bool {
	for _, ns := range b.notes {
		for _, n := range ns {
			if n.Status == platform.NotificationPending {
				return true
			}
		}
	}
	return false
}

// commit writes the batch's changes (with a cursor move when c names one) and wakes the
// dispatcher when they enqueue something to send.
func (b *batch) commit(c platform.AlertCommit) error {
	c.Changes = b.changes()
	if len(c.Changes) == 0 && c.Cursor == "" {
		return nil
	}
	if err := b.e.opts.Store.CommitAlerts(b.ctx, &c); err != nil {
		return err
	}
	if b.sends() {
		signal(b.e.kick)
	}
	return nil
}

// tickLoop runs tick every Options.Tick.
func (e *Engine) tickLoop(ctx context.Context) { every(ctx, e.opts.Tick, e.tick) }

// tick resolves crash-loop alerts whose recovery lasted the settle time and spend-limit
// alerts whose billing period ended, and repeats the notifications of firing alerts
// whose repeat interval passed. Each alert is committed on its own, over the version
// read: one that changed meanwhile waits for the next tick.
func (e *Engine) tick(ctx context.Context) {
	firing, err := e.opts.Store.ListAlerts(ctx, platform.AlertFilter{State: platform.AlertFiring})
	if err != nil {
		e.logErr(ctx, "list firing alerts", err)
		return
	}
	orgs := map[string]*orgConfig{}
	now := e.now()
	for _, a := range firing {
		b := e.newBatch(ctx, orgs)
		b.add(a)
		repeat := a.RepeatInterval
		if repeat <= 0 {
			repeat = platform.DefaultRepeatInterval
		}
		switch {
		case a.ClearingSince != nil && now.Sub(*a.ClearingSince) >= e.opts.Settle:
			err = b.resolve(a, "running again without a crash for "+e.opts.Settle.String())
		case a.Kind == platform.AlertSpendLimit && !now.Before(spendPeriodEnd(a.Since)):
			err = b.resolve(a, "the billing period ended: the organisation's spend starts again")
		case a.LastNotifiedAt == nil || now.Sub(*a.LastNotifiedAt) >= repeat:
			// An alert of a namespace deleted since resolves rather than repeats: what
			// it was about is gone.
			if _, gerr := e.opts.Store.GetNamespace(ctx, a.Namespace); platform.IsNotFound(gerr) {
				err = b.resolve(a, "namespace "+a.Namespace+" was deleted")
			} else {
				err = b.repeat(a)
			}
		default:
			continue
		}
		if err == nil {
			err = b.commit(platform.AlertCommit{})
		}
		if err != nil && !platform.IsConflict(err) {
			e.logErr(ctx, "update alert", err, "alert", a.Key)
		}
	}
}

// logErr logs err unless ctx ended (errors of a stopping engine are expected).
func (e *Engine) logErr(ctx context.Context, msg string, err error, args ...any) {
	if ctx.Err() != nil {
		return
	}
	e.log.Error(msg, append(args, "err", err)...)
}

// pruneLoop keeps the history to Options.Retention: at start, then hourly.
func (e *Engine) pruneLoop(ctx context.Context) { every(ctx, pruneInterval, e.prune) }

func (e *Engine) prune(ctx context.Context) {
	n, err := e.opts.Store.PruneNotifications(ctx, e.now().Add(-e.opts.Retention))
	if err != nil {
		e.logErr(ctx, "prune notification history", err)
		return
	}
	if n > 0 {
		e.log.Info("pruned notification history", "notifications", n, "older_than", e.opts.Retention)
	}
}
