// Package natsbus implements platform.Mesh on NATS with JetStream: by default on a NATS
// server embedded in the platform's process, or, with Options.Remote, on a mesh Node
// running in a process of its own (`platform mesh`, a StatefulSet on Kubernetes).
//
// Every platform namespace is its own NATS account, so go-micro's registry, broker and
// RPC transport (all NATS-based, see InstanceEnv) are confined to the namespace: a
// service in one namespace can neither discover, call nor subscribe to anything in
// another, and the same service name can run in several namespaces at once.
//
// Accounts are created at runtime, without restarting the server, through a custom
// client authenticator: a connecting client presents user "ns-<name>" and a password
// derived from the master secret (base64url(HMAC-SHA256(secret, "nats:"+name))). Nothing
// is stored: credentials are stable across restarts and rotate with the secret. The
// platform connects to a namespace with the same credentials.
//
// A Node admits the same namespace credentials, derived from the same secret, so a Bus
// with Options.Remote and the Node it points at share nothing but that secret. The
// remote Bus tells the Node which namespaces exist over a control connection: user
// "platform" with a password derived the same way (from "nats-control"), bound to an
// account of its own that no namespace can reach. The Node keeps the namespace list in
// its data directory, so instances reconnect after a Node restart before the platform
// has re-sent it (it re-sends every namespace on each reconnect). Once the control plane
// has called SyncNamespaces, the list a remote Bus sends is authoritative: the Node
// removes every namespace not in it.
//
// The platform's calls into a namespace (Call, Health) speak go-micro's NATS transport
// protocol over one shared connection per namespace and pick nodes round-robin from
// go-micro's registry cache, kept current by the registry's watch; a node that has
// gone ("no responders") is skipped for the next one, and a node that has gone or let
// a call time out is tried after every other one for a while (SuspectTTL). A node is
// healthy when its Debug.Health endpoint answers, or, if its service registered none,
// when the node answers at all.
//
// # Regions: the supercluster
//
// Each region of the platform runs its own server (a Bus, or a Node) with its own
// secret. With Options.Gateway the regions' servers form a NATS supercluster: every
// region is a NATS cluster named after it, and NATS gateways link it to every other
// region. Gateways carry each account's messages to the account of the same name in
// the other regions, and only there, and only where it has subscribers (gateways run
// in interest-only mode), so a namespace spans the regions that have it: a go-micro
// service in one region discovers, calls and receives broker messages from a service
// of its namespace in another, and never anything of another namespace. Namespace
// credentials stay per region (each region derives them from its own secret); the
// gateway connections authenticate with a user and password derived from
// Gateway.Secret, which every region shares and which admits no client. A region
// learns the others from any one seed (gateway gossip), an account created at runtime
// joins its namespace across regions as soon as it exists on both sides, in either
// order, and a Node's control account is named after its region so that each
// platform reaches its own Node only.
//
// A server in the supercluster runs without JetStream: nats-server runs JetStream
// beside gateways only clustered, in one metadata group spanning every region.
//
// When a region goes away, the others notice at once if its connections close (its
// server stopped) and after about three Gateway.PingInterval otherwise (a partition):
// its nodes then answer "no responders", and every Bus expires its registry caches so
// that they leave Services and Call. Before a partition is noticed, a call to a node
// of the vanished region times out; that makes the node suspect (tried last) and the
// registry cache ask again, where the node cannot answer, so it is dropped.
package natsbus

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/time/rate"

	"github.com/micro/platform"
)

var _ platform.Mesh = (*Bus)(nil)

// userPrefix prefixes the NATS user name of a namespace.
const userPrefix = "ns-"

// MaxPayload is the largest NATS message the server accepts: a call's body travels
// base64-encoded in one message, so it may be about 3/4 of this.
const MaxPayload = 8 << 20

