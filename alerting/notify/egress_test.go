package notify

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/micro/platform"
)

// guardedOptions are testOptions with the egress guard on, as in production.
func guardedOptions() Options {
	o := testOptions()
	o.AllowPrivate = false
	return o
}

func TestPrivateAddr(t *testing.T) {
	t.Parallel()
	refused := []string{
		"127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.0.1", "169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0",
		"0.1.2.3", "224.0.0.1", "240.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.0.170",
		"192.0.2.1", "::", "::1", "fe80::", "fe80::1", "fe80::1%eth0", "fc00::1",
		"fd00:ec2::254", // the AWS metadata endpoint's IPv6 address
		"fec0::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
		"::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1",
		"2002:7f00:1::1", "2002:a9fe:a9fe::", "2001:db8::1", "::ffff:0:7f00:1",
	}
	public := []string{
		"8.8.8.8", "1.1.1.1", "198.41.0.4", "100.63.255.255", "100.128.0.0", "172.15.255.255",
		"172.32.0.0", "192.169.0.1", "169.253.255.255", "11.0.0.1", "2606:4700:4700::1111",
		"2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	}
	for _, s := range refused {
		if !privateAddr(netip.MustParseAddr(s)) {
			t.Errorf("privateAddr(%s) = false, want refused", s)
		}
	}
	for _, s := range public {
		if privateAddr(netip.MustParseAddr(s)) {
			t.Errorf("privateAddr(%s) = true, want allowed", s)
		}
	}
	if !privateAddr(netip.Addr{}) {
		t.Error("the zero Addr is allowed")
	}

	for addr, ok := range map[string]bool{
		"8.8.8.8:443": true, "[2606:4700:4700::1111]:443": true,
		"127.0.0.1:80": false, "[::1]:80": false, "[fe80::1%eth0]:80": false, "[::ffff:127.0.0.1]:80": false,
		"localhost:80": false, "garbage": false,
	} {
		if err := checkDialAddr("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("checkDialAddr(%s) = %v, want allowed %v", addr, err, ok)
		}
	}
}

// countingListener counts the connections it accepted.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// connections returns how many connections l accepted before now: it connects once
// more and waits for that connection, which the listener accepts after any earlier one.
func (l *countingListener) connections(t *testing.T) int {
	t.Helper()
	before := l.n.Load()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for l.n.Load() == before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return int(l.n.Load()) - 1
}

// receiver is an HTTP server on network's loopback that counts connections and
// requests.
func receiver(t *testing.T, network string) (*httptest.Server, *countingListener, *atomic.Int32) {
	t.Helper()
	var requests atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	addr := "127.0.0.1:0"
	if network == "tcp6" {
		addr = "[::1]:0"
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	srv.Listener.Close()
	cl := &countingListener{Listener: l}
	srv.Listener = cl
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cl, &requests
}

// wantRefused checks err is the guard's permanent refusal of addr, saying so.
func wantRefused(t *testing.T, err error, addr string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error, want the egress guard's refusal")
	}
	var pe *PrivateAddressError
	if !errors.As(err, &pe) {
		t.Fatalf("error %q is not a *PrivateAddressError", err)
	}
	if !Permanent(err) {
		t.Errorf("Permanent(%v) = false", err)
	}
	if addr != "" && pe.Addr != netip.MustParseAddr(addr) {
		t.Errorf("refused address %s, want %s", pe.Addr, addr)
	}
	if !strings.Contains(err.Error(), "private address") || !strings.Contains(err.Error(), "the platform does not deliver to private networks") {
		t.Errorf("error %q does not say why", err)
	}
}

// TestSendersRefuseLoopback: every sender refuses a channel to 127.0.0.1 without
// AllowPrivate, for good, without connecting, and delivers with it.
func TestSendersRefuseLoopback(t *testing.T) {
	t.Parallel()
	srv, conns, requests := receiver(t, "tcp4")
	for _, ch := range httpChannels(srv.URL) {
		err := send(t, guardedOptions(), ch, testMessage(Firing))
		wantClass(t, err, true)
		if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), "127.0.0.1 is a private address: the platform does not deliver to private networks") {
			t.Errorf("%s: %v", ch.Kind, err)
		}
		mustNotLeak(t, err, ch.Secret, testHookPath)
	}
	if n := conns.connections(t); n != 0 || requests.Load() != 0 {
		t.Fatalf("the receiver got %d connections, %d requests", n, requests.Load())
	}
	ch := Channel{Kind: platform.ChannelWebhook, Secret: testHMACKey, Config: map[string]string{"url": srv.URL}}
	if err := send(t, testOptions(), ch, testMessage(Firing)); err != nil {
		t.Fatalf("with AllowPrivate: %v", err)
	}
	if requests.Load() != 1 {
		t.Errorf("with AllowPrivate: %d requests", requests.Load())
	}
}

