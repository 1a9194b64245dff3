package natsbus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go-micro.dev/v5/registry"

	"github.com/micro/platform"
)

// fakeTokens is a platform.Authenticator over an in-memory set of tokens by secret.
type fakeTokens struct {
	mu      sync.Mutex
	tokens  map[string]*platform.Token
	lookups int
}

func (f *fakeTokens) Authenticate(_ context.Context, secret string) (*platform.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	t, ok := f.tokens[secret]
	if !ok || t.Expired(time.Now()) {
		return nil, platform.Errorf(platform.EUNAUTHENTICATED, "invalid token")
	}
	return t, nil
}

func (f *fakeTokens) add(secret string, t *platform.Token) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens == nil {
		f.tokens = make(map[string]*platform.Token)
	}
	f.tokens[secret] = t
}

func (f *fakeTokens) revoke(secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tokens, secret)
}

func meshToken(id, ns string) *platform.Token {
	return &platform.Token{ID: id, Name: "laptop", Kind: platform.TokenMesh, Role: platform.RoleDeveloper, Namespaces: []string{ns}}
}

// devURL returns the registry address of the developer environment for user/secret.
func devURL(t *testing.T, b *Bus, ns, user, secret string) string {
	t.Helper()
	env, _, err := b.DeveloperEnv(ns, user, secret)
	if err != nil {
		t.Fatal(err)
	}
	return env["MICRO_REGISTRY_ADDRESS"]
}

// TestDeveloperJoinsNamespace: a process holding a mesh credential of acme registers a
// service in acme that the platform calls, and calls acme's services; it sees nothing of
// globex.
func TestDeveloperJoinsNamespace(t *testing.T) {
	tokens := &fakeTokens{}
	b := startBus(t, Options{Dir: t.TempDir(), Developers: tokens}, "acme", "globex")
	tokens.add("s3cret-acme", meshToken("t_dev1", "acme"))
	u := devURL(t, b, "acme", platform.MeshUser("t_dev1"), "s3cret-acme")

	// The developer's service answers the platform's calls in acme.
	MustStartService(t, u, "laptop", "dev", &Greeter{Tag: "laptop"})
	if got := MustCall(t, b, "acme", "laptop", "ann"); got != "Hello ann from laptop" {
		t.Fatalf("call to the developer's service = %q", got)
	}
	// The developer's registry lists acme's deployed services, never globex's.
	MustStartService(t, MustNamespaceURL(t, b, "acme"), "deployed", "v1", &Greeter{Tag: "acme"})
	MustStartService(t, MustNamespaceURL(t, b, "globex"), "secret", "v1", &Greeter{Tag: "globex"})
	reg := newMeshParts(u).reg
	deadline := time.Now().Add(5 * time.Second)
	for {
		names := map[string]bool{}
		list, err := reg.ListServices()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			names[s.Name] = true
		}
		if names["secret"] {
			t.Fatalf("a developer of acme sees globex's service: %v", names)
		}
		if names["deployed"] && names["laptop"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("developer's registry lists %v, want deployed and laptop", names)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if svcs, err := reg.GetService("secret"); err == nil && len(svcs) > 0 {
		t.Fatalf("a developer of acme finds globex's service: %v", svcs)
	} else if err != nil && err != registry.ErrNotFound {
		t.Fatal(err)
	}

	clients, err := b.DeveloperClients("acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(clients["t_dev1"]) == 0 {
		t.Fatalf("DeveloperClients(acme) = %v, want the credential's connections", clients)
	}
	if c, _ := b.DeveloperClients("globex"); len(c) != 0 {
		t.Fatalf("DeveloperClients(globex) = %v, want none", c)
	}
}

// TestDeveloperRefused: only a mesh credential of the developer role, presented with its
// own user name, for a namespace that exists, gets in.
func TestDeveloperRefused(t *testing.T) {
	tokens := &fakeTokens{}
	b := startBus(t, Options{Dir: t.TempDir(), Developers: tokens}, "acme")
	api := meshToken("t_api", "acme")
	api.Kind = platform.TokenAPI
	tokens.add("api-secret", api)
	viewer := meshToken("t_viewer", "acme")
	viewer.MemberRole = platform.RoleViewer
	tokens.add("viewer-secret", viewer)
	tokens.add("good-secret", meshToken("t_good", "acme"))
	gone := meshToken("t_gone", "nowhere")
	tokens.add("gone-secret", gone)
	two := meshToken("t_two", "acme")
	two.Namespaces = []string{"acme", "globex"}
	tokens.add("two-secret", two)

	addr, err := b.DeveloperAddr("acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, user, secret string }{
		{"an API token", platform.MeshUser("t_api"), "api-secret"},
		{"a demoted developer", platform.MeshUser("t_viewer"), "viewer-secret"},
		{"another credential's user name", platform.MeshUser("t_other"), "good-secret"},
		{"a wrong secret", platform.MeshUser("t_good"), "bad-secret"},
		{"a namespace without an account", platform.MeshUser("t_gone"), "gone-secret"},
		{"a credential of two namespaces", platform.MeshUser("t_two"), "two-secret"},
		{"an empty secret", platform.MeshUser("t_good"), ""},
	} {
		nc, err := nats.Connect("nats://"+addr, nats.UserInfo(tc.user, tc.secret), nats.NoReconnect())
		if err == nil {
			nc.Close()
			t.Errorf("%s: admitted, want refused", tc.name)
		}
	}
	nc, err := nats.Connect("nats://"+addr, nats.UserInfo(platform.MeshUser("t_good"), "good-secret"), nats.NoReconnect())
	if err != nil {
		t.Fatalf("a good credential is refused: %v", err)
	}
	nc.Close()

	// Without Options.Developers nothing of the kind is admitted.
	plain := startBus(t, Options{Dir: t.TempDir()}, "acme")
	if _, _, err := plain.DeveloperEnv("acme", "u", "s"); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("DeveloperEnv without Developers = %v, want EUNAVAILABLE", err)
	}
	nc, err = nats.Connect("nats://"+plainAddr(t, plain), nats.UserInfo(platform.MeshUser("t_good"), "good-secret"), nats.NoReconnect())
	if err == nil {
		nc.Close()
		t.Fatal("a bus without Developers admitted a mesh credential")
	}
}

