package natsbus

import (
	"sync"
	"sync/atomic"
	"time"
)

// DrainTTL is how long DrainNode keeps a node out of the platform's calls.
const DrainTTL = 5 * time.Minute

// SuspectTTL is how long Call tries a node only after every other one once the node
// turned out gone (NATS "no responders": its instance stopped, or its region's server
// is no longer connected) or did not answer a call in time (its region may have
// vanished without its gateway noticing yet, see GatewayOptions.PingInterval). Either
// also makes the cache ask the registry again, which drops the node unless it still
// answers there. After SuspectTTL a node that came back is called as before.
const SuspectTTL = 10 * time.Second

// nodeSet holds node IDs of a namespace until a time each: the nodes the platform no
// longer calls (drained) or calls only when no other is left (suspect).
type nodeSet struct {
	n     atomic.Int32 // len(nodes), read on the hot path without the lock
	mu    sync.Mutex
	nodes map[string]time.Time // node ID -> when it leaves the set
}

// add holds node id until the given time.
func (d *nodeSet) add(id string, until time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nodes == nil {
		d.nodes = make(map[string]time.Time)
	}
	d.nodes[id] = until
	d.n.Store(int32(len(d.nodes)))
}

// has reports whether node id is in the set. It takes no lock while the set is empty.
func (d *nodeSet) has(id string) bool {
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
	nc.drain.add(nodeID, time.Now().Add(DrainTTL))
}
