package network

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Chain names in the table.
const (
	chainInput       = "input"
	chainForward     = "forward"
	chainPostrouting = "postrouting"
	chainFromInst    = "instance_input"   // input from the bridge
	chainOut         = "instance_forward" // forwarded from the bridge
	chainIn          = "instance_return"  // forwarded to the bridge
)

// installRules replaces the table's content with the ruleset of n's options in one
// nf_tables transaction: the table is created if missing, deleted and created again with
// its chains and rules, so there is never a moment without rules, nor a half-built set.
func (n *Network) installRules() error {
	c, err := nftables.New(nftables.WithNetNSFd(int(n.hostNS)))
	if err != nil {
		return unavailable("nftables", err)
	}
	t := &nftables.Table{Name: n.opts.Table, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	n.addRules(c, t)
	if err := c.Flush(); err != nil {
		return unavailable("nftables: table inet "+n.opts.Table, err)
	}
	return nil
}

// deleteTable deletes the table if it exists (created and deleted in one transaction, so
// a missing table is no error).
func (n *Network) deleteTable() error {
	c, err := nftables.New(nftables.WithNetNSFd(int(n.hostNS)))
	if err != nil {
		return unavailable("nftables", err)
	}
	t := &nftables.Table{Name: n.opts.Table, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return unavailable("nftables: delete table inet "+n.opts.Table, err)
	}
	return nil
}

// addRules queues the chains and rules of n's table on c (see the package doc).
func (n *Network) addRules(c *nftables.Conn, t *nftables.Table) {
	accept := policy(nftables.ChainPolicyAccept)
	regular := func(name string) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: t})
	}
	base := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: t, Type: typ, Hooknum: hook, Priority: prio, Policy: accept})
	}
	rule := func(ch *nftables.Chain, exprs ...[]expr.Any) {
		var all []expr.Any
		for _, e := range exprs {
			all = append(all, e...)
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: all})
	}
	br := n.opts.Bridge
	subnet := n.opts.Subnet

	// Regular chains first: the base chains jump to them.
	fromInst := regular(chainFromInst)
	rule(fromInst, ctEstablished(), verdict(expr.VerdictAccept))
	for _, p := range n.opts.HostPorts {
		rule(fromInst, ip4Daddr(netip.PrefixFrom(n.gateway, 32)), tcpDport(p), verdict(expr.VerdictAccept))
	}
	rule(fromInst, counter(), verdict(expr.VerdictDrop))

	out := regular(chainOut)
	rule(out, ip4Saddr(subnet, false), counter(), verdict(expr.VerdictDrop)) // spoofed source
	rule(out, ip4Daddr(subnet), counter(), verdict(expr.VerdictDrop))
	for _, r := range n.opts.Resolvers {
		for _, port := range [][]expr.Any{udpDport(53), tcpDport(53)} {
			rule(out, ip4Daddr(netip.PrefixFrom(r, 32)), port, verdict(expr.VerdictAccept))
		}
	}
	for _, p := range n.opts.Blocked {
		if p.Addr().Is4() {
			rule(out, ip4Daddr(p), counter(), verdict(expr.VerdictDrop))
		} else {
			rule(out, ip6Daddr(p), counter(), verdict(expr.VerdictDrop))
		}
	}
	rule(out, verdict(expr.VerdictAccept))

	in := regular(chainIn)
	rule(in, ctEstablished(), verdict(expr.VerdictAccept))
	rule(in, counter(), verdict(expr.VerdictDrop))

	input := base(chainInput, nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter)
	rule(input, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), jump(chainFromInst))

	forward := base(chainForward, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter)
	rule(forward, ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), jump(chainOut))
	rule(forward, ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), jump(chainIn))

	post := base(chainPostrouting, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	rule(post, ip4Saddr(subnet, true), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br), []expr.Any{&expr.Masq{}})
}

func policy(p nftables.ChainPolicy) *nftables.ChainPolicy { return &p }

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

func jump(chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}
}

func counter() []expr.Any { return []expr.Any{&expr.Counter{}} }

// ifname matches iifname or oifname (key) against name with op.
func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: b},
	}
}

// ctEstablished matches "ct state established,related".
func ctEstablished() []expr.Any {
	mask := make([]byte, 4)
	binary.NativeEndian.PutUint32(mask, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED)
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// nfproto matches the packet's family (in an inet table, before any IP header field).
func nfproto(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// inPrefix matches the field at offset of the network header against p (in, or with
// in=false not in).
func inPrefix(offset uint32, p netip.Prefix, in bool) []expr.Any {
	addr := p.Masked().Addr().AsSlice()
	size := uint32(len(addr))
	op := expr.CmpOpEq
	if !in {
		op = expr.CmpOpNeq
	}
	e := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size}}
	if p.Bits() < int(size)*8 {
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: prefixMask(p.Bits(), int(size)), Xor: make([]byte, size)})
	}
	return append(e, &expr.Cmp{Op: op, Register: 1, Data: addr})
}

// prefixMask returns a network mask of bits ones in size bytes.
func prefixMask(bits, size int) []byte {
	m := make([]byte, size)
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return m
}

// ip4Saddr matches "ip saddr p" (or "ip saddr != p").
func ip4Saddr(p netip.Prefix, in bool) []expr.Any {
	return append(nfproto(unix.NFPROTO_IPV4), inPrefix(12, p, in)...)
}

// ip4Daddr matches "ip daddr p".
func ip4Daddr(p netip.Prefix) []expr.Any {
	return append(nfproto(unix.NFPROTO_IPV4), inPrefix(16, p, true)...)
}

// ip6Daddr matches "ip6 daddr p".
func ip6Daddr(p netip.Prefix) []expr.Any {
	return append(nfproto(unix.NFPROTO_IPV6), inPrefix(24, p, true)...)
}

// tcpDport matches "tcp dport port".
func tcpDport(port uint16) []expr.Any { return l4Dport(unix.IPPROTO_TCP, port) }

// udpDport matches "udp dport port".
func udpDport(port uint16) []expr.Any { return l4Dport(unix.IPPROTO_UDP, port) }

// l4Dport matches the transport protocol proto and its destination port.
func l4Dport(proto byte, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.BigEndian.AppendUint16(nil, port)},
	}
}
