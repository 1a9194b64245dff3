// Package refusal bounds the audit entries written for refusals anyone can cause without
// a credential (forged webhooks, bad sign-in states, foreign tokens): a burst, then one
// per interval. Refusals past the bound are counted, and the count goes into the next
// entry written, so a flood costs a handful of rows and the log still says it happened.
package refusal

import (
	"fmt"
	"sync"
	"time"
)

// Default bounds: a burst of 10, then one entry every 6 seconds.
const (
	DefaultBurst = 10
	DefaultEvery = 6 * time.Second
)

// Limiter is a token bucket over audit entries; the zero value uses the defaults. It is
// safe for concurrent use.
type Limiter struct {
	// Burst and Every override the defaults when set.
	Burst int
	Every time.Duration

	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

// Take reports whether an entry may be written at now and how many refusals were
// suppressed since the last one written.
func (l *Limiter) Take(now time.Time) (bool, int) {
	burst, every := float64(DefaultBurst), DefaultEvery
	if l.Burst > 0 {
		burst = float64(l.Burst)
	}
	if l.Every > 0 {
		every = l.Every
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.IsZero() {
		l.tokens = burst
	} else {
		l.tokens = min(burst, l.tokens+float64(now.Sub(l.last))/float64(every))
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

// Note is what an entry written after suppressed refusals adds to its detail ("" for
// none).
func Note(suppressed int) string {
	if suppressed == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d similar refusals before this one were not recorded: rate limited)", suppressed)
}
