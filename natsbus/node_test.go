package natsbus

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/micro/platform"
)

// MustStartNode starts a Node on dir and addr ("127.0.0.1:0" for a free port) with
// secret, and stops it when the test ends or stop is called. It skips under -short.
func MustStartNode(tb testing.TB, dir, addr string, secret []byte) (n *Node, stop func()) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts a NATS server")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		tb.Fatal(err)
	}
	n, err = NewNode(Options{Dir: dir, Host: host, Port: p, Secret: secret})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Start(ctx) }()
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := n.WaitReady(rctx); err != nil {
		cancel()
		tb.Fatalf("node not ready: %v (start: %v)", err, <-done)
	}
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("node Start returned %v", err)
		}
	}
	tb.Cleanup(stop)
	return n, stop
}

// MustStartRemote starts a Bus connected to the node at addr with secret and the given
// namespaces ensured before it starts, and stops it when the test ends.
func MustStartRemote(tb testing.TB, addr, advertise string, secret []byte, namespaces ...string) *Bus {
	tb.Helper()
	return mustStartWith(tb, Options{Remote: "nats://" + addr, Advertise: advertise, Secret: secret}, namespaces...)
}

// mustStartWith starts a Bus with opts and the given namespaces ensured before it starts,
// as a server does with the namespaces it stores, and stops it when tb ends. Start must
// succeed.
func mustStartWith(tb testing.TB, opts Options, namespaces ...string) *Bus {
	tb.Helper()
	b, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	for _, ns := range namespaces {
		if err := b.EnsureNamespace(ctx, ns); err != nil {
			tb.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- b.Start(ctx) }()
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := b.WaitReady(rctx); err != nil {
		cancel()
		tb.Fatalf("bus not ready: %v (start: %v)", err, <-done)
	}
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("bus Start returned %v", err)
		}
	})
	return b
}

// callUntil calls Greeter.Hello until it answers or 30s pass, for calls that may meet a
// node that is reconnecting.
func callUntil(tb testing.TB, b *Bus, ns, service, name string) string {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := b.Call(context.Background(), platform.CallRequest{
			Namespace: ns, Service: service, Endpoint: "Greeter.Hello",
			Body: []byte(`{"name":"` + name + `"}`), Timeout: 5 * time.Second,
		})
		if err == nil {
			return decodeMessage(tb, out)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("call %s/%s: %v", ns, service, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRemoteOptionsValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		remote string
	}{
		{"not a URL scheme", "http://mesh:4222"},
		{"credentials in URL", "nats://ns-acme:secret@mesh:4222"},
		{"no host", "nats://:4222"},
		{"path", "nats://mesh:4222/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Options{Remote: tt.remote, Secret: testSecret})
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("New(Remote %q) = %v, want %s", tt.remote, err, platform.EINVALID)
			}
		})
	}
	if _, err := New(Options{Remote: "nats://mesh", Secret: testSecret}); err != nil {
		t.Errorf("remote without Dir: %v", err)
	}
	if _, err := NewNode(Options{Remote: "nats://mesh", Dir: t.TempDir(), Secret: testSecret}); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("NewNode with Remote: %v, want %s", err, platform.EINVALID)
	}
}

