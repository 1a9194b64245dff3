package platform

import "net/http"

// statusByCode is the one code → HTTP status table of docs/api.md. It lives here, not in
// package http, because the gateway (runtime side) answers errors exactly as the API does
// and must not import the API's package.
var statusByCode = map[string]int{
	EINVALID:         http.StatusBadRequest,
	EUNAUTHENTICATED: http.StatusUnauthorized,
	EFORBIDDEN:       http.StatusForbidden,
	ENOTFOUND:        http.StatusNotFound,
	ECONFLICT:        http.StatusConflict,
	EQUOTA:           http.StatusTooManyRequests,
	EINTERNAL:        http.StatusInternalServerError,
	EUNAVAILABLE:     http.StatusServiceUnavailable,
	ETIMEOUT:         http.StatusGatewayTimeout,
}

// HTTPStatus returns the HTTP status for an error code; an unknown code is a 500.
func HTTPStatus(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorResponse is the JSON body of every error response of the API and the gateway, and
// of the API's SSE `error` message.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody describes one error: a machine-readable code, a message for the user, an
// optional hint saying what to do next, and the request id to quote in a bug report.
type ErrorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Hint      string `json:"hint,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}
