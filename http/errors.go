package http

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"

	platform "github.com/micro/platform"
)

// statusError gives an error an HTTP status that its code alone does not imply: 413 for
// a body over the limit, 405 for a method a route does not take. The JSON body is the
// wrapped error's (its code stays invalid), as the gateway answers the same cases.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// withStatus returns err answered with status instead of its code's.
func withStatus(status int, err error) error { return &statusError{status: status, err: err} }

// errBodyTooLarge is the answer to a request body over max bytes: 413, code invalid.
func errBodyTooLarge(max int64) error {
	return withStatus(http.StatusRequestEntityTooLarge,
		platform.Errorf(platform.EINVALID, "request body is larger than %d bytes", max))
}

// statusOf returns the HTTP status of err: the one it was given, else its code's.
func statusOf(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	return platform.HTTPStatus(platform.ErrorCode(err))
}

// ErrorResponse is the JSON body of every error response and of the SSE `error` message.
// It is defined in package platform because the gateway writes the same body.
type ErrorResponse = platform.ErrorResponse

// ErrorBody describes one error of an ErrorResponse.
type ErrorBody = platform.ErrorBody

// handlerFunc is the signature of every API handler: it writes a successful response or
// returns an error for the adapter (Server.handle) to write.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to http.Handler, writing any error it returns.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		if err := h(tw, r); err != nil {
			s.writeError(tw, r, err)
		}
	}
}

// writeError writes err as the error JSON with its status. When the response has already
// started, it can only be reported in-band: as an SSE `error` message on a stream, or in
// the log otherwise.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	reqID := middleware.GetReqID(r.Context())
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		// The client went away; there is nobody to tell and nothing went wrong.
		s.log.DebugContext(r.Context(), "request cancelled by client", "request_id", reqID, "error", err)
		return
	}
	code := platform.ErrorCode(err)
	if code == platform.EINTERNAL {
		s.log.ErrorContext(r.Context(), "internal error", "request_id", reqID, "method", r.Method, "path", r.URL.Path, "error", err)
	}
	body := ErrorResponse{Error: ErrorBody{
		Code:      code,
		Message:   platform.ErrorMessage(err),
		Hint:      platform.ErrorHint(err),
		RequestID: reqID,
	}}

	if tw, ok := w.(*trackingWriter); ok && tw.wroteHeader {
		if st := tw.stream; st != nil {
			_ = st.send(eventError, "", body)
			return
		}
		s.log.WarnContext(r.Context(), "error after the response started", "request_id", reqID, "code", code, "error", err)
		return
	}
	if code == platform.EUNAUTHENTICATED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="platform"`) // RFC 6750
	}
	writeJSON(w, statusOf(err), body)
}

// writeJSON writes v as JSON with the given status. An encoding failure after the header
// is out can only be dropped: the status is already sent.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, status = []byte(`{"error":{"code":"internal","message":"internal error"}}`), http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// trackingWriter remembers whether the response has started, so the adapter knows
// whether an error can still change the status, and which event stream it belongs to.
type trackingWriter struct {
	http.ResponseWriter
	wroteHeader bool
	stream      *eventStream
}

// WriteHeader records that the response started.
func (w *trackingWriter) WriteHeader(status int) {
	w.wroteHeader = true
	w.ResponseWriter.WriteHeader(status)
}

// Write records that the response started.
func (w *trackingWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's Flush.
func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
