package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	platformhttp "github.com/micro/platform/http"
)

// openStream GETs an event stream and returns its reader; the body closes with the test.
func (ts *testServer) openStream(t *testing.T, ctx context.Context, path string, header ...string) (*http.Response, *sseReader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q, want text/event-stream", ct)
	}
	return resp, newSSEReader(resp.Body)
}

// mustNext reads the next message, failing on EOF or error.
func mustNext(t *testing.T, r *sseReader) sseMessage {
	t.Helper()
	m, err := r.Next()
	if err != nil {
		t.Fatalf("read SSE message: %v", err)
	}
	return m
}

// mustEOF fails unless the stream ends next.
func mustEOF(t *testing.T, r *sseReader) {
	t.Helper()
	if m, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream did not end: got %+v, %v", m, err)
	}
}

// waitDone fails unless ctx ends within a few seconds.
func waitDone(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: context not cancelled", what)
	}
}

func TestBuildLogStream(t *testing.T) {
	t.Parallel()
	t.Run("lines then end with the build", func(t *testing.T) {
		t.Parallel()
		cp := &fakeControlPlane{buildLines: []string{"go build ./...", `main.go:3: undefined: "x"`}}
		ts := newTestServer(t, cp, nil)
		_, r := ts.openStream(t, t.Context(), "/v1/namespaces/acme/builds/b-1/log?follow=true")
		for _, want := range cp.buildLines {
			m := mustNext(t, r)
			var line string
			if err := json.Unmarshal([]byte(m.Data), &line); err != nil || m.Event != "line" || line != want {
				t.Fatalf("message %+v (line %q, %v), want line %q", m, line, err, want)
			}
		}
		end := mustNext(t, r)
		if end.Event != "end" {
			t.Fatalf("last message %+v, want end", end)
		}
		var b platform.Build
		if err := json.Unmarshal([]byte(end.Data), &b); err != nil || b.ID != "b-1" || b.Status != platform.BuildSucceeded {
			t.Fatalf("end data %s (%v), want the succeeded build b-1", end.Data, err)
		}
		mustEOF(t, r)
		if got := cp.LastArg(); got != "b-1" { // GetBuild's argument, after BuildLog(follow=true)
			t.Fatalf("last ControlPlane argument %v", got)
		}
	})
	t.Run("error after the stream started", func(t *testing.T) {
		t.Parallel()
		cp := &fakeControlPlane{buildLines: []string{"ok"}, getBuildErr: platform.Errorf(platform.ENOTFOUND, "build b-1 was deleted")}
		ts := newTestServer(t, cp, nil)
		_, r := ts.openStream(t, t.Context(), "/v1/namespaces/acme/builds/b-1/log")
		if m := mustNext(t, r); m.Event != "line" {
			t.Fatalf("first message %+v, want line", m)
		}
		m := mustNext(t, r)
		var er platform.ErrorResponse
		if err := json.Unmarshal([]byte(m.Data), &er); err != nil || m.Event != "error" ||
			er.Error.Code != platform.ENOTFOUND || er.Error.Message != "build b-1 was deleted" || er.Error.RequestID == "" {
			t.Fatalf("message %+v, want an error event with the error JSON", m)
		}
		mustEOF(t, r)
	})
	t.Run("error before the stream is a normal response", func(t *testing.T) {
		t.Parallel()
		ts := newTestServer(t, &fakeControlPlane{err: platform.Errorf(platform.ENOTFOUND, "no build b-9")}, nil)
		resp, body := ts.do(t, "GET", "/v1/namespaces/acme/builds/b-9/log?follow=true", adminSecret, nil)
		if resp.StatusCode != 404 || mustErrorBody(t, resp, body).Message != "no build b-9" {
			t.Fatalf("status %d body %s, want 404 no build b-9", resp.StatusCode, body)
		}
	})
}

func TestLogsFollow(t *testing.T) {
	t.Parallel()
	ch := make(chan platform.LogEntry)
	cp := &fakeControlPlane{logsCh: ch}
	ts := newTestServer(t, cp, func(o *platformhttp.Options) { o.SSEHeartbeat = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	_, r := ts.openStream(t, ctx, "/v1/namespaces/acme/services/hello/logs?follow=true&tail=-1&region=fra1")

	if got, want := cp.LastArg(), (platform.LogQuery{Namespace: "acme", Service: "hello", Tail: -1, Follow: true, Region: "fra1"}); got != want {
		t.Fatalf("LogQuery = %+v, want %+v", got, want)
	}
	for i, line := range []string{"listening on :0", "request 1"} {
		sent := platform.LogEntry{Time: t0, Namespace: "acme", Service: "hello", Region: "fra1", InstanceID: "i-1", Stream: platform.Stderr, Line: line}
		ch <- sent
		m := mustNext(t, r)
		var got platform.LogEntry
		if err := json.Unmarshal([]byte(m.Data), &got); err != nil || m.Event != "log" || got != sent || !strings.Contains(m.Data, `"region":"fra1"`) {
			t.Fatalf("message %d = %+v, want log %+v", i, m, sent)
		}
	}
	// Idle: heartbeats arrive as comments, which readers skip.
	time.Sleep(100 * time.Millisecond)
	ch <- platform.LogEntry{Line: "after idle"}
	if m := mustNext(t, r); !strings.Contains(m.Data, "after idle") {
		t.Fatalf("message after idle = %+v", m)
	}
	if r.comments == 0 {
		t.Fatal("no heartbeat comment on an idle stream")
	}

	// The client goes away: the ControlPlane's stream context ends.
	cancel()
	waitDone(t, cp.StreamContexts()[0], "logs stream after client left")
}

func TestEventsFollow(t *testing.T) {
	t.Parallel()
	ch := make(chan *platform.Event, 2)
	cp := &fakeControlPlane{eventsCh: ch}
	ts := newTestServer(t, cp, nil)
	_, r := ts.openStream(t, t.Context(), "/v1/namespaces/acme/events?follow=true&type=release.&region=fra1&after=7", "Last-Event-ID", "41")

	want := platform.EventFilter{Namespace: "acme", Type: "release.", Region: "fra1", AfterID: 41}
	if got := cp.LastArg(); got != want {
		t.Fatalf("EventFilter = %+v, want %+v (Last-Event-ID wins over after)", got, want)
	}
	sent := []*platform.Event{
		{ID: 42, Namespace: "acme", Service: "hello", Region: "fra1", Type: "release.rolled_out", Message: "v2 is live", Time: t0},
		{ID: 43, Namespace: "acme", Service: "hello", Type: "release.failed", Message: "crashed", Data: map[string]string{"exit": "2"}, Time: t0},
	}
	for _, e := range sent {
		ch <- e
	}
	for _, e := range sent {
		m := mustNext(t, r)
		var got platform.Event
		if err := json.Unmarshal([]byte(m.Data), &got); err != nil {
			t.Fatal(err)
		}
		if m.Event != "event" || m.ID != strconv.FormatInt(e.ID, 10) || got.ID != e.ID || got.Message != e.Message || got.Region != e.Region {
			t.Fatalf("message %+v, want event with id %d", m, e.ID)
		}
	}
	// The ControlPlane ending the subscription ends the stream with `end`.
	close(ch)
	if m := mustNext(t, r); m.Event != "end" {
		t.Fatalf("message %+v, want end", m)
	}
	mustEOF(t, r)
}
