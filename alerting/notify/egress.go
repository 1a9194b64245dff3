package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// The egress guard. Channels are configured by tenants, and a tenant is hostile until
// proven otherwise: a webhook URL, a base_url or an SMTP host pointed at 127.0.0.1, a
// private network or the cloud's metadata endpoint (169.254.169.254) would make the
// platform connect there on the tenant's behalf (SSRF). Unless Options.AllowPrivate,
// every connection a sender makes is checked when it is dialed, against the address the
// host resolved to, so that a name that resolves (or re-resolves, DNS rebinding) to a
// private address is refused as surely as a literal one. Validate refuses a literal
// private address and "localhost" earlier, when the channel is saved.

// PrivateAddressError is the error of a connection the egress guard refused: Host (as
// the channel gives it, a name or an IP) is, or resolved to, Addr, an address the
// platform does not deliver to (see Options.AllowPrivate). Senders return it marked
// permanent: the channel must be changed.
type PrivateAddressError struct {
	Host string
	Addr netip.Addr
}

func (e *PrivateAddressError) Error() string {
	const tail = ": the platform does not deliver to private networks"
	h := strings.Trim(e.Host, "[]")
	a, err := netip.ParseAddr(h)
	switch {
	case h == "":
		return e.Addr.String() + " is a private address" + tail
	case err == nil && a.WithZone("").Unmap() == e.Addr.WithZone("").Unmap():
		return h + " is a private address" + tail
	case err == nil: // a caller's dial connected elsewhere than it was asked
		return fmt.Sprintf("connecting to %s reached a private address (%s)%s", a, e.Addr, tail)
	}
	return fmt.Sprintf("%q resolves to a private address (%s)%s", oneLine(h, 100), e.Addr, tail)
}

