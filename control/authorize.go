package control

import (
	"context"
	"fmt"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// UserInvalidator is implemented by authenticators that can forget every cached token of
// a user at once, so that disabling, demoting or removing someone takes effect at once in
// this process (auth.Authenticator is one).
type UserInvalidator interface {
	InvalidateUser(userID string)
}

// authorize checks the caller may take an action that is not about one namespace (an
// organisation, self or platform action) and audits a refusal.
func (p *Plane) authorize(ctx context.Context, action authz.Action) error {
	tok := platform.TokenFromContext(ctx)
	err := authz.Check(tok, action, "", "")
	if err == nil || tok == nil {
		return err
	}
	return p.audited(ctx, action, "org/"+tok.OrgName(), err)
}

// authorizeNamespace checks the caller may take action in ns and that ns exists. A
// caller who may not see ns gets EFORBIDDEN whether or not it exists, so nothing leaks.
// Refusals are audited.
func (p *Plane) authorizeNamespace(ctx context.Context, action authz.Action, ns string) error {
	_, err := p.namespaceFor(ctx, action, ns)
	return err
}

// namespaceFor is authorizeNamespace returning the namespace.
func (p *Plane) namespaceFor(ctx context.Context, action authz.Action, ns string) (*platform.Namespace, error) {
	if ns == "" {
		return nil, platform.Errorf(platform.EINVALID, "namespace is required").WithHint("pass -n NAMESPACE")
	}
	tok := platform.TokenFromContext(ctx)
	// First without the namespace's org: the role and the token's namespace list decide
	// before the store is asked, so a refused caller learns nothing about ns.
	if err := authz.Check(tok, action, ns, ""); err != nil {
		return nil, p.audited(ctx, action, "namespace/"+ns, err)
	}
	n, err := p.store.GetNamespace(ctx, ns)
	if err != nil {
		if platform.IsNotFound(err) {
			return nil, platform.Errorf(platform.ENOTFOUND, "namespace %q not found", ns).WithHint("create it with `platform namespaces create %s`", ns)
		}
		return nil, err
	}
	if err := authz.Check(tok, action, ns, orgOf(n)); err != nil {
		return nil, p.audited(ctx, action, "namespace/"+ns, err)
	}
	return n, nil
}

// orgOf returns the namespace's organisation.
func orgOf(n *platform.Namespace) string {
	if n.Org == "" {
		return platform.DefaultOrg
	}
	return n.Org
}

// audited writes a refusal of action (EFORBIDDEN, or a disabled user's token) to the
// audit log of the caller's org and returns err unchanged.
func (p *Plane) audited(ctx context.Context, action authz.Action, target string, err error) error {
	tok := platform.TokenFromContext(ctx)
	if err == nil || tok == nil {
		return err
	}
	p.audit(ctx, &platform.AuditEntry{Action: string(action), Target: target, Outcome: platform.AuditDenied, Detail: platform.ErrorMessage(err)})
	return err
}

// audit appends e to the caller's org's audit log, filling the actor, token, source
// address and time. A failed write is logged: the change it records has been made.
func (p *Plane) audit(ctx context.Context, e *platform.AuditEntry) {
	if tok := platform.TokenFromContext(ctx); tok != nil {
		if e.Org == "" {
			e.Org = tok.OrgName()
		}
		if e.Actor == "" {
			e.Actor, e.ActorID, e.TokenID = actorName(tok), tok.UserID, tok.ID
		}
	}
	if e.Org == "" {
		e.Org = platform.DefaultOrg
	}
	if e.Source == "" {
		e.Source = platform.SourceFromContext(ctx)
	}
	if e.Time.IsZero() {
		e.Time = p.opts.Clock.Now().UTC()
	}
	if err := p.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		p.logger.Error("audit log write failed", "action", e.Action, "target", e.Target, "err", err)
	}
}

// actorName names the caller in the audit log: their login, else the token.
func actorName(t *platform.Token) string {
	if t.User != "" {
		return t.User
	}
	return fmt.Sprintf("token:%s", t.Name)
}

// forgetUser drops the user's cached tokens so a change of their role or state takes
// effect at once in this process (other processes notice within the cache's TTL).
func (p *Plane) forgetUser(userID string) {
	if inv, ok := p.opts.Auth.(UserInvalidator); ok {
		inv.InvalidateUser(userID)
	}
}

// forgetTokens drops the cached lookups of tokens just deleted.
func (p *Plane) forgetTokens(toks []*platform.Token) {
	if p.opts.Auth == nil {
		return
	}
	for _, t := range toks {
		p.opts.Auth.InvalidateID(t.ID)
	}
}