func plainAddr(t *testing.T, b *Bus) string {
	t.Helper()
	return b.advertise()
}

// TestDeveloperCutOff: a revoked credential's connections close within a second, an
// expiring one's when it expires, and neither can connect again.
func TestDeveloperCutOff(t *testing.T) {
	tokens := &fakeTokens{}
	b := startBus(t, Options{Dir: t.TempDir(), Developers: tokens}, "acme")
	addr, err := b.DeveloperAddr("acme")
	if err != nil {
		t.Fatal(err)
	}
	connect := func(user, secret string) (*nats.Conn, chan time.Time) {
		closed := make(chan time.Time, 1)
		nc, err := nats.Connect("nats://"+addr, nats.UserInfo(user, secret), nats.NoReconnect(),
			nats.ClosedHandler(func(*nats.Conn) { closed <- time.Now() }))
		if err != nil {
			t.Fatalf("connect %s: %v", user, err)
		}
		t.Cleanup(nc.Close)
		return nc, closed
	}

	tokens.add("revoked-secret", meshToken("t_rev", "acme"))
	_, closed := connect(platform.MeshUser("t_rev"), "revoked-secret")
	revoked := time.Now()
	tokens.revoke("revoked-secret")
	select {
	case at := <-closed:
		d := at.Sub(revoked)
		if d > time.Second {
			t.Fatalf("revoked credential cut off after %s, want within 1s", d)
		}
		t.Logf("revoked credential cut off after %s", d.Round(time.Millisecond))
	case <-time.After(3 * time.Second):
		t.Fatal("a revoked credential's connection is still open after 3s")
	}

	exp := time.Now().Add(700 * time.Millisecond)
	short := meshToken("t_exp", "acme")
	short.ExpiresAt = &exp
	tokens.add("expiring-secret", short)
	_, closed = connect(platform.MeshUser("t_exp"), "expiring-secret")
	select {
	case at := <-closed:
		d := at.Sub(exp)
		if d < -50*time.Millisecond || d > time.Second {
			t.Fatalf("expiring credential cut off %s after its expiry, want within 1s of it", d)
		}
		t.Logf("expired credential cut off %s after its expiry", d.Round(time.Millisecond))
	case <-time.After(4 * time.Second):
		t.Fatal("an expired credential's connection is still open")
	}
	for _, s := range []string{"revoked-secret", "expiring-secret"} {
		user := platform.MeshUser(map[string]string{"revoked-secret": "t_rev", "expiring-secret": "t_exp"}[s])
		if nc, err := nats.Connect("nats://"+addr, nats.UserInfo(user, s), nats.NoReconnect()); err == nil {
			nc.Close()
			t.Fatalf("%s connects again", user)
		}
	}
}

// TestDeveloperFailuresAreThrottled: a flood of wrong mesh credentials (any process that
// reaches the mesh's port can try, a tenant's instance included) reaches the
// Authenticator (a store lookup each) at most devFailureBurst times plus
// devFailuresPerSecond a second; a good credential gets in again once it refills.
func TestDeveloperFailuresAreThrottled(t *testing.T) {
	tokens := &fakeTokens{}
	b := startBus(t, Options{Dir: t.TempDir(), Developers: tokens}, "acme")
	tokens.add("good-secret", meshToken("t_good", "acme"))
	addr, err := b.DeveloperAddr("acme")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 200 {
		nc, err := nats.Connect("nats://"+addr, nats.UserInfo(platform.MeshUser("t_good"), fmt.Sprintf("guess-%d", i)), nats.NoReconnect())
		if err == nil {
			nc.Close()
			t.Fatal("a wrong secret got in")
		}
	}
	tokens.mu.Lock()
	lookups := tokens.lookups
	tokens.mu.Unlock()
	if most := devFailureBurst + int(time.Since(start).Seconds()*devFailuresPerSecond) + 1; lookups > most {
		t.Fatalf("200 wrong secrets made %d lookups, want at most %d", lookups, most)
	}
	t.Logf("200 wrong secrets in %s: %d lookups", time.Since(start).Round(time.Millisecond), lookups)
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := nats.Connect("nats://"+addr, nats.UserInfo(platform.MeshUser("t_good"), "good-secret"), nats.NoReconnect())
		if err == nil {
			nc.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a good credential is still refused 5s after the flood: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
