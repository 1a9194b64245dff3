package natsbus

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/registry/cache"
	natsreg "go-micro.dev/v5/registry/nats"

	"github.com/micro/platform"
)

// nsClient is the platform's long-lived client inside one namespace: go-micro's NATS
// registry behind a watch-updated cache for discovery and round-robin node choice, and
// one NATS connection for requests.
type nsClient struct {
	reg   registry.Registry // the namespace's NATS registry (broadcast queries)
	cache cache.Cache       // reg behind a watch-updated cache, for lookups
	conn  *nats.Conn
	seq   atomic.Uint64 // request IDs
	rr    atomic.Uint64 // round-robin position
	drain drainSet
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

// newNSClient connects to the namespace URL u (with credentials).
// lookupRetryInterval bounds how often a lookup of a service that is not (yet)
// registered reaches the NATS registry.
const lookupRetryInterval = 200 * time.Millisecond

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
	// go-micro's cache waits 5s by default before asking the registry again about a
	// service it did not find; a service that registers a moment after its first lookup
	// (every new deploy) would stay unreachable that long.
	c := cache.New(reg, cache.WithMinimumRetryInterval(lookupRetryInterval))
	return &nsClient{reg: reg, cache: c, conn: conn}, nil
}

// close stops the client's watchers and closes its request connection. The registry's
// own connection is closed by the server when the namespace is revoked or the server
// stops: go-micro's registry has no Close.
func (c *nsClient) close() {
	c.cache.Stop()
	c.conn.Close()
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
