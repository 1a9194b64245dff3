package natsbus

import (
	"sync"
	"sync/atomic"
	"time"

	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/selector"
)

// DrainTTL is how long DrainNode keeps a node out of the platform's calls.
const DrainTTL = 5 * time.Minute

// drainSet holds the nodes of a namespace that the platform no longer calls.
type drainSet struct {
	n     atomic.Int32 // len(nodes), read on the hot path without the lock
	mu    sync.Mutex
	nodes map[string]time.Time // node ID -> when draining ends
}

// add drains node id until now+ttl.
func (d *drainSet) add(id string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nodes == nil {
		d.nodes = make(map[string]time.Time)
	}
	d.nodes[id] = now.Add(DrainTTL)
	d.n.Store(int32(len(d.nodes)))
}

// filter returns a selector filter dropping drained nodes, nil when none is drained.
func (d *drainSet) filter() selector.Filter {
	if d.n.Load() == 0 {
		return nil
	}
	now := time.Now()
	d.mu.Lock()
	drained := make(map[string]bool, len(d.nodes))
	for id, until := range d.nodes {
		if now.After(until) {
			delete(d.nodes, id)
			continue
		}
		drained[id] = true
	}
	d.n.Store(int32(len(d.nodes)))
	d.mu.Unlock()
	return func(in []*registry.Service) []*registry.Service {
		out := make([]*registry.Service, 0, len(in))
		for _, s := range in {
			c := *s
			c.Nodes = make([]*registry.Node, 0, len(s.Nodes))
			for _, n := range s.Nodes {
				if !drained[n.Id] {
					c.Nodes = append(c.Nodes, n)
				}
			}
			out = append(out, &c)
		}
		return out
	}
}

// DrainNode stops the platform's calls (Call, the HTTP gateway) from choosing the node
// with the given ID in ns, for DrainTTL. Call it a moment (a few hundred ms) before
// stopping an instance: a go-micro v5 server deregisters and closes its listener at
// once on SIGTERM, and a request sent to it in between, by a caller that has not yet
// seen the deregistration, is lost and times out. Unknown namespaces and nodes are
// ignored.
func (b *Bus) DrainNode(ns, nodeID string) {
	nc, err := b.nsClient(ns)
	if err != nil {
		return
	}
	nc.drain.add(nodeID, time.Now())
}
