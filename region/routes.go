package region

import (
	"slices"
	"sync"
	"time"
)

// Route is where one service of a namespace runs.
type Route struct {
	Namespace string
	Service   string
	// Regions in the order of the service's placement.
	Regions []string
}

// Router knows, from the desired state, which other regions run each service and where
// their gateways are, and which of them answered lately: the region's gateway asks it
// where to forward a call for a service it does not run. It implements gateway.Router.
type Router struct {
	self string

	mu       sync.Mutex
	routes   map[string][]string // service key → regions
	gateways map[string]string   // region → gateway URL
	health   map[string]*remote  // gateway URL → what forwards to it saw
}

// remote is what forwarding to one gateway has seen.
type remote struct {
	failedAt time.Time
	// latency is a moving average of its answers' round trips.
	latency time.Duration
}

// avoidFor is how long a gateway that failed is tried only after the others.
const avoidFor = 3 * time.Second

// NewRouter returns the Router of region self.
func NewRouter(self string) *Router {
	return &Router{self: self, routes: map[string][]string{}, gateways: map[string]string{}, health: map[string]*remote{}}
}

// Update takes the routes and gateways of a desired state.
func (r *Router) Update(routes []Route, gateways map[string]string) {
	next := make(map[string][]string, len(routes))
	for _, rt := range routes {
		next[key(rt.Namespace, rt.Service)] = rt.Regions
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes = next
	r.gateways = gateways
}

// Remotes returns the gateway URLs of the other regions that run service in ns, the
// nearest healthy first: gateways that failed within avoidFor go last, the others by
// their measured latency, then in the order of the placement.
func (r *Router) Remotes(ns, service string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	regions := r.routes[key(ns, service)]
	out := make([]string, 0, len(regions))
	for _, name := range regions {
		if name == r.self {
			continue
		}
		if gw := r.gateways[name]; gw != "" {
			out = append(out, gw)
		}
	}
	now := time.Now()
	rank := func(gw string) (bool, time.Duration) {
		h := r.health[gw]
		if h == nil {
			return false, 0
		}
		return now.Sub(h.failedAt) < avoidFor, h.latency
	}
	slices.SortStableFunc(out, func(a, b string) int {
		fa, la := rank(a)
		fb, lb := rank(b)
		switch {
		case fa != fb:
			if fa {
				return 1
			}
			return -1
		case la != 0 && lb != 0 && la != lb:
			if la < lb {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
}

// Observe records how a forward to gateway gw went: its round trip, or that it failed.
func (r *Router) Observe(gw string, took time.Duration, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.health[gw]
	if h == nil {
		h = &remote{}
		r.health[gw] = h
	}
	if failed {
		h.failedAt = time.Now()
		return
	}
	h.failedAt = time.Time{}
	if h.latency == 0 {
		h.latency = took
	} else {
		h.latency = (h.latency*7 + took) / 8
	}
}
