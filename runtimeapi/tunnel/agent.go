package tunnel

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"

	platform "github.com/micro/platform"
)

// Reconnection backoff of Agent.Start: exponential from minBackoff, capped at maxBackoff,
// ±jitterPercent, and back to minBackoff after a tunnel that lived resetBackoffAfter.
const (
	minBackoff        = 100 * time.Millisecond
	maxBackoff        = 5 * time.Second
	jitterPercent     = 20
	resetBackoffAfter = 10 * time.Second
)

// shutdownTimeout bounds how long an agent that stops waits for the requests in flight.
const shutdownTimeout = 5 * time.Second

// Agent is a region's end of the tunnel: it dials the control plane and serves Handler
// (the runtime API's AgentService) to it.
type Agent struct {
	// URL is the control plane's base URL, http or https; ConnectPath is appended.
	URL string
	// Token is the region token; Region the region's name.
	Token  string
	Region string
	// TLSConfig, when set, configures TLS to an https URL; the tunnel always negotiates
	// HTTP/1.1 for its upgrade.
	TLSConfig *tls.Config
	// Handler serves the control plane's requests.
	Handler http.Handler
	// Logger receives connections, disconnections and HTTP/2 errors; nil discards them.
	Logger *slog.Logger
	// Options tune the keepalive towards the control plane.
	Options Options

	minBackoff time.Duration // for tests; 0 means minBackoff
}

func (a *Agent) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

// Start keeps a tunnel to the control plane open until ctx ends, dialing again with
// backoff whenever the control plane cannot be reached, refuses the upgrade (a wrong
// token is logged and retried: it may yet be issued) or the tunnel drops. It returns nil
// once ctx ends, or an EINVALID error at once when the Agent is incomplete.
func (a *Agent) Start(ctx context.Context) error {
	if err := a.validate(true); err != nil {
		return err
	}
	log := a.logger().With("url", a.URL, "region", a.Region)
	b := newBackoff(cmp.Or(a.minBackoff, minBackoff))
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		began := time.Now()
		err := a.ServeOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > resetBackoffAfter {
			b.reset()
		}
		switch code := platform.ErrorCode(err); code {
		case "":
			log.Info("tunnel closed; reconnecting")
			err = errClosed
		case platform.EUNAUTHENTICATED, platform.EFORBIDDEN, platform.EINVALID:
			log.Error("tunnel refused; retrying", "code", code, "error", err)
		default:
			log.Warn("tunnel failed; retrying", "code", code, "error", err)
		}
		return retry.RetryableError(err)
	})
	if ctx.Err() != nil {
		return nil
	}
	return err // not reached: the backoff never stops
}

var errClosed = errors.New("tunnel closed")

// backoff is Start's: it is reset after a tunnel that lived long enough, so a region
// whose tunnel drops once a day reconnects at once.
type backoff struct {
	retry.Backoff
	base time.Duration
}

func newBackoff(base time.Duration) *backoff {
	b := &backoff{base: base}
	b.reset()
	return b
}

func (b *backoff) reset() {
	b.Backoff = retry.WithJitterPercent(jitterPercent,
		retry.WithCappedDuration(maxBackoff, retry.NewExponential(b.base)))
}

// ServeOnce dials the control plane, upgrades and serves Handler over the tunnel until it
// closes (nil) or ctx ends (ctx's error). A refused upgrade returns the control plane's
// error: code EUNAUTHENTICATED or EFORBIDDEN and its message; a control plane that
// cannot be reached or does not speak the protocol, EUNAVAILABLE.
func (a *Agent) ServeOnce(ctx context.Context) error {
	if err := a.validate(true); err != nil {
		return err
	}
	c, err := a.dial(ctx)
	if err != nil {
		return err
	}
	a.logger().Info("tunnel open", "url", a.URL, "region", a.Region)
	return a.serve(ctx, c)
}

// ServeConn serves Handler over nc, an established connection whose other end is the
// control plane's NewConn, until nc closes (nil) or ctx ends (ctx's error). It closes nc.
func (a *Agent) ServeConn(ctx context.Context, nc net.Conn) error {
	if err := a.validate(false); err != nil {
		nc.Close()
		return err
	}
	return a.serve(ctx, newConn(nc, nil))
}

func (a *Agent) validate(dial bool) error {
	switch {
	case a.Handler == nil:
		return platform.Errorf(platform.EINVALID, "tunnel agent: no handler")
	case !dial:
		return nil
	case a.URL == "":
		return platform.Errorf(platform.EINVALID, "tunnel agent: no control plane URL")
	case a.Region == "" || a.Token == "":
		return platform.Errorf(platform.EINVALID, "tunnel agent: region and token are required")
	}
	_, err := a.url()
	return err
}

