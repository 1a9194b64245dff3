package gateway

import (
	"encoding/json"
	"errors"
	"net/http"

	platform "github.com/micro/platform"
)

// writeError writes err as the platform error JSON and returns the status written.
// Uncoded errors are logged with the request id and shown as "internal error".
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, err error) int {
	if r.Context().Err() != nil {
		// The client went away; whatever the call returned, nobody will read it.
		return statusClientClosed
	}
	var fs errForwardedStatus
	if errors.As(err, &fs) {
		return fs.status // the other region's answer is written already
	}
	code := platform.ErrorCode(err)
	status := platform.HTTPStatus(code)
	var se *statusError
	if errors.As(err, &se) {
		status = se.status
	}
	id := requestID(r)
	if code == platform.EINTERNAL {
		g.opts.Logger.Error("gateway: internal error", "request_id", id, "path", r.URL.Path, "err", err)
	}
	body, _ := json.Marshal(platform.ErrorResponse{Error: platform.ErrorBody{
		Code:      code,
		Message:   platform.ErrorMessage(err),
		Hint:      platform.ErrorHint(err),
		RequestID: id,
	}})
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h[HeaderRequestID] = []string{id}
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
	return status
}

// requestID returns the caller's X-Request-Id when it looks sane, else a new one.
func requestID(r *http.Request) string {
	if v := firstHeader(r, HeaderRequestID); v != "" && len(v) <= 128 && printable(v) {
		return v
	}
	return platform.NewID("req")
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
