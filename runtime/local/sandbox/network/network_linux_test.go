package network_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	platform "github.com/micro/platform"
	"github.com/micro/platform/runtime/local/sandbox/network"
)

// Everything the tests create has names and addresses of its own, so they never touch a
// platform running on the same host. Test traffic only goes to 127.0.0.0/8 and to network
// namespaces the tests create (routes to them via their own veth pairs).
const (
	testBridge = "mpt0"
	testTable  = "micro_platform_test"
	inetLink   = "mpt-inet" // host end of the fake internet's veth
	privLink   = "mpt-priv" // host end of the fake private network's veth
	helperEnv  = "MP_NETWORK_TEST_INSTANCE"
)

var (
	testSubnet = netip.MustParsePrefix("10.214.0.0/24")
	// The fake internet host, and the host's address towards it.
	inetHost = netip.MustParseAddr("198.51.100.10")
	inetGW   = netip.MustParsePrefix("198.51.100.1/24")
	// The fake private network: one host with an address in every blocked range tested,
	// routed from the host via privLink.
	privHost = netip.MustParsePrefix("10.99.0.1/24")
	privGW   = netip.MustParsePrefix("10.99.0.2/24")
	privMore = []netip.Addr{
		netip.MustParseAddr("172.16.99.1"),
		netip.MustParseAddr("192.168.99.1"),
		netip.MustParseAddr("100.64.99.1"),
		netip.MustParseAddr("169.254.169.254"), // cloud metadata
	}
)

func TestMain(m *testing.M) {
	if id := os.Getenv(helperEnv); id != "" {
		instance(id)
		return
	}
	os.Exit(m.Run())
}

// instance is a tiny tenant service: it answers commands on stdin, one line each on
// stdout, and does nothing with the network until told to (the runtime's "wait on a pipe
// until attached").
//
//	listen PORT        listen on :PORT; every connection gets "instance ID saw REMOTE"
//	dial ADDR MS       connect, read one line: "ok LINE" or "err MESSAGE"
//	addrs              "ok NAME=ADDR,… …" of every interface
func instance(id string) {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		var reply string
		switch f[0] {
		case "listen":
			l, err := net.Listen("tcp", ":"+f[1])
			if err != nil {
				reply = "err " + err.Error()
				break
			}
			go serve(l, "instance "+id)
			reply = "ok"
		case "dial":
			var ms int
			fmt.Sscan(f[2], &ms)
			line, err := dial(f[1], time.Duration(ms)*time.Millisecond)
			if err != nil {
				reply = "err " + err.Error()
			} else {
				reply = "ok " + line
			}
		case "addrs":
			ifs, _ := net.Interfaces()
			var parts []string
			for _, i := range ifs {
				addrs, _ := i.Addrs()
				for _, a := range addrs {
					parts = append(parts, i.Name+"="+a.String())
				}
			}
			reply = "ok " + strings.Join(parts, " ")
		default:
			reply = "err unknown command"
		}
		fmt.Println(reply)
	}
}

// serve answers every connection to l with "NAME saw REMOTE".
func serve(l net.Listener, name string) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(c, "%s saw %s\n", name, c.RemoteAddr())
		c.Close()
	}
}

// dial connects to addr and returns the first line it says.
func dial(addr string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// proc is a running instance.
type proc struct {
	cmd *exec.Cmd
	in  io.Writer
	out *bufio.Scanner
}

// do sends a command and returns the reply.
func (p *proc) do(t testing.TB, cmd string) string {
	t.Helper()
	fmt.Fprintln(p.in, cmd)
	done := make(chan string, 1)
	go func() {
		if p.out.Scan() {
			done <- p.out.Text()
		}
		close(done)
	}()
	select {
	case r, ok := <-done:
		if !ok {
			t.Fatalf("instance gone after %q", cmd)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("no reply to %q", cmd)
		return ""
	}
}

// newInstance returns the command of an instance (the test binary itself).
func newInstance(t testing.TB, id string) (*exec.Cmd, *proc) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+id)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, &proc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
}

