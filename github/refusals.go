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

// refused audits an unauthenticated refusal within the refusal bound; past it the
// refusal is only logged at debug level (the caller has logged it already).
func (i *Integration) refused(ctx context.Context, e *platform.AuditEntry) {
	ok, suppressed := i.refusals.take(i.now())
	if !ok {
		return
	}
	if suppressed > 0 {
		e.Detail += fmt.Sprintf(" (%d similar refusals before this one were not recorded: rate limited)", suppressed)
	}
	i.audit(ctx, e)
}
