// Package client is the typed Go client of the platform's v1 HTTP API (docs/api.md). The
// `platform` CLI talks to the platform only through it.
//
// Every error a method returns carries a code: errors the server reports decode into a
// *platform.Error (code, message, hint), and a server that cannot be reached is
// EUNAVAILABLE with a hint, so callers branch on platform.ErrorCode(err) and show
// platform.ErrorMessage and platform.ErrorHint to users.
//
// Streams (build logs, instance logs, followed events) are read through a Stream, which
// works like bufio.Scanner: call Next until it returns false, then check Err.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// DefaultUserAgent is the User-Agent sent unless WithUserAgent sets another.
const DefaultUserAgent = "micro-platform-client"

// errMissingFields reports a response without the fields the API promises.
var errMissingFields = errors.New("required fields missing")

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// Client calls one platform server. It is safe for concurrent use.
type Client struct {
	server       string
	token        string
	userAgent    string
	hc           *http.Client
	reconnectMax time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithToken authenticates every request with the bearer secret token.
func WithToken(token string) Option {
	return func(c *Client) { c.token = token }
}

// WithHTTPClient sends requests through hc instead of a default client without timeout
// (request lifetimes come from contexts, and streams stay open for long).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// WithReconnectTimeout bounds how long FollowEvents keeps trying to reconnect after its
// connection drops before it gives up with EUNAVAILABLE; the default is one minute.
func WithReconnectTimeout(d time.Duration) Option {
	return func(c *Client) { c.reconnectMax = d }
}

// New returns a client of the server at the base URL server, e.g. "http://127.0.0.1:8080".
// A server given without a scheme is taken as http.
func New(server string, opts ...Option) *Client {
	server = strings.TrimRight(strings.TrimSpace(server), "/")
	if server != "" && !strings.Contains(server, "://") {
		server = "http://" + server
	}
	c := &Client{
		server:       server,
		userAgent:    DefaultUserAgent,
		hc:           &http.Client{},
		reconnectMax: time.Minute,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Server returns the base URL the client talks to.
func (c *Client) Server() string { return c.server }

// Ready returns nil once the server takes deploys (GET /readyz answers 200), and
// EUNAVAILABLE while it is starting or unreachable.
func (c *Client) Ready(ctx context.Context) error {
	resp, err := c.send(ctx, http.MethodGet, "/readyz", nil, nil, "")
	if err != nil {
		return err
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return platform.Errorf(platform.EUNAVAILABLE, "the platform at %s is not ready yet", c.server).
			WithHint("wait a moment and try again; the server log says what it is waiting for")
	}
	return nil
}

// path joins the escaped segments into an API path.
func path(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// nsPath returns /v1/namespaces/{ns} followed by the escaped segments.
func nsPath(ns string, segments ...string) string {
	return path(append([]string{"v1", "namespaces", ns}, segments...)...)
}

// do sends a JSON request (in may be nil) and decodes a 2xx JSON response into out (out
// may be nil). Non-2xx responses become *platform.Error.
func (c *Client) do(ctx context.Context, method, p string, query url.Values, in, out any) error {
	var body io.Reader
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return platform.Errorf(platform.EINVALID, "encode request: %v", err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	if len(query) > 0 {
		p += "?" + query.Encode()
	}
	resp, err := c.send(ctx, method, p, body, nil, contentType)
	if err != nil {
		return err
	}
	defer drain(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return c.badResponse(method, p, err)
	}
	return nil
}

// send performs one request. header adds headers; a transport failure becomes
// EUNAVAILABLE, a cancelled ctx its own error.
func (c *Client) send(ctx context.Context, method, p string, body io.Reader, header http.Header, contentType string) (*http.Response, error) {
	if c.server == "" {
		return nil, platform.Errorf(platform.EINVALID, "no server address configured").
			WithHint("pass --server URL or set PLATFORM_SERVER")
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+p, body)
	if err != nil {
		return nil, platform.Errorf(platform.EINVALID, "invalid server address %q: %v", c.server, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, c.unreachable(err)
	}
	return resp, nil
}

// unreachable turns a transport failure into the EUNAVAILABLE error users see.
func (c *Client) unreachable(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return platform.Errorf(platform.EUNAVAILABLE, "cannot reach the platform at %s: %v", c.server, err).
		WithHint("is the server running at %s? start it with `platform server`", c.server)
}

func (c *Client) badResponse(method, p string, err error) error {
	return platform.Errorf(platform.EUNAVAILABLE, "unexpected response to %s %s from %s: %v", method, p, c.server, err).
		WithHint("check that %s is a platform server of a matching version", c.server)
}

// wireError is the JSON error body of the API.
type wireError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Hint      string `json:"hint,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// toError converts w, filling a missing code from the HTTP status.
func (w wireError) toError(status int) *platform.Error {
	code := w.Code
	if code == "" {
		code = codeForStatus(status)
	}
	msg := w.Message
	if msg == "" {
		msg = fmt.Sprintf("server answered %d %s", status, http.StatusText(status))
	}
	return &platform.Error{Code: code, Message: msg, Hint: w.Hint}
}

// decodeError reads an error response into a *platform.Error.
func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return parseError(b, resp.StatusCode)
}

// parseError decodes {"error":{...}} (or a bare {...} error object) from b.
func parseError(b []byte, status int) *platform.Error {
	var env struct {
		Error *wireError `json:"error"`
	}
	if err := json.Unmarshal(b, &env); err == nil && env.Error != nil {
		return env.Error.toError(status)
	}
	var bare wireError
	if err := json.Unmarshal(b, &bare); err == nil && (bare.Code != "" || bare.Message != "") {
		return bare.toError(status)
	}
	return wireError{}.toError(status)
}

// codeForStatus inverts the status table of docs/api.md.
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return platform.EINVALID
	case http.StatusUnauthorized:
		return platform.EUNAUTHENTICATED
	case http.StatusForbidden:
		return platform.EFORBIDDEN
	case http.StatusNotFound:
		return platform.ENOTFOUND
	case http.StatusConflict:
		return platform.ECONFLICT
	case http.StatusTooManyRequests:
		return platform.EQUOTA
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return platform.EUNAVAILABLE
	case http.StatusGatewayTimeout:
		return platform.ETIMEOUT
	}
	return platform.EINTERNAL
}

// drain reads what is left of body so the connection can be reused, then closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}