// Default limits of a namespace's JetStream account: none of its own (-1), so only the
// server-wide limits apply (75% of the memory and of the disk space free at start, as
// nats-server computes them). A positive per-namespace limit is a reservation:
// nats-server adds every account's limits up when it enables one and refuses the
// account once the sum exceeds the server's limit, used or not, so N namespaces would
// need N times the limit free.
const (
	DefaultJetStreamMaxMemory = -1
	DefaultJetStreamMaxStore  = -1
)

// DefaultMinFreeDisk is the space the disk holding the JetStream data must have left for
// PrepareNamespace to take a new namespace.
const DefaultMinFreeDisk = 64 << 20 // 64 MiB

// DefaultJetStreamRetry is how often a namespace whose account could not get JetStream
// (a full disk) is tried again.
const DefaultJetStreamRetry = 30 * time.Second

// Options configures a Bus or a Node.
type Options struct {
	// Remote is the nats:// URL of a mesh Node the Bus connects to instead of embedding
	// a server, e.g. "nats://platform-mesh:4222"; "" embeds one. With Remote set, Dir,
	// Host, Port and the JetStream limits are the Node's business and ignored here, and
	// Advertise defaults to Remote's host:port. Not valid for a Node.
	Remote string
	// Dir holds the server's JetStream data. Required unless Remote is set.
	Dir string
	// Host is the interface the server listens on; "" means 127.0.0.1.
	Host string
	// Port is the client port; 0 picks a free one.
	Port int
	// Advertise is the host[:port] that instances use to reach the server, for when it
	// differs from the listen address (e.g. a Kubernetes service name). Default: the
	// listen address, with 127.0.0.1 for an unspecified host.
	Advertise string
	// Secret is the master key from which every namespace's password is derived.
	// Required, at least 16 bytes.
	Secret []byte
	// Logger receives the bus's own log lines; nil discards them. Credentials are never
	// logged.
	Logger *slog.Logger
	// JetStreamMaxMemory and JetStreamMaxStore limit each namespace's JetStream usage
	// in bytes; 0 means the defaults above (no per-namespace limit), negative means none.
	// A positive value is reserved for every namespace against the server's JetStream
	// limit when its account is enabled (see DefaultJetStreamMaxStore).
	JetStreamMaxMemory int64
	JetStreamMaxStore  int64
	// MinFreeDisk is the free space, in bytes, the disk holding Dir must keep for
	// PrepareNamespace to take a new namespace; 0 means DefaultMinFreeDisk, negative
	// turns the check off.
	MinFreeDisk int64
	// JetStreamRetry is how often namespaces whose account could not get JetStream are
	// tried again; 0 means DefaultJetStreamRetry.
	JetStreamRetry time.Duration
	// CallTimeout bounds a Call whose request sets no timeout; 0 means 30s.
	CallTimeout time.Duration
	// RegistryTimeout is how long a registry broadcast query waits for answers (service
	// listing, first lookup of a service); 0 means 250ms.
	RegistryTimeout time.Duration
	// Developers, when set, lets the embedded server admit developers' processes with
	// mesh credentials (platform.TokenMesh tokens it resolves; see developers.go). nil
	// admits none. Not used with Remote.
	Developers platform.Authenticator
	// Gateway joins the embedded server to the platform's NATS supercluster, one
	// cluster per region; off when Gateway.Name is empty. The server then runs without
	// JetStream (see GatewayOptions). Not valid with Remote.
	Gateway GatewayOptions
}

func (o *Options) validate() error {
	var errs []error
	if o.Remote != "" {
		if _, err := remoteAddr(o.Remote); err != nil {
			errs = append(errs, err)
		}
	} else if o.Dir == "" {
		errs = append(errs, platform.Errorf(platform.EINVALID, "natsbus: Dir is required"))
	}
	if len(o.Secret) < 16 {
		errs = append(errs, platform.Errorf(platform.EINVALID, "natsbus: Secret must be at least 16 bytes"))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, platform.Errorf(platform.EINVALID, "natsbus: Port %d out of range", o.Port))
	}
	errs = append(errs, o.Gateway.validate(o.Remote)...)
	return errors.Join(errs...)
}