// TestNodeAndRemoteBus runs what Kubernetes runs as two processes, a mesh node and a
// platform whose Bus connects to it, over real NATS in one test.
func TestNodeAndRemoteBus(t *testing.T) {
	t.Parallel()
	outer, dir := t, t.TempDir()
	node, stopNode := MustStartNode(t, dir, "127.0.0.1:0", testSecret)
	addr := node.Addr()
	bus := MustStartRemote(t, addr, "", testSecret, "acme", "globex")
	ctx := context.Background()
	if err := bus.EnsureNamespace(ctx, "initech"); err != nil {
		t.Fatal(err)
	}
	if got, want := node.Namespaces(), []string{"acme", "globex", "initech"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("node admits %v, want %v", got, want)
	}

	acmeURL, globexURL := MustNamespaceURL(t, bus, "acme"), MustNamespaceURL(t, bus, "globex")
	if !strings.HasSuffix(acmeURL, "@"+addr) {
		t.Fatalf("acme URL does not point at the node %s", addr)
	}
	MustStartService(t, acmeURL, "greeter", "v1", &Greeter{Tag: "acme"})
	MustStartService(t, globexURL, "greeter", "v1", &Greeter{Tag: "globex"})
	MustStartService(t, globexURL, "billing", "v1", &Greeter{Tag: "globex billing"})

	t.Run("calls reach each namespace's own service", func(t *testing.T) {
		for _, ns := range []string{"acme", "globex"} {
			if got, want := MustCall(t, bus, ns, "greeter", "x"), "Hello x from "+ns; got != want {
				t.Errorf("call in %s = %q, want %q", ns, got, want)
			}
		}
	})
	t.Run("calls between namespaces refused", func(t *testing.T) {
		_, err := bus.Call(ctx, platform.CallRequest{
			Namespace: "acme", Service: "billing", Endpoint: "Greeter.Hello", Body: []byte(`{"name":"x"}`),
		})
		if platform.ErrorCode(err) != platform.ENOTFOUND {
			t.Fatalf("Call(acme, billing) = %v, want %s", err, platform.ENOTFOUND)
		}
		svcs, err := newMeshParts(acmeURL).reg.GetService("billing")
		if err != nil || len(svcs) != 0 {
			t.Fatalf("acme's registry finds globex's billing: %d services, %v", len(svcs), err)
		}
	})
	t.Run("credentials refused", func(t *testing.T) {
		other := []byte("another-secret-another-secret-xx")
		wrong := &Bus{opts: Options{Secret: other}}
		tests := []struct {
			name, user, pass string
		}{
			{"namespace password from another secret", "ns-acme", wrong.password("acme")},
			{"namespace not ensured", "ns-umbrella", bus.password("umbrella")},
			{"another namespace's password", "ns-acme", bus.password("globex")},
			{"control user with a namespace password", controlUser, bus.password("acme")},
			{"control user from another secret", controlUser, wrong.controlPassword()},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := nats.Connect("nats://"+addr, nats.UserInfo(tt.user, tt.pass), nats.NoReconnect())
				if !errors.Is(err, nats.ErrAuthorization) {
					t.Fatalf("connect = %v, want %v", err, nats.ErrAuthorization)
				}
			})
		}
	})
	t.Run("platform with another secret refused", func(t *testing.T) {
		b, err := New(Options{Remote: "nats://" + addr, Secret: []byte("another-secret-another-secret-xx")})
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := b.Start(sctx); platform.ErrorCode(err) != platform.EUNAUTHENTICATED {
			t.Fatalf("Start = %v, want %s", err, platform.EUNAUTHENTICATED)
		}
	})
	t.Run("namespace cannot reach the control subjects", func(t *testing.T) {
		nc, err := nats.Connect(acmeURL, nats.NoReconnect())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_, err = nc.Request(controlSubject+opRemove, []byte("globex"), time.Second)
		if !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("control request from acme = %v, want %v", err, nats.ErrNoResponders)
		}
		if got := MustCall(t, bus, "globex", "greeter", "g"); got != "Hello g from globex" {
			t.Fatalf("globex after acme's attempt: %q", got)
		}
	})
	t.Run("advertised address", func(t *testing.T) {
		b := MustStartRemote(t, addr, "platform-mesh.micro-platform.svc", testSecret, "acme")
		_, port, _ := net.SplitHostPort(addr)
		if got, want := b.ClientURL(), "nats://platform-mesh.micro-platform.svc:"+port; got != want {
			t.Errorf("ClientURL = %q, want %q", got, want)
		}
		if u := MustNamespaceURL(t, b, "acme"); !strings.HasSuffix(u, "@platform-mesh.micro-platform.svc:"+port) {
			t.Errorf("instance URL does not use the advertised host")
		}
	})

	t.Run("node restart keeps namespaces and the platform reconnects", func(t *testing.T) {
		stopNode()
		b, err := os.ReadFile(filepath.Join(dir, namespacesFile))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != `["acme","globex","initech"]` {
			t.Fatalf("kept namespace list = %s", got)
		}
		// The node outlives this subtest: the next one removes a namespace on it.
		node2, _ := MustStartNode(outer, dir, addr, testSecret)
		if got := strings.Join(node2.Namespaces(), ","); got != "acme,globex,initech" {
			t.Fatalf("restarted node admits %s", got)
		}
		if got := callUntil(t, bus, "acme", "greeter", "again"); got != "Hello again from acme" {
			t.Fatalf("after node restart: %q", got)
		}
	})

	t.Run("remove revokes the namespace on the node", func(t *testing.T) {
		if err := bus.RemoveNamespace(ctx, "globex"); err != nil {
			t.Fatal(err)
		}
		_, err := nats.Connect("nats://"+addr, nats.UserInfo("ns-globex", bus.password("globex")), nats.NoReconnect())
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("connect to removed globex = %v, want %v", err, nats.ErrAuthorization)
		}
		if got := MustCall(t, bus, "acme", "greeter", "a"); got != "Hello a from acme" {
			t.Fatalf("acme after globex removal: %q", got)
		}
	})
}

