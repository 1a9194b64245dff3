package natsbus

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/micro/platform"
)

// The usage account holds the metering stream (package metering): an account with
// JetStream that no namespace can reach, joined by the platform's usage user only.
const (
	// usageUser is the NATS user of the platform's metering connections.
	usageUser = "platform-usage"
	// usageAccount is not a valid namespace name, so no namespace account can be it.
	usageAccount = "_platform_usage"
)

// usagePassword derives the usage user's password from the master secret. Its HMAC input
// cannot be a namespace's ("nats:" + name) or the control user's.
func (b *Bus) usagePassword() string {
	m := hmac.New(sha256.New, b.opts.Secret)
	m.Write([]byte("nats-usage"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// registerUsageAccountLocked creates the usage account with JetStream (unlimited within
// the server's own limits: the metering stream bounds itself). A server in a
// supercluster has no JetStream, and so no usage account.
func (b *Bus) registerUsageAccountLocked() error {
	if !b.jetStream() {
		return nil
	}
	acc, _ := b.srv.LookupOrRegisterAccount(usageAccount)
	if acc.JetStreamEnabled() {
		return nil
	}
	limits := map[string]server.JetStreamAccountLimits{"": {
		MaxMemory: -1, MaxStore: -1, MaxStreams: -1, MaxConsumers: -1, MaxAckPending: -1,
	}}
	if err := acc.EnableJetStream(limits, nil); err != nil {
		return fmt.Errorf("natsbus: enable jetstream for the usage account: %w", err)
	}
	return nil
}

// usageAccountOf returns the usage account for a client presenting the usage user's
// password, nil for any other.
func (b *Bus) usageAccountOf(password string) *server.Account {
	if !hmac.Equal([]byte(password), []byte(b.usagePassword())) {
		return nil
	}
	srv := b.server()
	if srv == nil {
		return nil
	}
	acc, err := srv.LookupAccount(usageAccount)
	if err != nil || !acc.JetStreamEnabled() {
		return nil
	}
	return acc
}

// UsageConn connects to the usage account, where the metering stream lives: in process
// to the embedded server, or over the network to the Node of a remote Bus (which admits
// the usage user with the same secret). The connection reconnects forever; the caller
// closes it. EUNAVAILABLE before the server is ready, or when it has no JetStream (a
// server in a supercluster: metering then has nowhere to go).
func (b *Bus) UsageConn(ctx context.Context, name string) (*nats.Conn, error) {
	if err := b.WaitReady(ctx); err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name(name), nats.UserInfo(usageUser, b.usagePassword()),
		nats.MaxReconnects(-1), nats.ReconnectWait(remoteRetry),
	}
	var conn *nats.Conn
	var err error
	if b.opts.Remote != "" {
		addr, _ := remoteAddr(b.opts.Remote)
		conn, err = nats.Connect("nats://"+addr, opts...)
	} else {
		if !b.jetStream() {
			return nil, platform.Errorf(platform.EUNAVAILABLE, "natsbus: this NATS server is in a supercluster and runs without JetStream: it holds no usage stream").
				WithHint("metering runs where the control plane's NATS has JetStream")
		}
		srv := b.server()
		if srv == nil {
			return nil, platform.Errorf(platform.EUNAVAILABLE, "natsbus: the NATS server has stopped")
		}
		conn, err = nats.Connect("", append(opts, nats.InProcessServer(srv))...)
	}
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, platform.Errorf(platform.EUNAUTHENTICATED, "natsbus: the NATS server refused the platform's usage credentials").
			WithHint("the platform and the mesh node must read the same secret key, and the node must run JetStream")
	}
	if err != nil {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "natsbus: connect to the usage account: %v", err)
	}
	return conn, nil
}