// TestHTTPGuardAtDial: the client the senders use refuses, when it dials, whatever
// Validate would have let through: a name that resolves to loopback, IPv6 loopback, an
// IPv4-mapped address. Nothing reaches the receiver.
func TestHTTPGuardAtDial(t *testing.T) {
	t.Parallel()
	v4, conns4, requests4 := receiver(t, "tcp4")
	port4 := v4.Listener.Addr().(*net.TCPAddr).Port
	client := guardedOptions().withDefaults().HTTPClient
	for _, tt := range []struct{ url, addr, says string }{
		{v4.URL + "/hook", "127.0.0.1", "127.0.0.1 is a private address"},
		{"http://localhost:" + strconv.Itoa(port4) + "/hook", "", `"localhost" resolves to a private address (`},
		{"http://[::ffff:127.0.0.1]:" + strconv.Itoa(port4) + "/hook", "", "::ffff:127.0.0.1 is a private address"},
		{"http://0.0.0.0:" + strconv.Itoa(port4) + "/hook", "0.0.0.0", "0.0.0.0 is a private address"},
	} {
		_, err := post(testCtx(t), client, tt.url, "application/json", []byte("{}"), nil)
		wantRefused(t, err, tt.addr)
		if err != nil && !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: error %q does not say %q", tt.url, err, tt.says)
		}
	}
	if n := conns4.connections(t); n != 0 || requests4.Load() != 0 {
		t.Errorf("the receiver got %d connections, %d requests", n, requests4.Load())
	}

	v6, conns6, requests6 := receiver(t, "tcp6")
	_, err := post(testCtx(t), client, v6.URL, "application/json", []byte("{}"), nil)
	wantRefused(t, err, "::1")
	if n := conns6.connections(t); n != 0 || requests6.Load() != 0 {
		t.Errorf("the IPv6 receiver got %d connections, %d requests", n, requests6.Load())
	}
}

