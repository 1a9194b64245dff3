package natsbus

import (
	"sync"
	"sync/atomic"
	"time"
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

// has reports whether node id is draining. It takes no lock while nothing drains.
func (d *drainSet) has(id string) bool {
	if d.n.Load() == 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	until, ok := d.nodes[id]
	if ok && time.Now().After(until) {
		delete(d.nodes, id)
		d.n.Store(int32(len(d.nodes)))
		return false
	}
	return ok
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
