package network

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	platform "github.com/micro/platform"
)

// sys is the Linux part of a Network: the host's network namespace, and a netlink handle
// on it (so nothing depends on the namespace of the calling thread).
type sys struct {
	hostNS netns.NsHandle
	host   *netlink.Handle
}

// Setup creates or adopts, in the network namespace of the calling thread (the host's,
// unless the caller moved its locked thread elsewhere), the bridge, gives it Gateway()/bits, brings it up, sets
// net.ipv4.ip_forward=1 and the bridge's sysctls (IPv6 off, strict reverse-path filter, no
// redirects), and replaces the nftables table's content in one transaction (see the
// package doc). It is idempotent: calling it again after a crash or restart adopts what is
// there, and a changed HostPorts or Blocked takes effect at once. Setup first runs Probe,
// so on a host that cannot sandbox networks it fails with EUNAVAILABLE naming what is
// missing, having changed nothing; a Subnet that overlaps the host's networks is ECONFLICT.
func Setup(opts Options) (*Network, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := Probe(); err != nil {
		return nil, err
	}
	n := newNetwork(o)
	// The calling thread's namespace is the host's. (Not /proc/self/ns/net: that is the
	// main thread's, which a goroutine locked to it may have moved elsewhere.)
	n.hostNS, err = netns.Get()
	if err != nil {
		return nil, unavailable("netns", err)
	}
	n.host, err = netlink.NewHandleAt(n.hostNS, unix.NETLINK_ROUTE)
	if err != nil {
		n.hostNS.Close()
		return nil, unavailable("netlink", err)
	}
	if err := n.setup(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

func (n *Network) setup() error {
	if err := n.checkClash(); err != nil {
		return err
	}
	br, err := n.ensureBridge()
	if err != nil {
		return err
	}
	if err := n.sysctls(); err != nil {
		return err
	}
	if err := n.host.LinkSetUp(br); err != nil {
		return unavailable("bridge "+n.opts.Bridge+": up", err)
	}
	return n.installRules()
}

// checkClash fails with ECONFLICT when the subnet overlaps an address or a route of the
// host other than the bridge's own (default routes aside).
func (n *Network) checkClash() error {
	links, err := dump(n.host.LinkList)
	if err != nil {
		return unavailable("netlink: list links", err)
	}
	names := map[int]string{}
	bridge := 0
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		if l.Attrs().Name == n.opts.Bridge {
			bridge = l.Attrs().Index
		}
	}
	clash := func(what string, p netip.Prefix, link int) error {
		return platform.Errorf(platform.ECONFLICT, "sandbox network: subnet %s overlaps %s %s on %s", n.opts.Subnet, what, p, names[link]).
			WithHint("choose another subnet for the sandbox network, one no host interface or route uses")
	}
	addrs, err := dump(func() ([]netlink.Addr, error) { return n.host.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return unavailable("netlink: list addresses", err)
	}
	for _, a := range addrs {
		p, ok := prefixOf(a.IPNet)
		if ok && a.LinkIndex != bridge && p.Overlaps(n.opts.Subnet) {
			return clash("address", p, a.LinkIndex)
		}
	}
	routes, err := dump(func() ([]netlink.Route, error) { return n.host.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return unavailable("netlink: list routes", err)
	}
	for _, r := range routes {
		p, ok := prefixOf(r.Dst)
		if ok && p.Bits() > 0 && r.LinkIndex != bridge && p.Overlaps(n.opts.Subnet) {
			return clash("route", p, r.LinkIndex)
		}
	}
	return nil
}

// ensureBridge creates the bridge, or adopts the one there, and leaves it with exactly the
// gateway's address and a hardware address of its own (bridgeMAC).
func (n *Network) ensureBridge() (netlink.Link, error) {
	name := n.opts.Bridge
	l, err := n.host.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		err = n.host.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, unavailable("bridge "+name, err)
		}
		l, err = n.host.LinkByName(name)
	}
	if err != nil {
		return nil, unavailable("bridge "+name, err)
	}
	if l.Type() != "bridge" {
		return nil, platform.Errorf(platform.ECONFLICT, "sandbox network: %s exists and is a %s, not a bridge", name, l.Type())
	}
	want := &netlink.Addr{IPNet: &net.IPNet{IP: n.gateway.AsSlice(), Mask: net.CIDRMask(n.opts.Subnet.Bits(), 32)}}
	addrs, err := dump(func() ([]netlink.Addr, error) { return n.host.AddrList(l, netlink.FAMILY_V4) })
	if err != nil {
		return nil, unavailable("bridge "+name+": addresses", err)
	}
	for _, a := range addrs {
		if a.IPNet.String() != want.IPNet.String() {
			if err := n.host.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return nil, unavailable("bridge "+name+": remove "+a.IPNet.String(), err)
			}
		}
	}
	if err := n.host.AddrReplace(l, want); err != nil {
		return nil, unavailable("bridge "+name+": address", err)
	}
	if mac := bridgeMAC(name); !bytes.Equal(l.Attrs().HardwareAddr, mac) {
		if err := n.host.LinkSetHardwareAddr(l, mac); err != nil {
			return nil, unavailable("bridge "+name+": hardware address", err)
		}
	}
	return l, nil
}