func (a *Agent) url() (*url.URL, error) {
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, platform.Errorf(platform.EINVALID, "tunnel agent: control plane URL %q: want an http(s) URL", a.URL)
	}
	return u, nil
}

// serve runs an HTTP/2 server on c alone. When ctx ends it stops gracefully: the control
// plane gets a GOAWAY and the requests in flight shutdownTimeout to finish.
func (a *Agent) serve(ctx context.Context, c *conn) error {
	srv := &http.Server{
		Handler:   a.Handler,
		Protocols: h2c(),
		HTTP2:     a.Options.http2(),
		// Until the control plane's HTTP/2 preface arrives, no ping can tell it is alive.
		ReadHeaderTimeout: min(a.Options.deadPeer(), handshakeTimeout),
		ErrorLog:          slog.NewLogLogger(a.logger().Handler(), slog.LevelWarn),
	}
	l := newConnListener(c)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()

	var err error
	select {
	case <-c.done:
		_ = srv.Close()
		err = <-errc
	case err = <-errc: // Serve failed before the connection ended
		c.Close()
	case <-ctx.Done():
		// Shutdown sends a GOAWAY on the HTTP/2 connections that have started, and then
		// waits for them to close; one that starts after (the preface still on its way)
		// is never told, and holds Shutdown until its timeout. HTTP/2 starts by writing
		// its settings, and the preface wait is bounded by ReadHeaderTimeout.
		select {
		case <-c.wrote:
		case <-c.done:
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
		cancel()
		err = <-errc
	}
	<-c.done
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("tunnel: serve HTTP/2: %w", err)
}

// connListener is a listener of one connection, for http.Server.Serve.
type connListener struct {
	mu     sync.Mutex
	conn   net.Conn // nil once accepted
	addr   net.Addr
	once   sync.Once
	closed chan struct{}
}

func newConnListener(c net.Conn) *connListener {
	return &connListener{conn: c, addr: c.LocalAddr(), closed: make(chan struct{})}
}

// Accept returns the connection the first time, then waits for Close.
func (l *connListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

// Close ends Accept; the connection it returned stays open.
func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// dial opens a connection to the control plane and upgrades it.
func (a *Agent) dial(ctx context.Context) (*conn, error) {
	u, err := a.url()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.JoinPath(ConnectPath).String(), nil)
	if err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", Protocol)
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set(RegionHeader, a.Region)

	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, unreachable(ctx, addr, err)
	}
	// The whole exchange is bounded, and ends early with ctx.
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	c, err := upgrade(ctx, nc, u, req, a.TLSConfig)
	if !stop() || err != nil {
		nc.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// upgrade does the upgrade exchange on nc, in TLS for an https u.
func upgrade(ctx context.Context, nc net.Conn, u *url.URL, req *http.Request, tlsConfig *tls.Config) (*conn, error) {
	if u.Scheme == "https" {
		cfg := &tls.Config{}
		if tlsConfig != nil {
			cfg = tlsConfig.Clone()
		}
		cfg.ServerName = cmp.Or(cfg.ServerName, u.Hostname())
		cfg.NextProtos = []string{"http/1.1"} // an upgrade is HTTP/1.1 only
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, unreachable(ctx, u.Host, err)
		}
		nc = tc
	}
	if err := req.Write(nc); err != nil {
		return nil, unreachable(ctx, u.Host, err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, unreachable(ctx, u.Host, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return nil, refused(resp)
	}
	if !hasToken(resp.Header, "Upgrade", Protocol) {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "control plane at %s upgraded to %q, not %s", u.Host, resp.Header.Get("Upgrade"), Protocol)
	}
	// The control plane starts HTTP/2 right after its 101: br may hold its first bytes.
	return newConn(nc, br), nil
}

func unreachable(ctx context.Context, addr string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: %w", platform.Errorf(platform.EUNAVAILABLE, "cannot reach the control plane at %s", addr), err)
}

// refused returns the error of a response that did not upgrade: the code and message of
// its error JSON, else the code of a refusal's status (400, 401, 403) or EUNAVAILABLE for
// whatever else answered (a proxy in the way, not a control plane).
func refused(resp *http.Response) error {
	var body errorResponse
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	code, msg := body.Error.Code, body.Error.Message
	if _, known := statusByCode[code]; !known {
		switch resp.StatusCode {
		case http.StatusBadRequest:
			code = platform.EINVALID
		case http.StatusUnauthorized:
			code = platform.EUNAUTHENTICATED
		case http.StatusForbidden:
			code = platform.EFORBIDDEN
		default:
			code = platform.EUNAVAILABLE
		}
	}
	perr := platform.Errorf(code, "%s", cmp.Or(msg, "control plane answered "+resp.Status))
	if body.Error.Hint != "" {
		perr = perr.WithHint("%s", body.Error.Hint)
	}
	return fmt.Errorf("tunnel upgrade refused (%s): %w", resp.Status, perr)
}