func (o *Options) setDefaults() {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.JetStreamMaxMemory == 0 {
		o.JetStreamMaxMemory = DefaultJetStreamMaxMemory
	}
	if o.JetStreamMaxStore == 0 {
		o.JetStreamMaxStore = DefaultJetStreamMaxStore
	}
	if o.MinFreeDisk == 0 {
		o.MinFreeDisk = DefaultMinFreeDisk
	}
	if o.JetStreamRetry <= 0 {
		o.JetStreamRetry = DefaultJetStreamRetry
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 30 * time.Second
	}
	if o.RegistryTimeout == 0 {
		o.RegistryTimeout = 250 * time.Millisecond
	}
	if o.Gateway.enabled() {
		if o.Gateway.Host == "" {
			o.Gateway.Host = o.Host
		}
		if o.Gateway.PingInterval == 0 {
			o.Gateway.PingInterval = DefaultGatewayPingInterval
		}
	}
}

// Bus is the platform's mesh: an embedded NATS server with one account per namespace,
// or a connection to a remote Node. It implements platform.Mesh. Create it with New and
// run it with Start.
type Bus struct {
	opts  Options
	ready chan struct{}
	// control makes the embedded server admit the platform's control user: set by
	// NewNode.
	control bool

	mu      sync.RWMutex
	started bool
	stopped bool
	srv     *server.Server  // embedded: set once ready
	ctl     *nats.Conn      // remote: the control connection, set once ready
	removed map[string]bool // remote: removals the Node has not confirmed yet
	// complete is set by SyncNamespaces: namespaces is the platform's whole list, so a
	// remote Bus sends it to the Node as authoritative on every (re)connect.
	complete bool
	// sendMu orders control requests to the Node with the changes of namespaces they
	// carry, so that a resync's snapshot never reaches the Node after a later change.
	sendMu     sync.Mutex
	namespaces map[string]bool      // namespaces allowed to connect
	clients    map[string]*nsClient // the platform's go-micro client per namespace
	// noJetStream holds the admitted namespaces whose account could not get JetStream
	// (embedded), with the reason; they are tried again every Options.JetStreamRetry.
	noJetStream map[string]error

	splitMu sync.Mutex
	splits  map[string]*splits // namespace → its split services (SplitCalls)

	devs        developers    // admitted developer credentials (Options.Developers)
	devFailures *rate.Limiter // failed developer authentications (admitDeveloper)
}

// New validates opts and returns a Bus that is not started yet.
func New(opts Options) (*Bus, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	if opts.Remote == "" {
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("natsbus: create data dir: %w", err)
		}
	}
	return &Bus{
		opts:       opts,
		ready:      make(chan struct{}),
		namespaces: make(map[string]bool),
		removed:    make(map[string]bool),
		clients:    make(map[string]*nsClient),

		devFailures: rate.NewLimiter(devFailuresPerSecond, devFailureBurst),

		noJetStream: make(map[string]error),
	}, nil
}