// bridgeMAC is the bridge's hardware address: locally administered, from a hash of its
// name. A bridge without one set takes the lowest of its ports' addresses, so it changed
// whenever the instance holding that port stopped (a rollout's old release), and every
// other instance's neighbour entry for the gateway went stale: their packets to the
// platform were lost for seconds, until the entry was probed again.
func bridgeMAC(name string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("micro-platform bridge\x00" + name))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&^0x01 | 0x02 // unicast, locally administered
	return mac
}

// sysctls turns forwarding on, and IPv6, redirects and loose reverse-path filtering off
// on the bridge.
func (n *Network) sysctls() error {
	br := n.opts.Bridge
	settings := []struct {
		path, value string
		optional    bool
	}{
		{"net/ipv4/ip_forward", "1", false},
		{"net/ipv4/conf/" + br + "/forwarding", "1", false},
		{"net/ipv4/conf/" + br + "/rp_filter", "1", false},
		{"net/ipv4/conf/" + br + "/send_redirects", "0", false},
		{"net/ipv4/conf/" + br + "/accept_redirects", "0", false},
		{"net/ipv4/conf/" + br + "/route_localnet", "0", false},
		{"net/ipv6/conf/" + br + "/disable_ipv6", "1", true}, // no such file: IPv6 is off
	}
	return inNetns(n.hostNS, func() error {
		for _, s := range settings {
			if err := writeSysctl(s.path, s.value); err != nil {
				if s.optional && errors.Is(err, os.ErrNotExist) {
					continue
				}
				return unavailable("sysctl "+strings.ReplaceAll(s.path, "/", "."), err)
			}
		}
		return nil
	})
}

// writeSysctl writes value to /proc/sys/path unless it holds it already. The file
// belongs to the network namespace of the calling thread.
func writeSysctl(path, value string) error {
	p := filepath.Join("/proc/sys", path)
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == value {
		return nil
	}
	return os.WriteFile(p, []byte(value), 0o644)
}

// Teardown deletes the nftables table, the host ends of the veth pairs still on the bridge,
// and the bridge, then closes n. It leaves net.ipv4.ip_forward as it is: other software may
// rely on it. Instances still running lose their network.
func (n *Network) Teardown() error {
	if n.host == nil {
		return errClosed()
	}
	var errs []error
	if err := n.deleteTable(); err != nil {
		errs = append(errs, err)
	}
	if br, err := n.host.LinkByName(n.opts.Bridge); err == nil {
		links, err := dump(n.host.LinkList)
		if err != nil {
			errs = append(errs, unavailable("netlink: list links", err))
		}
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index && l.Type() == "veth" {
				if err := n.host.LinkDel(l); err != nil && !isGone(err) {
					errs = append(errs, unavailable("delete "+l.Attrs().Name, err))
				}
			}
		}
		if err := n.host.LinkDel(br); err != nil && !isGone(err) {
			errs = append(errs, unavailable("delete bridge "+n.opts.Bridge, err))
		}
	} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
		errs = append(errs, unavailable("bridge "+n.opts.Bridge, err))
	}
	n.Close()
	return errors.Join(errs...)
}

// Close releases what n holds open (a namespace handle and a netlink socket). The bridge,
// the rules and the instances' interfaces stay. Attach, Detach and Teardown of a closed
// Network fail with EUNAVAILABLE; Close must not run concurrently with them.
func (n *Network) Close() {
	if n.host != nil {
		n.host.Close()
		n.host = nil
	}
	if n.hostNS.IsOpen() {
		n.hostNS.Close()
	}
}

func errClosed() error {
	return platform.Errorf(platform.EUNAVAILABLE, "sandbox network: closed (torn down)")
}

// isGone reports whether err says a link is already gone.
func isGone(err error) bool {
	return errors.As(err, new(netlink.LinkNotFoundError)) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT)
}

// unavailable is the EUNAVAILABLE error of a failed step: "sandbox network: what: err".
func unavailable(what string, err error) error {
	var pe *platform.Error
	if errors.As(err, &pe) {
		return err
	}
	msg := err.Error()
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		msg += " (needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN)"
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EAFNOSUPPORT), errors.Is(err, unix.EPROTONOSUPPORT):
		msg += " (not supported by this kernel)"
	}
	return platform.Errorf(platform.EUNAVAILABLE, "sandbox network: %s: %s", what, msg).
		WithHint("run the platform as root on a Linux kernel with network namespaces, veth, bridge and nf_tables, or turn the network sandbox off")
}

// inNetns runs fn on a thread in the network namespace ns, and returns its error. The
// thread is switched back afterwards, or discarded when it cannot be.
func inNetns(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		cur, err := netns.Get()
		if err != nil {
			errc <- unavailable("netns", err)
			return // the thread is discarded: it stays locked
		}
		defer cur.Close()
		if err := netns.Set(ns); err != nil {
			errc <- unavailable("netns", err)
			return
		}
		err = fn()
		if netns.Set(cur) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// prefixOf converts a net.IPNet to an IPv4 netip.Prefix.
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	ones, bits := n.Mask.Size()
	if !a.Is4() || bits != 32 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones).Masked(), true
}

// dumpTries bounds how often an interrupted netlink dump is asked again.
const dumpTries = 10

// dump runs a netlink dump until it was not interrupted: the kernel interrupts a dump
// when what it lists changes meanwhile (links of instances starting and stopping), and
// asking again is how netlink is meant to be read then.
func dump[T any](list func() (T, error)) (T, error) {
	var v T
	var err error
	for range dumpTries {
		if v, err = list(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return v, err
}
