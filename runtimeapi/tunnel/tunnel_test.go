package tunnel

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

const (
	testRegion = "fra1"
	testToken  = "rt_secret"
)

// fastPings notice a dead peer within about 500ms, and leave a live one under -race on a
// busy machine time to answer.
var fastPings = Options{PingInterval: 100 * time.Millisecond, PingTimeout: 400 * time.Millisecond}

// eagerPings give up on a peer after 100ms, for the tests without a live one.
var eagerPings = Options{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond}

// controlPlane is an httptest server answering ConnectPath with Handler; it keeps every
// tunnel it accepted and closes them at the end of the test.
type controlPlane struct {
	*httptest.Server
	conns   chan *Conn
	accepts atomic.Int32
	refuse  atomic.Int32 // upgrades to refuse with 503 before accepting
}

// cpConfig configures a test control plane.
type cpConfig struct {
	tls  bool
	opts Options
	// timeout, when set, is the server's read and write timeout: a tunnel must clear them
	// when it takes the connection over.
	timeout time.Duration
}

func startControlPlane(t *testing.T, cfg cpConfig) *controlPlane {
	t.Helper()
	cp := &controlPlane{conns: make(chan *Conn, 16)}
	authorize := func(_ context.Context, region, token string) error {
		switch {
		case token != testToken:
			return platform.Errorf(platform.EUNAUTHENTICATED, "unknown region token")
		case region != testRegion:
			return platform.Errorf(platform.EFORBIDDEN, "the token is not region %s's", region)
		}
		return nil
	}
	var mu sync.Mutex
	var all []*Conn
	connected := func(_ string, c *Conn) {
		mu.Lock()
		all = append(all, c)
		mu.Unlock()
		cp.accepts.Add(1)
		cp.conns <- c
	}
	mux := http.NewServeMux()
	h := Handler(authorize, connected, cfg.opts)
	mux.HandleFunc("GET "+ConnectPath, func(w http.ResponseWriter, r *http.Request) {
		if cp.refuse.Add(-1) >= 0 {
			writeError(w, platform.Errorf(platform.EUNAVAILABLE, "starting"))
			return
		}
		h.ServeHTTP(w, r)
	})
	cp.Server = httptest.NewUnstartedServer(mux)
	cp.Config.ReadTimeout = cfg.timeout
	cp.Config.WriteTimeout = cfg.timeout
	if cfg.tls {
		cp.EnableHTTP2 = true // the agent must still get HTTP/1.1 for its upgrade
		cp.StartTLS()
	} else {
		cp.Start()
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range all {
			c.Close()
		}
		cp.Close()
	})
	return cp
}

func (cp *controlPlane) agent() *Agent {
	a := &Agent{URL: cp.URL, Token: testToken, Region: testRegion, Handler: agentHandler()}
	if cp.TLS != nil {
		a.TLSConfig = cp.Client().Transport.(*http.Transport).TLSClientConfig
	}
	return a
}

// next returns the next tunnel the control plane accepted.
func (cp *controlPlane) next(t *testing.T) *Conn {
	t.Helper()
	select {
	case c := <-cp.conns:
		return c
	case <-time.After(3 * time.Second):
		t.Fatal("no tunnel accepted")
		return nil
	}
}

// agentHandler is the agent's API in these tests.
func agentHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Proto", r.Proto)
		_, _ = io.Copy(w, r.Body)
	})
	// /stream?n=N writes N lines, one every 25ms.
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for i := range n {
			fmt.Fprintf(w, "line %d\n", i)
			if err := http.NewResponseController(w).Flush(); err != nil {
				return
			}
			select {
			case <-time.After(25 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	// /block waits until the request is cancelled.
	mux.HandleFunc("GET /block", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	return mux
}

// runAgent runs f in a goroutine and returns its error's channel.
func runAgent(f func() error) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- f() }()
	return errc
}

func waitErr(t *testing.T, errc <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(within):
		t.Fatalf("agent still running after %v", within)
		return nil
	}
}

func waitDone(t *testing.T, c *Conn, within time.Duration) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(within):
		t.Fatalf("tunnel not done after %v", within)
	}
}

