package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	platform "github.com/micro/platform"
)

// Authorize decides whether the agent of region, presenting token, may open a tunnel: nil,
// or an error with code EUNAUTHENTICATED (an unknown token) or EFORBIDDEN (a token of
// another region), which the agent receives with its message.
type Authorize func(ctx context.Context, region, token string) error

// Handler returns the control plane's handler of ConnectPath. It refuses a request that is
// not an upgrade or has no region (400) or no bearer token (401), then one that authorize
// refuses, each with the API's error JSON; otherwise it accepts the tunnel and calls
// connected on the request's goroutine. connected may block for as long as it likes or
// keep the Conn and return: the tunnel lives until it is closed or its agent is gone.
func Handler(authorize Authorize, connected func(region string, c *Conn), opts Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !IsUpgrade(r) {
			writeError(w, errNotUpgrade())
			return
		}
		region := r.Header.Get(RegionHeader)
		if region == "" {
			writeError(w, platform.Errorf(platform.EINVALID, "missing %s header", RegionHeader))
			return
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			writeError(w, platform.Errorf(platform.EUNAUTHENTICATED, "missing region token"))
			return
		}
		if err := authorize(r.Context(), region, token); err != nil {
			writeError(w, err)
			return
		}
		c, err := Accept(w, r, opts)
		if err != nil {
			return // answered by Accept, or the agent is gone
		}
		connected(region, c)
	})
}

func errNotUpgrade() error {
	return platform.Errorf(platform.EINVALID, "want an HTTP/1.1 GET with Connection: Upgrade and Upgrade: %s", Protocol)
}

// Accept answers an upgrade request that the caller has authorised with 101, takes over
// its connection and returns the tunnel. A request that is not an upgrade (IsUpgrade) or
// whose connection cannot be taken over (HTTP/2) is answered with 400 and EINVALID.
func Accept(w http.ResponseWriter, r *http.Request, opts Options) (*Conn, error) {
	if !IsUpgrade(r) {
		err := errNotUpgrade()
		writeError(w, err)
		return nil, err
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		perr := platform.Errorf(platform.EINVALID, "this connection cannot be upgraded")
		writeError(w, perr)
		return nil, fmt.Errorf("%w: %w", perr, err)
	}
	// The server's read and write timeouts stay on a hijacked connection; a tunnel is
	// long-lived, and idle between calls.
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + Protocol + "\r\n\r\n")
	if err := brw.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tunnel: answer the upgrade: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	return newClientConn(newConn(nc, brw.Reader), opts)
}

// NewConn returns the control plane's end of a tunnel over nc, an established connection
// whose other end is served by Agent.ServeConn (the in-process region, over a net.Pipe).
func NewConn(nc net.Conn, opts Options) (*Conn, error) {
	return newClientConn(newConn(nc, nil), opts)
}

// Conn is the control plane's end of a tunnel: an HTTP/2 client connection to the agent.
type Conn struct {
	conn   *conn
	cc     *http.ClientConn
	client *http.Client
}

func newClientConn(c *conn, opts Options) (*Conn, error) {
	var once sync.Once
	tr := &http.Transport{
		Protocols: h2c(),
		HTTP2:     opts.http2(),
		// NewClientConn dials once; the connection is already there.
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			var nc net.Conn
			once.Do(func() { nc = c })
			if nc == nil {
				return nil, errors.New("tunnel: connection already used")
			}
			return nc, nil
		},
	}
	cc, err := tr.NewClientConn(context.Background(), "http", "agent:80")
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("tunnel: start HTTP/2: %w", err)
	}
	return &Conn{conn: c, cc: cc, client: &http.Client{Transport: cc}}, nil
}

// Client returns a client whose every request goes over the tunnel to the agent, whatever
// its URL's host (see BaseURL). Requests fail once the tunnel is closed.
func (c *Conn) Client() *http.Client { return c.client }

// Done is closed when the tunnel is gone: closed by either side, or its agent stopped
// answering pings.
func (c *Conn) Done() <-chan struct{} { return c.conn.done }

// Close closes the tunnel, interrupting the requests in flight.
func (c *Conn) Close() error {
	err := c.cc.Close()
	if cerr := c.conn.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	return err
}

// RemoteAddr returns the agent's address, as the control plane sees it.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }
