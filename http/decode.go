package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	platform "github.com/micro/platform"
)

// decodeJSON decodes the request body into v: exactly one JSON value, no unknown fields,
// at most max bytes. Every failure is EINVALID and says where the body went wrong; a
// body over max is answered 413, the others 400.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, max int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, max)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, dec.InputOffset(), max)
	}
	// A second value (or trailing garbage) means the client sent something other than
	// what it thinks it sent.
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err == nil {
			return platform.Errorf(platform.EINVALID, "invalid JSON body: unexpected data after the JSON value at byte %d", dec.InputOffset())
		}
		return decodeError(err, dec.InputOffset(), max)
	}
	return nil
}

// decodeError turns a json.Decoder error into an EINVALID error with the position.
func decodeError(err error, offset, max int64) error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		sizeErr   *http.MaxBytesError
	)
	switch {
	case errors.As(err, &sizeErr):
		return errBodyTooLarge(max)
	case errors.Is(err, io.EOF):
		return platform.Errorf(platform.EINVALID, "request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return platform.Errorf(platform.EINVALID, "malformed JSON: body ends early at byte %d", offset)
	case errors.As(err, &syntaxErr):
		return platform.Errorf(platform.EINVALID, "malformed JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: "))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return platform.Errorf(platform.EINVALID, "invalid JSON at byte %d: %s must be %s, not %s", typeErr.Offset, field, typeErr.Type, typeErr.Value)
	default:
		// Unknown fields and other decoder complaints have no error type of their own.
		return platform.Errorf(platform.EINVALID, "invalid JSON at byte %d: %s", offset, strings.TrimPrefix(err.Error(), "json: "))
	}
}

// queryParams reads typed query parameters, collecting every problem so that one
// response reports them all.
type queryParams struct {
	values   url.Values
	problems []string
}

func newQueryParams(r *http.Request) *queryParams {
	return &queryParams{values: r.URL.Query()}
}

// Int returns the integer parameter name, or def when absent; it must be at least min.
func (q *queryParams) Int(name string, def, min int) int {
	s := q.values.Get(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min {
		q.problems = append(q.problems, fmt.Sprintf("query parameter %s=%q must be an integer >= %d", name, s, min))
		return def
	}
	return n
}

// Int64 is Int for 64-bit values with a minimum of 0.
func (q *queryParams) Int64(name string) int64 {
	return parseID(q, "query parameter "+name, q.values.Get(name))
}

// Bool returns the boolean parameter name; absent is false.
func (q *queryParams) Bool(name string) bool {
	s := q.values.Get(name)
	if s == "" {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		q.problems = append(q.problems, fmt.Sprintf("query parameter %s=%q must be true or false", name, s))
	}
	return b
}

// Duration returns the duration parameter name (Go syntax: 90s, 15m, 1h), or 0 when
// absent.
func (q *queryParams) Duration(name string) time.Duration {
	s := q.values.Get(name)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		q.problems = append(q.problems, fmt.Sprintf("query parameter %s=%q must be a duration such as 15m or 1h", name, s))
	}
	return d
}

// String returns the parameter name as sent.
func (q *queryParams) String(name string) string { return q.values.Get(name) }

// Err returns one EINVALID error listing every problem, or nil.
func (q *queryParams) Err() error {
	if len(q.problems) == 0 {
		return nil
	}
	return platform.Errorf(platform.EINVALID, "%s", strings.Join(q.problems, "; "))
}

// parseID parses a non-negative event id from what (a query parameter or header),
// recording a problem in q when it is not one.
func parseID(q *queryParams, what, s string) int64 {
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		q.problems = append(q.problems, fmt.Sprintf("%s=%q must be a non-negative integer", what, s))
		return 0
	}
	return n
}
