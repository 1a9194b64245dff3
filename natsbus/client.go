package natsbus

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go-micro.dev/v5/registry"
	natsreg "go-micro.dev/v5/registry/nats"
	"golang.org/x/sync/singleflight"

	"github.com/micro/platform"
)

// nsClient is the platform's long-lived client inside one namespace: go-micro's NATS
// registry behind a watch-updated cache for discovery and round-robin node choice, and
// one NATS connection for requests and the registry watch.
type nsClient struct {
	reg     registry.Registry // the namespace's NATS registry (broadcast queries)
	cache   *registryCache    // reg behind one watch-updated cache, for lookups
	conn    *nats.Conn
	seq     atomic.Uint64 // request IDs
	rr      atomic.Uint64 // round-robin position
	drain   nodeSet       // nodes drained by DrainNode: never called
	suspect nodeSet       // nodes found gone or unresponsive: called last, see SuspectTTL
	splits  *splits       // the namespace's split services, see Bus.SplitCalls
}

// natsOptions are the NATS connection settings of the platform's namespace clients: a
// revoked namespace stops reconnecting quickly.
func natsOptions(u string) nats.Options {
	o := nats.GetDefaultOptions()
	o.Url = u
	o.Name = "platform"
	o.MaxReconnect = 10
	o.ReconnectWait = 500 * time.Millisecond
	return o
}

// lookupRetryInterval bounds how often a lookup of a service that is not (yet)
// registered reaches the NATS registry.
const lookupRetryInterval = 200 * time.Millisecond

// newNSClient connects to the namespace URL u (with credentials).
func newNSClient(u string, opts Options) (*nsClient, error) {
	no := natsOptions(u)
	conn, err := no.Connect()
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect to namespace: %w", err)
	}
	reg := natsreg.NewNatsRegistry(
		registry.Addrs(u),
		registry.Timeout(opts.RegistryTimeout),
		natsreg.NatsOptions(natsOptions(u)),
	)
	c, err := newRegistryCache(reg, conn, cacheOptions{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("natsbus: watch the namespace registry: %w", err)
	}
	return &nsClient{reg: reg, cache: c, conn: conn}, nil
}

// close stops the client's registry watch and closes its request connection. The
// registry's own connection is closed by the server when the namespace is revoked or
// the server stops: go-micro's registry has no Close.
func (c *nsClient) close() {
	c.cache.stop()
	c.conn.Close()
}

// watchTopic is where go-micro's NATS registry announces registrations and
// deregistrations (its default, which services configured from MICRO_* use).
const watchTopic = "micro.nats.watch"

// Defaults of cacheOptions.
const (
	defaultNodeTTL     = time.Minute
	defaultIdleTTL     = 5 * time.Minute
	defaultMaxServices = 10_000
	defaultMaxMisses   = 4096
)

