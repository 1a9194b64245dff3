package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	platform "github.com/micro/platform"
)

// SSE message names of docs/api.md.
const (
	sseLine  = "line"
	sseLog   = "log"
	sseEvent = "event"
	sseEnd   = "end"
	sseError = "error"
)

// BuildLog streams the output of build id in namespace ns: the lines written so far and,
// with follow, new lines until the build ends. The stream ends cleanly when the server
// says the log is complete.
func (c *Client) BuildLog(ctx context.Context, ns, id string, follow bool) (*Stream[string], error) {
	q := url.Values{}
	if follow {
		q.Set("follow", "true")
	}
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.openStream(ctx, nsPath(ns, "builds", id, "log"), q, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	r := newSSEReader(resp.Body)
	next := func() (string, error) {
		for {
			m, err := c.readMessage(ctx, r, "build log")
			if err != nil {
				return "", err
			}
			switch m.Event {
			case sseLine:
				var line string
				if err := json.Unmarshal([]byte(m.Data), &line); err != nil {
					return "", c.badResponse(http.MethodGet, "build log", err)
				}
				return line, nil
			case sseEnd:
				return "", io.EOF
			case sseError:
				return "", parseError([]byte(m.Data), http.StatusInternalServerError)
			}
		}
	}
	return newStream(next, closer(cancel, resp.Body)), nil
}

// Logs returns the output of a service's instances, of q.Region's only when set: the
// last q.Tail lines (0 means the server's default of 100, -1 all it keeps) and, with
// q.Follow, new lines as they are written until ctx ends or the stream is closed. Each
// entry names its region.
func (c *Client) Logs(ctx context.Context, q platform.LogQuery) (*Stream[platform.LogEntry], error) {
	v := url.Values{}
	if q.Tail != 0 {
		v.Set("tail", strconv.Itoa(q.Tail))
	}
	if q.Region != "" {
		v.Set("region", q.Region)
	}
	p := nsPath(q.Namespace, "services", q.Service, "logs")
	if !q.Follow {
		var out struct {
			Logs []platform.LogEntry `json:"logs"`
		}
		if err := c.do(ctx, http.MethodGet, p, v, nil, &out); err != nil {
			return nil, err
		}
		return sliceStream(out.Logs), nil
	}
	v.Set("follow", "true")
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.openStream(ctx, p, v, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	r := newSSEReader(resp.Body)
	next := func() (platform.LogEntry, error) {
		for {
			m, err := c.readMessage(ctx, r, "log stream")
			if err != nil {
				return platform.LogEntry{}, err
			}
			switch m.Event {
			case sseLog:
				var e platform.LogEntry
				if err := json.Unmarshal([]byte(m.Data), &e); err != nil {
					return e, c.badResponse(http.MethodGet, p, err)
				}
				return e, nil
			case sseEnd:
				return platform.LogEntry{}, io.EOF
			case sseError:
				return platform.LogEntry{}, parseError([]byte(m.Data), http.StatusInternalServerError)
			}
		}
	}
	return newStream(next, closer(cancel, resp.Body)), nil
}

// openStream starts a GET of an event stream; a non-2xx answer becomes its error.
func (c *Client) openStream(ctx context.Context, p string, q url.Values, header http.Header) (*http.Response, error) {
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	h := http.Header{"Accept": {"text/event-stream"}}
	for k, v := range header {
		h[k] = v
	}
	resp, err := c.send(ctx, http.MethodGet, p, nil, h, "")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer drain(resp.Body)
		return nil, decodeError(resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		drain(resp.Body)
		return nil, c.badResponse(http.MethodGet, p, errors.New("want a text/event-stream, got "+strconv.Quote(ct)))
	}
	return resp, nil
}

// readMessage reads the next message of a stream that must end with an "end" message: a
// connection that ends before is EUNAVAILABLE, a cancelled ctx its error.
func (c *Client) readMessage(ctx context.Context, r *sseReader, what string) (sseMessage, error) {
	m, err := r.Next()
	if err == nil {
		return m, nil
	}
	if ctx.Err() != nil {
		return m, ctx.Err()
	}
	return m, c.interrupted(what, err)
}

func (c *Client) interrupted(what string, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return platform.Errorf(platform.EUNAVAILABLE, "the %s from %s was interrupted: %v", what, c.server, err).
		WithHint("is the server at %s still running? run the command again to resume", c.server)
}

// closer returns a func that cancels a stream's request and closes its body.
func closer(cancel context.CancelFunc, body io.Closer) func() error {
	return func() error {
		cancel()
		return body.Close()
	}
}
