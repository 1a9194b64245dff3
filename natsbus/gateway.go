package natsbus

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/micro/platform"
)

// DefaultGatewayPort is the port of a gateway seed URL that names none (NATS's usual
// gateway port).
const DefaultGatewayPort = 7222

// DefaultGatewayPingInterval is GatewayOptions.PingInterval when unset.
const DefaultGatewayPingInterval = 5 * time.Second

// gatewayUser is the NATS user every region's server presents to the others on its
// gateway connections. It is no namespace user: gateway connections are authorised by
// the server's gateway settings, never by the namespace authenticator.
const gatewayUser = "platform-gateway"

// gatewayConnectRetries is how many times a server tries to reconnect to a region it
// learned from another (an implicit gateway) once the connection is lost, about one a
// second, before forgetting it; regions named in Seeds are retried for ever.
const gatewayConnectRetries = 3600

// regionsPoll is how often a Bus with gateways checks which regions it is connected to
// (see regionWatch).
const regionsPoll = 250 * time.Millisecond

// GatewayOptions join an embedded server (a Bus without Remote, or a Node) to the
// platform's NATS supercluster: every region is a NATS cluster of its own, named after
// the region, linked to the other regions' servers by NATS gateways (not the platform's
// HTTP gateway). A namespace's account in one region then reaches the account of the
// same name in every other region that has it, and no other account.
//
// A server in the supercluster runs without JetStream: nats-server runs JetStream on
// a server with a gateway only in clustered mode, whose metadata group spans every
// region (a region could not create a stream without a quorum of all regions) and
// which deletes, as orphans, the streams a standalone server kept; without cluster
// routes it refuses to start JetStream at all. The JetStream data in Dir stays on disk,
// unused, and is served again if the gateway is turned off.
type GatewayOptions struct {
	// Name is the region's name, the name of its NATS cluster; unique across the
	// platform. "" leaves gateways off, and every other field must be empty then.
	Name string
	// Host is the interface the gateway listens on; "" means Options.Host.
	Host string
	// Port is the gateway port; 0 picks a free one (see Bus.GatewayURL).
	Port int
	// Advertise is the host[:port] the other regions dial, for when it differs from
	// the listen address (NAT, containers); without a port, the listen port. Default:
	// the listen address (a non-loopback address of the host for 0.0.0.0).
	Advertise string
	// Secret is shared by every region of the platform: the password of the gateway
	// connections is derived from it. It is no namespace credential. Required, at
	// least 16 bytes.
	Secret []byte
	// Seeds are gateway URLs of other regions, by region name, e.g.
	// {"nyc1": "nats://nyc1.example.com:7222"}; an entry for this region is ignored.
	// One reachable seed is enough: the regions it knows are learned from it (NATS
	// gateway gossip), and a region that joins later is learned by every region it
	// reaches. A seed is retried for ever; a region learned from another is forgotten
	// after about an hour unreachable. ParseGatewaySeeds reads them from a flag.
	Seeds map[string]string
	// TLS secures the gateway connections, both ways: nil leaves them plain TCP, so the
	// gateway password and every namespace's messages cross the network in clear (run
	// the gateways over a private network or VPN then). One config serves both
	// directions: Certificates is presented when accepting and when connecting,
	// RootCAs verifies the regions dialled (by the host of their URL), and ClientCAs
	// with ClientAuth tls.RequireAndVerifyClientCert makes the dialling side prove
	// itself too. Every region needs TLS then: a region without it is refused.
	TLS *tls.Config
	// PingInterval is how often the server pings each of its connections (NATS's
	// ping_interval, server-wide, so its clients too): a region that vanished without
	// closing its connections (a partition, a host that died) is noticed after two
	// unanswered pings, about three intervals. 0 means DefaultGatewayPingInterval.
	PingInterval time.Duration
}

// enabled reports whether the server joins a supercluster.
func (g *GatewayOptions) enabled() bool { return g.Name != "" }

