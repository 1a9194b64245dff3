// Package tunnel lets the control plane make HTTP/2 calls (the connect RPCs of the runtime
// API) to a region's agent over a connection the agent dialed out, so a region needs no
// inbound port.
//
// The agent asks for the tunnel with an HTTP/1.1 upgrade, over TLS when the control
// plane's URL is https; once the control plane answers 101 the roles turn around: the
// control plane is the HTTP/2 client and the agent the HTTP/2 server on that connection.
//
//	agent                                        control plane
//	  │ GET /v1/regions/connect                      │
//	  │ Connection: Upgrade                          │
//	  │ Upgrade: micro-runtime-tunnel/1              │
//	  │ Authorization: Bearer <region token>         │
//	  │ Micro-Region: <name>      ──────────────────►│ Handler: authorise
//	  │◄──────────────── 101 Switching Protocols     │   (or 400/401/403 + error JSON)
//	  │◄════════ HTTP/2 requests (h2c) ══════════════│ Conn.Client()
//	  │ Agent.Handler ═════ responses ══════════════►│
//
// Both sides are net/http's own HTTP/2 (unencrypted HTTP/2 with prior knowledge,
// Transport.NewClientConn and Server.Serve on a one-connection listener); the in-process
// region uses the same code over a net.Pipe (Agent.ServeConn and NewConn). Each side
// pings a silent peer (Options) and drops the tunnel when the ping goes unanswered; the
// agent's Start then dials again with backoff.
package tunnel

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	platform "github.com/micro/platform"
)

// The protocol's names.
const (
	// ConnectPath is the control plane's path that agents upgrade.
	ConnectPath = "/v1/regions/connect"
	// Protocol is the token of the Upgrade header.
	Protocol = "micro-runtime-tunnel/1"
	// RegionHeader names the region whose agent is connecting.
	RegionHeader = "Micro-Region"
	// BaseURL is a base URL for clients of Conn.Client: every request goes over the
	// tunnel, whatever its host.
	BaseURL = "http://agent"
)

// Defaults for the zero values of Options.
const (
	DefaultPingInterval = 5 * time.Second
	DefaultPingTimeout  = 5 * time.Second
)

// handshakeTimeout bounds the upgrade exchange (and the agent's wait for the control
// plane's HTTP/2 preface when no ping bound is shorter).
const handshakeTimeout = 10 * time.Second

// Options tune a tunnel's keepalive, on either side. A side that has heard nothing from
// its peer for PingInterval sends a ping, and closes the tunnel when no answer comes
// within PingTimeout, so a dead peer is noticed within their sum.
type Options struct {
	// PingInterval is how long the peer may be silent before a ping; 0 means
	// DefaultPingInterval.
	PingInterval time.Duration
	// PingTimeout is how long a ping's answer may take; 0 means DefaultPingTimeout.
	PingTimeout time.Duration
}

func (o Options) http2() *http.HTTP2Config {
	c := &http.HTTP2Config{SendPingTimeout: o.PingInterval, PingTimeout: o.PingTimeout}
	if c.SendPingTimeout <= 0 {
		c.SendPingTimeout = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	return c
}

// deadPeer is how long a peer may be silent before the tunnel is closed.
func (o Options) deadPeer() time.Duration {
	c := o.http2()
	return c.SendPingTimeout + c.PingTimeout
}

// h2c returns the protocols of both sides: HTTP/2 without TLS, with prior knowledge. The
// connection under it may well be TLS; HTTP/2 does not know.
func h2c() *http.Protocols {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &p
}

// IsUpgrade reports whether r asks for a tunnel: an HTTP/1.x GET with Connection: Upgrade
// and Upgrade: micro-runtime-tunnel/1.
func IsUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && r.ProtoMajor == 1 &&
		hasToken(r.Header, "Connection", "upgrade") && hasToken(r.Header, "Upgrade", Protocol)
}

// hasToken reports whether the comma-separated header name lists token, ignoring case.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// conn is one end of a tunnel. Reads first return what was buffered while reading the
// upgrade exchange, since the peer may start HTTP/2 right behind it; done is closed when
// the connection is closed, by either HTTP/2 implementation or by us, and wrote at the
// first write, when HTTP/2 has started on our side.
type conn struct {
	net.Conn
	r         io.Reader
	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
	wroteOnce sync.Once
	wrote     chan struct{}
}

// newConn wraps nc; br, when not nil, is the reader that read the upgrade exchange off nc.
// The wrapper also hides a *tls.Conn under it: HTTP/2 runs inside the TLS, not on it.
func newConn(nc net.Conn, br interface {
	Buffered() int
	Peek(int) ([]byte, error)
}) *conn {
	c := &conn{Conn: nc, r: nc, done: make(chan struct{}), wrote: make(chan struct{})}
	if br != nil && br.Buffered() > 0 {
		b, _ := br.Peek(br.Buffered()) // cannot fail: the bytes are buffered
		c.r = io.MultiReader(bytes.NewReader(bytes.Clone(b)), nc)
	}
	return c
}

func (c *conn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *conn) Write(p []byte) (int, error) {
	c.wroteOnce.Do(func() { close(c.wrote) })
	return c.Conn.Write(p)
}

// Close closes the connection once and closes done.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		close(c.done)
	})
	return c.closeErr
}

// statusByCode maps error codes to the HTTP status of a refused upgrade, as the API does
// (docs/api.md).
var statusByCode = map[string]int{
	platform.EINVALID:         http.StatusBadRequest,
	platform.EUNAUTHENTICATED: http.StatusUnauthorized,
	platform.EFORBIDDEN:       http.StatusForbidden,
	platform.ENOTFOUND:        http.StatusNotFound,
	platform.ECONFLICT:        http.StatusConflict,
	platform.EQUOTA:           http.StatusTooManyRequests,
	platform.EINTERNAL:        http.StatusInternalServerError,
	platform.EUNAVAILABLE:     http.StatusServiceUnavailable,
	platform.ETIMEOUT:         http.StatusGatewayTimeout,
}

// errorResponse is the error JSON of the API (docs/api.md).
type errorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Hint    string `json:"hint,omitempty"`
	} `json:"error"`
}

// writeError answers a refused upgrade with err as the API's error JSON and the status of
// its code. An uncoded error shows as "internal error".
func writeError(w http.ResponseWriter, err error) {
	var body errorResponse
	body.Error.Code = platform.ErrorCode(err)
	body.Error.Message = platform.ErrorMessage(err)
	body.Error.Hint = platform.ErrorHint(err)
	status, ok := statusByCode[body.Error.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	b, _ := json.Marshal(body) // cannot fail: strings only
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="platform"`) // RFC 6750
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
