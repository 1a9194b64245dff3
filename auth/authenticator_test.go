package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// fakeClock is a platform.Clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// memStore is an in-memory platform.TokenStore that counts lookups and can be made to
// block or fail.
type memStore struct {
	mu      sync.Mutex
	byHash  map[string]*platform.Token
	lookups int
	fail    error
	// gate, when set, is received from by every lookup after it has read the token.
	gate    chan struct{}
	entered chan struct{}
}

func newMemStore() *memStore { return &memStore{byHash: map[string]*platform.Token{}} }

func (s *memStore) CreateToken(_ context.Context, t *platform.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byHash[t.Hash]; ok {
		return platform.Errorf(platform.ECONFLICT, "token exists")
	}
	s.byHash[t.Hash] = t
	return nil
}

func (s *memStore) GetTokenByHash(ctx context.Context, hash string) (*platform.Token, error) {
	s.mu.Lock()
	s.lookups++
	t, ok := s.byHash[hash]
	fail, gate, entered := s.fail, s.gate, s.entered
	s.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	switch {
	case fail != nil:
		return nil, fail
	case !ok:
		return nil, platform.Errorf(platform.ENOTFOUND, "token not found")
	}
	return t, nil
}

func (s *memStore) ListTokens(context.Context) ([]*platform.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*platform.Token
	for _, t := range s.byHash {
		out = append(out, t)
	}
	return out, nil
}

func (s *memStore) DeleteToken(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, t := range s.byHash {
		if t.ID == id {
			delete(s.byHash, h)
			return nil
		}
	}
	return platform.Errorf(platform.ENOTFOUND, "token %q not found", id)
}

func (s *memStore) Lookups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups
}

