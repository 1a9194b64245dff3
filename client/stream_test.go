package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

func TestSSEReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		want  []sseMessage
	}{
		{
			name:  "LF lines, named events, ids kept across messages",
			input: "event: line\ndata: \"a\"\n\nid: 5\nevent: event\ndata: {}\n\ndata: x\n\n",
			want:  []sseMessage{{"line", `"a"`, ""}, {"event", "{}", "5"}, {"message", "x", "5"}},
		},
		{
			name:  "CRLF and lone CR line endings",
			input: "event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r",
			want:  []sseMessage{{"a", "1", ""}, {"b", "2", ""}},
		},
		{
			name:  "multi-line data, comments, no space after colon",
			input: ": keepalive\ndata:one\ndata: two\n\n",
			want:  []sseMessage{{"message", "one\ntwo", ""}},
		},
		{
			name:  "message without data is not dispatched and resets the event name",
			input: "event: end\n\ndata: x\n\n",
			want:  []sseMessage{{"message", "x", ""}},
		},
		{
			name:  "unterminated message at the end is discarded",
			input: "data: complete\n\ndata: partial",
			want:  []sseMessage{{"message", "complete", ""}},
		},
		{
			name:  "id with NUL is ignored",
			input: "id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n",
			want:  []sseMessage{{"message", "a", "1"}, {"message", "b", "1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newSSEReader(strings.NewReader(tt.input))
			var got []sseMessage
			for {
				m, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, m)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// sse starts a text/event-stream response.
func sse(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
}

func TestBuildLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      string
		follow    bool
		wantQuery string
		wantLines []string
		wantCode  string
	}{
		{
			name:   "lines then end",
			body:   "event: line\ndata: \"go: downloading\"\n\nevent: line\ndata: \"./main.go:3: undefined: x\"\n\nevent: end\ndata: {}\n\n",
			follow: true, wantQuery: "follow=true",
			wantLines: []string{"go: downloading", "./main.go:3: undefined: x"},
		},
		{
			name:      "error message",
			body:      "event: line\ndata: \"a\"\n\nevent: error\ndata: {\"error\":{\"code\":\"not_found\",\"message\":\"build b-1 not found\"}}\n\n",
			wantLines: []string{"a"}, wantCode: platform.ENOTFOUND,
		},
		{
			name:   "connection drops before end",
			body:   "event: line\ndata: \"a\"\n\n",
			follow: true, wantQuery: "follow=true",
			wantLines: []string{"a"}, wantCode: platform.EUNAVAILABLE,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				sse(w)
				io.WriteString(w, tt.body)
			})
			s, err := New(srv.URL).BuildLog(context.Background(), "acme", "b-1", tt.follow)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var lines []string
			for s.Next() {
				lines = append(lines, s.Value())
			}
			if !reflect.DeepEqual(lines, tt.wantLines) {
				t.Errorf("lines = %q, want %q", lines, tt.wantLines)
			}
			if got := platform.ErrorCode(s.Err()); got != tt.wantCode {
				t.Errorf("Err() = %v, want code %q", s.Err(), tt.wantCode)
			}
			if r := (*reqs)[0]; r.Path != "/v1/namespaces/acme/builds/b-1/log" || r.Query != tt.wantQuery {
				t.Errorf("request %s?%s", r.Path, r.Query)
			}
		})
	}
}