func echo(c *Conn, body string) (string, error) {
	resp, err := c.Client().Post(BaseURL+"/echo", "text/plain", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || resp.Header.Get("Proto") != "HTTP/2.0" {
		return "", fmt.Errorf("got %s, agent saw %s; want HTTP/2 on both ends", resp.Proto, resp.Header.Get("Proto"))
	}
	return string(b), err
}

// checkTunnel makes concurrent unary calls and a streaming call through c.
func checkTunnel(t *testing.T, c *Conn) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			want := strings.Repeat(strconv.Itoa(i), 10000)
			got, err := echo(c, want)
			if err != nil || got != want {
				t.Errorf("echo %d: %d bytes, %v", i, len(got), err)
			}
		})
	}

	// The stream's lines arrive as they are written, over 250ms.
	resp, err := c.Client().Get(BaseURL + "/stream?n=11")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var n int
	var first time.Time
	for sc.Scan() {
		if want := fmt.Sprintf("line %d", n); sc.Text() != want {
			t.Fatalf("stream line %d = %q, want %q", n, sc.Text(), want)
		}
		if n == 0 {
			first = time.Now()
		}
		n++
	}
	if err := sc.Err(); err != nil || n != 11 {
		t.Fatalf("stream: %d lines, %v", n, err)
	}
	if d := time.Since(first); d < 125*time.Millisecond {
		t.Errorf("the stream's lines came within %v: buffered", d)
	}
	wg.Wait()
}

func TestTunnel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cp   cpConfig
		// agentStops stops the agent at the end, else the control plane closes the tunnel.
		agentStops bool
	}{
		{"http with server timeouts", cpConfig{timeout: 300 * time.Millisecond}, true},
		{"https with h2 on the server", cpConfig{tls: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cp := startControlPlane(t, tc.cp)
			ctx, cancel := context.WithCancel(t.Context())
			errc := runAgent(func() error { return cp.agent().ServeOnce(ctx) })

			c := cp.next(t)
			accepted := time.Now()
			if c.RemoteAddr() == nil || !strings.HasPrefix(c.RemoteAddr().String(), "127.0.0.1:") {
				t.Errorf("RemoteAddr = %v", c.RemoteAddr())
			}
			checkTunnel(t, c)
			// The server's timeouts do not apply to a tunnel.
			time.Sleep(time.Until(accepted.Add(tc.cp.timeout + 100*time.Millisecond)))
			if _, err := echo(c, "x"); err != nil {
				t.Fatalf("tunnel gone after the server's timeout: %v", err)
			}

			if tc.agentStops {
				// Gracefully (which takes net/http's HTTP/2 server a second on an idle
				// connection); the tunnel goes, and ServeOnce says why.
				cancel()
				if err := waitErr(t, errc, 3*time.Second); !errors.Is(err, context.Canceled) {
					t.Errorf("ServeOnce = %v, want context.Canceled", err)
				}
			} else {
				defer cancel()
				if err := c.Close(); err != nil {
					t.Errorf("Close = %v", err)
				}
				if err := waitErr(t, errc, 3*time.Second); err != nil {
					t.Errorf("ServeOnce = %v, want nil", err)
				}
			}
			waitDone(t, c, time.Second)
			if _, err := echo(c, "x"); err == nil {
				t.Error("request over a closed tunnel succeeded")
			}
		})
	}
}

func TestAgentStopWaitsForRequests(t *testing.T) {
	t.Parallel()
	cp := startControlPlane(t, cpConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	errc := runAgent(func() error { return cp.agent().Start(ctx) })
	c := cp.next(t)

	// A request that never ends on its own: the agent waits shutdownTimeout for it, or
	// until the control plane lets go of it.
	resp, err := c.Client().Get(BaseURL + "/block")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("Start returned %v with a request in flight", err)
	default:
	}
	resp.Body.Close()
	if err := waitErr(t, errc, 3*time.Second); err != nil {
		t.Errorf("Start = %v, want nil", err)
	}
	waitDone(t, c, time.Second)
}

