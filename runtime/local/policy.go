package local

import (
	"math"
	"time"
)

// Backoff is the restart schedule of an instance that keeps exiting: Initial after the
// first exit, multiplied by Factor after every further one, never more than Max. An
// instance that ran for at least ResetAfter before exiting counts as healthy and starts
// over at Initial. A schedule is a few lines of arithmetic, not a retry loop, so no
// library is used.
type Backoff struct {
	Initial    time.Duration // 500ms
	Max        time.Duration // 30s
	Factor     float64       // 2
	ResetAfter time.Duration // 30s
}

// DefaultBackoff returns the schedule used when Options.Backoff is zero.
func DefaultBackoff() Backoff {
	return Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, Factor: 2, ResetAfter: 30 * time.Second}
}

func (b Backoff) withDefaults() Backoff {
	d := DefaultBackoff()
	if b.Initial <= 0 {
		b.Initial = d.Initial
	}
	if b.Max <= 0 {
		b.Max = max(d.Max, b.Initial)
	}
	if b.Factor < 1 {
		b.Factor = d.Factor
	}
	if b.ResetAfter <= 0 {
		b.ResetAfter = d.ResetAfter
	}
	return b
}

// Delay returns the wait before restarting after n consecutive failed runs (n ≥ 1).
func (b Backoff) Delay(n int) time.Duration {
	b = b.withDefaults()
	d := float64(b.Initial) * math.Pow(b.Factor, float64(max(n-1, 0)))
	if d >= float64(b.Max) {
		return b.Max
	}
	return time.Duration(d)
}

// CrashLoop says when an instance is crash looping: Restarts exits within Window. A
// crash-looping instance is still restarted, at the Backoff's Max.
type CrashLoop struct {
	Restarts int           // 5
	Window   time.Duration // 60s
}

// DefaultCrashLoop returns the threshold used when Options.CrashLoop is zero.
func DefaultCrashLoop() CrashLoop { return CrashLoop{Restarts: 5, Window: time.Minute} }

func (c CrashLoop) withDefaults() CrashLoop {
	if c.Restarts <= 0 {
		c.Restarts = DefaultCrashLoop().Restarts
	}
	if c.Window <= 0 {
		c.Window = DefaultCrashLoop().Window
	}
	return c
}

// Tracker applies a Backoff and a CrashLoop threshold to the exits of one instance. The
// fake driver uses it too, so both drivers restart alike. Not safe for concurrent use.
type Tracker struct {
	backoff  Backoff
	loop     CrashLoop
	failures int
	exits    []time.Time
}

// NewTracker returns a Tracker; zero fields of b and c take their defaults.
func NewTracker(b Backoff, c CrashLoop) *Tracker {
	return &Tracker{backoff: b.withDefaults(), loop: c.withDefaults()}
}

// Exited records that a run begun at started ended at now. It returns how long to wait
// before the restart and whether the instance is now crash looping.
func (t *Tracker) Exited(started, now time.Time) (delay time.Duration, crashLoop bool) {
	if now.Sub(started) >= t.backoff.ResetAfter {
		t.failures, t.exits = 0, t.exits[:0]
	}
	t.failures++
	t.exits = append(t.exits, now)
	cut := 0
	for cut < len(t.exits) && now.Sub(t.exits[cut]) > t.loop.Window {
		cut++
	}
	t.exits = t.exits[cut:]
	if len(t.exits) >= t.loop.Restarts {
		return t.backoff.Max, true
	}
	return t.backoff.Delay(t.failures), false
}
