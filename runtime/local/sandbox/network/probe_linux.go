package network

import (
	"runtime"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Probe reports whether this host can sandbox instance networks, without changing
// anything on it: in a throwaway network namespace it makes a bridge, a veth pair on an
// isolated port of it, sets a sysctl, and installs an nftables table with the kinds of
// rules Setup uses (conntrack state, NAT masquerade). It returns nil, or an EUNAVAILABLE
// error naming the first thing missing ("sandbox network: nftables: operation not
// supported ..."), so the runtime can run instances without a network sandbox and warn.
func Probe() error {
	errc := make(chan error, 1)
	go func() {
		// The thread goes to the throwaway namespace and back; one that cannot go back
		// stays locked, and the runtime discards it when the goroutine exits.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- unavailable("netns", err)
			return
		}
		defer orig.Close()
		err = probe()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func probe() error {
	ns, err := netns.New()
	if err != nil {
		return unavailable("netns", err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return unavailable("netlink", err)
	}
	defer h.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}}
	if err := h.LinkAdd(br); err != nil {
		return unavailable("bridge", err)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "probe1"}, PeerName: "probe2"}
	if err := h.LinkAdd(veth); err != nil {
		return unavailable("veth", err)
	}
	port, err := h.LinkByName("probe1")
	if err != nil {
		return unavailable("veth", err)
	}
	if err := h.LinkSetMaster(port, br); err != nil {
		return unavailable("bridge port", err)
	}
	if err := h.LinkSetIsolated(port, true); err != nil {
		return unavailable("bridge port isolation", err)
	}
	if err := writeSysctl("net/ipv4/ip_forward", "1"); err != nil { // this thread's namespace
		return unavailable("sysctl net.ipv4.ip_forward", err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return unavailable("nftables", err)
	}
	t := c.AddTable(&nftables.Table{Name: "probe", Family: nftables.TableFamilyINet})
	in := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
	c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: append(ctEstablished(), verdict(expr.VerdictAccept)...)})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: append(ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, "probe0"), &expr.Masq{})})
	if err := c.Flush(); err != nil {
		return unavailable("nftables", err)
	}
	return nil
}