// cacheOptions tune a registryCache; zero values take the defaults above.
type cacheOptions struct {
	// NodeTTL is how long a service's nodes are trusted without a registry event or
	// query that shows them (go-micro's cache TTL): a node that died without
	// deregistering is dropped after it.
	NodeTTL time.Duration
	// RetryInterval bounds how often one service is queried: a name not registered at
	// its last query is "not found" from memory until then.
	RetryInterval time.Duration
	// IdleTTL drops a service not looked up for that long.
	IdleTTL time.Duration
	// MaxServices bounds the services kept; beyond it the least recently used go.
	MaxServices int
	// MaxMisses bounds the names remembered as not registered.
	MaxMisses int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// registryCache is the platform's view of one namespace's registry: the services looked
// up recently, kept current by one subscription to the registry's watch topic for the
// whole namespace. It replaces go-micro's registry/cache, which starts a watcher (a NATS
// subscription with a 64k-message buffer and two goroutines) for every name it is asked
// about, registered or not, and never stops it: a caller inventing service names grew
// the server without bound.
//
// Only registered services are kept (at most MaxServices, dropped after IdleTTL without
// a lookup); a name that is not registered is remembered for RetryInterval only, in a
// bounded set, so that a flood of lookups of one name does not become a flood of
// registry queries. The services handed out are never modified afterwards (updates
// replace them), so callers may read them without copying but must not change them.
type registryCache struct {
	reg   registry.Registry
	opts  cacheOptions
	sub   *nats.Subscription
	group singleflight.Group

	mu        sync.RWMutex
	services  map[string]*cacheEntry
	misses    map[string]time.Time // name → when a query last found it unregistered
	lastSweep time.Time
}

// cacheEntry is one registered service. Lookups read it without the cache's lock, so it
// is never changed once in the cache except for used; events replace it.
type cacheEntry struct {
	services []*registry.Service // immutable
	expires  time.Time           // query again after this
	nodes    map[string]time.Time
	queried  time.Time    // last registry query
	used     atomic.Int64 // last lookup, Unix nanoseconds
}

func newRegistryCache(reg registry.Registry, conn *nats.Conn, opts cacheOptions) (*registryCache, error) {
	if opts.NodeTTL <= 0 {
		opts.NodeTTL = defaultNodeTTL
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = lookupRetryInterval
	}
	if opts.IdleTTL <= 0 {
		opts.IdleTTL = defaultIdleTTL
	}
	if opts.MaxServices <= 0 {
		opts.MaxServices = defaultMaxServices
	}
	if opts.MaxMisses <= 0 {
		opts.MaxMisses = defaultMaxMisses
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &registryCache{
		reg:      reg,
		opts:     opts,
		services: make(map[string]*cacheEntry),
		misses:   make(map[string]time.Time),
	}
	if conn != nil {
		sub, err := conn.Subscribe(watchTopic, c.onEvent)
		if err != nil {
			return nil, err
		}
		// The server has the subscription once a flush returns: no event published after
		// newRegistryCache is missed.
		if err := conn.FlushTimeout(5 * time.Second); err != nil {
			_ = sub.Unsubscribe()
			return nil, err
		}
		c.sub = sub
	}
	return c, nil
}

// stop ends the watch.
func (c *registryCache) stop() {
	if c.sub != nil {
		_ = c.sub.Unsubscribe()
	}
}

// getService returns the registered versions of service, registry.ErrNotFound when it
// has no node, or the registry's error when it cannot be asked and nothing is known.
func (c *registryCache) getService(service string) ([]*registry.Service, error) {
	now := c.opts.Now()
	c.mu.RLock()
	e := c.services[service]
	missed, isMiss := c.misses[service]
	c.mu.RUnlock()
	if e != nil {
		e.used.Store(now.UnixNano())
		// Fresh, or stale but queried a moment ago: as go-micro's cache, answer from
		// memory rather than query the registry again.
		if e.valid(now) || now.Sub(e.queried) < c.opts.RetryInterval {
			return e.services, nil
		}
	} else if isMiss && now.Sub(missed) < c.opts.RetryInterval {
		return nil, registry.ErrNotFound
	}
	v, err, _ := c.group.Do(service, func() (any, error) { return c.query(service) })
	if err != nil {
		if e != nil {
			return e.services, nil // the registry is unavailable: keep serving what we knew
		}
		return nil, err
	}
	svcs, _ := v.([]*registry.Service)
	if len(svcs) == 0 {
		return nil, registry.ErrNotFound
	}
	return svcs, nil
}

// query asks the registry about service and records the answer.
func (c *registryCache) query(service string) ([]*registry.Service, error) {
	svcs, err := c.reg.GetService(service)
	if err != nil {
		return nil, err
	}
	now := c.opts.Now()
	svcs = slices.DeleteFunc(svcs, func(s *registry.Service) bool { return len(s.Nodes) == 0 })
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
	if len(svcs) == 0 {
		delete(c.services, service)
		if len(c.misses) >= c.opts.MaxMisses {
			clear(c.misses) // rare: more unknown names within RetryInterval than MaxMisses
		}
		c.misses[service] = now
		return nil, nil
	}
	delete(c.misses, service)
	e := &cacheEntry{services: svcs, queried: now}
	e.used.Store(now.UnixNano())
	e.touch(svcs, now, c.opts.NodeTTL)
	if _, ok := c.services[service]; !ok && len(c.services) >= c.opts.MaxServices {
		c.evictLocked()
	}
	c.services[service] = e
	return svcs, nil
}

// sweepLocked drops, at most once per RetryInterval, services not looked up for
// IdleTTL and names not found longer ago than RetryInterval.
func (c *registryCache) sweepLocked(now time.Time) {
	if now.Sub(c.lastSweep) < c.opts.RetryInterval {
		return
	}
	c.lastSweep = now
	idle := now.Add(-c.opts.IdleTTL).UnixNano()
	for name, e := range c.services {
		if e.used.Load() < idle {
			delete(c.services, name)
		}
	}
	for name, t := range c.misses {
		if now.Sub(t) >= c.opts.RetryInterval {
			delete(c.misses, name)
		}
	}
}

// evictLocked drops the least recently used service.
func (c *registryCache) evictLocked() {
	var oldest string
	var at int64
	for name, e := range c.services {
		if u := e.used.Load(); oldest == "" || u < at {
			oldest, at = name, u
		}
	}
	delete(c.services, oldest)
}

// expire makes the next lookup of service ask the registry again (at most once per
// RetryInterval, as for any stale entry), still answering from memory if the registry
// cannot be asked. The platform calls it when a node of the service turned out gone.
func (c *registryCache) expire(service string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.services[service]; e != nil {
		c.services[service] = e.expired()
	}
}

// expireAll expires every service kept, e.g. when a region joined or left.
func (c *registryCache) expireAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, e := range c.services {
		c.services[name] = e.expired()
	}
}

// expired returns a copy of e that is no longer valid. Entries in the cache are never
// changed: the copy shares e's immutable services and node times.
func (e *cacheEntry) expired() *cacheEntry {
	ne := &cacheEntry{services: e.services, nodes: e.nodes, queried: e.queried}
	ne.used.Store(e.used.Load())
	return ne
}

// valid reports whether e may be served without asking the registry: within its TTL
// and with every node seen within the node TTL.
func (e *cacheEntry) valid(now time.Time) bool {
	if !now.Before(e.expires) {
		return false
	}
	for _, s := range e.services {
		for _, n := range s.Nodes {
			if !now.Before(e.nodes[n.Id]) {
				return false
			}
		}
	}
	return true
}

// touch renews e's TTL and that of the nodes of svcs, and forgets expired nodes.
func (e *cacheEntry) touch(svcs []*registry.Service, now time.Time, ttl time.Duration) {
	e.expires = now.Add(ttl)
	if e.nodes == nil {
		e.nodes = make(map[string]time.Time)
	}
	for _, s := range svcs {
		for _, n := range s.Nodes {
			e.nodes[n.Id] = e.expires
		}
	}
	for id, t := range e.nodes {
		if !now.Before(t) {
			delete(e.nodes, id)
		}
	}
}

// onEvent applies one registration or deregistration to the service it names, if that
// service is kept; a registration of a name remembered as not found clears that, so
// the next lookup asks the registry at once.
func (c *registryCache) onEvent(m *nats.Msg) {
	var res registry.Result
	if err := json.Unmarshal(m.Data, &res); err != nil || res.Service == nil || res.Service.Name == "" {
		return
	}
	name := res.Service.Name
	now := c.opts.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if res.Action != "delete" {
		delete(c.misses, name)
	}
	e := c.services[name]
	if e == nil {
		return
	}
	next := applyEvent(e.services, res.Action, res.Service)
	if len(next) == 0 {
		delete(c.services, name)
		return
	}
	// Lookups read entries without the lock: build a new one.
	ne := &cacheEntry{services: next, expires: e.expires, nodes: maps.Clone(e.nodes), queried: e.queried}
	ne.used.Store(e.used.Load())
	if res.Action == "create" || res.Action == "update" {
		ne.touch([]*registry.Service{res.Service}, now, c.opts.NodeTTL)
	}
	c.services[name] = ne
}

// applyEvent returns the versions of a service after a registry event, as go-micro's
// cache applies it, without modifying svcs: "create" and "update" add the event's nodes
// to its version (adding the version if new), "delete" removes them (and the version
// once it has none left), "override" forgets the service.
func applyEvent(svcs []*registry.Service, action string, ev *registry.Service) []*registry.Service {
	i := slices.IndexFunc(svcs, func(s *registry.Service) bool { return s.Version == ev.Version })
	switch action {
	case "create", "update":
		if len(ev.Nodes) == 0 {
			return svcs
		}
		if i < 0 {
			return append(slices.Clip(svcs), ev)
		}
		merged := *ev
		merged.Nodes = slices.Clone(ev.Nodes)
		for _, cur := range svcs[i].Nodes {
			if !slices.ContainsFunc(ev.Nodes, func(n *registry.Node) bool { return n.Id == cur.Id }) {
				merged.Nodes = append(merged.Nodes, cur)
			}
		}
		out := slices.Clone(svcs)
		out[i] = &merged
		return out
	case "delete":
		if len(ev.Nodes) == 0 {
			return nil
		}
		if i < 0 {
			return svcs
		}
		left := slices.DeleteFunc(slices.Clone(svcs[i].Nodes), func(cur *registry.Node) bool {
			return slices.ContainsFunc(ev.Nodes, func(n *registry.Node) bool { return n.Id == cur.Id })
		})
		out := slices.Clone(svcs)
		if len(left) == 0 {
			return slices.Delete(out, i, i+1)
		}
		kept := *svcs[i]
		kept.Nodes = left
		out[i] = &kept
		return out
	case "override":
		if i < 0 {
			return svcs
		}
		return nil
	}
	return svcs
}

// nsClient returns the platform's client in ns, connecting it on first use. ENOTFOUND
// for a namespace not ensured, EUNAVAILABLE before the server is ready.
func (b *Bus) nsClient(ns string) (*nsClient, error) {
	b.mu.RLock()
	c, known := b.clients[ns], b.namespaces[ns]
	dial, _ := b.addrsLocked()
	b.mu.RUnlock()
	// A client whose connection gave up reconnecting (the server was away longer than
	// its reconnect budget, e.g. a mesh node restarting) is replaced.
	if c != nil && !c.conn.IsClosed() {
		return c, nil
	}
	if !known {
		return nil, platform.Errorf(platform.ENOTFOUND, "namespace %q not found", ns)
	}
	u, err := b.namespaceURL(dial, ns)
	if err != nil {
		return nil, err
	}
	// Connect without the lock: the server's authenticator takes it.
	c, err = newNSClient(u, b.opts)
	if err != nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "connect to namespace %q: %v", ns, err)
	}
	c.splits = b.splitsOf(ns)
	b.mu.Lock()
	defer b.mu.Unlock()
	if existing := b.clients[ns]; existing != nil && !existing.conn.IsClosed() {
		c.close()
		return existing, nil
	} else if existing != nil {
		existing.close()
	}
	if b.stopped {
		c.close()
		return nil, platform.Errorf(platform.EUNAVAILABLE, "mesh is stopped")
	}
	if !b.namespaces[ns] {
		c.close()
		return nil, platform.Errorf(platform.ENOTFOUND, "namespace %q not found", ns)
	}
	b.clients[ns] = c
	return c, nil
}
