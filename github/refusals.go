package github

import (
	"context"
	"fmt"
	"sync"
	"time"

	platform "github.com/micro/platform"
)

// Bounds of the audit entries written for refusals that anyone can cause without a
// credential (bad webhook signatures, bad states and codes, foreign tokens): a burst of
// refusalBurst, then one per refusalEvery. Refusals past the bound are counted and the
// count is written with the next recorded one, so a flood costs a handful of rows.
const (
	refusalBurst = 10
	refusalEvery = 6 * time.Second
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

// refusalLimiter is a token bucket over refusal audit entries.
type refusalLimiter struct {
	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

// take reports whether an entry may be written now and how many were suppressed
// since the last one written.
func (l *refusalLimiter) take(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.IsZero() {
		l.tokens = refusalBurst
	} else {
		l.tokens = min(refusalBurst, l.tokens+float64(now.Sub(l.last))/float64(refusalEvery))
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	n := l.suppressed
	l.suppressed = 0
	return true, n
}

// refused audits an unauthenticated refusal within its kind's bound; past it the
// refusal is not audited (the caller has logged it already) but counted.
func (i *Integration) refused(ctx context.Context, kind refusalKind, e *platform.AuditEntry) {
	ok, suppressed := i.refusals[kind].take(i.now())
	if !ok {
		return
	}
	if suppressed > 0 {
		e.Detail += fmt.Sprintf(" (%d similar refusals before this one were not recorded: rate limited)", suppressed)
	}
	i.audit(ctx, e)
}
