package gateway

import (
	"sync"

	"golang.org/x/time/rate"

	platform "github.com/micro/platform"
)

// RateLimits tells the gateway the requests-per-second quota of each organisation's
// plan (billing.QuotaRequestsPerSecond). It is asked on every request, so it must answer
// from memory.
type RateLimits interface {
	// RequestsPerSecond returns org's limit, 0 for none.
	RequestsPerSecond(org string) int
}

// orgLimiter is one organisation's token bucket: limit tokens a second, a second's
// worth of burst.
type orgLimiter struct {
	limit int
	lim   *rate.Limiter
}

// rateLimiter holds a token bucket per organisation with a limit, made again when the
// limit changes (a plan change).
type rateLimiter struct {
	limits RateLimits
	orgs   sync.Map // org → *orgLimiter
}

// allow takes a token of org's bucket: EQUOTA (429) when there is none.
func (l *rateLimiter) allow(org string) error {
	if l == nil {
		return nil
	}
	n := l.limits.RequestsPerSecond(org)
	if n <= 0 {
		return nil
	}
	v, ok := l.orgs.Load(org)
	ol, _ := v.(*orgLimiter)
	if !ok || ol.limit != n {
		ol = &orgLimiter{limit: n, lim: rate.NewLimiter(rate.Limit(n), n)}
		l.orgs.Store(org, ol)
	}
	if ol.lim.Allow() {
		return nil
	}
	return platform.Errorf(platform.EQUOTA, "organisation %s is over its plan's quota of %d requests per second", org, n).
		WithHint("send fewer requests per second, or move to a larger plan: platform plan set NAME")
}
