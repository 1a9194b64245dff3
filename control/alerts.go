package control

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sethvargo/go-retry"

	platform "github.com/micro/platform"
	"github.com/micro/platform/alerting/notify"
	"github.com/micro/platform/authz"
)

// Alerts is the alert engine running beside the plane (package alerting's Engine): told
// when events were appended and when notifications were enqueued, so that it acts at
// once rather than at its next poll.
type Alerts interface {
	Wake()
	Kick()
}

// testWait bounds how long TestAlertChannel waits for the first attempt.
const testWait = 20 * time.Second

// ListAlertRules implements platform.ControlPlane.
func (p *Plane) ListAlertRules(ctx context.Context) ([]*platform.AlertRule, error) {
	tok, err := p.alertCaller(ctx, authz.AlertRead)
	if err != nil {
		return nil, err
	}
	org := tok.OrgName()
	out := make([]*platform.AlertRule, 0, len(platform.BuiltinAlertKinds))
	for _, k := range platform.BuiltinAlertKinds {
		out = append(out, platform.BuiltinRule(org, k))
	}
	rules, err := p.store.ListAlertRules(ctx, org)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if r.Namespace == "" || tok.InScope(r.Namespace) {
			out = append(out, r)
		}
	}
	return out, nil
}

// CreateAlertRule implements platform.ControlPlane.
func (p *Plane) CreateAlertRule(ctx context.Context, r *platform.AlertRule) (*platform.AlertRule, error) {
	tok, err := p.alertCaller(ctx, authz.AlertManage)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, platform.Errorf(platform.EINVALID, "no rule given")
	}
	rule := *r
	rule.ID, rule.Org, rule.CreatedAt = "", tok.OrgName(), time.Time{}
	if err := rule.Validate(); err != nil {
		return nil, err
	}
	if err := p.orgNamespace(ctx, rule.Org, rule.Namespace); err != nil {
		return nil, err
	}
	rule.ID = platform.NewID("ar")
	rule.CreatedAt = p.opts.Clock.Now().UTC()
	if err := p.store.CreateAlertRule(ctx, &rule); err != nil {
		return nil, err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditAlertRule, Target: "alert-rule/" + rule.ID,
		Detail: "created " + describeRule(&rule)})
	return &rule, nil
}

// DeleteAlertRule implements platform.ControlPlane.
func (p *Plane) DeleteAlertRule(ctx context.Context, id string) error {
	tok, err := p.alertCaller(ctx, authz.AlertManage)
	if err != nil {
		return err
	}
	if strings.HasPrefix(id, "builtin:") {
		return platform.Errorf(platform.EINVALID, "%s is a built-in rule: it cannot be deleted", id).
			WithHint("turn it off with a disabled rule of its kind: `platform alerts rules create --kind %s --disabled`", strings.TrimPrefix(id, "builtin:"))
	}
	rules, err := p.store.ListAlertRules(ctx, tok.OrgName())
	if err != nil {
		return err
	}
	r, err := pick(rules, id, "alert rule", func(r *platform.AlertRule) (string, string) { return r.ID, r.Name })
	if err != nil {
		return err
	}
	if err := p.store.DeleteAlertRule(ctx, r.ID); err != nil {
		return err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditAlertRule, Target: "alert-rule/" + r.ID, Detail: "deleted " + describeRule(r)})
	p.wakeAlerts()
	return nil
}