// Start runs the NATS server until ctx ends, then closes the platform's connections and
// shuts the server down. It returns an error if the server cannot start.
func (b *Bus) Start(ctx context.Context) error {
	b.mu.Lock()
	started := b.started
	b.started = true
	b.mu.Unlock()
	if started {
		return errors.New("natsbus: Start called twice")
	}
	if b.opts.Remote != "" {
		return b.startRemote(ctx)
	}
	so := b.serverOptions()
	srv, err := server.NewServer(so)
	if err != nil {
		return fmt.Errorf("natsbus: configure server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("natsbus: server not ready after 30s")
	}

	b.mu.Lock()
	b.srv = srv
	var errs []error
	if b.control {
		if _, err := srv.RegisterAccount(b.controlAccount()); err != nil {
			errs = append(errs, fmt.Errorf("natsbus: register control account: %w", err))
		}
	}
	if err := b.registerUsageAccountLocked(); err != nil {
		// Metering waits for the usage account; the mesh serves without it.
		b.opts.Logger.Warn("usage account without JetStream: metering is off", "err", err)
	}
	// A namespace whose account cannot get JetStream (the disk is full) does not keep
	// the server from starting: it is admitted without and tried again later.
	for ns := range b.namespaces {
		b.registerAccountLocked(ns)
	}
	b.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		srv.Shutdown()
		return err
	}
	close(b.ready)
	if g := b.opts.Gateway; g.enabled() {
		b.opts.Logger.Info("nats server ready, without JetStream: it joins the supercluster", "url", srv.ClientURL(),
			"region", g.Name, "gateway", b.GatewayURL(), "seeds", len(g.Seeds))
	} else {
		b.opts.Logger.Info("nats server ready", "url", srv.ClientURL(), "dir", b.opts.Dir)
	}

	if b.opts.Developers != nil {
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		go b.sweepDevelopers(sctx, srv)
	}

	retry := time.NewTicker(b.opts.JetStreamRetry)
	defer retry.Stop()
	var (
		regions <-chan time.Time // nil without gateways
		watch   regionWatch
	)
	if b.opts.Gateway.enabled() {
		t := time.NewTicker(regionsPoll)
		defer t.Stop()
		regions = t.C
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-retry.C:
			b.retryJetStream()
		case <-regions:
			watch.check(b)
		}
	}

	b.closeClients()
	srv.Shutdown()
	srv.WaitForShutdown()
	b.opts.Logger.Info("nats server stopped")
	return nil
}

// serverOptions returns the embedded server's options.
func (b *Bus) serverOptions() *server.Options {
	port := b.opts.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	so := &server.Options{
		ServerName:                 "platform",
		Host:                       b.opts.Host,
		Port:                       port,
		JetStream:                  true,
		StoreDir:                   b.opts.Dir,
		NoSigs:                     true,
		NoLog:                      true,
		MaxPayload:                 MaxPayload,
		CustomClientAuthentication: &authenticator{bus: b},
	}
	if b.opts.Gateway.enabled() {
		b.configureGateway(so)
	}
	return so
}

// closeClients closes the platform's namespace connections for good, at shutdown.
func (b *Bus) closeClients() {
	b.mu.Lock()
	b.stopped = true
	clients := b.clients
	b.clients = make(map[string]*nsClient)
	b.mu.Unlock()
	for _, c := range clients {
		c.close()
	}
}

// Ready is closed once the server accepts connections.
func (b *Bus) Ready() <-chan struct{} { return b.ready }

// WaitReady blocks until the server accepts connections or ctx ends.
func (b *Bus) WaitReady(ctx context.Context) error {
	select {
	case <-b.ready:
		return nil
	case <-ctx.Done():
		return platform.Errorf(platform.EUNAVAILABLE, "nats server not ready: %v", ctx.Err())
	}
}

// ClientURL is the URL instances use, without credentials, e.g.
// "nats://127.0.0.1:4222"; "" before the server is ready (remote: connected).
func (b *Bus) ClientURL() string {
	addr := b.advertise()
	if addr == "" {
		return ""
	}
	return "nats://" + addr
}

// Port returns the TCP port the embedded server listens on, 0 before ready or with Remote.
func (b *Bus) Port() int {
	b.mu.RLock()
	srv := b.srv
	b.mu.RUnlock()
	if srv == nil {
		return 0
	}
	if tcp, ok := srv.Addr().(*net.TCPAddr); ok {
		return tcp.Port
	}
	return 0
}

// advertise returns the host:port instances dial, "" before ready.
func (b *Bus) advertise() string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	_, adv := b.addrsLocked()
	return adv
}

// addrsLocked returns the host:port the platform dials and the one instances dial, ""
// before ready. Embedded, both are the advertised address.
func (b *Bus) addrsLocked() (dial, advertise string) {
	if b.opts.Remote == "" {
		a := b.advertiseFor(b.srv)
		return a, a
	}
	if b.ctl == nil {
		return "", ""
	}
	dial, _ = remoteAddr(b.opts.Remote)
	advertise = dial
	if a := b.opts.Advertise; a != "" {
		advertise = a
		if _, _, err := net.SplitHostPort(a); err != nil {
			_, port, _ := net.SplitHostPort(dial)
			advertise = net.JoinHostPort(a, port)
		}
	}
	return dial, advertise
}

