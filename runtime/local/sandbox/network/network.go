// Package network gives the sandboxed instances of the local runtime a network of their
// own. Every instance runs in a network namespace of its own (so services that hard-code a
// port such as :9090 never collide) with one interface, eth0, the peer of a veth pair whose
// host end is an isolated port of one bridge (so instances cannot reach each other at L2).
// The bridge holds the subnet's first address, Gateway, and is the instances' default
// route. One nftables table (family inet) decides what they reach:
//
//	input   from the bridge: established/related, and TCP to Gateway():HostPorts (the
//	        namespace's NATS server); everything else is dropped, so no host service is
//	        reachable whatever address it binds, loopback included
//	forward from the bridge: dropped to the subnet itself, accepted to Resolvers on port
//	        53, dropped to Blocked (private, link-local, loopback, multicast ranges: cloud
//	        metadata, the LAN), else accepted
//	forward to the bridge: established/related only
//	postrouting: the subnet is masqueraded when it leaves through any other interface
//
// Everything is done through netlink (github.com/vishvananda/netlink) and nf_tables
// (github.com/google/nftables): no ip, nft or iptables binary is needed on the host.
//
// Setup creates or adopts the bridge and replaces the table's content in one nf_tables
// transaction; it is idempotent, so the platform calls it at every start. Attach gives a
// process that is already in a network namespace of its own (for example started with
// CLONE_NEWNET and waiting on a pipe) its interface; StartAttached starts an exec.Cmd in a
// new, already attached namespace, for tests and callers that have no such gate. Probe
// says whether the host can do all this, without changing anything on it.
//
// Instances get IPv4 only: IPv6 is disabled on the bridge.
package network

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"sync"

	platform "github.com/micro/platform"
)

// Defaults of Options.
const (
	DefaultBridge = "mp0"
	DefaultTable  = "micro_platform"
)

// DefaultSubnet is the instances' subnet when Options.Subnet is zero.
var DefaultSubnet = netip.MustParsePrefix("10.213.0.0/16")

// DefaultBlocked returns the destinations instances never reach when Options.Blocked is
// empty: private (RFC 1918), shared (RFC 6598), link-local (cloud metadata), loopback,
// "this network", multicast and reserved IPv4 ranges, and IPv6 unique-local, link-local and
// loopback.
func DefaultBlocked() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("224.0.0.0/4"),
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("::1/128"),
	}
}

// Options configures Setup. The zero value is the platform's default network.
type Options struct {
	// Bridge is the bridge's name, at most 15 bytes; DefaultBridge when empty.
	Bridge string
	// Subnet is the instances' IPv4 subnet, /8 to /30; DefaultSubnet when zero. It must not
	// overlap an address or route of the host: Setup refuses a clash.
	Subnet netip.Prefix
	// Table is the nftables table (family inet); DefaultTable when empty.
	Table string
	// HostPorts are the TCP ports on Gateway() instances may reach (the NATS port).
	HostPorts []uint16
	// Resolvers are DNS servers (IPv4) instances may reach on port 53, UDP and TCP, even
	// in Blocked ranges: a cloud's or a LAN's resolver is usually a private address.
	Resolvers []netip.Addr
	// Blocked are destinations instances may never reach; DefaultBlocked() when empty.
	Blocked []netip.Prefix
}

// withDefaults returns o with defaults filled in, or an EINVALID error.
func (o Options) withDefaults() (Options, error) {
	if o.Bridge == "" {
		o.Bridge = DefaultBridge
	}
	if !validIfName(o.Bridge) {
		return o, platform.Errorf(platform.EINVALID, "sandbox network: bridge name %q: want 1 to 15 letters, digits, '-', '_' or '.'", o.Bridge)
	}
	if !o.Subnet.IsValid() {
		o.Subnet = DefaultSubnet
	}
	if !o.Subnet.Addr().Is4() {
		return o, platform.Errorf(platform.EINVALID, "sandbox network: subnet %s is not IPv4", o.Subnet)
	}
	if o.Subnet.Bits() < 8 || o.Subnet.Bits() > 30 {
		return o, platform.Errorf(platform.EINVALID, "sandbox network: subnet %s: want a prefix length from /8 to /30", o.Subnet)
	}
	if o.Subnet.Masked() != o.Subnet {
		return o, platform.Errorf(platform.EINVALID, "sandbox network: subnet %s has host bits set (did you mean %s?)", o.Subnet, o.Subnet.Masked())
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if !validTableName(o.Table) {
		return o, platform.Errorf(platform.EINVALID, "sandbox network: table name %q: want 1 to 64 letters, digits or '_', starting with a letter", o.Table)
	}
	ports := slices.Clone(o.HostPorts)
	slices.Sort(ports)
	o.HostPorts = slices.Compact(ports)
	if len(o.HostPorts) > 0 && o.HostPorts[0] == 0 {
		return o, platform.Errorf(platform.EINVALID, "sandbox network: host port 0")
	}
	for _, r := range o.Resolvers {
		if !r.Is4() {
			return o, platform.Errorf(platform.EINVALID, "sandbox network: resolver %v is not an IPv4 address", r)
		}
	}
	if len(o.Blocked) == 0 {
		o.Blocked = DefaultBlocked()
	} else {
		blocked := make([]netip.Prefix, 0, len(o.Blocked))
		for _, p := range o.Blocked {
			if !p.IsValid() {
				return o, platform.Errorf(platform.EINVALID, "sandbox network: invalid blocked prefix %v", p)
			}
			blocked = append(blocked, p.Masked())
		}
		o.Blocked = blocked
	}
	return o, nil
}

func validIfName(s string) bool {
	if len(s) == 0 || len(s) > 15 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.", r)) {
			return false
		}
	}
	return s != "." && s != ".."
}

