package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	platform "github.com/micro/platform"
)

// Defaults for Options.
const (
	DefaultTTL          = time.Second
	DefaultNegativeTTL  = time.Second
	DefaultFetchTimeout = 5 * time.Second
	DefaultMaxEntries   = 100_000
)

// shardCount spreads the cache over independently locked maps so that parallel
// requests rarely touch the same lock word.
const shardCount = 64

var (
	errNoSecret = platform.Errorf(platform.EUNAUTHENTICATED, "no token given").
			WithHint("send `Authorization: Bearer <token>`; create a token with `platform tokens create`")
	errUnknown = platform.Errorf(platform.EUNAUTHENTICATED, "invalid or revoked token").
			WithHint("check the token, or create a new one with `platform tokens create`")
	errExpired = platform.Errorf(platform.EUNAUTHENTICATED, "token expired").
			WithHint("create a new token with `platform tokens create`")
	errInactive = platform.Errorf(platform.EUNAUTHENTICATED, "the user of this token is disabled, deleted or no longer a member of its organisation").
			WithHint("ask an owner of the organisation to restore your access")
)

// Options configure an Authenticator. The zero value gives the defaults.
type Options struct {
	// TTL bounds how long a cached token is trusted without asking the store again, and
	// so how long a token deleted by another replica keeps working. Default 1s.
	TTL time.Duration
	// NegativeTTL is how long an unknown secret is remembered as unknown, which shields
	// the store from floods of bad secrets but delays a just-created token being accepted
	// by at most this long. Default 1s.
	NegativeTTL time.Duration
	// FetchTimeout bounds one store lookup. Default 5s.
	FetchTimeout time.Duration
	// MaxEntries bounds the number of cached secrets, known and unknown. Default 100000.
	MaxEntries int
	// Clock is the time source. Default platform.SystemClock.
	Clock platform.Clock
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = DefaultNegativeTTL
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.Clock == nil {
		o.Clock = platform.SystemClock{}
	}
	return o
}

type cacheKey = [sha256.Size]byte

// entry is one cached lookup. Entries are immutable once published.
type entry struct {
	tok     *platform.Token // nil: the secret is unknown
	expires int64           // Clock time in Unix nanoseconds after which to look again
}

type shard struct {
	mu        sync.RWMutex
	m         map[cacheKey]*entry
	nextSweep int64
}

// Authenticator is a platform.Authenticator that caches lookups in a platform.TokenStore.
// A warm hit costs one SHA-256 of the secret and a read-locked map lookup; misses and
// expired entries are refreshed with one store lookup per secret however many requests
// wait for it. It is safe for concurrent use.
type Authenticator struct {
	store      platform.TokenStore
	namespaces *namespaceCache // nil unless the store is a platform.NamespaceStore
	refusals   *refusalLog     // nil unless the store is a platform.AuditStore
	opts       Options
	shardMax   int
	shards     [shardCount]shard
	group      singleflight.Group
	generation atomic.Uint64 // bumped by every invalidation
	lookups    atomic.Int64
}

var _ platform.Authenticator = (*Authenticator)(nil)

// NewAuthenticator returns an Authenticator over store. When store is also a
// platform.NamespaceStore, the Authenticator tells which organisation owns a namespace
// too (NamespaceOrg, an authz.Resolver), from a cache with the same TTL.
func NewAuthenticator(store platform.TokenStore, opts Options) *Authenticator {
	opts = opts.withDefaults()
	a := &Authenticator{store: store, opts: opts, shardMax: max(1, opts.MaxEntries/shardCount)}
	if ns, ok := store.(platform.NamespaceStore); ok {
		a.namespaces = newNamespaceCache(ns, opts)
	}
	if audit, ok := store.(platform.AuditStore); ok {
		a.refusals = newRefusalLog(audit)
	}
	for i := range a.shards {
		a.shards[i].m = make(map[cacheKey]*entry)
	}
	return a
}

