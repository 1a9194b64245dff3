package http_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	platformhttp "github.com/micro/platform/http"
	"github.com/micro/platform/internal/testenv"
)

// testServer is a Server behind httptest, with its fake ControlPlane and captured logs.
type testServer struct {
	*httptest.Server
	api  *platformhttp.Server
	cp   *fakeControlPlane
	logs *testenv.Buffer
}

// newTestServer starts a server over cp; edit changes the options before NewServer.
func newTestServer(tb testing.TB, cp *fakeControlPlane, edit func(*platformhttp.Options)) *testServer {
	tb.Helper()
	logs := &testenv.Buffer{}
	opts := platformhttp.Options{
		Addr:         "127.0.0.1:0",
		ControlPlane: cp,
		Auth:         fakeAuth{},
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&opts)
	}
	api := platformhttp.NewServer(opts)
	ts := httptest.NewServer(api.Handler())
	tb.Cleanup(ts.Close)
	return &testServer{Server: ts, api: api, cp: cp, logs: logs}
}

// do sends a request with an optional bearer secret and returns the response and body.
func (ts *testServer) do(tb testing.TB, method, path, secret string, body io.Reader, header ...string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	return resp, b
}

// mustErrorBody decodes an error response, failing unless it has the documented shape.
func mustErrorBody(tb testing.TB, resp *http.Response, body []byte) platformhttp.ErrorBody {
	tb.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Fatalf("error Content-Type = %q, want application/json; body %s", ct, body)
	}
	var er platformhttp.ErrorResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&er); err != nil {
		tb.Fatalf("decode error body %s: %v", body, err)
	}
	if er.Error.Code == "" || er.Error.Message == "" {
		tb.Fatalf("error body lacks code or message: %s", body)
	}
	if id := resp.Header.Get("X-Request-Id"); id == "" || er.Error.RequestID != id {
		tb.Fatalf("error request_id %q, X-Request-Id header %q: want equal and non-empty", er.Error.RequestID, id)
	}
	return er.Error
}

// assertJSONEqual fails unless got and want hold the same JSON value.
func assertJSONEqual(tb testing.TB, got []byte, want string) {
	tb.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		tb.Fatalf("response is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		tb.Fatalf("bad want JSON: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		tb.Fatalf("body mismatch\n got: %s\nwant: %s", gb, wb)
	}
}

// sseMessage is one dispatched Server-Sent Event.
type sseMessage struct {
	Event string
	ID    string
	Data  string
}

// sseReader parses a text/event-stream the way the WHATWG EventSource algorithm does:
// fields until a blank line dispatch a message, lines starting with ':' are comments,
// multiple data lines join with '\n'.
type sseReader struct {
	sc       *bufio.Scanner
	comments int
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{sc: bufio.NewScanner(r)}
}

// Next returns the next message, or io.EOF when the stream ends.
func (r *sseReader) Next() (sseMessage, error) {
	var (
		msg     sseMessage
		data    []string
		hasData bool
	)
	for r.sc.Scan() {
		line := r.sc.Text()
		if line == "" {
			if !hasData {
				msg = sseMessage{}
				continue
			}
			msg.Data = strings.Join(data, "\n")
			if msg.Event == "" {
				msg.Event = "message"
			}
			return msg, nil
		}
		if strings.HasPrefix(line, ":") {
			r.comments++
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			msg.Event = value
		case "id":
			msg.ID = value
		case "data":
			data = append(data, value)
			hasData = true
		}
	}
	if err := r.sc.Err(); err != nil {
		return sseMessage{}, err
	}
	return sseMessage{}, io.EOF
}
