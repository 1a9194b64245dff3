package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	platform "github.com/micro/platform"
)

// InstanceLink is the name of an instance's interface inside its namespace.
const InstanceLink = "eth0"

// Attach gives the process pid, already in a network namespace of its own, its
// interface: a veth pair whose host end (HostLink(id)) is an isolated port of the bridge,
// and whose peer, created in /proc/<pid>/ns/net, is eth0 with addr (normally from Allocate
// or Reserve) on the subnet, up, with lo up and a default route via Gateway(). Attach does
// not care how the process was started. It is idempotent for the same id and pid: a pair
// that is already in place is reconfigured, one that leads elsewhere (a previous process
// of id) is replaced.
func (n *Network) Attach(id string, pid int, addr netip.Addr) error {
	if n.host == nil {
		return errClosed()
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return platform.Errorf(platform.ENOTFOUND, "sandbox network: network namespace of process %d: %v", pid, err)
	}
	defer ns.Close()
	if ns.Equal(n.hostNS) {
		return platform.Errorf(platform.EINVALID, "sandbox network: process %d is in the host's network namespace", pid)
	}
	return n.attach(id, ns, addr)
}

// attach is Attach for the namespace ns.
func (n *Network) attach(id string, ns netns.NsHandle, addr netip.Addr) (err error) {
	if err := n.checkAddr(addr); err != nil {
		return err
	}
	inside, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return unavailable("netlink in the instance's namespace", err)
	}
	defer inside.Close()
	br, err := n.host.LinkByName(n.opts.Bridge)
	if err != nil {
		return unavailable("bridge "+n.opts.Bridge+" (call Setup first)", err)
	}
	name := n.HostLink(id)
	host, err := n.host.LinkByName(name)
	if err == nil && !paired(host, inside) {
		// A pair of an earlier process of id, or a stray link: replace it.
		if err := n.host.LinkDel(host); err != nil && !isGone(err) {
			return unavailable("delete "+name, err)
		}
		host = nil
	} else if err != nil {
		if !errors.As(err, new(netlink.LinkNotFoundError)) {
			return unavailable("link "+name, err)
		}
		host = nil
	}
	if host == nil {
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: name, MTU: br.Attrs().MTU},
			PeerName:      InstanceLink,
			PeerNamespace: netlink.NsFd(int(ns)),
		}
		if err := n.host.LinkAdd(veth); err != nil {
			return unavailable(fmt.Sprintf("veth %s/%s", name, InstanceLink), err)
		}
		if host, err = n.host.LinkByName(name); err != nil {
			return unavailable("veth "+name, err)
		}
	}
	defer func() {
		if err != nil {
			_ = n.host.LinkDel(host)
		}
	}()
	// Isolated before up: there is never a moment the port can reach another one.
	if err := n.host.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
		return unavailable("veth "+name+": attach to "+n.opts.Bridge, err)
	}
	if err := n.host.LinkSetIsolated(host, true); err != nil {
		return unavailable("veth "+name+": bridge port isolation", err)
	}
	if err := n.host.LinkSetUp(host); err != nil {
		return unavailable("veth "+name+": up", err)
	}
	return n.configureInside(inside, addr)
}

// paired reports whether host is one end of a veth pair whose other end is eth0 in the
// namespace of inside.
func paired(host netlink.Link, inside *netlink.Handle) bool {
	if host.Type() != "veth" {
		return false
	}
	eth, err := inside.LinkByName(InstanceLink)
	if err != nil || eth.Type() != "veth" {
		return false
	}
	return eth.Attrs().ParentIndex == host.Attrs().Index && host.Attrs().ParentIndex == eth.Attrs().Index
}

// configureInside gives eth0 exactly addr, brings it and lo up and routes everything via
// the gateway.
func (n *Network) configureInside(inside *netlink.Handle, addr netip.Addr) error {
	eth, err := inside.LinkByName(InstanceLink)
	if err != nil {
		return unavailable(InstanceLink+" in the instance's namespace", err)
	}
	want := &netlink.Addr{IPNet: &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(n.opts.Subnet.Bits(), 32)}}
	addrs, err := dump(func() ([]netlink.Addr, error) { return inside.AddrList(eth, netlink.FAMILY_V4) })
	if err != nil {
		return unavailable(InstanceLink+": addresses", err)
	}
	for _, a := range addrs {
		if a.IPNet.String() != want.IPNet.String() {
			if err := inside.AddrDel(eth, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
				return unavailable(InstanceLink+": remove "+a.IPNet.String(), err)
			}
		}
	}
	if err := inside.AddrReplace(eth, want); err != nil {
		return unavailable(InstanceLink+": address "+want.IPNet.String(), err)
	}
	if err := inside.LinkSetUp(eth); err != nil {
		return unavailable(InstanceLink+": up", err)
	}
	lo, err := inside.LinkByName("lo")
	if err != nil {
		return unavailable("lo in the instance's namespace", err)
	}
	if err := inside.LinkSetUp(lo); err != nil {
		return unavailable("lo: up", err)
	}
	route := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: n.gateway.AsSlice(), Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}}
	if err := inside.RouteReplace(route); err != nil {
		return unavailable("default route via "+n.gateway.String(), err)
	}
	return nil
}

// Detach deletes the host end of id's veth pair if it is still there (it disappears by
// itself when the instance's namespace dies). The address stays id's until Release.
func (n *Network) Detach(id string) error {
	if n.host == nil {
		return errClosed()
	}
	name := n.HostLink(id)
	l, err := n.host.LinkByName(name)
	if err != nil {
		if isGone(err) {
			return nil
		}
		return unavailable("link "+name, err)
	}
	if err := n.host.LinkDel(l); err != nil && !isGone(err) {
		return unavailable("delete "+name, err)
	}
	return nil
}

// StartAttached starts cmd in a new network namespace attached as id with addr: the
// namespace is created and attached before cmd's program runs, so the program never sees
// it without its network. It is for tests of other packages and callers that cannot make
// the started process wait for Attach; cmd.SysProcAttr must not ask for CLONE_NEWNET
// itself. The namespace, and with it the veth pair, goes when the process exits.
func (n *Network) StartAttached(cmd *exec.Cmd, id string, addr netip.Addr) error {
	if cmd.SysProcAttr != nil && cmd.SysProcAttr.Cloneflags&syscall.CLONE_NEWNET != 0 {
		return platform.Errorf(platform.EINVALID, "sandbox network: StartAttached makes the network namespace itself: drop CLONE_NEWNET")
	}
	if n.host == nil {
		return errClosed()
	}
	if err := n.checkAddr(addr); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		// The child inherits the namespace of the thread that forks it: this one, moved
		// to a new namespace for the fork and back after. A thread that cannot be moved
		// back stays locked, and the runtime discards it when the goroutine exits.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- unavailable("netns", err)
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			}
			errc <- unavailable("netns", err)
			return
		}
		err = n.attach(id, ns, addr)
		if err == nil {
			if err = cmd.Start(); err != nil {
				_ = n.Detach(id)
			}
		}
		ns.Close()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}