func TestRefused(t *testing.T) {
	t.Parallel()
	cp := startControlPlane(t, cpConfig{})
	notCP := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notCP.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	t.Cleanup(func() { // after the parallel subtests
		if n := cp.accepts.Load(); n != 0 {
			t.Errorf("%d tunnels accepted", n)
		}
	})

	for _, tc := range []struct {
		name    string
		agent   func(a *Agent)
		code    string
		message string
	}{
		{"wrong token", func(a *Agent) { a.Token = "rt_other" }, platform.EUNAUTHENTICATED, "unknown region token"},
		{"other region", func(a *Agent) { a.Region = "nyc1" }, platform.EFORBIDDEN, "the token is not region nyc1's"},
		{"not a control plane", func(a *Agent) { a.URL = notCP.URL }, platform.EUNAVAILABLE, "control plane answered 404 Not Found"},
		{"unreachable", func(a *Agent) { a.URL = closed.URL }, platform.EUNAVAILABLE, "cannot reach the control plane at " + closed.Listener.Addr().String()},
		{"no token", func(a *Agent) { a.Token = "" }, platform.EINVALID, "tunnel agent: region and token are required"},
		{"bad URL", func(a *Agent) { a.URL = "ftp://x" }, platform.EINVALID, `tunnel agent: control plane URL "ftp://x": want an http(s) URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := cp.agent()
			tc.agent(a)
			err := a.ServeOnce(t.Context())
			if got := platform.ErrorCode(err); got != tc.code {
				t.Errorf("code = %q (%v), want %q", got, err, tc.code)
			}
			if got := platform.ErrorMessage(err); got != tc.message {
				t.Errorf("message = %q, want %q", got, tc.message)
			}
		})
	}
}

func TestHandlerRefusals(t *testing.T) {
	t.Parallel()
	cp := startControlPlane(t, cpConfig{})
	upgrade := func(r *http.Request) {
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", Protocol)
	}
	for _, tc := range []struct {
		name   string
		edit   func(r *http.Request)
		status int
		code   string
	}{
		{"not an upgrade", func(r *http.Request) { r.Header.Set(RegionHeader, testRegion) }, http.StatusBadRequest, platform.EINVALID},
		{"other protocol", func(r *http.Request) {
			upgrade(r)
			r.Header.Set("Upgrade", "websocket")
		}, http.StatusBadRequest, platform.EINVALID},
		{"no region", func(r *http.Request) {
			upgrade(r)
			r.Header.Set("Authorization", "Bearer "+testToken)
		}, http.StatusBadRequest, platform.EINVALID},
		{"no token", func(r *http.Request) {
			upgrade(r)
			r.Header.Set(RegionHeader, testRegion)
		}, http.StatusUnauthorized, platform.EUNAUTHENTICATED},
		{"wrong token", func(r *http.Request) {
			upgrade(r)
			r.Header.Set(RegionHeader, testRegion)
			r.Header.Set("Authorization", "Bearer nope")
		}, http.StatusUnauthorized, platform.EUNAUTHENTICATED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, cp.URL+ConnectPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(req)
			resp, err := cp.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body errorResponse
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || body.Error.Code != tc.code || body.Error.Message == "" {
				t.Errorf("got %d %+v, want %d %s", resp.StatusCode, body, tc.status, tc.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tc.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	cp := startControlPlane(t, cpConfig{})
	cp.refuse.Store(2) // Start goes on through refusals, with backoff
	p := startProxy(t, cp.Listener.Addr().String())
	ctx, cancel := context.WithCancel(t.Context())
	a := cp.agent()
	a.URL = "http://" + p.addr
	a.minBackoff = 10 * time.Millisecond
	errc := runAgent(func() error { return a.Start(ctx) })

	for i := range 4 {
		c := cp.next(t)
		if got, err := echo(c, "hi"); err != nil || got != "hi" {
			t.Fatalf("tunnel %d: echo = %q, %v", i, got, err)
		}
		if i == 3 {
			cp.refuse.Store(1 << 30) // from now on, so that the agent stops between tunnels
		}
		if i%2 == 0 {
			c.Close() // the control plane drops the tunnel
		} else {
			p.kill() // the network does
		}
		waitDone(t, c, time.Second)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := waitErr(t, errc, time.Second); err != nil {
		t.Errorf("Start = %v, want nil", err)
	}
	if n := cp.accepts.Load(); n != 4 {
		t.Errorf("%d tunnels accepted, want 4", n)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := newBackoff(minBackoff)
	var last time.Duration
	for range 12 {
		last, _ = b.Next()
	}
	if lo, hi := maxBackoff*(100-jitterPercent)/100, maxBackoff*(100+jitterPercent)/100; last < lo || last > hi {
		t.Errorf("12th backoff = %v, want about %v", last, maxBackoff)
	}
	b.reset()
	if d, _ := b.Next(); d > minBackoff*(100+jitterPercent)/100 {
		t.Errorf("backoff after reset = %v, want about %v", d, minBackoff)
	}
}

func TestPipe(t *testing.T) {
	t.Parallel()
	agentEnd, cpEnd := net.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a := &Agent{Handler: agentHandler()}
	errc := runAgent(func() error { return a.ServeConn(ctx, agentEnd) })

	c, err := NewConn(cpEnd, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkTunnel(t, c)
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	waitDone(t, c, time.Second)
	if err := waitErr(t, errc, time.Second); err != nil {
		t.Errorf("ServeConn = %v after the control plane closed, want nil", err)
	}
}

// TestDeadPeer freezes a tunnel between a live agent and a live control plane: a proxy
// between them stops passing bytes but keeps both connections open. Each side notices
// with its pings.
func TestDeadPeer(t *testing.T) {
	t.Parallel()
	cp := startControlPlane(t, cpConfig{opts: fastPings})
	p := startProxy(t, cp.Listener.Addr().String())

	a := cp.agent()
	a.URL = "http://" + p.addr
	a.Options = fastPings
	errc := runAgent(func() error { return a.ServeOnce(t.Context()) })
	c := cp.next(t)
	if _, err := echo(c, "hi"); err != nil {
		t.Fatal(err)
	}
	// Longer than the ping interval: an idle tunnel with a live peer stays up.
	time.Sleep(4 * fastPings.PingInterval)
	if _, err := echo(c, "still there"); err != nil {
		t.Fatalf("idle tunnel dropped: %v", err)
	}

	p.freeze()
	start := time.Now()
	waitDone(t, c, 3*time.Second)
	if err := waitErr(t, errc, 3*time.Second); err != nil {
		t.Errorf("ServeOnce = %v, want nil", err)
	}
	t.Logf("both ends noticed within %v", time.Since(start))
}

// TestSilentAgent: a peer that upgrades and then never says anything, not even the
// HTTP/2 preface, is dropped by the control plane's pings.
func TestSilentAgent(t *testing.T) {
	t.Parallel()
	cp := startControlPlane(t, cpConfig{opts: eagerPings})
	nc, err := net.Dial("tcp", cp.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: cp\r\nConnection: Upgrade\r\nUpgrade: %s\r\nAuthorization: Bearer %s\r\n%s: %s\r\n\r\n",
		ConnectPath, Protocol, testToken, RegionHeader, testRegion)
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	waitDone(t, cp.next(t), 3*time.Second)
}

// TestSilentControlPlane: a control plane that upgrades and never starts HTTP/2 is
// dropped by the agent.
func TestSilentControlPlane(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + Protocol + "\r\n\r\n")
		brw.Flush()
		<-hold
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(hold) })
	a := &Agent{URL: srv.URL, Token: testToken, Region: testRegion, Handler: agentHandler(), Options: eagerPings}
	if err := waitErr(t, runAgent(func() error { return a.ServeOnce(t.Context()) }), 3*time.Second); err != nil {
		t.Errorf("ServeOnce = %v, want nil", err)
	}
}

func TestBufferedBytesAreRead(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		fmt.Fprint(b, "HTTP/1.1 101 Switching Protocols\r\n\r\nfirst")
		fmt.Fprint(b, " second")
		b.Close()
	}()
	br := bufio.NewReader(a)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if br.Buffered() == 0 {
		t.Fatal("nothing buffered behind the response")
	}
	got, err := io.ReadAll(newConn(a, br))
	if err != nil || string(got) != "first second" {
		t.Errorf("read %q, %v; want %q", got, err, "first second")
	}
}

func TestIsUpgrade(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		method     string
		connection string
		upgrade    string
		want       bool
	}{
		{"upgrade", "GET", "Upgrade", Protocol, true},
		{"token lists", "GET", "keep-alive, upgrade", "h2c, MICRO-RUNTIME-TUNNEL/1", true},
		{"POST", "POST", "Upgrade", Protocol, false},
		{"no Connection", "GET", "", Protocol, false},
		{"websocket", "GET", "Upgrade", "websocket", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, ConnectPath, nil)
			if tc.connection != "" {
				r.Header.Set("Connection", tc.connection)
			}
			r.Header.Set("Upgrade", tc.upgrade)
			if got := IsUpgrade(r); got != tc.want {
				t.Errorf("IsUpgrade = %v, want %v", got, tc.want)
			}
		})
	}
}

// proxy passes bytes between the agent and the control plane until frozen; then it
// swallows them and keeps both connections open, like a network that went dark. kill
// closes the connections open through it.
type proxy struct {
	addr   string
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, backend string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String()}
	t.Cleanup(func() {
		l.Close()
		p.kill()
	})
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", backend)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go p.pipe(out, in)
			go p.pipe(in, out)
		}
	}()
	return p
}

func (p *proxy) freeze() { p.frozen.Store(true) }

func (p *proxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if !p.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !p.frozen.Load() {
				dst.Close()
			}
			return
		}
	}
}