// describeRule is a rule in a line, for the audit log.
func describeRule(r *platform.AlertRule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q (%s", r.Name, r.Kind)
	if r.Kind.Metric() {
		fmt.Fprintf(&b, " %s %g over %s, for %s", r.Op, r.Threshold, r.EvalWindow(), r.For)
	}
	fmt.Fprintf(&b, ", %s", r.Severity)
	if r.Namespace != "" {
		fmt.Fprintf(&b, ", namespace %s", r.Namespace)
	}
	if r.Service != "" {
		fmt.Fprintf(&b, ", service %s", r.Service)
	}
	if r.Disabled {
		b.WriteString(", disabled")
	}
	b.WriteString(")")
	return b.String()
}

// ListAlertChannels implements platform.ControlPlane.
func (p *Plane) ListAlertChannels(ctx context.Context) ([]*platform.AlertChannel, error) {
	tok, err := p.alertCaller(ctx, authz.AlertManage)
	if err != nil {
		return nil, err
	}
	chs, err := p.store.ListAlertChannels(ctx, tok.OrgName())
	if err != nil {
		return nil, err
	}
	for _, c := range chs {
		c.Secret = ""
	}
	return chs, nil
}

// CreateAlertChannel implements platform.ControlPlane.
func (p *Plane) CreateAlertChannel(ctx context.Context, req platform.CreateAlertChannelRequest) (*platform.AlertChannel, error) {
	tok, err := p.alertCaller(ctx, authz.AlertManage)
	if err != nil {
		return nil, err
	}
	c := &platform.AlertChannel{
		Org: tok.OrgName(), Name: strings.TrimSpace(req.Name), Kind: req.Kind, Config: req.Config,
		Namespaces: req.Namespaces, Services: req.Services, MinSeverity: req.MinSeverity,
	}
	// Every problem at once: the channel's own, then its sender's.
	var problems []string
	if err := c.Validate(); err != nil {
		problems = append(problems, platform.ErrorMessage(err))
	}
	if slices.Contains(platform.ChannelKinds, c.Kind) {
		if err := notify.ValidateWith(notify.Options{AllowPrivate: p.opts.AlertsAllowPrivate}, c.Kind, c.Config, req.Secret); err != nil {
			problems = append(problems, platform.ErrorMessage(err))
		}
	}
	if len(problems) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "%s", strings.Join(problems, "; ")).
			WithHint("docs/alerting.md lists each kind's config keys and secret")
	}
	for _, ns := range c.Namespaces {
		if err := p.orgNamespace(ctx, c.Org, ns); err != nil {
			return nil, err
		}
	}
	if req.Secret != "" {
		if p.opts.Secrets == nil {
			return nil, platform.Errorf(platform.EUNAVAILABLE, "the platform has no sealing key for channel secrets")
		}
		c.Secret = p.opts.Secrets.Seal(req.Secret)
	}
	c.ID = platform.NewID("ch")
	c.CreatedAt = p.opts.Clock.Now().UTC()
	if err := p.store.CreateAlertChannel(ctx, c); err != nil {
		return nil, err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditAlertChannel, Target: "alert-channel/" + c.ID,
		Detail: fmt.Sprintf("created %s channel %q", c.Kind, c.Name)})
	out := *c
	out.Secret = ""
	return &out, nil
}

// DeleteAlertChannel implements platform.ControlPlane.
func (p *Plane) DeleteAlertChannel(ctx context.Context, id string) error {
	c, err := p.alertChannel(ctx, id)
	if err != nil {
		return err
	}
	if err := p.store.DeleteAlertChannel(ctx, c.ID); err != nil {
		return err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditAlertChannel, Target: "alert-channel/" + c.ID,
		Detail: fmt.Sprintf("deleted %s channel %q", c.Kind, c.Name)})
	return nil
}

// TestAlertChannel implements platform.ControlPlane.
func (p *Plane) TestAlertChannel(ctx context.Context, id string) (*platform.Notification, error) {
	c, err := p.alertChannel(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.opts.Alerts == nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "alerting is off on this platform").
			WithHint("the operator turns it on in the server's configuration (alerting.enabled)")
	}
	tok := platform.TokenFromContext(ctx)
	now := p.opts.Clock.Now().UTC()
	n := &platform.Notification{
		ID: platform.NewID("nt"), Org: c.Org, ChannelID: c.ID, Kind: platform.NotifyTest, Severity: platform.SeverityInfo,
		Rule: "test", Summary: fmt.Sprintf("Test notification for channel %s, sent by %s", c.Name, actorName(tok)),
		Reason: "Sent with `platform alerts test`: if you read this, the channel works.",
		Since:  now, Status: platform.NotificationPending, NextAttemptAt: now, CreatedAt: now,
	}
	if err := p.store.EnqueueNotifications(ctx, []*platform.Notification{n}); err != nil {
		return nil, err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditAlertTest, Target: "alert-channel/" + c.ID,
		Detail: fmt.Sprintf("test notification %s to %s channel %q", n.ID, c.Kind, c.Name)})
	p.opts.Alerts.Kick()

	// Wait for the first attempt: the dispatcher records sent, failed or dead.
	wait, cancel := context.WithTimeout(ctx, testWait)
	defer cancel()
	poll := retry.WithCappedDuration(time.Second, retry.NewExponential(50*time.Millisecond))
	last := n
	err = retry.Do(wait, poll, func(ctx context.Context) error {
		got, err := p.store.ListNotifications(ctx, platform.NotificationFilter{Org: c.Org, ChannelID: c.ID, Limit: 50})
		if err != nil {
			return err
		}
		for _, g := range got {
			if g.ID == n.ID {
				last = g
				if g.Status == platform.NotificationPending && g.Attempts == 0 {
					return retry.RetryableError(fmt.Errorf("not attempted yet"))
				}
				return nil
			}
		}
		return retry.RetryableError(fmt.Errorf("not listed yet"))
	})
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return last, nil
}