// mustToken stores a new token and returns it with its secret.
func mustToken(tb testing.TB, s *memStore, name string, expires *time.Time) (*platform.Token, string) {
	tb.Helper()
	secret, hash := NewSecret()
	tok := &platform.Token{ID: platform.NewID("t"), Name: name, Hash: hash, Namespaces: []string{"acme"}, ExpiresAt: expires}
	if err := s.CreateToken(context.Background(), tok); err != nil {
		tb.Fatal(err)
	}
	return tok, secret
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := platform.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		secret, hash := NewSecret()
		if !strings.HasPrefix(secret, SecretPrefix) || len(secret) != len(SecretPrefix)+52 {
			t.Fatalf("secret %q: want %q and 52 base32 characters", secret, SecretPrefix)
		}
		sum := sha256.Sum256([]byte(secret))
		if want := hex.EncodeToString(sum[:]); hash != want || Hash(secret) != want {
			t.Fatalf("hash of %q = %q, Hash = %q, want %q", secret, hash, Hash(secret), want)
		}
		if seen[secret] {
			t.Fatalf("secret %q minted twice", secret)
		}
		seen[secret] = true
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	store := newMemStore()
	past, future := clock.Now().Add(-time.Minute), clock.Now().Add(time.Hour)
	valid, validSecret := mustToken(t, store, "valid", &future)
	_, expiredSecret := mustToken(t, store, "expired", &past)
	a := NewAuthenticator(store, Options{Clock: clock})

	tests := []struct {
		name     string
		secret   string
		want     *platform.Token
		wantCode string
		wantMsg  string
	}{
		{name: "valid", secret: validSecret, want: valid},
		{name: "empty", secret: "", wantCode: platform.EUNAUTHENTICATED, wantMsg: "no token given"},
		{name: "unknown", secret: "mp_nope", wantCode: platform.EUNAUTHENTICATED, wantMsg: "invalid or revoked token"},
		{name: "expired", secret: expiredSecret, wantCode: platform.EUNAUTHENTICATED, wantMsg: "token expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Authenticate(context.Background(), tt.secret)
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
				if msg := platform.ErrorMessage(err); msg != tt.wantMsg || platform.ErrorHint(err) == "" {
					t.Fatalf("message %q hint %q, want %q and a hint", msg, platform.ErrorHint(err), tt.wantMsg)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Authenticate = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestAuthenticateCachesAndExpiresOnHit(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	store := newMemStore()
	expires := clock.Now().Add(10 * time.Second)
	_, secret := mustToken(t, store, "short", &expires)
	a := NewAuthenticator(store, Options{Clock: clock, TTL: time.Hour})
	ctx := context.Background()

	for range 10 {
		if _, err := a.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.Lookups(); n != 1 {
		t.Fatalf("store lookups = %d after 10 warm calls, want 1", n)
	}
	clock.Advance(10 * time.Second)
	_, err := a.Authenticate(ctx, secret)
	wantCode(t, err, platform.EUNAUTHENTICATED)
	if n := store.Lookups(); n != 1 {
		t.Fatalf("store lookups = %d, want the cached token refused without a lookup", n)
	}
}

// TestRevocationWithinTTL deletes a token in the store behind the Authenticator's back,
// as another replica would, and checks that it stops working once TTL has passed.
func TestRevocationWithinTTL(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	store := newMemStore()
	tok, secret := mustToken(t, store, "ci", nil)
	a := NewAuthenticator(store, Options{Clock: clock})
	ctx := context.Background()

	if _, err := a.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if err := store.DeleteToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultTTL - time.Millisecond)
	if _, err := a.Authenticate(ctx, secret); err != nil {
		t.Fatalf("within TTL the cached token still works, got %v", err)
	}
	clock.Advance(time.Millisecond)
	_, err := a.Authenticate(ctx, secret)
	wantCode(t, err, platform.EUNAUTHENTICATED)
}

func TestInvalidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		invalidate func(a *Authenticator, tok *platform.Token)
	}{
		{name: "by hash", invalidate: func(a *Authenticator, tok *platform.Token) { a.Invalidate(tok.Hash) }},
		{name: "by id", invalidate: func(a *Authenticator, tok *platform.Token) { a.InvalidateID(tok.ID) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := newMemStore()
			tok, secret := mustToken(t, store, "ci", nil)
			a := NewAuthenticator(store, Options{Clock: newFakeClock(), TTL: time.Hour})
			ctx := context.Background()
			if _, err := a.Authenticate(ctx, secret); err != nil {
				t.Fatal(err)
			}
			if err := store.DeleteToken(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
			tt.invalidate(a, tok)
			_, err := a.Authenticate(ctx, secret)
			wantCode(t, err, platform.EUNAUTHENTICATED)
		})
	}
}

// TestInvalidateDuringLookup checks that a lookup that read a token before it was deleted
// and invalidated does not put it back in the cache.
func TestInvalidateDuringLookup(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	tok, secret := mustToken(t, store, "ci", nil)
	a := NewAuthenticator(store, Options{Clock: newFakeClock(), TTL: time.Hour})
	ctx := context.Background()

	store.gate, store.entered = make(chan struct{}), make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(ctx, secret)
		done <- err
	}()
	<-store.entered
	if err := store.DeleteToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	a.InvalidateID(tok.ID)
	close(store.gate)
	if err := <-done; err != nil {
		t.Fatalf("the lookup that started before the deletion: %v", err)
	}
	store.mu.Lock()
	store.gate, store.entered = nil, nil
	store.mu.Unlock()
	_, err := a.Authenticate(ctx, secret)
	wantCode(t, err, platform.EUNAUTHENTICATED)
}

func TestNegativeCache(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	store := newMemStore()
	a := NewAuthenticator(store, Options{Clock: clock, NegativeTTL: 500 * time.Millisecond})
	ctx := context.Background()
	secret, hash := NewSecret()

	for range 5 {
		_, err := a.Authenticate(ctx, secret)
		wantCode(t, err, platform.EUNAUTHENTICATED)
	}
	if n := store.Lookups(); n != 1 {
		t.Fatalf("store lookups = %d for 5 tries of one unknown secret, want 1", n)
	}
	if err := store.CreateToken(ctx, &platform.Token{ID: "t-1", Name: "new", Hash: hash, Admin: true}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(500 * time.Millisecond)
	if _, err := a.Authenticate(ctx, secret); err != nil {
		t.Fatalf("a token created %v ago is still refused: %v", 500*time.Millisecond, err)
	}
}

func TestSingleflight(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	_, secret := mustToken(t, store, "ci", nil)
	a := NewAuthenticator(store, Options{Clock: newFakeClock()})
	store.gate, store.entered = make(chan struct{}), make(chan struct{}, 100)

	const callers = 50
	var wg, started sync.WaitGroup
	errs := make(chan error, callers)
	started.Add(callers)
	for range callers {
		wg.Go(func() {
			started.Done()
			_, err := a.Authenticate(context.Background(), secret)
			errs <- err
		})
	}
	<-store.entered
	// Give the other callers time to join the lookup in flight before it completes: all
	// of them are running, and then some (on a loaded machine a goroutine may wait long
	// for a CPU between starting and asking).
	started.Wait()
	time.Sleep(100 * time.Millisecond)
	close(store.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := store.Lookups(); n != 1 {
		t.Fatalf("store lookups = %d for %d concurrent callers, want 1", n, callers)
	}
}

func TestStoreFailure(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	_, secret := mustToken(t, store, "ci", nil)
	a := NewAuthenticator(store, Options{Clock: newFakeClock()})
	ctx := context.Background()
	cause := errors.New("connection refused")
	store.fail = cause

	_, err := a.Authenticate(ctx, secret)
	wantCode(t, err, platform.EUNAVAILABLE)
	if !errors.Is(err, cause) {
		t.Fatalf("error %v does not wrap the store's cause", err)
	}
	store.mu.Lock()
	store.fail = nil
	store.mu.Unlock()
	if _, err := a.Authenticate(ctx, secret); err != nil {
		t.Fatalf("a failed lookup was cached: %v", err)
	}
}

func TestAuthenticateCallerGivesUp(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	_, secret := mustToken(t, store, "ci", nil)
	a := NewAuthenticator(store, Options{Clock: newFakeClock()})
	store.gate, store.entered = make(chan struct{}), make(chan struct{}, 1)
	defer close(store.gate)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-store.entered
		cancel()
	}()
	_, err := a.Authenticate(ctx, secret)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Authenticate = %v, want context.Canceled", err)
	}
}

func TestMaxEntries(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	a := NewAuthenticator(store, Options{Clock: newFakeClock(), MaxEntries: shardCount})
	for range 20 * shardCount {
		secret, _ := NewSecret()
		_, _ = a.Authenticate(context.Background(), secret)
	}
	for i := range a.shards {
		if n := len(a.shards[i].m); n > 1 {
			t.Fatalf("shard %d holds %d entries, want at most 1", i, n)
		}
	}
}

func BenchmarkAuthenticateWarm(b *testing.B) {
	store := newMemStore()
	_, secret := mustToken(b, store, "bench", nil)
	a := NewAuthenticator(store, Options{TTL: time.Hour})
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, secret); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Authenticate(ctx, secret); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
