package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// flushEvery bounds how stale a trace file is while loadgen runs.
const flushEvery = 100 * time.Millisecond

// tracer writes one line per request: "START END ok" or "START END error MESSAGE", the
// times in Unix nanoseconds of the wall clock, so that a script can compare them with its
// own ($EPOCHREALTIME). Lines are in the order requests ended.
type tracer struct {
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	flushed time.Time
	err     error
}

func createTrace(path string) (*tracer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	return &tracer{f: f, w: bufio.NewWriterSize(f, 64<<10), flushed: time.Now()}, nil
}

// record writes the line of one request; a nil tracer records nothing.
func (t *tracer) record(start, end time.Time, err error) {
	if t == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error " + strings.Join(strings.Fields(err.Error()), " ")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	_, t.err = fmt.Fprintf(t.w, "%d %d %s\n", start.UnixNano(), end.UnixNano(), outcome)
	if t.err == nil && end.Sub(t.flushed) >= flushEvery {
		t.err, t.flushed = t.w.Flush(), end
	}
}

// Close flushes and closes the file and reports the first write error.
func (t *tracer) Close() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = t.w.Flush()
	}
	if err := t.f.Close(); t.err == nil {
		t.err = err
	}
	if t.err != nil {
		return fmt.Errorf("trace: %w", t.err)
	}
	return nil
}