// alertChannel authorises managing alerts and finds the caller's organisation's
// channel by ID or name.
func (p *Plane) alertChannel(ctx context.Context, id string) (*platform.AlertChannel, error) {
	tok, err := p.alertCaller(ctx, authz.AlertManage)
	if err != nil {
		return nil, err
	}
	chs, err := p.store.ListAlertChannels(ctx, tok.OrgName())
	if err != nil {
		return nil, err
	}
	c, err := pick(chs, id, "alert channel", func(c *platform.AlertChannel) (string, string) { return c.ID, c.Name })
	if err != nil {
		return nil, err
	}
	c.Secret = ""
	return c, nil
}

// ListSilences implements platform.ControlPlane.
func (p *Plane) ListSilences(ctx context.Context) ([]*platform.Silence, error) {
	tok, err := p.alertCaller(ctx, authz.AlertRead)
	if err != nil {
		return nil, err
	}
	ss, err := p.store.ListSilences(ctx, tok.OrgName(), p.opts.Clock.Now().UTC())
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ss, func(s *platform.Silence) bool { return s.Namespace != "" && !tok.InScope(s.Namespace) }), nil
}

// CreateSilence implements platform.ControlPlane.
func (p *Plane) CreateSilence(ctx context.Context, req platform.SilenceRequest) (*platform.Silence, error) {
	tok, err := p.alertCaller(ctx, authz.AlertManage)
	if err != nil {
		return nil, err
	}
	now := p.opts.Clock.Now().UTC()
	s := &platform.Silence{
		Org: tok.OrgName(), Namespace: req.Namespace, Service: req.Service, Rule: strings.TrimSpace(req.Rule),
		Until: req.Until.UTC(), Comment: req.Comment, CreatedBy: actorName(tok), CreatedAt: now,
	}
	var problems []string
	switch {
	case req.For < 0:
		problems = append(problems, fmt.Sprintf("for %s is negative", req.For))
	case req.For > 0 && !req.Until.IsZero():
		problems = append(problems, "give until or for, not both")
	case req.For > 0:
		s.Until = now.Add(req.For)
	}
	if err := s.Validate(); err != nil {
		problems = append(problems, platform.ErrorMessage(err))
	} else if !s.Until.After(now) {
		problems = append(problems, fmt.Sprintf("until %s is not in the future", s.Until.Format(time.RFC3339)))
	} else if s.Until.Sub(now) > platform.MaxSilence {
		problems = append(problems, fmt.Sprintf("a silence ends within %s", platform.MaxSilence))
	}
	if len(problems) > 0 {
		return nil, platform.Errorf(platform.EINVALID, "invalid silence: %s", strings.Join(problems, "; "))
	}
	if err := p.orgNamespace(ctx, s.Org, s.Namespace); err != nil {
		return nil, err
	}
	// A rule named by its name is stored as its ID, which is what alerts carry.
	if s.Rule != "" && !strings.HasPrefix(s.Rule, "builtin:") && !platform.AlertKind(s.Rule).Builtin() && !platform.AlertKind(s.Rule).Metric() {
		rules, err := p.store.ListAlertRules(ctx, s.Org)
		if err != nil {
			return nil, err
		}
		r, err := pick(rules, s.Rule, "alert rule", func(r *platform.AlertRule) (string, string) { return r.ID, r.Name })
		if err != nil {
			return nil, err
		}
		s.Rule = r.ID
	}
	s.ID = platform.NewID("si")
	if err := p.store.CreateSilence(ctx, s); err != nil {
		return nil, err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditAlertSilence, Target: "silence/" + s.ID,
		Detail: fmt.Sprintf("silenced %s until %s", describeSilence(s), s.Until.Format(time.RFC3339))})
	return s, nil
}

// describeSilence says what a silence matches.
func describeSilence(s *platform.Silence) string {
	var parts []string
	for _, f := range []struct{ name, v string }{{"namespace", s.Namespace}, {"service", s.Service}, {"rule", s.Rule}} {
		if f.v != "" {
			parts = append(parts, f.name+" "+f.v)
		}
	}
	if len(parts) == 0 {
		return "every alert"
	}
	return strings.Join(parts, ", ")
}

