package gateway

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/auth"
	"github.com/micro/platform/authz"
)

// countingStore holds one token and one namespace and counts lookups of either.
type countingStore struct {
	platform.Store
	tok     *platform.Token
	lookups atomic.Int64
}

func (s *countingStore) GetTokenByHash(_ context.Context, hash string) (*platform.Token, error) {
	s.lookups.Add(1)
	if hash == s.tok.Hash {
		return s.tok, nil
	}
	return nil, platform.Errorf(platform.ENOTFOUND, "no such token")
}

func (s *countingStore) GetNamespace(_ context.Context, name string) (*platform.Namespace, error) {
	s.lookups.Add(1)
	return &platform.Namespace{Name: name, Org: platform.DefaultOrg}, nil
}

// BenchmarkAuthorization is the whole authorisation cost of a gateway request with a
// warm cache: the token lookup (SHA-256 of the secret and a cache hit) and the policy
// check, with the namespace's organisation resolved from the authenticator's cache, for
// a token that reaches every namespace of its organisation and for one narrowed to a
// few (both need the namespace's organisation: names are global). It fails if the hot
// path reaches the store.
func BenchmarkAuthorization(b *testing.B) {
	b.Run("whole org", func(b *testing.B) { benchmarkAuthorization(b, nil) })
	b.Run("narrowed", func(b *testing.B) { benchmarkAuthorization(b, []string{"web", "acme"}) })
}

func benchmarkAuthorization(b *testing.B, namespaces []string) {
	secret, hash := auth.NewSecret()
	store := &countingStore{tok: &platform.Token{ID: "t-1", Name: "bench", Hash: hash, UserID: "u-1", Org: platform.DefaultOrg,
		Role: platform.RoleDeveloper, MemberRole: platform.RoleDeveloper, Namespaces: namespaces}}
	a := auth.NewAuthenticator(store, auth.Options{}) // the server's defaults: 1 s TTL
	policy := authz.New(a)
	ctx := context.Background()
	check := func() error {
		tok, err := a.Authenticate(ctx, secret)
		if err != nil {
			return err
		}
		return policy.Authorize(platform.NewContextWithToken(ctx, tok), authz.ServiceCall, "acme")
	}
	if err := check(); err != nil {
		b.Fatal(err)
	}
	before := store.lookups.Load()
	start := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := check(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// Within one TTL there must be no store lookup; past it, one per second per key.
	if n, allowed := store.lookups.Load()-before, 2*(int64(time.Since(start)/time.Second)+1); n > allowed {
		b.Fatalf("%d store lookups in %v of warm requests, want at most %d", n, time.Since(start), allowed)
	}
}
