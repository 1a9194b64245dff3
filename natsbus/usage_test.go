package natsbus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestUsageConn: the platform reaches the usage account (with JetStream) in process on
// the embedded server and over the network on a Node; a namespace cannot see its
// streams, and the usage user's password is the secret's alone.
func TestUsageConn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	check := func(t *testing.T, b *Bus) {
		t.Helper()
		nc, err := b.UsageConn(ctx, "metering-test")
		if err != nil {
			t.Fatalf("UsageConn: %v", err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "USAGE_TEST", Subjects: []string{"usage.test"}}); err != nil {
			t.Fatalf("create a stream in the usage account: %v", err)
		}
		if _, err := js.Publish(ctx, "usage.test", []byte("1")); err != nil {
			t.Fatalf("publish to it: %v", err)
		}

		acme, err := nats.Connect(MustNamespaceURL(t, b, "acme"), nats.NoReconnect())
		if err != nil {
			t.Fatal(err)
		}
		defer acme.Close()
		ajs, err := jetstream.New(acme)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ajs.Stream(ctx, "USAGE_TEST"); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("the namespace looks the usage stream up: %v, want %v", err, jetstream.ErrStreamNotFound)
		}
	}

	t.Run("embedded", func(t *testing.T) {
		b := MustStartBus(t, t.TempDir(), "acme")
		check(t, b)
	})
	t.Run("node", func(t *testing.T) {
		node, _ := MustStartNode(t, t.TempDir(), "127.0.0.1:0", testSecret)
		addr := node.Addr()
		b := MustStartRemote(t, addr, "", testSecret, "acme")
		check(t, b)

		wrong := &Bus{opts: Options{Secret: []byte("another-secret-another-secret-xx")}}
		for name, pass := range map[string]string{
			"usage user from another secret":    wrong.usagePassword(),
			"usage user with a namespace's":     b.password("acme"),
			"usage user with the control one's": b.controlPassword(),
		} {
			if _, err := nats.Connect("nats://"+addr, nats.UserInfo(usageUser, pass), nats.NoReconnect()); !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("%s: connect = %v, want %v", name, err, nats.ErrAuthorization)
			}
		}
	})
}
