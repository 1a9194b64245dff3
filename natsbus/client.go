package natsbus

import (
	"time"

	"github.com/nats-io/nats.go"
	"go-micro.dev/v5/client"
	"go-micro.dev/v5/registry"
	"go-micro.dev/v5/registry/cache"
	natsreg "go-micro.dev/v5/registry/nats"
	"go-micro.dev/v5/selector"
	"go-micro.dev/v5/transport"
	natstr "go-micro.dev/v5/transport/nats"

	"github.com/micro/platform"
)

// nsClient is the platform's long-lived go-micro client inside one namespace.
type nsClient struct {
	reg    registry.Registry // the namespace's NATS registry (broadcast queries)
	cache  cache.Cache       // reg behind a watch-updated cache, for lookups
	tr     transport.Transport
	sel    selector.Selector
	client client.Client
	drain  drainSet
}

// natsOptions are the NATS connection settings of the platform's namespace clients. A
// revoked namespace stops reconnecting quickly.
func natsOptions() nats.Options {
	o := nats.GetDefaultOptions()
	o.Name = "platform"
	o.MaxReconnect = 10
	o.ReconnectWait = 500 * time.Millisecond
	return o
}

// newNSClient builds a go-micro client bound to the namespace URL u (with credentials).
// Nothing connects until first use.
func newNSClient(u string, opts Options) *nsClient {
	reg := natsreg.NewNatsRegistry(
		registry.Addrs(u),
		registry.Timeout(opts.RegistryTimeout),
		natsreg.NatsOptions(natsOptions()),
	)
	tr := natstr.NewTransport(transport.Addrs(u), natstr.Options(natsOptions()))
	sel := selector.NewSelector(
		selector.Registry(reg),
		selector.SetStrategy(selector.RoundRobin),
	)
	c := client.NewClient(
		client.Registry(reg),
		client.Transport(tr),
		client.Selector(sel),
		client.ContentType("application/json"),
		client.Retries(2),
		client.Retry(retryOnTransportError),
		client.RequestTimeout(opts.CallTimeout),
		// go-micro bounds each attempt by the connection timeout (5s by default), not by
		// the request's: a slow handler within the call's timeout must not fail.
		client.ConnectionTimeout(opts.CallTimeout),
		client.PoolSize(256),
		client.PoolTTL(5*time.Minute),
	)
	return &nsClient{reg: reg, cache: cache.New(reg), tr: tr, sel: sel, client: c}
}

// close stops the client's watchers. Pooled transport connections are closed by the
// server when the namespace is revoked or the server stops.
func (c *nsClient) close() {
	c.cache.Stop()
	_ = c.sel.Close()
}

// nsClient returns the platform's client in ns, creating it on first use. ENOTFOUND
// for a namespace not ensured, EUNAVAILABLE before the server is ready.
func (b *Bus) nsClient(ns string) (*nsClient, error) {
	b.mu.RLock()
	c := b.clients[ns]
	b.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.clients[ns]; c != nil {
		return c, nil
	}
	if !b.namespaces[ns] {
		return nil, platform.Errorf(platform.ENOTFOUND, "namespace %q not found", ns)
	}
	if b.srv == nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "nats server is not running")
	}
	u, err := b.namespaceURL(b.srv, ns)
	if err != nil {
		return nil, err
	}
	c = newNSClient(u, b.opts)
	b.clients[ns] = c
	return c, nil
}