// blocked are the networks the guard refuses (RFC 6890's special-purpose registries):
// everything that is not an ordinary public unicast address. IPv4-mapped IPv6 addresses
// are checked as the IPv4 address they map; NAT64 and 6to4 addresses as the IPv4 address
// they embed.
var blocked = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network", 0.0.0.0
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // carrier-grade NAT
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local: cloud metadata endpoints
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation (TEST-NET-1)
		"192.88.99.0/24",  // 6to4 relay anycast
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation (TEST-NET-2)
		"203.0.113.0/24",  // documentation (TEST-NET-3)
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, and the broadcast address
		"::/96",           // unspecified, loopback, IPv4-compatible (deprecated)
		"::ffff:0:0:0/96", // IPv4-translated (SIIT)
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard-only
		"2001:2::/48",     // benchmarking
		"2001:db8::/32",   // documentation
		"3fff::/20",       // documentation
		"fc00::/7",        // unique local (private)
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local (deprecated)
		"ff00::/8",        // multicast
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// privateAddr reports whether the guard refuses a: any address that is not public
// unicast (loopback, private, link-local, CGNAT, unspecified, multicast, reserved...).
// The zero Addr is refused.
func privateAddr(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	if !a.IsValid() {
		return true
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return privateAddr(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(a):
			return privateAddr(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() || a.IsLinkLocalUnicast() ||
		a.IsMulticast() || a.IsInterfaceLocalMulticast() || a.IsLinkLocalMulticast() {
		return true
	}
	for _, p := range blocked {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// checkDialAddr is a net.Dialer's Control: it runs after the host was resolved, before
// the socket connects, with the address about to be connected to.
func checkDialAddr(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress guard: cannot check the address %q: refused", address)
	}
	if privateAddr(ap.Addr()) {
		return &PrivateAddressError{Addr: ap.Addr()}
	}
	return nil
}

// refusal returns err as the guard's permanent refusal naming the host of addr when the
// guard caused it, and err unchanged otherwise.
func refusal(addr string, err error) error {
	var pe *PrivateAddressError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	host, _, splitErr := net.SplitHostPort(addr)
	if splitErr != nil {
		host = addr
	}
	return Permanently(&PrivateAddressError{Host: host, Addr: pe.Addr})
}

// dialFunc is the shape of net.Dialer.DialContext and http.Transport.DialContext.
type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// guardedDial dials with a copy of d whose Control refuses a private address. A name is
// resolved by the dialer itself and each address it tries is checked: there is no
// second lookup to rebind. A name with both kinds of address reaches a public one.
func guardedDial(d *net.Dialer) dialFunc {
	g := *d
	g.Control, g.ControlContext = checkDialAddr, nil
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := g.DialContext(ctx, network, addr)
		if err != nil {
			return nil, refusal(addr, err)
		}
		return conn, nil
	}
}

// checkHost resolves host (a name or an IP literal) and refuses it when any of its
// addresses is private. A name that does not resolve is left to the dial to report.
func checkHost(ctx context.Context, host string) error {
	host = strings.Trim(host, "[]")
	if a, err := netip.ParseAddr(host); err == nil {
		if privateAddr(a) {
			return Permanently(&PrivateAddressError{Host: host, Addr: a})
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if privateAddr(a) {
			return Permanently(&PrivateAddressError{Host: host, Addr: a.Unmap()})
		}
	}
	return nil
}

// checkedDial wraps a dial function of the caller's, which the guard cannot give a
// Control: it refuses a host that resolves to a private address before dialing, and
// a connection that reached one anyway (the caller's dial resolved differently) before
// anything is written on it.
func checkedDial(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		if err := checkHost(ctx, host); err != nil {
			return nil, err
		}
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		remote := conn.RemoteAddr().String()
		ap, err := netip.ParseAddrPort(remote)
		switch {
		case err != nil:
			conn.Close()
			return nil, Permanently(fmt.Errorf("egress guard: cannot check the address %q the connection to %q reached: refused", remote, host))
		case privateAddr(ap.Addr()):
			conn.Close()
			return nil, Permanently(&PrivateAddressError{Host: host, Addr: ap.Addr()})
		}
		return conn, nil
	}
}

// guardedClient returns c with a transport that refuses private addresses: a clone of
// c's *http.Transport (or of http.DefaultTransport when c has none) with the guard's
// dialer, without a proxy (a proxy would connect on the platform's behalf, where the
// guard cannot see); a dial function the caller set on it is kept and wrapped
// (checkedDial). Any other RoundTripper is wrapped to check the request's host first,
// the best that can be done without seeing its connections. c is not changed.
func guardedClient(c *http.Client) *http.Client {
	cp := *c
	switch t := c.Transport.(type) {
	case nil:
		cp.Transport = guardedTransport(nil)
	case *http.Transport:
		cp.Transport = guardedTransport(t)
	default:
		cp.Transport = &checkedRoundTripper{next: t}
	}
	return &cp
}

// guardedTransport is described with guardedClient; t nil means the default transport.
func guardedTransport(t *http.Transport) *http.Transport {
	switch {
	case t != nil:
		t = t.Clone()
	default:
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			t = dt.Clone()
			t.DialContext = nil // the default's, replaced below with the guard's
		} else {
			t = &http.Transport{
				ForceAttemptHTTP2:     true,
				MaxIdleConns:          100,
				IdleConnTimeout:       90 * time.Second,
				TLSHandshakeTimeout:   10 * time.Second,
				ExpectContinueTimeout: time.Second,
			}
		}
	}
	t.Proxy = nil
	t.OnProxyConnectResponse = nil
	switch {
	case t.DialContext != nil:
		t.DialContext = checkedDial(t.DialContext)
	case t.Dial != nil:
		dial := t.Dial
		t.DialContext = checkedDial(func(_ context.Context, network, addr string) (net.Conn, error) {
			return dial(network, addr)
		})
	default:
		t.DialContext = guardedDial(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})
	}
	t.Dial = nil
	switch {
	case t.DialTLSContext != nil:
		t.DialTLSContext = checkedDial(t.DialTLSContext)
	case t.DialTLS != nil:
		dial := t.DialTLS
		t.DialTLSContext = checkedDial(func(_ context.Context, network, addr string) (net.Conn, error) {
			return dial(network, addr)
		})
	}
	t.DialTLS = nil
	return t
}

// checkedRoundTripper refuses a request whose host resolves to a private address before
// handing it to next, a RoundTripper whose connections the guard cannot check.
type checkedRoundTripper struct{ next http.RoundTripper }

func (c *checkedRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := checkHost(r.Context(), r.URL.Hostname()); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	return c.next.RoundTrip(r)
}

// privateHost reports whether host, as a channel gives it (a name or an IP literal,
// possibly in brackets), is one Validate refuses unless private addresses are allowed:
// an IP literal privateAddr refuses, or localhost. A name is checked only when a
// connection is dialed.
func privateHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && privateAddr(a)
}

// hostProblem says why Validate refuses host (privateHost), naming field.
func hostProblem(field, host string) string {
	const tail = ": the platform does not deliver to private networks"
	h := strings.Trim(host, "[]")
	if a, err := netip.ParseAddr(h); err == nil {
		return fmt.Sprintf("%s: %s is a private address%s", field, a, tail)
	}
	return fmt.Sprintf("%s: %q is this machine%s", field, oneLine(h, 100), tail)
}