// startInNetns starts an instance the way the runtime does: in a new network namespace
// (CLONE_NEWNET), where it waits for commands, to be attached by pid afterwards.
func startInNetns(t testing.TB, id string) *proc {
	t.Helper()
	cmd, p := newInstance(t, id)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// requireEngine skips the test unless this host can sandbox networks for real.
func requireEngine(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the tests that need root and a real kernel network stack")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, veth, bridge, nftables)")
	}
	if err := network.Probe(); err != nil {
		t.Skipf("this host cannot sandbox networks: %v", err)
	}
}

// testOptions are the options of the tests' network.
func testOptions(ports ...uint16) network.Options {
	// The 192.168/16 fake host is a resolver: reachable on port 53 only.
	return network.Options{Bridge: testBridge, Subnet: testSubnet, Table: testTable, HostPorts: ports,
		Resolvers: []netip.Addr{privMore[1]}}
}

// cleanHost removes everything the tests may have left on the host (after a crash), and
// registers the same for the end of the test.
func cleanHost(t testing.TB) {
	t.Helper()
	// Setup turns forwarding on; leave the host as it was (this cleanup runs last).
	const forwarding = "/proc/sys/net/ipv4/ip_forward"
	if was, err := os.ReadFile(forwarding); err == nil {
		t.Cleanup(func() {
			if now, _ := os.ReadFile(forwarding); string(now) != string(was) {
				if err := os.WriteFile(forwarding, was, 0o644); err != nil {
					t.Errorf("restore net.ipv4.ip_forward: %v", err)
				}
			}
		})
	}
	clean := func() {
		for _, name := range []string{inetLink, privLink} {
			if l, err := netlink.LinkByName(name); err == nil {
				netlink.LinkDel(l)
			}
		}
		for _, a := range privMore {
			netlink.RouteDel(&netlink.Route{Dst: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}})
		}
		// A Network of the tests' options deletes the table, the bridge and its ports.
		n, err := network.Setup(testOptions())
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		if err := n.Teardown(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	clean()
	t.Cleanup(clean)
}

// inNetns runs fn on a thread in ns; sockets fn makes stay in ns.
func inNetns(t testing.TB, ns netns.NsHandle, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		err = fn()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// newNetns returns a new network namespace, closed at the end of the test.
func newNetns(t testing.TB) netns.NsHandle {
	t.Helper()
	var ns netns.NsHandle
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		ns, err = netns.New()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// fakeHost makes a network namespace holding a host at addr (plus more addresses), joined
// to the host by a veth pair whose host end is link with hostAddr, routes the extra
// addresses to it, and serves "NAME saw REMOTE" on port 80 of all its addresses. The
// host's route to addr's network comes with hostAddr.
func fakeHost(t testing.TB, link string, hostAddr, addr netip.Prefix, more []netip.Addr) {
	t.Helper()
	ns := newNetns(t)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: link}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("veth %s: %v", link, err)
	}
	host, err := netlink.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	must(t, netlink.AddrAdd(host, nlAddr(hostAddr)))
	must(t, netlink.LinkSetUp(host))
	inside, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer inside.Close()
	eth, err := inside.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	must(t, inside.AddrAdd(eth, nlAddr(addr)))
	for _, a := range more {
		must(t, inside.AddrAdd(eth, nlAddr(netip.PrefixFrom(a, 32))))
		must(t, netlink.RouteAdd(&netlink.Route{LinkIndex: host.Attrs().Index, Gw: addr.Addr().AsSlice(),
			Dst: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}}))
	}
	must(t, inside.LinkSetUp(eth))
	// A default route back, so that an unmasqueraded or wrongly forwarded connection
	// would succeed and be caught.
	must(t, inside.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: hostAddr.Addr().AsSlice()}))
	for _, port := range []string{":80", ":53"} { // a web server, and a name server over TCP
		var l net.Listener
		inNetns(t, ns, func() (err error) { l, err = net.Listen("tcp", port); return err })
		t.Cleanup(func() { l.Close() })
		go serve(l, "host "+addr.Addr().String())
	}
}

func nlAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// listen opens a TCP listener on addr that answers "NAME saw REMOTE", and returns its port.
func listen(t testing.TB, addr, name string) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go serve(l, name)
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func hostPort(a netip.Addr, port uint16) string { return netip.AddrPortFrom(a, port).String() }

// env is a network with two attached instances and the fake hosts.
type env struct {
	n            *network.Network
	a, b         *proc
	addrA, addrB netip.Addr
	natsPort     uint16 // on the gateway, allowed
	otherPort    uint16 // on the gateway, not allowed
	anyPort      uint16 // on 0.0.0.0
	loopPort     uint16 // on 127.0.0.1
}

func newEnv(t *testing.T) *env {
	t.Helper()
	requireEngine(t)
	cleanHost(t)
	fakeHost(t, inetLink, inetGW, netip.PrefixFrom(inetHost, 24), nil)
	fakeHost(t, privLink, privGW, privHost, privMore)

	// A first Setup makes the bridge, so the host's listeners can bind the gateway; the
	// second one opens the port it got (and shows a changed HostPorts takes effect).
	n, err := network.Setup(testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	e := &env{n: n}
	gw := n.Gateway()
	e.natsPort = listen(t, hostPort(gw, 0), "nats")
	e.otherPort = listen(t, hostPort(gw, 0), "api")
	e.anyPort = listen(t, "0.0.0.0:0", "any")
	e.loopPort = listen(t, "127.0.0.1:0", "loopback")
	n2, err := network.Setup(testOptions(e.natsPort))
	if err != nil {
		t.Fatal(err)
	}
	n2.Close()

	// a: the runtime's way, CLONE_NEWNET then Attach by pid; b: StartAttached.
	e.a = startInNetns(t, "a")
	if e.addrA, err = n.Allocate("a"); err != nil {
		t.Fatal(err)
	}
	if err := n.Attach("a", e.a.cmd.Process.Pid, e.addrA); err != nil {
		t.Fatalf("Attach(a): %v", err)
	}
	if e.addrB, err = n.Allocate("b"); err != nil {
		t.Fatal(err)
	}
	cmd, b := newInstance(t, "b")
	if err := n.StartAttached(cmd, "b", e.addrB); err != nil {
		t.Fatalf("StartAttached(b): %v", err)
	}
	e.b = b
	for _, p := range []*proc{e.a, e.b} {
		if r := p.do(t, "listen 9090"); r != "ok" {
			t.Fatalf("listen :9090: %s", r)
		}
	}
	return e
}

// reach asserts whether p can connect to addr, and returns what the other end said.
func reach(t *testing.T, p *proc, addr string, want bool) string {
	t.Helper()
	timeout := 500
	if want {
		timeout = 5000
	}
	r := p.do(t, fmt.Sprintf("dial %s %d", addr, timeout))
	ok := strings.HasPrefix(r, "ok ")
	if ok != want {
		t.Errorf("dial %s: %s, want reachable=%v", addr, r, want)
	}
	return strings.TrimPrefix(r, "ok ")
}

func TestIsolation(t *testing.T) {
	e := newEnv(t)
	gw := e.n.Gateway()

	// Controls: the host reaches the instances and the fake hosts, so what an instance
	// cannot reach is kept from it by the rules, not missing.
	for _, addr := range []string{hostPort(e.addrA, 9090), hostPort(e.addrB, 9090), hostPort(inetHost, 80),
		hostPort(privHost.Addr(), 80), hostPort(privMore[0], 80), hostPort(privMore[3], 80)} {
		if line, err := dial(addr, 5*time.Second); err != nil {
			t.Fatalf("control: host → %s: %v", addr, err)
		} else if addr == hostPort(e.addrA, 9090) && !strings.HasPrefix(line, "instance a saw ") {
			t.Fatalf("control: host → %s: %q", addr, line)
		}
	}

	for _, inst := range []struct {
		name  string
		p     *proc
		self  netip.Addr
		other netip.Addr
	}{{"a", e.a, e.addrA, e.addrB}, {"b", e.b, e.addrB, e.addrA}} {
		t.Run(inst.name, func(t *testing.T) {
			t.Run("eth0", func(t *testing.T) {
				r := inst.p.do(t, "addrs")
				if want := "eth0=" + netip.PrefixFrom(inst.self, 24).String(); !strings.Contains(r, want) {
					t.Errorf("addrs = %s, want %s", r, want)
				}
				if !strings.Contains(r, "lo=127.0.0.1/8") {
					t.Errorf("addrs = %s, want lo up", r)
				}
			})
			t.Run("own :9090", func(t *testing.T) {
				if line := reach(t, inst.p, "127.0.0.1:9090", true); !strings.HasPrefix(line, "instance "+inst.name+" saw 127.0.0.1:") {
					t.Errorf("own :9090 answered %q", line)
				}
			})
			t.Run("gateway host port", func(t *testing.T) {
				line := reach(t, inst.p, hostPort(gw, e.natsPort), true)
				if want := "nats saw " + inst.self.String() + ":"; !strings.HasPrefix(line, want) {
					t.Errorf("nats saw %q, want %s…", line, want)
				}
			})
			tests := []struct {
				name string
				addr string
			}{
				{"gateway other port", hostPort(gw, e.otherPort)},
				{"gateway port of a 0.0.0.0 listener", hostPort(gw, e.anyPort)},
				{"host's other address", hostPort(inetGW.Addr(), e.anyPort)},
				{"host's address in 10/8", hostPort(privGW.Addr(), e.anyPort)},
				{"host loopback", hostPort(netip.MustParseAddr("127.0.0.1"), e.loopPort)},
				{"other instance", hostPort(inst.other, 9090)},
				{"10/8", hostPort(privHost.Addr(), 80)},
				{"172.16/12", hostPort(privMore[0], 80)},
				{"192.168/16", hostPort(privMore[1], 80)},
				{"100.64/10", hostPort(privMore[2], 80)},
				{"cloud metadata", hostPort(privMore[3], 80)},
				{"port 53 of what is not a resolver", hostPort(privMore[0], 53)},
			}
			for _, tt := range tests {
				t.Run("blocked "+tt.name, func(t *testing.T) {
					reach(t, inst.p, tt.addr, false)
				})
			}
			t.Run("resolver's port 53", func(t *testing.T) {
				reach(t, inst.p, hostPort(privMore[1], 53), true)
			})
			t.Run("internet masqueraded", func(t *testing.T) {
				line := reach(t, inst.p, hostPort(inetHost, 80), true)
				if want := "host " + inetHost.String() + " saw " + inetGW.Addr().String() + ":"; !strings.HasPrefix(line, want) {
					t.Errorf("the internet host answered %q, want %s… (masqueraded)", line, want)
				}
			})
		})
	}
}

func TestSetupIdempotent(t *testing.T) {
	e := newEnv(t)
	before := ruleCount(t)
	for i := range 2 {
		n, err := network.Setup(testOptions(e.natsPort))
		if err != nil {
			t.Fatalf("Setup #%d: %v", i+2, err)
		}
		n.Close()
	}
	if after := ruleCount(t); !maps.Equal(after, before) {
		t.Errorf("rules after Setup again = %v, want %v", after, before)
	}
	// Instances attached before keep working; Attach again for the same id and pid is a
	// no-op.
	reach(t, e.a, hostPort(e.n.Gateway(), e.natsPort), true)
	if err := e.n.Attach("a", e.a.cmd.Process.Pid, e.addrA); err != nil {
		t.Fatalf("Attach(a) again: %v", err)
	}
	reach(t, e.a, hostPort(e.n.Gateway(), e.natsPort), true)
	reach(t, e.a, hostPort(inetHost, 80), true)
	reach(t, e.a, hostPort(e.addrB, 9090), false)

	// A changed HostPorts replaces the rules.
	n, err := network.Setup(testOptions(e.otherPort))
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	reach(t, e.b, hostPort(e.n.Gateway(), e.otherPort), true)
	reach(t, e.b, hostPort(e.n.Gateway(), e.natsPort), false)
}

func TestAttachReplacesStaleLink(t *testing.T) {
	e := newEnv(t)
	// A new process of a (a restart) gets a's link, address and reachability.
	p := startInNetns(t, "a2")
	if err := e.n.Attach("a", p.cmd.Process.Pid, e.addrA); err != nil {
		t.Fatalf("Attach(a) for a new process: %v", err)
	}
	reach(t, p, hostPort(e.n.Gateway(), e.natsPort), true)
	reach(t, p, hostPort(inetHost, 80), true)
	// The old process lost its link.
	reach(t, e.a, hostPort(e.n.Gateway(), e.natsPort), false)
	// Detach removes the link; the process has no network left.
	if err := e.n.Detach("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(e.n.HostLink("a")); err == nil {
		t.Errorf("%s still there after Detach", e.n.HostLink("a"))
	}
	if err := e.n.Detach("a"); err != nil {
		t.Errorf("Detach again: %v", err)
	}
	reach(t, p, hostPort(e.n.Gateway(), e.natsPort), false)
}

// TestGatewayAddressOutlivesInstances: the bridge has a hardware address of its own,
// which an instance leaving does not change; otherwise the other instances' neighbour
// entries for the gateway go stale and their traffic to the platform stalls.
func TestGatewayAddressOutlivesInstances(t *testing.T) {
	e := newEnv(t)
	br, err := netlink.LinkByName(testBridge)
	must(t, err)
	mac := br.Attrs().HardwareAddr.String()
	if kind, err := os.ReadFile("/sys/class/net/" + testBridge + "/addr_assign_type"); err != nil || strings.TrimSpace(string(kind)) != "3" {
		t.Errorf("bridge addr_assign_type = %q (%v), want 3: set, not taken from a port", kind, err)
	}
	for _, id := range []string{"a", "b"} {
		must(t, e.n.Detach(id))
		br, err := netlink.LinkByName(testBridge)
		must(t, err)
		if got := br.Attrs().HardwareAddr.String(); got != mac {
			t.Errorf("after %s left the bridge's address is %s, was %s", id, got, mac)
		}
	}
}

func TestAttachErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		pid  int
		addr netip.Addr
		code string
	}{
		{"host namespace", os.Getpid(), netip.MustParseAddr("10.214.0.9"), platform.EINVALID},
		{"no such process", 1 << 30, netip.MustParseAddr("10.214.0.9"), platform.ENOTFOUND},
		{"address outside the subnet", e.a.cmd.Process.Pid, netip.MustParseAddr("10.215.0.9"), platform.EINVALID},
		{"gateway address", e.a.cmd.Process.Pid, e.n.Gateway(), platform.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.n.Attach("x", tt.pid, tt.addr)
			if platform.ErrorCode(err) != tt.code {
				t.Errorf("Attach() = %v, want %s", err, tt.code)
			}
		})
	}
	cmd := exec.Command(os.Args[0])
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := e.n.StartAttached(cmd, "x", netip.MustParseAddr("10.214.0.9")); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("StartAttached with CLONE_NEWNET = %v, want invalid", err)
	}
}

