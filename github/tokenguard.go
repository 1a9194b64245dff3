package github

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"golang.org/x/time/rate"

	platform "github.com/micro/platform"
)

// Bounds of POST /auth/github/token, which anyone can call and which spends the OAuth
// app's GitHub API quota (checkAppToken authenticates as the app): per source address a
// burst of exchangeBurst, then one per exchangeEvery; and a token's check result is
// reused for checkTTL, so retries of one token cost GitHub one call.
const (
	exchangeBurst = 5
	exchangeEvery = 10 * time.Second
	// maxSources bounds the per-address buckets kept; the addresses past it share one
	// bucket until idle addresses are forgotten.
	maxSources = 4096
	checkTTL   = time.Minute
	// maxChecks bounds the cached check results.
	maxChecks = 4096
)

// sourceLimiter is a token bucket per source address, with a bounded number of
// addresses.
type sourceLimiter struct {
	mu       sync.Mutex
	buckets  map[string]*sourceBucket
	overflow *rate.Limiter // shared by addresses past maxSources
}

type sourceBucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newSourceLimiter() *sourceLimiter {
	return &sourceLimiter{buckets: map[string]*sourceBucket{}, overflow: newExchangeLimiter()}
}

func newExchangeLimiter() *rate.Limiter {
	return rate.NewLimiter(rate.Every(exchangeEvery), exchangeBurst)
}

// wait reports how long source must wait before its next request is allowed: 0 takes
// one from its bucket and allows the request now.
func (l *sourceLimiter) wait(source string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[source]
	if b == nil {
		if len(l.buckets) >= maxSources {
			l.forgetIdle(now)
		}
		if len(l.buckets) < maxSources {
			b = &sourceBucket{lim: newExchangeLimiter()}
			l.buckets[source] = b
		}
	}
	lim := l.overflow
	if b != nil {
		b.last = now
		lim = b.lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// forgetIdle drops the buckets that have refilled: a new bucket is the same.
func (l *sourceLimiter) forgetIdle(now time.Time) {
	for s, b := range l.buckets {
		if now.Sub(b.last) >= exchangeBurst*exchangeEvery {
			delete(l.buckets, s)
		}
	}
}

// tokenChecks caches checkAppToken's answers by the SHA-256 of the token (the token
// itself is not kept).
type tokenChecks struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]tokenCheck
}

type tokenCheck struct {
	err     error // nil: the app's token; errNotAppToken: not
	expires time.Time
}

func (c *tokenChecks) get(key [sha256.Size]byte, now time.Time) (error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.err, true
}

func (c *tokenChecks) put(key [sha256.Size]byte, err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[sha256.Size]byte]tokenCheck{}
	}
	if len(c.m) >= maxChecks {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
	}
	for k := range c.m { // still full: drop any one (map order is random)
		if len(c.m) < maxChecks {
			break
		}
		delete(c.m, k)
	}
	c.m[key] = tokenCheck{err: err, expires: now.Add(checkTTL)}
}

// checkToken is checkAppToken with its definite answers (the app's token, or not)
// cached for checkTTL; a failure to ask GitHub is not cached.
func (i *Integration) checkToken(ctx context.Context, token string) error {
	key := sha256.Sum256([]byte(token))
	if err, ok := i.checks.get(key, i.now()); ok {
		return err
	}
	err := checkAppToken(ctx, i.cfg, i.hc, token)
	if err == nil || platform.ErrorCode(err) == platform.EUNAUTHENTICATED {
		i.checks.put(key, err, i.now())
	}
	return err
}

// errTooManyExchanges refuses a token exchange past the source's bound.
var errTooManyExchanges = platform.Errorf(platform.EQUOTA, "too many GitHub token exchanges from your address").
	WithHint("wait a little and run `platform login --device` again")