// validate reports every problem with g.
func (g *GatewayOptions) validate(remote string) []error {
	if !g.enabled() {
		if g.Host != "" || g.Port != 0 || g.Advertise != "" || len(g.Secret) > 0 || len(g.Seeds) > 0 || g.PingInterval != 0 || g.TLS != nil {
			return []error{platform.Errorf(platform.EINVALID, "natsbus: Gateway.Name (the region) is required to configure gateways")}
		}
		return nil
	}
	var errs []error
	if err := platform.ValidateName("region", g.Name); err != nil {
		errs = append(errs, fmt.Errorf("natsbus: Gateway.Name: %w", err))
	}
	if remote != "" {
		errs = append(errs, platform.Errorf(platform.EINVALID, "natsbus: a Bus with Remote cannot have gateways").
			WithHint("configure the gateway on the mesh node the Bus points at"))
	}
	if len(g.Secret) < 16 {
		errs = append(errs, platform.Errorf(platform.EINVALID, "natsbus: Gateway.Secret must be at least 16 bytes"))
	}
	if g.Port < 0 || g.Port > 65535 {
		errs = append(errs, platform.Errorf(platform.EINVALID, "natsbus: Gateway.Port %d out of range", g.Port))
	}
	if g.PingInterval < 0 {
		errs = append(errs, platform.Errorf(platform.EINVALID, "natsbus: Gateway.PingInterval must not be negative"))
	}
	if a := g.Advertise; a != "" {
		if _, err := parseAdvertise(a); err != nil {
			errs = append(errs, platform.Errorf(platform.EINVALID, "natsbus: Gateway.Advertise %q is not a host[:port]", a))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(g.Seeds)) {
		if err := platform.ValidateName("region", name); err != nil {
			errs = append(errs, fmt.Errorf("natsbus: gateway seed: %w", err))
		}
		if _, err := gatewaySeedURL(g.Seeds[name]); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// parseAdvertise checks a host[:port].
func parseAdvertise(a string) (string, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		host, port = a, ""
		if strings.ContainsAny(a, ":/@ ") {
			return "", err
		}
	}
	if host == "" {
		return "", errors.New("no host")
	}
	if port != "" {
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return "", errors.New("bad port")
		}
	}
	return a, nil
}

// gatewaySeedURL parses a seed, nats://HOST[:PORT] without credentials (they are
// derived from Gateway.Secret); the port defaults to DefaultGatewayPort.
func gatewaySeedURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "nats" || u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, platform.Errorf(platform.EINVALID, "natsbus: gateway seed %q is not a nats://HOST[:PORT] URL without credentials", raw).
			WithHint("e.g. nats://fra1.example.com:7222, the gateway URL the other region's server reports")
	}
	port := u.Port()
	if port == "" {
		port = strconv.Itoa(DefaultGatewayPort)
	}
	return &url.URL{Scheme: "nats", Host: net.JoinHostPort(u.Hostname(), port)}, nil
}

// ParseGatewaySeeds reads GatewayOptions.Seeds from a flag's text: comma-separated
// REGION=URL pairs, e.g. "fra1=nats://fra1.example.com:7222,nyc1=nats://10.0.0.7:7222".
// EINVALID, naming every bad pair, for a malformed one or a region named twice.
func ParseGatewaySeeds(s string) (map[string]string, error) {
	seeds := make(map[string]string)
	var errs []error
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, u, ok := strings.Cut(pair, "=")
		name, u = strings.TrimSpace(name), strings.TrimSpace(u)
		switch {
		case !ok:
			errs = append(errs, platform.Errorf(platform.EINVALID, "gateway seed %q is not REGION=nats://HOST:PORT", pair))
			continue
		case seeds[name] != "":
			errs = append(errs, platform.Errorf(platform.EINVALID, "gateway seed region %q named twice", name))
			continue
		}
		if err := platform.ValidateName("region", name); err != nil {
			errs = append(errs, fmt.Errorf("gateway seed: %w", err))
		}
		if _, err := gatewaySeedURL(u); err != nil {
			errs = append(errs, err)
		}
		seeds[name] = u
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return seeds, nil
}