// DeleteSilence implements platform.ControlPlane.
func (p *Plane) DeleteSilence(ctx context.Context, id string) error {
	tok, err := p.alertCaller(ctx, authz.AlertManage)
	if err != nil {
		return err
	}
	ss, err := p.store.ListSilences(ctx, tok.OrgName(), time.Time{})
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ss, func(s *platform.Silence) bool { return s.ID == id })
	if i < 0 {
		return platform.Errorf(platform.ENOTFOUND, "silence %q not found", id).WithHint("`platform alerts silences` lists them")
	}
	if err := p.store.DeleteSilence(ctx, id); err != nil {
		return err
	}
	p.audit(ctx, &platform.AuditEntry{Action: platform.AuditAlertSilence, Target: "silence/" + id, Detail: "ended the silence of " + describeSilence(ss[i])})
	return nil
}

// ListAlerts implements platform.ControlPlane.
func (p *Plane) ListAlerts(ctx context.Context, f platform.AlertFilter) ([]*platform.Alert, error) {
	tok, err := p.alertCaller(ctx, authz.AlertRead)
	if err != nil {
		return nil, err
	}
	if f.Namespace != "" && !tok.InScope(f.Namespace) {
		return nil, p.audited(ctx, authz.AlertRead, "namespace/"+f.Namespace,
			platform.Errorf(platform.EFORBIDDEN, "token %q may not read namespace %s", tok.Name, f.Namespace))
	}
	f.Org = tok.OrgName()
	limit := f.Limit
	if !tok.AllNamespaces() && f.Namespace == "" {
		f.Limit = 0 // every alert of the org, then those of the token's namespaces up to the limit
	}
	as, err := p.store.ListAlerts(ctx, f)
	if err != nil {
		return nil, err
	}
	as = slices.DeleteFunc(as, func(a *platform.Alert) bool { return !tok.InScope(a.Namespace) })
	if limit > 0 && len(as) > limit {
		as = as[:limit]
	}
	return as, nil
}

// AlertHistory implements platform.ControlPlane.
func (p *Plane) AlertHistory(ctx context.Context, f platform.NotificationFilter) ([]*platform.Notification, error) {
	tok, err := p.alertCaller(ctx, authz.AlertRead)
	if err != nil {
		return nil, err
	}
	if f.Limit < 0 || f.Limit > maxHistory {
		return nil, platform.Errorf(platform.EINVALID, "limit %d: use 1 to %d", f.Limit, maxHistory)
	}
	f.Org = tok.OrgName()
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	// Test notifications (no namespace) name a channel: they are for those who may
	// see the channels.
	manager := authz.Check(tok, authz.AlertManage, "", "") == nil
	if !manager {
		f.Limit = maxHistory // filtered below, then cut to the limit asked
	}
	ns, err := p.store.ListNotifications(ctx, f)
	if err != nil {
		return nil, err
	}
	ns = slices.DeleteFunc(ns, func(n *platform.Notification) bool {
		if n.Namespace == "" {
			return !manager
		}
		return !tok.InScope(n.Namespace)
	})
	if len(ns) > limit {
		ns = ns[:limit]
	}
	return ns, nil
}

// maxHistory is the most notifications AlertHistory returns.
const maxHistory = 1000

// alertCaller authorises an alerting action and returns the caller's token.
func (p *Plane) alertCaller(ctx context.Context, action authz.Action) (*platform.Token, error) {
	if err := p.authorize(ctx, action); err != nil {
		return nil, err
	}
	return platform.TokenFromContext(ctx), nil
}

// orgNamespace checks that ns ("" is every namespace) is one of org's.
func (p *Plane) orgNamespace(ctx context.Context, org, ns string) error {
	if ns == "" {
		return nil
	}
	n, err := p.store.GetNamespace(ctx, ns)
	if err == nil && orgOf(n) != org {
		err = platform.Errorf(platform.ENOTFOUND, "namespace %q not found", ns)
	}
	if platform.IsNotFound(err) {
		return platform.Errorf(platform.ENOTFOUND, "namespace %q not found", ns).WithHint("`platform namespaces` lists yours")
	}
	return err
}

// wakeAlerts tells the alert engine, when there is one, that something changed.
func (p *Plane) wakeAlerts() {
	if p.opts.Alerts != nil {
		p.opts.Alerts.Wake()
	}
}

// pick finds the item whose ID is key, else the one item named key: ENOTFOUND for
// none, EINVALID when several share the name.
func pick[T any](items []T, key, what string, idName func(T) (string, string)) (T, error) {
	var zero T
	var named []T
	for _, it := range items {
		id, name := idName(it)
		if id == key {
			return it, nil
		}
		if name == key {
			named = append(named, it)
		}
	}
	switch len(named) {
	case 0:
		return zero, platform.Errorf(platform.ENOTFOUND, "%s %q not found", what, key)
	case 1:
		return named[0], nil
	}
	return zero, platform.Errorf(platform.EINVALID, "%d %ss are named %q", len(named), what, key).WithHint("name it by its ID")
}
