package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go-micro.dev/v5/broker"

	"github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
)

func decodeMessage(tb testing.TB, body []byte) string {
	tb.Helper()
	var rsp HelloResponse
	if err := json.Unmarshal(body, &rsp); err != nil {
		tb.Fatalf("decode %q: %v", body, err)
	}
	return rsp.Message
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	_, err := New(Options{Port: 70000})
	if platform.ErrorCode(err) != platform.EINVALID {
		t.Fatalf("code = %q, want %q (err %v)", platform.ErrorCode(err), platform.EINVALID, err)
	}
	for _, want := range []string{"Dir is required", "Secret must be", "Port 70000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %q", err, want)
		}
	}
}

func TestInstanceEnv(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme")
	env, err := b.InstanceEnv("acme")
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(b.ClientURL(), "nats://")
	want := "nats://ns-acme:" + b.password("acme") + "@" + host
	for _, k := range []string{"MICRO_REGISTRY", "MICRO_BROKER", "MICRO_TRANSPORT"} {
		if env[k] != "nats" {
			t.Errorf("%s = %q, want nats", k, env[k])
		}
		if got := env[k+"_ADDRESS"]; got != want {
			t.Errorf("%s_ADDRESS = %q, want %q", k, got, want)
		}
	}
	if strings.Contains(b.ClientURL(), "@") {
		t.Errorf("ClientURL %q holds credentials", b.ClientURL())
	}
	if _, err := b.InstanceEnv("globex"); platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Errorf("InstanceEnv(unknown) error = %v, want %s", err, platform.ENOTFOUND)
	}
	if err := b.EnsureNamespace(context.Background(), "Bad_Name"); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("EnsureNamespace(Bad_Name) error = %v, want %s", err, platform.EINVALID)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme", "globex")
	url := b.ClientURL()
	tests := []struct {
		name       string
		user, pass string
		wantErr    bool
	}{
		{name: "own credentials", user: "ns-acme", pass: b.password("acme")},
		{name: "other namespace's password", user: "ns-acme", pass: b.password("globex"), wantErr: true},
		{name: "unknown namespace", user: "ns-initech", pass: b.password("initech"), wantErr: true},
		{name: "no credentials", wantErr: true},
		{name: "not a namespace user", user: "acme", pass: b.password("acme"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := []nats.Option{nats.NoReconnect()}
			if tt.user != "" {
				opts = append(opts, nats.UserInfo(tt.user, tt.pass))
			}
			nc, err := nats.Connect(url, opts...)
			if tt.wantErr {
				if !errors.Is(err, nats.ErrAuthorization) {
					t.Fatalf("connect error = %v, want %v", err, nats.ErrAuthorization)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			nc.Close()
		})
	}
}

func TestBrokerIsolation(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme", "globex")
	connect := func(ns string) broker.Broker {
		br := newMeshParts(MustNamespaceURL(t, b, ns)).br
		if err := br.Connect(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = br.Disconnect() })
		return br
	}
	acme, globex := connect("acme"), connect("globex")
	got := make(chan string, 10)
	if _, err := acme.Subscribe("orders", func(e broker.Event) error {
		got <- string(e.Message().Body)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := globex.Publish("orders", &broker.Message{Body: []byte("from globex")}); err != nil {
		t.Fatal(err)
	}
	if err := acme.Publish("orders", &broker.Message{Body: []byte("from acme")}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "from acme" {
			t.Fatalf("acme subscriber got %q, want only acme's message", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("acme subscriber got nothing from acme")
	}
	select {
	case m := <-got:
		t.Fatalf("acme subscriber also got %q", m)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestRemoveNamespace(t *testing.T) {
	t.Parallel()
	b := MustStartBus(t, t.TempDir(), "acme", "globex")
	ctx := context.Background()
	MustStartService(t, MustNamespaceURL(t, b, "acme"), "greeter", "v1", &Greeter{Tag: "acme"})
	MustStartService(t, MustNamespaceURL(t, b, "globex"), "greeter", "v1", &Greeter{Tag: "globex"})
	if got := MustCall(t, b, "acme", "greeter", "a"); got != "Hello a from acme" {
		t.Fatalf("before removal: %q", got)
	}
	closed := make(chan struct{})
	nc, err := nats.Connect(b.ClientURL(), nats.UserInfo("ns-acme", b.password("acme")),
		nats.NoReconnect(), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	if err := b.RemoveNamespace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := b.RemoveNamespace(ctx, "acme"); err != nil {
		t.Fatalf("second RemoveNamespace: %v", err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("existing acme connection still open after RemoveNamespace")
	}
	_, err = nats.Connect(b.ClientURL(), nats.UserInfo("ns-acme", b.password("acme")), nats.NoReconnect())
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("reconnect after removal: %v, want %v", err, nats.ErrAuthorization)
	}
	_, err = b.Call(ctx, platform.CallRequest{Namespace: "acme", Service: "greeter", Endpoint: "Greeter.Hello", Body: []byte(`{}`)})
	if platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Fatalf("Call after removal: %v, want %s", err, platform.ENOTFOUND)
	}
	if got := MustCall(t, b, "globex", "greeter", "g"); got != "Hello g from globex" {
		t.Fatalf("globex after acme removal: %q", got)
	}
}

func TestRestartKeepsAccounts(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The first run creates a stream in acme; the second finds it with the same
	// credentials, derived again from the secret.
	for run, step := range []func(js jetstream.JetStream) error{
		func(js jetstream.JetStream) error {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
			if err != nil {
				return err
			}
			_, err = js.Publish(ctx, "orders.1", []byte("one"))
			return err
		},
		func(js jetstream.JetStream) error {
			s, err := js.Stream(ctx, "ORDERS")
			if err != nil {
				return err
			}
			msg, err := s.GetLastMsgForSubject(ctx, "orders.1")
			if err != nil {
				return err
			}
			if string(msg.Data) != "one" {
				return errors.New("stored message is " + string(msg.Data))
			}
			return nil
		},
	} {
		b, err := New(Options{Dir: dir, Secret: testSecret})
		if err != nil {
			t.Fatal(err)
		}
		for _, ns := range []string{"acme", "globex"} {
			if err := b.EnsureNamespace(ctx, ns); err != nil {
				t.Fatal(err)
			}
		}
		bctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.Start(bctx) }()
		if err := b.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect(MustNamespaceURL(t, b, "acme"), nats.NoReconnect())
		if err != nil {
			t.Fatalf("run %d: connect: %v", run, err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if err := step(js); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		nc.Close()
		other, err := nats.Connect(MustNamespaceURL(t, b, "globex"), nats.NoReconnect())
		if err != nil {
			t.Fatal(err)
		}
		ojs, err := jetstream.New(other)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ojs.Stream(ctx, "ORDERS"); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("run %d: globex looking up acme's stream: %v, want %v", run, err, jetstream.ErrStreamNotFound)
		}
		other.Close()
		stop()
		if err := <-done; err != nil {
			t.Fatalf("run %d: Start: %v", run, err)
		}
	}
}

func TestLogsHoldNoCredentials(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	var logs syncBuffer
	b, err := New(Options{Dir: t.TempDir(), Secret: testSecret, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Start(ctx) }()
	if err := b.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureNamespace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	MustStartService(t, MustNamespaceURL(t, b, "acme"), "greeter", "v1", &Greeter{Tag: "acme"})
	MustCall(t, b, "acme", "greeter", "x")
	if err := b.RemoveNamespace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "namespace revoked") {
		t.Fatalf("bus logged nothing about its work:\n%s", out)
	}
	if pw := b.password("acme"); strings.Contains(out, pw) {
		t.Fatalf("bus logs hold acme's password:\n%s", out)
	}
}

// startBus starts a Bus with opts (Secret set here) and the given namespaces ensured
// before it starts, and stops it when the test ends. Start must succeed.
func startBus(t *testing.T, opts Options, namespaces ...string) *Bus {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	opts.Secret = testSecret
	return mustStartWith(t, opts, namespaces...)
}

// mustConnect connects to ns with its credentials and closes the connection.
func mustConnect(t *testing.T, b *Bus, ns string) {
	t.Helper()
	nc, err := nats.Connect(MustNamespaceURL(t, b, ns), nats.NoReconnect())
	if err != nil {
		t.Fatalf("%s cannot connect: %v", ns, err)
	}
	nc.Close()
}

// TestNamespacesReserveNoDisk ensures many namespaces on a 96 MiB disk: with the default
// limits each gets JetStream and reserves nothing (each reserved 1 GiB, so the first
// already failed), and one can store a stream.
func TestNamespacesReserveNoDisk(t *testing.T) {
	dir := testenv.Tmpfs(t, "96m")
	b := startBus(t, Options{Dir: dir})
	ctx := context.Background()
	for i := range 20 {
		ns := "ns" + strconv.Itoa(i)
		if err := b.PrepareNamespace(ctx, ns); err != nil {
			t.Fatalf("PrepareNamespace(%s): %v", ns, err)
		}
		if err := b.EnsureNamespace(ctx, ns); err != nil {
			t.Fatalf("EnsureNamespace(%s): %v", ns, err)
		}
	}
	if got := b.withoutJetStream(); len(got) != 0 {
		t.Fatalf("namespaces without JetStream: %v", got)
	}
	nc, err := nats.Connect(MustNamespaceURL(t, b, "ns7"), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatalf("create a stream: %v", err)
	}
	if _, err := js.Publish(ctx, "orders.1", []byte("one")); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// TestStartWithoutRoomForJetStream starts a bus whose namespaces' JetStream reservations
// (40 MiB each, set on purpose) do not all fit the disk: the server still starts, every
// namespace connects, the one left without JetStream is retried and gets it once room
// is made, and PrepareNamespace refuses a new namespace naming the disk.
func TestStartWithoutRoomForJetStream(t *testing.T) {
	dir := testenv.Tmpfs(t, "96m")
	b := startBus(t, Options{Dir: dir, JetStreamMaxStore: 40 << 20, JetStreamRetry: 50 * time.Millisecond}, "acme", "globex")
	without := b.withoutJetStream()
	if len(without) != 1 {
		t.Fatalf("namespaces without JetStream: %v, want one of acme and globex", without)
	}
	mustConnect(t, b, "acme")
	mustConnect(t, b, "globex")

	err := b.PrepareNamespace(context.Background(), "initech")
	if platform.ErrorCode(err) != platform.EUNAVAILABLE || !strings.Contains(platform.ErrorMessage(err), dir) || platform.ErrorHint(err) == "" {
		t.Fatalf("PrepareNamespace with no room: %v (hint %q), want %s naming %s", err, platform.ErrorHint(err), platform.EUNAVAILABLE, dir)
	}

	// Room is made: the namespace that has JetStream gives it up.
	with := "acme"
	if without[0] == "acme" {
		with = "globex"
	}
	acc, err := b.server().LookupAccount(with)
	if err != nil {
		t.Fatal(err)
	}
	if err := acc.DisableJetStream(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(b.withoutJetStream()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s never got JetStream after room was made", without[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	acc, err = b.server().LookupAccount(without[0])
	if err != nil || !acc.JetStreamEnabled() {
		t.Fatalf("%s: JetStream enabled %v (%v)", without[0], err == nil && acc.JetStreamEnabled(), err)
	}
}

// TestPrepareNamespace checks the refusals of PrepareNamespace that need no full disk.
func TestPrepareNamespace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := startBus(t, Options{Dir: dir, MinFreeDisk: 1 << 62})
	tests := []struct {
		name, ns string
		wantCode string
		wantMsg  []string
	}{
		{name: "bad name", ns: "Bad_Name", wantCode: platform.EINVALID},
		{name: "disk below the minimum", ns: "acme", wantCode: platform.EUNAVAILABLE,
			wantMsg: []string{"no room for namespace acme's messaging on the disk of " + dir, "free,", "needed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.PrepareNamespace(context.Background(), tt.ns)
			if platform.ErrorCode(err) != tt.wantCode {
				t.Fatalf("error %v, want %s", err, tt.wantCode)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(platform.ErrorMessage(err), w) {
					t.Errorf("message %q does not say %q", platform.ErrorMessage(err), w)
				}
			}
		})
	}
	remote, err := New(Options{Remote: "nats://127.0.0.1:1", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.PrepareNamespace(context.Background(), "acme"); err != nil {
		t.Errorf("remote PrepareNamespace: %v, want nil (the node's disk is the node's)", err)
	}
}
