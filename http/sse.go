package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
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

// pump sends every value from ch with send until ch closes (done is true), the request
// ends, or the server shuts down. It writes a heartbeat comment whenever the stream is
// idle for the server's heartbeat interval. A client that went away is not an error.
func pump[T any](ctx context.Context, s *Server, st *eventStream, ch <-chan T, send func(T) error) (done bool, err error) {
	heartbeat := time.NewTicker(s.heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case <-s.stopping:
			return false, nil
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