func TestSetupRefusesClash(t *testing.T) {
	requireEngine(t)
	cleanHost(t)
	fakeHost(t, inetLink, inetGW, netip.PrefixFrom(inetHost, 24), nil)
	tests := []struct {
		name   string
		subnet string
		want   string
	}{
		{"address", "198.51.100.0/25", "overlaps address 198.51.100.0/24 on " + inetLink},
		{"wider than an address", "198.51.0.0/16", "overlaps address 198.51.100.0/24 on " + inetLink},
		{"loopback", "127.0.0.0/16", "overlaps address 127.0.0.0/8 on lo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.Bridge = "mpt1"
			opts.Subnet = netip.MustParsePrefix(tt.subnet)
			n, err := network.Setup(opts)
			if err == nil {
				n.Teardown()
				t.Fatal("Setup() succeeded")
			}
			if platform.ErrorCode(err) != platform.ECONFLICT || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Setup() = %v, want conflict: %s", err, tt.want)
			}
			if _, err := netlink.LinkByName("mpt1"); err == nil {
				t.Errorf("Setup() refused but made bridge mpt1")
			}
		})
	}
}

func TestTeardown(t *testing.T) {
	e := newEnv(t)
	links := []string{testBridge, e.n.HostLink("a"), e.n.HostLink("b")}
	for _, name := range links {
		if _, err := netlink.LinkByName(name); err != nil {
			t.Fatalf("%s before Teardown: %v", name, err)
		}
	}
	n, err := network.Setup(testOptions(e.natsPort))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Teardown(); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	for _, name := range links {
		if _, err := netlink.LinkByName(name); !errors.As(err, new(netlink.LinkNotFoundError)) {
			t.Errorf("%s after Teardown: %v, want not found", name, err)
		}
	}
	if tables := tableNames(t); tables[testTable] {
		t.Errorf("table %s still there after Teardown", testTable)
	}
	// Teardown of what is gone already is fine; a torn down Network is closed.
	n1, err := network.Setup(testOptions())
	if err != nil {
		t.Fatal(err)
	}
	n2, err := network.Setup(testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := n1.Teardown(); err != nil {
		t.Fatal(err)
	}
	if err := n2.Teardown(); err != nil {
		t.Errorf("Teardown of what is gone: %v", err)
	}
	if err := n2.Teardown(); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("Teardown of a torn down Network = %v, want unavailable", err)
	}
	if err := n2.Attach("x", e.a.cmd.Process.Pid, e.addrA); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("Attach on a torn down Network = %v, want unavailable", err)
	}
}