// TestRemovalWhileDisconnectedReachesNode removes a namespace in a platform that is not
// connected to the node (a control plane restarting while the mesh is away): the removal
// reaches the node when it connects.
func TestRemovalWhileDisconnectedReachesNode(t *testing.T) {
	t.Parallel()
	node, _ := MustStartNode(t, t.TempDir(), "127.0.0.1:0", testSecret)
	MustStartRemote(t, node.Addr(), "", testSecret, "acme", "globex")
	if got := strings.Join(node.Namespaces(), ","); got != "acme,globex" {
		t.Fatalf("node admits %s", got)
	}

	b, err := New(Options{Remote: "nats://" + node.Addr(), Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.EnsureNamespace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveNamespace(ctx, "globex"); err != nil {
		t.Fatalf("RemoveNamespace before Start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Start(ctx) }()
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := b.WaitReady(rctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(node.Namespaces(), ","); got != "acme" {
		t.Fatalf("node admits %s after the platform connected, want acme", got)
	}
	_, err = nats.Connect("nats://"+node.Addr(), nats.UserInfo("ns-globex", b.password("globex")), nats.NoReconnect())
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect to removed globex = %v, want %v", err, nats.ErrAuthorization)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNamespaceListSurvivesCrash crashes a node between writing the new list and
// renaming it over the old one: the restarted node admits the old list.
func TestNamespaceListSurvivesCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node, stop := MustStartNode(t, dir, "127.0.0.1:0", testSecret)
	for _, ns := range []string{"acme", "globex"} {
		if err := node.apply(ns, true); err != nil {
			t.Fatal(err)
		}
	}
	stop()

	// The crash: the next list is written and synced, the process dies before the rename.
	crashed, err := NewNode(Options{Dir: dir, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crashed.writeTemp([]string{"initech"}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, namespacesFile)); err != nil || string(b) != `["acme","globex"]` {
		t.Fatalf("list after crash = %q, %v; want the old list", b, err)
	}

	node2, _ := MustStartNode(t, dir, "127.0.0.1:0", testSecret)
	if got := strings.Join(node2.Namespaces(), ","); got != "acme,globex" {
		t.Fatalf("restarted node admits %q, want acme,globex", got)
	}
	// The next save replaces the stale temporary file.
	if err := node2.apply("hooli", true); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, namespacesFile)); err != nil || string(b) != `["acme","globex","hooli"]` {
		t.Fatalf("list after save = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, namespacesFile+".tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left after save: %v", err)
	}
}

// TestCorruptNamespaceList starts a node on a list a power loss or an operator broke: the
// node starts with no namespace, keeps the broken file aside, and admits the platform's
// namespaces as soon as the platform connects.
func TestCorruptNamespaceList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
	}{
		{"empty", ""},
		{"truncated", `["acme","glo`},
		{"null", `null`},
		{"not a list", `{"acme":true}`},
		{"bad name", `["acme","Not A Name"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, namespacesFile)
			if err := os.WriteFile(file, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			node, _ := MustStartNode(t, dir, "127.0.0.1:0", testSecret)
			if got := node.Namespaces(); len(got) != 0 {
				t.Fatalf("node admits %v from a corrupt list", got)
			}
			if b, err := os.ReadFile(file + ".corrupt"); err != nil || string(b) != tt.content {
				t.Fatalf("corrupt list kept aside = %q, %v; want %q", b, err, tt.content)
			}
			MustStartRemote(t, node.Addr(), "", testSecret, "acme", "globex")
			if got := strings.Join(node.Namespaces(), ","); got != "acme,globex" {
				t.Fatalf("node admits %q after the platform connected, want acme,globex", got)
			}
			if b, err := os.ReadFile(file); err != nil || string(b) != `["acme","globex"]` {
				t.Fatalf("list rewritten = %q, %v", b, err)
			}
		})
	}

	t.Run("unreadable", func(t *testing.T) {
		t.Parallel()
		if testing.Short() {
			t.Skip("starts a NATS server")
		}
		dir := t.TempDir()
		file := filepath.Join(dir, namespacesFile)
		if err := os.Mkdir(file, 0o700); err != nil { // reading a directory fails
			t.Fatal(err)
		}
		n, err := NewNode(Options{Dir: dir, Host: "127.0.0.1", Secret: testSecret})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = n.Start(ctx)
		if platform.ErrorCode(err) != platform.EINTERNAL || !strings.Contains(err.Error(), file) {
			t.Fatalf("Start = %v, want %s naming %s", err, platform.EINTERNAL, file)
		}
	})
}

// waitNamespaces polls until node admits exactly want (comma-separated) or 30s pass.
func waitNamespaces(tb testing.TB, node *Node, want string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := strings.Join(node.Namespaces(), ",")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("node admits %q, want %q", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRemovalForgottenByPlatformRestart removes a namespace while the node is down, then
// restarts the platform (forgetting the removal) before the node comes back: once the
// control plane has synced its list, the namespace is removed on the node, its instance
// is disconnected, and the node keeps the new list. A platform that is starting and has
// not synced yet leaves the node's list alone.
func TestRemovalForgottenByPlatformRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node, stopNode := MustStartNode(t, dir, "127.0.0.1:0", testSecret)
	addr := node.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The first platform, its node stopped, removes globex and stops.
	bus1, err := New(Options{Remote: "nats://" + addr, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	ctx1, cancel1 := context.WithCancel(ctx)
	done1 := make(chan error, 1)
	go func() { done1 <- bus1.Start(ctx1) }()
	if err := bus1.SyncNamespaces(ctx, []string{"acme", "globex"}); err != nil {
		t.Fatal(err)
	}
	if err := bus1.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	waitNamespaces(t, node, "acme,globex")
	stopNode()
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
	if err := bus1.RemoveNamespace(rctx, "globex"); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("RemoveNamespace with the node down = %v, want %s", err, platform.EUNAVAILABLE)
	}
	rcancel()
	cancel1()
	if err := <-done1; err != nil {
		t.Fatal(err)
	}

	// The node comes back with its kept list; an instance of globex connects.
	node, _ = MustStartNode(t, dir, addr, testSecret)
	if got := strings.Join(node.Namespaces(), ","); got != "acme,globex" {
		t.Fatalf("restarted node admits %q", got)
	}
	instance, err := nats.Connect("nats://"+addr, nats.UserInfo("ns-globex", bus1.password("globex")), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer instance.Close()
	closed := make(chan struct{})
	instance.SetClosedHandler(func(*nats.Conn) { close(closed) })

	// The second platform connects before its control plane has listed the namespaces:
	// the node keeps its list.
	bus2 := MustStartRemote(t, addr, "", testSecret)
	if got := strings.Join(node.Namespaces(), ","); got != "acme,globex" {
		t.Fatalf("node admits %q before the platform synced, want acme,globex", got)
	}
	if err := bus2.SyncNamespaces(ctx, []string{"acme"}); err != nil {
		t.Fatal(err)
	}
	waitNamespaces(t, node, "acme")
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("globex's instance still connected after the sync")
	}
	if _, err := nats.Connect("nats://"+addr, nats.UserInfo("ns-globex", bus2.password("globex")), nats.NoReconnect()); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connect to removed globex = %v, want %v", err, nats.ErrAuthorization)
	}
	if b, err := os.ReadFile(filepath.Join(dir, namespacesFile)); err != nil || string(b) != `["acme"]` {
		t.Fatalf("kept list = %q, %v", b, err)
	}
	if got := MustNamespaceURL(t, bus2, "acme"); got == "" {
		t.Fatal("acme has no URL")
	}
}

// TestSyncOnReconnect restarts a node whose kept list holds a namespace the platform
// removed: the synced platform's full list, sent when it reconnects, removes it.
func TestSyncOnReconnect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node, stopNode := MustStartNode(t, dir, "127.0.0.1:0", testSecret)
	addr := node.Addr()
	bus := MustStartRemote(t, addr, "", testSecret)
	if err := bus.SyncNamespaces(context.Background(), []string{"acme"}); err != nil {
		t.Fatal(err)
	}
	waitNamespaces(t, node, "acme")
	stopNode()
	// While the node is down its list gains a namespace the platform does not have.
	if err := os.WriteFile(filepath.Join(dir, namespacesFile), []byte(`["acme","initech"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	node, _ = MustStartNode(t, dir, addr, testSecret)
	waitNamespaces(t, node, "acme")
	file := filepath.Join(dir, namespacesFile)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if err == nil && string(b) == `["acme"]` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kept list = %q, %v; want [\"acme\"]", b, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSyncNamespacesRejectsBadNames checks that a list with a bad name changes nothing.
func TestSyncNamespacesRejectsBadNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		remote string
	}{
		{"embedded", ""},
		{"remote", "nats://127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(Options{Remote: tt.remote, Dir: t.TempDir(), Secret: testSecret})
			if err != nil {
				t.Fatal(err)
			}
			err = b.SyncNamespaces(context.Background(), []string{"acme", "Not A Name"})
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("SyncNamespaces = %v, want %s", err, platform.EINVALID)
			}
			if _, err := b.InstanceEnv("acme"); platform.ErrorCode(err) != platform.ENOTFOUND {
				t.Fatalf("InstanceEnv(acme) after a refused sync = %v, want %s", err, platform.ENOTFOUND)
			}
		})
	}
}