func validTableName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !(letter || i > 0 && (r >= '0' && r <= '9' || r == '_')) {
			return false
		}
	}
	return true
}

// Network is the instances' network on this host, as set up by Setup. Its methods are
// safe for concurrent use.
type Network struct {
	opts    Options
	gateway netip.Addr
	first   netip.Addr // first address Allocate hands out
	last    netip.Addr // last one

	mu     sync.Mutex
	byID   map[string]netip.Addr
	byAddr map[netip.Addr]string
	next   netip.Addr // where Allocate looks first

	sys // the platform-specific part (netlink handles)
}

// newNetwork returns a Network for normalized options, with nothing set up on the host.
func newNetwork(o Options) *Network {
	base := o.Subnet.Addr()
	b := base.As4()
	host := uint32(1)<<(32-o.Subnet.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	broadcast := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	gw := base.Next()
	return &Network{
		opts:    o,
		gateway: gw,
		first:   gw.Next(),
		last:    broadcast.Prev(),
		next:    gw.Next(),
		byID:    map[string]netip.Addr{},
		byAddr:  map[netip.Addr]string{},
	}
}

// Options returns the options n was set up with, defaults filled in.
func (n *Network) Options() Options {
	o := n.opts
	o.HostPorts = slices.Clone(o.HostPorts)
	o.Resolvers = slices.Clone(o.Resolvers)
	o.Blocked = slices.Clone(o.Blocked)
	return o
}

// Gateway returns the bridge's address: the instances' default route, and the address
// where they reach HostPorts (the platform makes its NATS server listen there).
func (n *Network) Gateway() netip.Addr { return n.gateway }

// Subnet returns the instances' subnet.
func (n *Network) Subnet() netip.Prefix { return n.opts.Subnet }

// HostLink returns the name of the host end of id's veth pair: "mpv" and 12 hex digits of
// a hash of the bridge's name and id, stable and within IFNAMSIZ.
func (n *Network) HostLink(id string) string {
	sum := sha256.Sum256([]byte(n.opts.Bridge + "\x00" + id))
	return "mpv" + hex.EncodeToString(sum[:6])
}

// Allocate returns a free address of the subnet for id, the same one while id holds it.
// Addresses are handed out round robin, so a released one is not reused at once. After a
// restart, Reserve the addresses of the surviving instances before allocating new ones.
func (n *Network) Allocate(id string) (netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a, ok := n.byID[id]; ok {
		return a, nil
	}
	a := n.next
	for {
		if _, used := n.byAddr[a]; !used {
			n.byID[id] = a
			n.byAddr[a] = id
			n.next = n.wrap(a.Next())
			return a, nil
		}
		a = n.wrap(a.Next())
		if a == n.next {
			return netip.Addr{}, platform.Errorf(platform.EUNAVAILABLE, "sandbox network: no free address left in %s", n.opts.Subnet)
		}
	}
}

func (n *Network) wrap(a netip.Addr) netip.Addr {
	if a.Compare(n.last) > 0 {
		return n.first
	}
	return a
}

// Reserve records that id holds addr (an address the runtime persisted before a restart).
// It fails with EINVALID for an address outside the allocatable range (the network,
// gateway and broadcast addresses are not), and ECONFLICT when another id holds addr. An
// address id held before is released.
func (n *Network) Reserve(id string, addr netip.Addr) error {
	if err := n.checkAddr(addr); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if other, ok := n.byAddr[addr]; ok {
		if other == id {
			return nil
		}
		return platform.Errorf(platform.ECONFLICT, "sandbox network: %s is held by %s", addr, other)
	}
	if old, ok := n.byID[id]; ok {
		delete(n.byAddr, old)
	}
	n.byID[id] = addr
	n.byAddr[addr] = id
	return nil
}

// Release frees the address id holds, if any.
func (n *Network) Release(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a, ok := n.byID[id]; ok {
		delete(n.byID, id)
		delete(n.byAddr, a)
	}
}

// checkAddr says whether addr is an instance address of the subnet.
func (n *Network) checkAddr(addr netip.Addr) error {
	if !addr.Is4() || !n.opts.Subnet.Contains(addr) || addr.Compare(n.first) < 0 || addr.Compare(n.last) > 0 {
		return platform.Errorf(platform.EINVALID, "sandbox network: %v is not an instance address of %s (%s to %s)", addr, n.opts.Subnet, n.first, n.last)
	}
	return nil
}
