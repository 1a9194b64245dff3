package region

import (
	"context"
	"net/http"
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

	mu       sync.RWMutex        // read on every gateway call (Local, Ready)
	updated  bool                // routes came from a desired state
	routes   map[string][]string // service key → regions
	gateways map[string]string   // region → gateway URL
	health   map[string]*remote  // gateway URL → what forwards and probes to it saw
}

// remote is what forwarding to one gateway has seen.
type remote struct {
	failedAt time.Time
	// latency is a moving average of its answers' round trips.
	latency time.Duration
	// down is closed when the gateway is found failing, so calls waiting on it move on.
	down chan struct{}
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
	r.updated = true
}

// Ready reports whether the router has routes from a desired state: before that a region
// does not know what it should run, and a service it lacks may yet start there.
func (r *Router) Ready() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.updated
}

// Local reports whether service in ns runs in this region, or might (no route known).
func (r *Router) Local(ns, service string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	regions, ok := r.routes[key(ns, service)]
	return !ok || slices.Contains(regions, r.self)
}

// Down returns a channel closed when gateway gw is next found failing.
func (r *Router) Down(gw string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.remoteLocked(gw).down
}

func (r *Router) remoteLocked(gw string) *remote {
	h := r.health[gw]
	if h == nil {
		h = &remote{down: make(chan struct{})}
		r.health[gw] = h
	}
	return h
}

// probeInterval is how often the other regions' gateways are asked whether they answer,
// and probeTimeout how long they have: a region that hangs (a machine or network that
// fails without closing connections) is routed around within about their sum.
const (
	probeInterval = time.Second
	probeTimeout  = time.Second
)

// Probe asks every other region's gateway for /healthz every second until ctx ends, and
// marks those that do not answer in time failed.
func (r *Router) Probe(ctx context.Context, client *http.Client) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		var gws []string
		for name, gw := range r.gateways {
			if name != r.self {
				gws = append(gws, gw)
			}
		}
		r.mu.Unlock()
		var wg sync.WaitGroup
		for _, gw := range gws {
			wg.Go(func() {
				pctx, cancel := context.WithTimeout(ctx, probeTimeout)
				defer cancel()
				req, err := http.NewRequestWithContext(pctx, http.MethodGet, gw+"/healthz", nil)
				if err != nil {
					return
				}
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				if ctx.Err() != nil {
					return
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					r.Observe(gw, 0, true)
				} else {
					r.recovered(gw)
				}
			})
		}
		wg.Wait()
	}
}

// recovered clears a gateway's failure once it answers a probe again.
func (r *Router) recovered(gw string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remoteLocked(gw).failedAt = time.Time{}
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
	h := r.remoteLocked(gw)
	if failed {
		h.failedAt = time.Now()
		close(h.down)
		h.down = make(chan struct{})
		return
	}
	h.failedAt = time.Time{}
	if h.latency == 0 {
		h.latency = took
	} else {
		h.latency = (h.latency*7 + took) / 8
	}
}