// advertiseFor is advertise for a given server; it takes no lock.
func (b *Bus) advertiseFor(srv *server.Server) string {
	if srv == nil {
		return ""
	}
	// A server that is shutting down has no address any more.
	tcp, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	if a := b.opts.Advertise; a != "" {
		if _, _, err := net.SplitHostPort(a); err == nil {
			return a
		}
		return net.JoinHostPort(a, strconv.Itoa(tcp.Port))
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// password derives the NATS password of namespace ns from the master secret.
func (b *Bus) password(ns string) string {
	m := hmac.New(sha256.New, b.opts.Secret)
	m.Write([]byte("nats:" + ns))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// namespaceURL returns the namespace's nats:// URL with its credentials on addr
// (host:port, "" when not ready). It must never be logged.
func (b *Bus) namespaceURL(addr, ns string) (string, error) {
	if addr == "" {
		return "", platform.Errorf(platform.EUNAVAILABLE, "nats server is not running")
	}
	u := url.URL{Scheme: "nats", User: url.UserPassword(userPrefix+ns, b.password(ns)), Host: addr}
	return u.String(), nil
}

// EnsureNamespace allows ns to connect, creating its account (with JetStream) when the
// server runs, or as soon as it starts. EINVALID for a bad name. Idempotent.
func (b *Bus) EnsureNamespace(ctx context.Context, ns string) error {
	if err := platform.ValidateName("namespace", ns); err != nil {
		return err
	}
	if b.opts.Remote != "" {
		b.sendMu.Lock()
		defer b.sendMu.Unlock()
	}
	b.mu.Lock()
	b.namespaces[ns] = true
	delete(b.removed, ns)
	if b.opts.Remote != "" {
		ctl := b.ctl
		b.mu.Unlock()
		if ctl == nil {
			return nil // sent when the control connection is up
		}
		return b.controlRequest(ctx, ctl, opEnsure, []byte(ns))
	}
	defer b.mu.Unlock()
	if b.srv == nil {
		return nil
	}
	b.registerAccountLocked(ns)
	return nil
}

// PrepareNamespace checks, before the platform stores a new namespace, that the mesh can
// take it, and prepares its account: the disk holding the JetStream data has at least
// Options.MinFreeDisk free and the account gets JetStream. EUNAVAILABLE, naming the
// disk, when it cannot; EINVALID for a bad name. It does not admit the namespace (see
// EnsureNamespace). Before Start, with Remote (the Node's disk is the Node's) and in a
// supercluster (no JetStream, see GatewayOptions), it only validates the name.
func (b *Bus) PrepareNamespace(ctx context.Context, ns string) error {
	if err := platform.ValidateName("namespace", ns); err != nil {
		return err
	}
	if b.opts.Remote != "" || !b.jetStream() {
		return nil
	}
	if min := b.opts.MinFreeDisk; min > 0 {
		if free := diskFree(b.opts.Dir); free >= 0 && free < min {
			return b.diskError(ns, fmt.Sprintf("%s free, %s needed", formatBytes(free), formatBytes(min)))
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil {
		return nil
	}
	acc, _ := b.srv.LookupOrRegisterAccount(ns)
	if err := b.enableJetStreamLocked(acc); err != nil {
		b.opts.Logger.Warn("namespace refused: its account cannot get JetStream", "namespace", ns, "dir", b.opts.Dir, "err", err)
		return b.diskError(ns, err.Error())
	}
	return nil
}

// diskError is the EUNAVAILABLE of a namespace the disk holding Dir has no room for.
func (b *Bus) diskError(ns, why string) error {
	return platform.Errorf(platform.EUNAVAILABLE, "no room for namespace %s's messaging on the disk of %s (%s)", ns, b.opts.Dir, why).
		WithHint("free space on that disk (or give the server a data dir on a larger one) and try again")
}

// formatBytes renders n bytes in MiB, or in bytes when smaller.
func formatBytes(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

// SyncNamespaces ensures every namespace in names and declares that the Bus now knows
// every namespace of the platform: the control plane calls it once at start, after
// listing the stored namespaces. Namespaces ensured meanwhile by other calls are kept.
//
// It matters for a remote Bus: from then on it sends the Node its whole namespace list
// on every (re)connect, now and here, and the Node removes every namespace not in it, so
// a namespace removed while the Node was away, and forgotten by a platform restart,
// is removed on the Node too. Before SyncNamespaces the Bus only adds namespaces and
// removes those it removed itself, so a platform that is starting never wipes the Node.
//
// EINVALID for a bad name (nothing changes); EUNAVAILABLE if the Node could not be
// told, in which case it is told at the next reconnect.
func (b *Bus) SyncNamespaces(ctx context.Context, names []string) error {
	var errs []error
	for _, ns := range names {
		if err := platform.ValidateName("namespace", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if b.opts.Remote == "" {
		for _, ns := range names {
			if err := b.EnsureNamespace(ctx, ns); err != nil {
				return err
			}
		}
		b.mu.Lock()
		b.complete = true
		b.mu.Unlock()
		return nil
	}
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	b.mu.Lock()
	for _, ns := range names {
		b.namespaces[ns] = true
		delete(b.removed, ns)
	}
	b.complete = true
	ctl := b.ctl
	b.mu.Unlock()
	if ctl == nil {
		return nil // sent when the control connection is up
	}
	return b.resyncLocked(ctx)
}

// registerAccountLocked creates ns's account if missing and enables JetStream on it
// (none in a supercluster). An account that cannot get JetStream (nats-server refuses it
// when the disk is full) still admits the namespace's connections, so its services
// register, call and publish; it is recorded in noJetStream, logged once and tried
// again every Options.JetStreamRetry.
func (b *Bus) registerAccountLocked(ns string) {
	acc, _ := b.srv.LookupOrRegisterAccount(ns)
	if !b.jetStream() {
		return
	}
	if err := b.enableJetStreamLocked(acc); err != nil {
		if _, logged := b.noJetStream[ns]; !logged {
			b.opts.Logger.Warn("namespace admitted without JetStream; retrying", "namespace", ns, "dir", b.opts.Dir,
				"every", b.opts.JetStreamRetry, "err", err)
		}
		b.noJetStream[ns] = err
		return
	}
	if _, was := b.noJetStream[ns]; was {
		delete(b.noJetStream, ns)
		b.opts.Logger.Info("namespace account got JetStream", "namespace", ns)
	}
}

// enableJetStreamLocked enables JetStream on acc with the namespace limits, unless it
// has it already.
func (b *Bus) enableJetStreamLocked(acc *server.Account) error {
	if acc.JetStreamEnabled() {
		return nil
	}
	limits := map[string]server.JetStreamAccountLimits{"": {
		MaxMemory:     b.opts.JetStreamMaxMemory,
		MaxStore:      b.opts.JetStreamMaxStore,
		MaxStreams:    -1,
		MaxConsumers:  -1,
		MaxAckPending: -1,
	}}
	if err := acc.EnableJetStream(limits, nil); err != nil {
		return fmt.Errorf("enable jetstream for namespace %s: %w", acc.Name, err)
	}
	b.opts.Logger.Info("namespace account ready", "namespace", acc.Name)
	return nil
}

// retryJetStream tries again to enable JetStream on the admitted namespaces that have
// none.
func (b *Bus) retryJetStream() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv == nil {
		return
	}
	for ns := range b.noJetStream {
		if !b.namespaces[ns] {
			delete(b.noJetStream, ns)
			continue
		}
		b.registerAccountLocked(ns)
	}
}

// withoutJetStream returns the admitted namespaces whose account has no JetStream yet.
func (b *Bus) withoutJetStream() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	names := make([]string, 0, len(b.noJetStream))
	for ns := range b.noJetStream {
		names = append(names, ns)
	}
	slices.Sort(names)
	return names
}

// RemoveNamespace revokes ns: new connections are refused and existing ones (the
// namespace's instances and the platform's own) are closed. Its JetStream data stays in
// Dir. Idempotent. With Remote, a removal the Node could not be told about (EUNAVAILABLE,
// or before Start) is sent again at the next (re)connect; after SyncNamespaces, the full
// list sent at each (re)connect also removes it, even if the platform restarted since.
func (b *Bus) RemoveNamespace(ctx context.Context, ns string) error {
	if b.opts.Remote != "" {
		b.sendMu.Lock()
		defer b.sendMu.Unlock()
	}
	b.mu.Lock()
	delete(b.namespaces, ns)
	delete(b.noJetStream, ns)
	c := b.clients[ns]
	delete(b.clients, ns)
	srv, ctl := b.srv, b.ctl
	if b.opts.Remote != "" {
		// Until the Node confirms, the removal is re-sent on every (re)connect.
		b.removed[ns] = true
	}
	b.mu.Unlock()
	if c != nil {
		c.close()
	}
	if b.opts.Remote != "" {
		if ctl == nil {
			return nil
		}
		if err := b.controlRequest(ctx, ctl, opRemove, []byte(ns)); err != nil {
			return err
		}
		b.mu.Lock()
		if !b.namespaces[ns] {
			delete(b.removed, ns)
		}
		b.mu.Unlock()
		return nil
	}
	if srv == nil {
		return nil
	}
	connz, err := srv.Connz(&server.ConnzOptions{Account: ns, Limit: 1 << 20})
	if err != nil {
		return fmt.Errorf("natsbus: list connections of namespace %s: %w", ns, err)
	}
	for _, ci := range connz.Conns {
		// A connection that closed meanwhile is not an error.
		_ = srv.DisconnectClientByID(ci.Cid)
	}
	b.opts.Logger.Info("namespace revoked", "namespace", ns, "closed_connections", len(connz.Conns))
	return nil
}

// allowed reports whether ns may connect and returns its account.
func (b *Bus) allowed(ns string) (*server.Account, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if !b.namespaces[ns] || b.srv == nil {
		return nil, false
	}
	acc, err := b.srv.LookupAccount(ns)
	if err != nil {
		return nil, false
	}
	return acc, true
}

// InstanceEnv returns the MICRO_* environment that puts a go-micro service calling
// service.Init() into ns: registry, broker and transport all over ns's NATS account.
// The values hold credentials: never log them. ENOTFOUND for a namespace not ensured,
// EUNAVAILABLE before the server is ready.
//
// Instances should not be given a fixed MICRO_SERVER_ADDRESS: with the NATS transport
// the server address is the NATS subject the instance listens on, a unique inbox when
// left unset. Instances sharing one (e.g. "127.0.0.1:0") all receive every request sent
// to any of them, and the first answer wins, often "can't find service" from the wrong
// one.
func (b *Bus) InstanceEnv(ns string) (map[string]string, error) {
	b.mu.RLock()
	known := b.namespaces[ns]
	_, addr := b.addrsLocked()
	b.mu.RUnlock()
	if !known {
		return nil, platform.Errorf(platform.ENOTFOUND, "namespace %q has no mesh account", ns)
	}
	u, err := b.namespaceURL(addr, ns)
	if err != nil {
		return nil, err
	}
	return meshEnv(u), nil
}

// meshEnv is go-micro's registry, broker and transport, all NATS at u.
func meshEnv(u string) map[string]string {
	return map[string]string{
		"MICRO_REGISTRY":          "nats",
		"MICRO_REGISTRY_ADDRESS":  u,
		"MICRO_BROKER":            "nats",
		"MICRO_BROKER_ADDRESS":    u,
		"MICRO_TRANSPORT":         "nats",
		"MICRO_TRANSPORT_ADDRESS": u,
	}
}