// gatewayPassword derives the gateway connections' password from the gateway secret.
// Its HMAC input is no namespace's ("nats:" + name).
func (b *Bus) gatewayPassword() string {
	m := hmac.New(sha256.New, b.opts.Gateway.Secret)
	m.Write([]byte("nats-gateway"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// configureGateway sets the server options that join the supercluster: the region's
// cluster and gateway, a server name unique across regions (nats-server refuses a
// gateway from a server of its own name), and no JetStream (see GatewayOptions).
func (b *Bus) configureGateway(so *server.Options) {
	g := b.opts.Gateway
	so.ServerName = "platform-" + g.Name
	so.JetStream = false
	so.StoreDir = ""
	so.PingInterval = g.PingInterval
	port := g.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	so.Gateway = server.GatewayOpts{
		Name:           g.Name,
		Host:           g.Host,
		Port:           port,
		Advertise:      g.Advertise,
		Username:       gatewayUser,
		Password:       b.gatewayPassword(),
		ConnectRetries: gatewayConnectRetries,
	}
	if g.TLS != nil {
		so.Gateway.TLSConfig = g.TLS.Clone()
	}
	for _, name := range slices.Sorted(maps.Keys(g.Seeds)) {
		if name == g.Name {
			continue
		}
		u, _ := gatewaySeedURL(g.Seeds[name]) // checked by validate
		so.Gateway.Gateways = append(so.Gateway.Gateways, &server.RemoteGatewayOpts{Name: name, URLs: []*url.URL{u}})
	}
}

// jetStream reports whether the namespaces' accounts get JetStream: not in a
// supercluster (see configureGateway), nor on the far side of Remote.
func (b *Bus) jetStream() bool { return !b.opts.Gateway.enabled() }

// GatewayURL is the gateway URL other regions use as a seed, e.g.
// "nats://10.0.0.5:7222": the advertised address, with the port chosen when
// Gateway.Port is 0. "" without gateways or before the server is ready.
func (b *Bus) GatewayURL() string {
	srv := b.server()
	if srv == nil || !b.opts.Gateway.enabled() {
		return ""
	}
	gz, err := srv.Gatewayz(nil)
	if err != nil || gz.Host == "" || gz.Port <= 0 {
		return ""
	}
	return "nats://" + net.JoinHostPort(gz.Host, strconv.Itoa(gz.Port))
}

// Region is the region named in Gateway.Name, "" without gateways.
func (b *Bus) Region() string { return b.opts.Gateway.Name }

// ConnectedRegions lists, sorted, the other regions this server has gateway
// connections to in both directions (NATS gateways are one connection each way), so
// that messages flow to and from them; nil without gateways or before ready.
func (b *Bus) ConnectedRegions() []string {
	srv := b.server()
	if srv == nil || !b.opts.Gateway.enabled() {
		return nil
	}
	gz, err := srv.Gatewayz(nil)
	if err != nil {
		return nil
	}
	var names []string
	for name := range gz.OutboundGateways {
		if len(gz.InboundGateways[name]) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// regionWatch follows the set of connected regions (Bus.Start checks it every
// regionsPoll). When the set changes it logs the change and makes the platform's
// registry caches ask again, so that the nodes of a region that went away leave
// Services and Call at once rather than after the cache's node TTL, and those of a
// region that arrived show without waiting for their next registration (go-micro
// re-registers every 30s). The caches ask once more a second later: a region's
// subscriptions (those that answer registry queries) cross the gateway a moment after
// its connection is up.
type regionWatch struct {
	last  []string
	again time.Time // when to expire the caches once more; zero: not planned
}

func (w *regionWatch) check(b *Bus) {
	now := b.ConnectedRegions()
	if slices.Equal(now, w.last) {
		if !w.again.IsZero() && time.Now().After(w.again) {
			w.again = time.Time{}
			b.expireCaches()
		}
		return
	}
	for _, r := range w.last {
		if !slices.Contains(now, r) {
			b.opts.Logger.Warn("region disconnected", "region", r)
		}
	}
	for _, r := range now {
		if !slices.Contains(w.last, r) {
			b.opts.Logger.Info("region connected", "region", r)
		}
	}
	w.last = now
	b.expireCaches()
	w.again = time.Now().Add(time.Second)
}

// expireCaches makes every namespace client's registry cache ask the registry again.
func (b *Bus) expireCaches() {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, c := range b.clients {
		c.cache.expireAll()
	}
}