// Authenticate returns the token whose secret is secret. It returns EUNAUTHENTICATED for
// an empty, unknown, revoked or expired secret and for the token of a disabled or deleted
// user or of one no longer a member of the token's organisation, and the store's error (EUNAVAILABLE for
// an uncoded one) when the store cannot answer. The returned token is shared between
// callers and must not be modified.
func (a *Authenticator) Authenticate(ctx context.Context, secret string) (*platform.Token, error) {
	if secret == "" {
		return nil, errNoSecret
	}
	key := hashKey(secret)
	now := a.opts.Clock.Now()
	s := &a.shards[key[0]%shardCount]
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	if e == nil || now.UnixNano() >= e.expires {
		var err error
		if e, err = a.refresh(ctx, key); err != nil {
			return nil, err
		}
	}
	switch {
	case e.tok == nil:
		return nil, errUnknown
	case e.tok.Expired(now):
		return nil, errExpired
	case e.tok.UserInactive:
		return nil, errInactive
	}
	return e.tok, nil
}

// refresh looks key up in the store, once for all concurrent callers, and caches the
// answer unless an invalidation happened meanwhile.
func (a *Authenticator) refresh(ctx context.Context, key cacheKey) (*entry, error) {
	hash := hex.EncodeToString(key[:])
	ch := a.group.DoChan(hash, func() (any, error) {
		gen := a.generation.Load()
		start := a.opts.Clock.Now()
		// The lookup serves every waiter, so one caller giving up must not fail it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.FetchTimeout)
		defer cancel()
		a.lookups.Add(1)
		tok, err := a.store.GetTokenByHash(fctx, hash)
		var e *entry
		switch {
		case err == nil:
			e = &entry{tok: tok, expires: start.Add(a.opts.TTL).UnixNano()}
			if tok.UserInactive {
				a.refusals.record(ctx, tok)
			}
		case platform.IsNotFound(err):
			e = &entry{expires: start.Add(a.opts.NegativeTTL).UnixNano()}
		default:
			return nil, storeError(err)
		}
		a.put(key, e, gen, start.UnixNano())
		return e, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("authenticate: %w", ctx.Err())
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*entry), nil
	}
}

// storeError keeps a coded store error and turns an uncoded one into EUNAVAILABLE, so a
// store outage is not reported to the caller as a bad token or an internal bug, while the
// cause stays in the chain for logs.
func storeError(err error) error {
	var perr *platform.Error
	if errors.As(err, &perr) {
		return fmt.Errorf("look up token: %w", err)
	}
	return fmt.Errorf("look up token: %w: %w",
		platform.Errorf(platform.EUNAVAILABLE, "cannot check tokens right now").WithHint("retry shortly"), err)
}

// put publishes e for key unless an invalidation ran since gen was read, in which case
// the lookup may predate a deletion and must not be trusted.
func (a *Authenticator) put(key cacheKey, e *entry, gen uint64, now int64) {
	s := &a.shards[key[0]%shardCount]
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.generation.Load() != gen {
		return
	}
	if now >= s.nextSweep {
		for k, old := range s.m {
			if now >= old.expires {
				delete(s.m, k)
			}
		}
		s.nextSweep = now + int64(max(a.opts.TTL, a.opts.NegativeTTL))
	}
	if _, ok := s.m[key]; !ok && len(s.m) >= a.shardMax {
		// Full of live entries: answer without caching rather than grow without bound.
		return
	}
	s.m[key] = e
}

// Invalidate drops the cached lookup of the token with the given hex hash, so a token
// deleted through this process stops working at once. Other replicas notice within TTL.
func (a *Authenticator) Invalidate(hash string) {
	a.generation.Add(1)
	key, ok := parseHash(hash)
	if !ok {
		return
	}
	s := &a.shards[key[0]%shardCount]
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

// InvalidateID drops every cached lookup of the token with the given ID.
func (a *Authenticator) InvalidateID(id string) {
	a.invalidate(func(t *platform.Token) bool { return t.ID == id })
}

// InvalidateUser drops every cached lookup of the user's tokens, so that a change of
// their role, state or membership takes effect at once in this process.
func (a *Authenticator) InvalidateUser(userID string) {
	a.invalidate(func(t *platform.Token) bool { return t.UserID == userID })
}

// invalidate drops every cached lookup whose token matches.
func (a *Authenticator) invalidate(match func(*platform.Token) bool) {
	a.generation.Add(1)
	for i := range a.shards {
		s := &a.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.tok != nil && match(e.tok) {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}

// Lookups returns how many store lookups the Authenticator has made, for metrics and
// tests of its caching.
func (a *Authenticator) Lookups() int64 { return a.lookups.Load() }