func TestProbe(t *testing.T) {
	requireEngine(t)
	for range 20 { // enough to run on the main thread at least once
		if err := network.Probe(); err != nil {
			t.Fatal(err)
		}
	}
	// No thread stays in the throwaway namespace: the main thread's is still the host's.
	self, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	main, err := netns.GetFromPid(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer main.Close()
	if !main.Equal(self) {
		t.Errorf("the main thread is in another network namespace after Probe")
	}
	// It worked in a namespace of its own: nothing of it is on the host.
	for _, name := range []string{"probe0", "probe1", "probe2"} {
		if _, err := netlink.LinkByName(name); err == nil {
			t.Errorf("link %s on the host after Probe", name)
		}
	}
	if tableNames(t)["probe"] {
		t.Errorf("table probe on the host after Probe")
	}
}

// ruleCount returns the number of rules per chain of the tests' table.
func ruleCount(t testing.TB) map[string]int {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, ch := range chains {
		if ch.Table.Name != testTable {
			continue
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			t.Fatal(err)
		}
		counts[ch.Name] = len(rules)
	}
	if len(counts) == 0 {
		t.Fatalf("no chains in table %s", testTable)
	}
	return counts
}

// tableNames returns the host's nftables tables of family inet.
func tableNames(t testing.TB) map[string]bool {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tb := range tables {
		names[tb.Name] = true
	}
	return names
}
