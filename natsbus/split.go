package natsbus

import (
	"sync"
	"sync/atomic"

	"go-micro.dev/v5/registry"
)

// SplitCalls sends percent (0 to 100) of the platform's calls (Call, the HTTP gateway)
// to service in ns that name no version to nodes of version canary, and the rest to
// nodes of version stable: a canary release beside the live one. The share is kept by a
// smooth weighted round robin, not at random, so over any n calls each version gets
// its share to within one call; nodes are then taken round-robin within the version.
// While only one of the two versions has a node to call, every call goes to it. With
// canary "" the service's calls are no longer split. Setting the same split again
// changes nothing.
func (b *Bus) SplitCalls(ns, service, stable, canary string, percent int) {
	b.splitsOf(ns).set(service, stable, canary, min(max(percent, 0), 100))
}

// splitsOf returns the splits of namespace ns, kept apart from its client so that a
// client connected again keeps them.
func (b *Bus) splitsOf(ns string) *splits {
	b.splitMu.Lock()
	defer b.splitMu.Unlock()
	if b.splits == nil {
		b.splits = make(map[string]*splits)
	}
	s := b.splits[ns]
	if s == nil {
		s = &splits{}
		b.splits[ns] = s
	}
	return s
}

// splits holds the split services of one namespace.
type splits struct {
	n  atomic.Int32 // len(by), read on the hot path without the lock
	mu sync.Mutex
	by map[string]*split // service → its split
}

func (s *splits) set(service, stable, canary string, percent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if canary == "" {
		delete(s.by, service)
		s.n.Store(int32(len(s.by)))
		return
	}
	if sp := s.by[service]; sp != nil && sp.stable == stable && sp.canary == canary && sp.percent == percent {
		return
	}
	if s.by == nil {
		s.by = make(map[string]*split)
	}
	s.by[service] = &split{stable: stable, canary: canary, percent: percent}
	s.n.Store(int32(len(s.by)))
}

// get returns the split of service, nil when its calls are not split. It takes no lock
// while no service of the namespace is split.
func (s *splits) get(service string) *split {
	if s == nil || s.n.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.by[service]
}

// split shares one service's calls between a stable version and a canary.
type split struct {
	stable, canary string
	percent        int // of the calls to canary

	mu      sync.Mutex
	current [2]int    // smooth weighted round robin: each version's current weight
	rr      [2]uint64 // round-robin position within each version
}

// order returns live, the service's live nodes, in the order a call tries them: nodes of
// the version the split picks for this call, from the next one round-robin, then those
// of the other version. Nodes of neither version are left out, unless neither has one.
func (sp *split) order(live []*registry.Node, versionOf map[*registry.Node]string) []*registry.Node {
	var by [2][]*registry.Node
	for _, n := range live {
		switch versionOf[n] {
		case sp.stable:
			by[0] = append(by[0], n)
		case sp.canary:
			by[1] = append(by[1], n)
		}
	}
	if len(by[0])+len(by[1]) == 0 {
		return live
	}
	first := sp.pick(len(by[0]) > 0, len(by[1]) > 0)
	sp.mu.Lock()
	start := sp.rr[first] % uint64(len(by[first]))
	sp.rr[first]++
	sp.mu.Unlock()
	out := make([]*registry.Node, 0, len(by[0])+len(by[1]))
	out = append(out, by[first][start:]...)
	out = append(out, by[first][:start]...)
	return append(out, by[1-first]...)
}

// pick returns the version the next call goes to (0 stable, 1 canary) among those with
// a node: smooth weighted round robin (as nginx's upstreams), where each version's
// current weight grows by its weight and the largest is chosen and lowered by the total.
func (sp *split) pick(hasStable, hasCanary bool) int {
	switch {
	case !hasCanary:
		return 0
	case !hasStable:
		return 1
	}
	weight := [2]int{100 - sp.percent, sp.percent}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	best := 0
	for i := range weight {
		sp.current[i] += weight[i]
		if sp.current[i] > sp.current[best] {
			best = i
		}
	}
	sp.current[best] -= weight[0] + weight[1]
	return best
}
