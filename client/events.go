package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sethvargo/go-retry"

	platform "github.com/micro/platform"
)

// Events returns the stored events matching f in ascending ID order: with f.AfterID 0
// the newest f.Limit of them (100 when 0), else up to f.Limit after that ID.
func (c *Client) Events(ctx context.Context, f platform.EventFilter) ([]*platform.Event, error) {
	var out struct {
		Events []*platform.Event `json:"events"`
	}
	if err := c.do(ctx, http.MethodGet, nsPath(f.Namespace, "events"), eventQuery(f, false), nil, &out); err != nil {
		return nil, err
	}
	return out.Events, nil
}

// FollowEvents streams the events matching f with an ID above f.AfterID (every stored
// one when 0), then live ones as they happen, until ctx ends or the stream is closed.
// When the connection drops it reconnects with Last-Event-ID set to the last event
// received, so no event is lost or repeated; it gives up with EUNAVAILABLE once the server
// has been unreachable for longer than the reconnect timeout (WithReconnectTimeout).
func (c *Client) FollowEvents(ctx context.Context, f platform.EventFilter) (*Stream[*platform.Event], error) {
	ctx, cancel := context.WithCancel(ctx)
	ef := &eventFollower{c: c, ctx: ctx, filter: f, lastID: f.AfterID}
	if err := ef.dial(ctx); err != nil {
		cancel()
		return nil, err
	}
	// Cancelling the request's context also ends a read blocked on its body.
	return newStream(ef.next, func() error { cancel(); return nil }), nil
}

// eventQuery encodes f as the query of GET /v1/namespaces/{ns}/events.
func eventQuery(f platform.EventFilter, follow bool) url.Values {
	q := url.Values{}
	if f.Service != "" {
		q.Set("service", f.Service)
	}
	if f.Type != "" {
		q.Set("type", f.Type)
	}
	if f.Region != "" {
		q.Set("region", f.Region)
	}
	if f.AfterID > 0 {
		q.Set("after", strconv.FormatInt(f.AfterID, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if follow {
		q.Set("follow", "true")
	}
	return q
}

// eventFollower is the state of a FollowEvents stream across reconnections.
type eventFollower struct {
	c      *Client
	ctx    context.Context
	filter platform.EventFilter
	lastID int64

	resp     *http.Response
	r        *sseReader
	received bool          // a message arrived on the current connection
	backoff  retry.Backoff // of the current reconnection episode; nil when connected fine
}

func (ef *eventFollower) newBackoff() retry.Backoff {
	b := retry.NewExponential(100 * time.Millisecond)
	b = retry.WithCappedDuration(2*time.Second, b)
	return retry.WithMaxDuration(ef.c.reconnectMax, b)
}

// dial opens the stream after ef.lastID, once.
func (ef *eventFollower) dial(ctx context.Context) error {
	f := ef.filter
	f.AfterID = ef.lastID
	var h http.Header
	if ef.lastID > 0 {
		h = http.Header{"Last-Event-ID": {strconv.FormatInt(ef.lastID, 10)}}
	}
	resp, err := ef.c.openStream(ctx, nsPath(f.Namespace, "events"), eventQuery(f, true), h)
	if err != nil {
		return err
	}
	ef.resp, ef.r, ef.received = resp, newSSEReader(resp.Body), false
	return nil
}

// connect dials again after a dropped connection, retrying while the server is
// unavailable, until the reconnect timeout.
func (ef *eventFollower) connect() error {
	if ef.backoff == nil {
		ef.backoff = ef.newBackoff()
	}
	err := retry.Do(ef.ctx, ef.backoff, func(ctx context.Context) error {
		err := ef.dial(ctx)
		if err != nil && retryable(err) {
			return retry.RetryableError(err)
		}
		return err
	})
	if ef.ctx.Err() != nil {
		return ef.ctx.Err()
	}
	if err != nil && retryable(err) {
		return platform.Errorf(platform.EUNAVAILABLE, "lost the event stream from %s: %s", ef.c.server, platform.ErrorMessage(err)).
			WithHint("is the server running at %s? start it with `platform server`", ef.c.server)
	}
	return err
}

// retryable reports whether reconnecting may help: the server is unreachable or
// temporarily failing, not refusing the request.
func retryable(err error) bool {
	switch platform.ErrorCode(err) {
	case platform.EUNAVAILABLE, platform.ETIMEOUT, platform.EINTERNAL:
		return true
	}
	return false
}

// next returns the next event, reconnecting after a dropped connection.
func (ef *eventFollower) next() (*platform.Event, error) {
	for {
		if ef.r == nil {
			if err := ef.reconnect(); err != nil {
				return nil, err
			}
		}
		m, err := ef.r.Next()
		if err != nil {
			_ = ef.resp.Body.Close()
			ef.r = nil
			if ef.ctx.Err() != nil {
				return nil, ef.ctx.Err()
			}
			continue
		}
		ef.received, ef.backoff = true, nil
		switch m.Event {
		case sseEvent:
			var e platform.Event
			if err := json.Unmarshal([]byte(m.Data), &e); err != nil {
				return nil, ef.c.badResponse(http.MethodGet, "event stream", err)
			}
			if e.ID != 0 && e.ID <= ef.lastID {
				continue // already delivered before a reconnection
			}
			if e.ID > ef.lastID {
				ef.lastID = e.ID
			}
			return &e, nil
		case sseEnd:
			return nil, io.EOF
		case sseError:
			return nil, parseError([]byte(m.Data), http.StatusInternalServerError)
		}
	}
}

// reconnect waits before reconnecting when the last connection delivered nothing, so a
// server that accepts and drops connections at once is not hammered.
func (ef *eventFollower) reconnect() error {
	if !ef.received {
		if ef.backoff == nil {
			ef.backoff = ef.newBackoff()
		}
		d, stop := ef.backoff.Next()
		if stop {
			return platform.Errorf(platform.EUNAVAILABLE, "the event stream from %s keeps dropping", ef.c.server).
				WithHint("is the server at %s healthy? check its log", ef.c.server)
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ef.ctx.Done():
			return ef.ctx.Err()
		case <-t.C:
		}
	}
	return ef.connect()
}
