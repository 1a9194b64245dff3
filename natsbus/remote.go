package natsbus

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/micro/platform"
)

// The control protocol between a remote Bus and its Node: a request on subject
// controlSubject+op with the namespace name as body (opSync: a JSON list of every
// namespace, which the Node makes its list), answered with a controlReply.
const (
	// controlUser is the NATS user of the platform's control connection to a Node.
	controlUser = "platform"
	// controlAccount is the Node's account of the control connection (with the region
	// appended in a supercluster, see Bus.controlAccount). Its name is not a valid
	// namespace name, so no namespace account can be it.
	controlAccount = "_platform_control"
	controlSubject = "platform.mesh.namespace."
	opEnsure       = "ensure"
	opRemove       = "remove"
	opSync         = "sync"
	// controlTimeout bounds a control request whose context has no deadline.
	controlTimeout = 10 * time.Second
	// remoteRetry is how long a remote Bus waits between attempts to reach its Node.
	remoteRetry = time.Second
)

// controlReply is a Node's answer to a control request: Code and Message are set when it
// failed.
type controlReply struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// controlPassword derives the control user's password from the master secret. Its HMAC
// input cannot be a namespace's ("nats:" + name).
func (b *Bus) controlPassword() string {
	m := hmac.New(sha256.New, b.opts.Secret)
	m.Write([]byte("nats-control"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// controlAccount is the name of a Node's control account. In a supercluster it names
// the region: accounts of the same name are joined across regions, and each region's
// platform must reach its own Node only.
func (b *Bus) controlAccount() string {
	if r := b.opts.Gateway.Name; r != "" {
		return controlAccount + "_" + r
	}
	return controlAccount
}

// server returns the embedded server, nil before ready.
func (b *Bus) server() *server.Server {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.srv
}

// remoteAddr returns the host:port of a nats:// URL, port 4222 when absent.
func remoteAddr(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "nats" || u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return "", platform.Errorf(platform.EINVALID, "natsbus: Remote %q is not a nats://HOST[:PORT] URL without credentials", raw).
			WithHint("e.g. nats://platform-mesh:4222; credentials are derived from the secret")
	}
	port := u.Port()
	if port == "" {
		port = "4222"
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// startRemote connects the control connection to the Node, sends it every namespace
// ensured so far, and keeps it (reconnecting forever, re-sending the namespaces each
// time) until ctx ends. A Node that refuses the control credentials (another secret) is
// an error; an unreachable one is retried until ctx ends.
func (b *Bus) startRemote(ctx context.Context) error {
	addr, _ := remoteAddr(b.opts.Remote)
	o := nats.GetDefaultOptions()
	o.Url = "nats://" + addr
	o.Name = "platform-control"
	o.User, o.Password = controlUser, b.controlPassword()
	o.MaxReconnect = -1
	o.ReconnectWait = remoteRetry
	o.ReconnectedCB = func(conn *nats.Conn) {
		b.opts.Logger.Info("mesh node reconnected", "url", o.Url)
		go b.resyncUntilDone(ctx, conn)
	}
	o.DisconnectedErrCB = func(_ *nats.Conn, err error) {
		if err != nil {
			b.opts.Logger.Warn("mesh node disconnected", "url", o.Url, "err", err)
		}
	}
	var conn *nats.Conn
	for {
		var err error
		if conn, err = o.Connect(); err == nil {
			break
		}
		if errors.Is(err, nats.ErrAuthorization) {
			return platform.Errorf(platform.EUNAUTHENTICATED, "natsbus: mesh node %s refused the platform's credentials", o.Url).
				WithHint("the platform and the mesh node must read the same secret key")
		}
		b.opts.Logger.Warn("mesh node unreachable, retrying", "url", o.Url, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(remoteRetry):
		}
	}

	b.mu.Lock()
	b.ctl = conn
	b.mu.Unlock()
	// A Node that has just started may not answer control requests for a moment
	// (EUNAVAILABLE); a refusal by the Node is an error.
	for {
		err := b.resync(ctx)
		if err == nil {
			break
		}
		if platform.ErrorCode(err) != platform.EUNAVAILABLE {
			conn.Close()
			return err
		}
		select {
		case <-ctx.Done():
			conn.Close()
			return nil
		case <-time.After(remoteRetry):
		}
	}
	close(b.ready)
	b.opts.Logger.Info("mesh node connected", "url", o.Url, "advertise", b.ClientURL())

	<-ctx.Done()

	b.closeClients()
	conn.Close()
	b.opts.Logger.Info("mesh node connection closed")
	return nil
}

// resyncUntilDone resyncs after a reconnect, retrying while the Node does not answer
// yet (a restarted Node accepts connections a moment before it answers control
// requests) until it succeeds, ctx ends or conn closes.
func (b *Bus) resyncUntilDone(ctx context.Context, conn *nats.Conn) {
	for {
		err := b.resync(ctx)
		if err == nil || platform.ErrorCode(err) != platform.EUNAVAILABLE {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(remoteRetry):
		}
		if conn.IsClosed() {
			return
		}
	}
}

// resync tells the Node the namespaces on connect and after each reconnect, as the Node
// may have restarted without some of them, or been away when a namespace was removed.
func (b *Bus) resync(ctx context.Context) error {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	return b.resyncLocked(ctx)
}

// resyncLocked is resync with sendMu held. Once SyncNamespaces has declared the list
// complete, it sends the whole list, which the Node makes its own (removing every other
// namespace); before, it sends every namespace ensured so far and every removal the Node
// has not confirmed, and the Node keeps the namespaces it has besides. A Node that does
// not know the full sync (an older version) is sent the latter.
func (b *Bus) resyncLocked(ctx context.Context) error {
	b.mu.RLock()
	ctl, complete := b.ctl, b.complete
	names := make([]string, 0, len(b.namespaces))
	for ns := range b.namespaces {
		names = append(names, ns)
	}
	var removed []string
	for ns := range b.removed {
		removed = append(removed, ns)
	}
	b.mu.RUnlock()
	slices.Sort(names)
	if complete {
		body, err := json.Marshal(names)
		if err != nil {
			return err
		}
		err = b.controlRequest(ctx, ctl, opSync, body)
		if err == nil {
			b.mu.Lock()
			for _, ns := range removed {
				if !b.namespaces[ns] {
					delete(b.removed, ns)
				}
			}
			b.mu.Unlock()
			b.opts.Logger.Info("mesh node synced", "namespaces", len(names))
			return nil
		}
		if platform.ErrorCode(err) != platform.EINVALID {
			b.opts.Logger.Error("mesh node sync failed", "namespaces", len(names), "err", err)
			return err
		}
		b.opts.Logger.Warn("mesh node does not take the full namespace list; upgrade it to have namespaces removed while it was away removed on it",
			"err", err)
	}
	var errs []error
	for _, ns := range names {
		if err := b.controlRequest(ctx, ctl, opEnsure, []byte(ns)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range removed {
		if err := b.controlRequest(ctx, ctl, opRemove, []byte(ns)); err != nil {
			errs = append(errs, err)
			continue
		}
		b.mu.Lock()
		if !b.namespaces[ns] {
			delete(b.removed, ns)
		}
		b.mu.Unlock()
	}
	names = append(names, removed...)
	if err := errors.Join(errs...); err != nil {
		b.opts.Logger.Error("mesh node resync failed", "namespaces", len(names), "err", err)
		return err
	}
	return nil
}

// controlRequest asks the Node to apply op with body: a namespace name, or for opSync
// the JSON list of every namespace.
func (b *Bus) controlRequest(ctx context.Context, ctl *nats.Conn, op string, body []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, controlTimeout)
		defer cancel()
	}
	what := "namespace " + string(body)
	if op == opSync {
		what = "namespaces"
	}
	msg, err := ctl.RequestWithContext(ctx, controlSubject+op, body)
	if err != nil {
		return platform.Errorf(platform.EUNAVAILABLE, "mesh node: %s %s: %v", op, what, err)
	}
	var r controlReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return platform.Errorf(platform.EINTERNAL, "mesh node: %s %s: bad reply: %v", op, what, err)
	}
	if r.Code != "" {
		return platform.Errorf(r.Code, "mesh node: %s", r.Message)
	}
	return nil
}
