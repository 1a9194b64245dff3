package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/authz"
)

// SSE message types of docs/api.md.
const (
	eventLine  = "line"  // a build log line, data is a JSON string
	eventLog   = "log"   // an instance log entry, data is a LogEntry
	eventEvent = "event" // a platform event, data is an Event, id is its ID
	eventEnd   = "end"   // the stream is complete
	eventError = "error" // the stream failed, data is an ErrorResponse
)

// DefaultSSEHeartbeat is how often an idle event stream gets a comment line, so that
// proxies and load balancers do not close it.
const DefaultSSEHeartbeat = 15 * time.Second

// DefaultStreamRecheck is how often an open event stream checks that its token still
// allows it.
const DefaultStreamRecheck = 5 * time.Second

// errStreamClosed reports that a write to the stream failed: the client went away, so
// there is no one left to tell.
var errStreamClosed = errors.New("event stream closed by client")

// eventStream writes Server-Sent Events to one response.
type eventStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startStream sends the SSE response header. The adapter learns of the stream through
// the trackingWriter, so an error returned later becomes an `error` message.
func startStream(w http.ResponseWriter) (*eventStream, error) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx would otherwise buffer the stream
	w.WriteHeader(http.StatusOK)
	st := &eventStream{w: w, rc: http.NewResponseController(w)}
	if tw, ok := w.(*trackingWriter); ok {
		tw.stream = st
	}
	if err := st.rc.Flush(); err != nil {
		return nil, fmt.Errorf("start event stream: %w", err)
	}
	return st, nil
}

// send writes one message: id (when not empty), event and data as one line of JSON.
func (st *eventStream) send(event, id string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", event, err)
	}
	var buf bytes.Buffer
	if id != "" {
		buf.WriteString("id: " + id + "\n")
	}
	buf.WriteString("event: " + event + "\n")
	buf.WriteString("data: ")
	buf.Write(b) // json.Marshal never emits a newline, so one data line suffices
	buf.WriteString("\n\n")
	return st.write(buf.Bytes())
}

// comment writes an SSE comment line, which clients ignore.
func (st *eventStream) comment(text string) error {
	return st.write([]byte(": " + text + "\n\n"))
}

func (st *eventStream) write(b []byte) error {
	if _, err := st.w.Write(b); err != nil {
		return fmt.Errorf("%w: %w", errStreamClosed, err)
	}
	if err := st.rc.Flush(); err != nil {
		return fmt.Errorf("%w: %w", errStreamClosed, err)
	}
	return nil
}

// streamGuard checks, while a stream lasts, that the caller may still take action on
// namespace ns: the secret the request was authenticated with is authenticated again
// (through the caching authenticator, so a check is a hash and a map lookup) and the
// policy asked again. It returns EUNAUTHENTICATED for a token since revoked or expired
// or whose user was disabled or removed, EFORBIDDEN for one that no longer allows the
// action.
func (s *Server) streamGuard(r *http.Request, action authz.Action, ns string) func(context.Context) error {
	secret := secretFromContext(r.Context())
	return func(ctx context.Context) error {
		if secret == "" {
			// No token: the ControlPlane let the stream start without one.
			return nil
		}
		tok, err := s.auth.Authenticate(ctx, secret)
		if err == nil && tok == nil {
			err = errors.New("authenticator returned no token and no error")
		}
		if err != nil {
			return fmt.Errorf("recheck stream token: %w", err)
		}
		if s.policy != nil {
			return s.policy.Authorize(platform.NewContextWithToken(ctx, tok), action, ns)
		}
		// Without a resolver the namespace's organisation was checked when the stream
		// began; names do not pass between organisations.
		return authz.Check(tok, action, ns, "")
	}
}

// pump sends every value from ch with send until ch closes (done is true), the request
// ends, the server shuts down or guard fails. It writes a heartbeat comment whenever the
// stream is idle for the server's heartbeat interval, and calls guard every recheck
// interval: a stream outlives no revocation by more than that (plus the authenticator's
// cache TTL for a revocation by another replica). A client that went away is not an
// error.
func pump[T any](ctx context.Context, s *Server, st *eventStream, guard func(context.Context) error, ch <-chan T, send func(T) error) (done bool, err error) {
	heartbeat := time.NewTicker(s.heartbeat)
	defer heartbeat.Stop()
	recheck := time.NewTicker(s.recheck)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case <-s.stopping:
			return false, nil
		case <-recheck.C:
			if err := guard(ctx); err != nil {
				if ctx.Err() != nil {
					return false, nil // the client went away during the check
				}
				return false, err
			}
			continue
		case <-heartbeat.C:
			err = st.comment("heartbeat")
		case v, ok := <-ch:
			if !ok {
				return true, nil
			}
			err = send(v)
			heartbeat.Reset(s.heartbeat)
		}
		if errors.Is(err, errStreamClosed) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}
