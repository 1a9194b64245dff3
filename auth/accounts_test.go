package auth

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// nsStore is a memStore that also keeps namespaces, as the platform's store does, and
// counts namespace lookups.
type nsStore struct {
	*memStore
	orgs    map[string]string
	lookups atomic.Int64
}

// The Authenticator looks namespaces up only in a complete platform.NamespaceStore.
var _ platform.NamespaceStore = (*nsStore)(nil)

func (s *nsStore) GetNamespace(_ context.Context, name string) (*platform.Namespace, error) {
	s.lookups.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	org, ok := s.orgs[name]
	if !ok {
		return nil, platform.Errorf(platform.ENOTFOUND, "namespace %q not found", name)
	}
	return &platform.Namespace{Name: name, Org: org}, nil
}

func (s *nsStore) CreateNamespace(context.Context, *platform.Namespace) error { return nil }
func (s *nsStore) ListNamespaces(context.Context) ([]*platform.Namespace, error) {
	return nil, nil
}
func (s *nsStore) DeleteNamespace(context.Context, string) error { return nil }
func (s *nsStore) SetNamespaceRegions(context.Context, string, []string) error {
	return nil
}
func (s *nsStore) SetNamespaceDev(context.Context, string, bool) error { return nil }

func TestNamespaceOrg(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	store := &nsStore{memStore: newMemStore(), orgs: map[string]string{"acme": platform.DefaultOrg, "gx": "globex"}}
	a := NewAuthenticator(store, Options{Clock: clock})
	ctx := context.Background()
	tests := []struct {
		ns, org, code string
	}{
		{"acme", platform.DefaultOrg, ""},
		{"gx", "globex", ""},
		{"nope", "", platform.ENOTFOUND},
	}
	for range 3 {
		for _, tt := range tests {
			org, err := a.NamespaceOrg(ctx, tt.ns)
			if org != tt.org || platform.ErrorCode(err) != tt.code {
				t.Fatalf("NamespaceOrg(%s) = %q, %v; want %q, %q", tt.ns, org, err, tt.org, tt.code)
			}
		}
	}
	if n := store.lookups.Load(); n != 3 {
		t.Fatalf("%d store lookups for 9 questions about 3 namespaces within the TTL, want 3", n)
	}
	clock.Advance(DefaultTTL)
	store.mu.Lock()
	store.orgs["acme"] = "globex" // deleted and made again in another org
	store.mu.Unlock()
	if org, _ := a.NamespaceOrg(ctx, "acme"); org != "globex" {
		t.Fatalf("after the TTL org = %q, want the new globex", org)
	}
	plain := NewAuthenticator(newMemStore(), Options{})
	if _, err := plain.NamespaceOrg(ctx, "acme"); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("without a namespace store: %v, want unavailable", err)
	}
}

func TestInactiveUserRefused(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	tok, secret := mustToken(t, store, "ci", nil)
	tok.UserID, tok.UserInactive = "u-1", true
	a := NewAuthenticator(store, Options{Clock: newFakeClock()})
	_, err := a.Authenticate(context.Background(), secret)
	wantCode(t, err, platform.EUNAUTHENTICATED)
	if platform.ErrorHint(err) == "" || platform.ErrorMessage(err) != errInactive.Message {
		t.Fatalf("err = %v, want the inactive user's message and a hint", err)
	}
}

// TestInvalidateUser checks that a change to a user (disabled, demoted, removed) made
// through this process is seen at once by every cached token of theirs, and only theirs.
func TestInvalidateUser(t *testing.T) {
	t.Parallel()
	store := newMemStore()
	mine, mySecret := mustToken(t, store, "mine", nil)
	other, otherSecret := mustToken(t, store, "other", nil)
	mine.UserID, other.UserID = "u-1", "u-2"
	a := NewAuthenticator(store, Options{Clock: newFakeClock(), TTL: time.Hour})
	ctx := context.Background()
	for _, s := range []string{mySecret, otherSecret} {
		if _, err := a.Authenticate(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	before := store.Lookups()
	a.InvalidateUser("u-1")
	if _, err := a.Authenticate(ctx, mySecret); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, otherSecret); err != nil {
		t.Fatal(err)
	}
	if n := store.Lookups() - before; n != 1 {
		t.Fatalf("%d lookups after invalidating one user, want 1 (theirs only)", n)
	}
}