func TestBuildLogNotFound(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, `{"error":{"code":"not_found","message":"build \"b-9\" not found"}}`)
	})
	_, err := New(srv.URL).BuildLog(context.Background(), "acme", "b-9", true)
	if platform.ErrorCode(err) != platform.ENOTFOUND {
		t.Fatalf("err = %v, want not_found", err)
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		q         platform.LogQuery
		handler   http.HandlerFunc
		wantQuery string
		wantLines []string
	}{
		{
			name: "tail",
			q:    platform.LogQuery{Namespace: "acme", Service: "hello", Tail: 2},
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"logs":[{"instance":"i-1","stream":"stdout","line":"one"},{"instance":"i-2","stream":"stderr","line":"two"}]}`)
			},
			wantQuery: "tail=2", wantLines: []string{"i-1 stdout one", "i-2 stderr two"},
		},
		{
			name: "follow",
			q:    platform.LogQuery{Namespace: "acme", Service: "hello", Tail: -1, Follow: true},
			handler: func(w http.ResponseWriter, r *http.Request) {
				sse(w)
				io.WriteString(w, "event: log\ndata: {\"instance\":\"i-1\",\"stream\":\"stdout\",\"line\":\"one\"}\n\nevent: end\ndata: {}\n\n")
			},
			wantQuery: "follow=true&tail=-1", wantLines: []string{"i-1 stdout one"},
		},
		{
			name: "region",
			q:    platform.LogQuery{Namespace: "acme", Service: "hello", Region: "fra1"},
			handler: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, `{"logs":[{"region":"fra1","instance":"i-1","stream":"stdout","line":"one"}]}`)
			},
			wantQuery: "region=fra1", wantLines: []string{"fra1 i-1 stdout one"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reqs := newServer(t, tt.handler)
			s, err := New(srv.URL).Logs(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for s.Next() {
				e := s.Value()
				line := fmt.Sprintf("%s %s %s", e.InstanceID, e.Stream, e.Line)
				if e.Region != "" {
					line = e.Region + " " + line
				}
				lines = append(lines, line)
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(lines, tt.wantLines) {
				t.Errorf("lines = %q, want %q", lines, tt.wantLines)
			}
			if r := (*reqs)[0]; r.Path != "/v1/namespaces/acme/services/hello/logs" || r.Query != tt.wantQuery {
				t.Errorf("request %s?%s, want query %s", r.Path, r.Query, tt.wantQuery)
			}
		})
	}
}

// TestFollowEventsResumes drops the connection after two events and checks that the
// client reconnects after the last one it received, skipping a repeated event.
func TestFollowEventsResumes(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		attempts []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(attempts)
		attempts = append(attempts, r.URL.RawQuery+" last="+r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		switch n {
		case 0:
			sse(w)
			io.WriteString(w, "id: 1\nevent: event\ndata: {\"id\":1,\"type\":\"build.started\"}\n\nid: 2\nevent: event\ndata: {\"id\":2,\"type\":\"build.succeeded\"}\n\n")
		case 1:
			http.Error(w, `{"error":{"code":"unavailable","message":"restarting"}}`, 503)
		default:
			sse(w)
			io.WriteString(w, "id: 2\nevent: event\ndata: {\"id\":2,\"type\":\"build.succeeded\"}\n\nid: 3\nevent: event\ndata: {\"id\":3,\"type\":\"release.rolled_out\"}\n\nevent: end\ndata: {}\n\n")
		}
	}))
	defer srv.Close()

	s, err := New(srv.URL).FollowEvents(context.Background(), platform.EventFilter{Namespace: "acme", Service: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var types []string
	for s.Next() {
		types = append(types, fmt.Sprintf("%d %s", s.Value().ID, s.Value().Type))
	}
	if err := s.Err(); err != nil {
		t.Fatalf("Err() = %v", err)
	}
	want := []string{"1 build.started", "2 build.succeeded", "3 release.rolled_out"}
	if !reflect.DeepEqual(types, want) {
		t.Errorf("events = %q, want %q", types, want)
	}
	wantAttempts := []string{
		"follow=true&service=hello last=",
		"after=2&follow=true&service=hello last=2",
		"after=2&follow=true&service=hello last=2",
	}
	if !reflect.DeepEqual(attempts, wantAttempts) {
		t.Errorf("connections:\n got %q\nwant %q", attempts, wantAttempts)
	}
}

func TestFollowEventsGivesUp(t *testing.T) {
	t.Parallel()
	first := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first {
			first = false
			sse(w)
			io.WriteString(w, "id: 1\nevent: event\ndata: {\"id\":1,\"type\":\"build.started\"}\n\n")
			return
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	s, err := New(srv.URL, WithReconnectTimeout(300*time.Millisecond)).FollowEvents(context.Background(), platform.EventFilter{Namespace: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n := 0
	for s.Next() {
		n++
	}
	if n != 1 {
		t.Errorf("got %d events, want 1", n)
	}
	if platform.ErrorCode(s.Err()) != platform.EUNAVAILABLE || !strings.Contains(platform.ErrorHint(s.Err()), "platform server") {
		t.Errorf("Err() = %v (hint %q), want unavailable with a hint", s.Err(), platform.ErrorHint(s.Err()))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

func TestFollowEventsForbidden(t *testing.T) {
	t.Parallel()
	srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 403, `{"error":{"code":"forbidden","message":"no"}}`)
	})
	_, err := New(srv.URL).FollowEvents(context.Background(), platform.EventFilter{Namespace: "acme"})
	if platform.ErrorCode(err) != platform.EFORBIDDEN {
		t.Fatalf("err = %v, want forbidden", err)
	}
	if len(*reqs) != 1 {
		t.Errorf("retried a forbidden request: %d requests", len(*reqs))
	}
}

func TestStreamCloseEndsBlockedNext(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sse(w)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	s, err := New(srv.URL).FollowEvents(context.Background(), platform.EventFilter{Namespace: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, func() { s.Close() })
	if s.Next() {
		t.Fatal("Next returned a value")
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err() after Close = %v, want nil", err)
	}
}

func TestFollowEventsUnreachableFailsFast(t *testing.T) {
	t.Parallel()
	start := time.Now()
	_, err := New("http://127.0.0.1:1").FollowEvents(context.Background(), platform.EventFilter{Namespace: "acme"})
	if platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v to report an unreachable server", d)
	}
}
