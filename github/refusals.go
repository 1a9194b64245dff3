package github

import (
	"context"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/refusal"
)

// refusalKind separates refusals that different kinds of traffic cause, each with its
// own bound, so that a flood of one (say, forged webhooks) cannot keep another (a
// sign-in refusal) out of the audit log.
type refusalKind int

// The kinds of refusal.
const (
	// refusalWebhook: a webhook with a bad or missing signature.
	refusalWebhook refusalKind = iota
	// refusalSignIn: a browser or CLI sign-in with a bad state, code or CLI code, or by
	// someone in no linked team.
	refusalSignIn
	// refusalToken: a GitHub token offered to POST /auth/github/token that is not this
	// platform's app's or that GitHub rejects.
	refusalToken
	numRefusalKinds
)

// refused audits an unauthenticated refusal within its kind's bound; past it the
// refusal is not audited (the caller has logged it already) but counted.
func (i *Integration) refused(ctx context.Context, kind refusalKind, e *platform.AuditEntry) {
	ok, suppressed := i.refusals[kind].Take(i.now())
	if !ok {
		return
	}
	e.Detail += refusal.Note(suppressed)
	i.audit(ctx, e)
}
