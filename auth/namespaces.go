package auth

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/singleflight"

	platform "github.com/micro/platform"
)

// namespaceCache remembers which organisation owns each namespace, for the policy's
// check of tokens that reach every namespace of their organisation. Unknown namespaces
// are remembered for NegativeTTL, so a flood of requests to one does not reach the store.
type namespaceCache struct {
	store platform.NamespaceStore
	opts  Options
	mu    sync.RWMutex
	m     map[string]nsEntry
	group singleflight.Group
}

type nsEntry struct {
	org     string // "": no such namespace
	expires int64
}

func newNamespaceCache(store platform.NamespaceStore, opts Options) *namespaceCache {
	return &namespaceCache{store: store, opts: opts, m: map[string]nsEntry{}}
}

// NamespaceOrg returns the organisation that owns namespace ns, from memory when it was
// looked up less than TTL ago: ENOTFOUND for an unknown namespace, EUNAVAILABLE when the
// store cannot answer. It implements authz.Resolver.
func (a *Authenticator) NamespaceOrg(ctx context.Context, ns string) (string, error) {
	if a.namespaces == nil {
		return "", platform.Errorf(platform.EUNAVAILABLE, "this authenticator cannot look namespaces up")
	}
	return a.namespaces.get(ctx, ns)
}

func (c *namespaceCache) get(ctx context.Context, ns string) (string, error) {
	now := c.opts.Clock.Now().UnixNano()
	c.mu.RLock()
	e, ok := c.m[ns]
	c.mu.RUnlock()
	if !ok || now >= e.expires {
		v, err, _ := c.group.Do(ns, func() (any, error) {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.FetchTimeout)
			defer cancel()
			start := c.opts.Clock.Now()
			n, err := c.store.GetNamespace(fctx, ns)
			var e nsEntry
			switch {
			case err == nil:
				e = nsEntry{org: n.Org, expires: start.Add(c.opts.TTL).UnixNano()}
				if e.org == "" {
					e.org = platform.DefaultOrg
				}
			case platform.IsNotFound(err):
				e = nsEntry{expires: start.Add(c.opts.NegativeTTL).UnixNano()}
			default:
				return nil, storeError(fmt.Errorf("namespace %s: %w", ns, err))
			}
			c.mu.Lock()
			if len(c.m) >= c.opts.MaxEntries {
				clear(c.m) // rare: more namespaces than entries; start again
			}
			c.m[ns] = e
			c.mu.Unlock()
			return e, nil
		})
		if err != nil {
			return "", err
		}
		e = v.(nsEntry)
	}
	if e.org == "" {
		return "", platform.Errorf(platform.ENOTFOUND, "namespace %q not found", ns)
	}
	return e.org, nil
}