// TestHTTPGuardKeepsCallersClient: a client the caller gives is guarded too, whatever
// its transport, and left unchanged; with AllowPrivate it is used as given.
func TestHTTPGuardKeepsCallersClient(t *testing.T) {
	t.Parallel()
	srv, _, requests := receiver(t, "tcp4")
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)

	var dials atomic.Int32
	// A dial of the caller's that connects to the receiver whatever it is asked:
	// a name rebound between the guard's lookup and the caller's.
	rebinding := func(ctx context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	proxied := &http.Transport{Proxy: http.ProxyFromEnvironment}
	custom := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		dials.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})
	for _, tt := range []struct {
		name   string
		client *http.Client
		url    string
		dialed bool // the caller's dial runs (and its connection is refused)
	}{
		{name: "no transport", client: &http.Client{}, url: srv.URL},
		{name: "a transport", client: &http.Client{Transport: proxied}, url: srv.URL},
		{name: "a dial, loopback", client: &http.Client{Transport: &http.Transport{DialContext: rebinding}}, url: srv.URL},
		{name: "a dial, localhost", client: &http.Client{Transport: &http.Transport{DialContext: rebinding}}, url: "http://localhost:" + port},
		{name: "a dial, rebound", client: &http.Client{Transport: &http.Transport{DialContext: rebinding}}, url: "http://198.41.0.4:" + port, dialed: true},
		{name: "a TLS dial, rebound", client: &http.Client{Transport: &http.Transport{DialTLSContext: rebinding}}, url: "https://198.41.0.4:" + port, dialed: true},
		{name: "a round tripper", client: &http.Client{Transport: custom}, url: srv.URL},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := dials.Load()
			opts := guardedOptions()
			opts.HTTPClient = tt.client
			_, err := post(testCtx(t), opts.withDefaults().HTTPClient, tt.url, "application/json", []byte("{}"), nil)
			wantRefused(t, err, "")
			if tt.dialed && !strings.Contains(err.Error(), "connecting to 198.41.0.4 reached a private address (127.0.0.1)") {
				t.Errorf("error %q does not say where the connection went", err)
			}
			if got := dials.Load() > before; got != tt.dialed {
				t.Errorf("the caller's dial ran: %v, want %v", got, tt.dialed)
			}
		})
	}
	if requests.Load() != 0 {
		t.Errorf("the receiver got %d requests", requests.Load())
	}
	if proxied.Proxy == nil || proxied.DialContext != nil {
		t.Error("the caller's transport was changed")
	}

	// The guarded clone goes direct: a proxy would connect out of the guard's sight.
	if tr := guardedOptions().withDefaults().HTTPClient.Transport.(*http.Transport); tr.Proxy != nil || tr.DialContext == nil {
		t.Error("the default guarded transport has a proxy or no guarded dial")
	}
	mine := &http.Client{Transport: custom}
	opts := testOptions()
	opts.HTTPClient = mine
	if _, ok := opts.withDefaults().HTTPClient.Transport.(roundTripFunc); !ok {
		t.Error("with AllowPrivate the caller's transport is not used as given")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestEmailGuard: an email channel to 127.0.0.1 is refused without AllowPrivate, and a
// name that resolves to loopback is refused when dialed. No connection is made.
func TestEmailGuard(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := cl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	config := map[string]string{"host": "127.0.0.1", "port": port, "from": "a@acme.io", "to": "b@acme.io"}

	err = send(t, guardedOptions(), Channel{Kind: platform.ChannelEmail, Config: config}, testMessage(Firing))
	wantClass(t, err, true)
	if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), "host: 127.0.0.1 is a private address") {
		t.Errorf("Send: %v", err)
	}

	// What Validate cannot see: the names are checked when dialed.
	email := &emailSender{opts: guardedOptions().withDefaults()}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		config["host"] = host
		c, problems := parseEmail(config, "", true)
		if len(problems) > 0 {
			t.Fatal(problems)
		}
		err := email.send(testCtx(t), c, testMessage(Firing))
		wantRefused(t, err, "")
		if !strings.Contains(err.Error(), "email via "+host+":"+port) {
			t.Errorf("error %q does not say where", err)
		}
	}
	if n := cl.connections(t); n != 0 {
		t.Errorf("the server got %d connections", n)
	}
}

func TestPrivateAddressError(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr("10.1.2.3")
	for _, tt := range []struct {
		err  *PrivateAddressError
		want string
	}{
		{&PrivateAddressError{Host: "relay.acme.internal", Addr: a}, `"relay.acme.internal" resolves to a private address (10.1.2.3): the platform does not deliver to private networks`},
		{&PrivateAddressError{Host: "10.1.2.3", Addr: a}, "10.1.2.3 is a private address: the platform does not deliver to private networks"},
		{&PrivateAddressError{Addr: a}, "10.1.2.3 is a private address: the platform does not deliver to private networks"},
		{&PrivateAddressError{Host: "198.41.0.4", Addr: a}, "connecting to 198.41.0.4 reached a private address (10.1.2.3): the platform does not deliver to private networks"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !Permanent(tt.err) || !Permanent(errors.Join(errors.New("post"), tt.err)) {
			t.Errorf("Permanent(%v) = false", tt.err)
		}
	}
}
