package logstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/logstore"
)

// stepClock advances by one millisecond on every reading, so lines ingested in order get
// distinct, increasing times.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func newStore(t *testing.T, dir string, mod func(*logstore.Options)) *logstore.Store {
	t.Helper()
	opts := logstore.Options{Dir: dir, Clock: &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, PollInterval: 20 * time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	s, err := logstore.Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// attach attaches k and returns its stdout and stderr, closed at the end of the test.
func attach(t *testing.T, s *logstore.Store, k logstore.Key) (stdout, stderr *os.File) {
	t.Helper()
	o, e, err := s.Attach(k)
	if err != nil {
		t.Fatalf("Attach %v: %v", k, err)
	}
	t.Cleanup(func() { o.Close(); e.Close() })
	return o, e
}

func write(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func lines(entries []platform.LogEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = fmt.Sprintf("%s %s %s", e.InstanceID, e.Stream, e.Line)
	}
	return out
}

func key(inst string) logstore.Key {
	return logstore.Key{Namespace: "acme", Service: "hello", Instance: inst}
}

func query(tail int) platform.LogQuery {
	return platform.LogQuery{Namespace: "acme", Service: "hello", Tail: tail}
}

func TestTail(t *testing.T) {
	t.Parallel()
	s := newStore(t, t.TempDir(), nil)
	o1, e1 := attach(t, s, key("i1"))
	o2, _ := attach(t, s, key("i2"))
	other, _ := attach(t, s, logstore.Key{Namespace: "acme", Service: "other", Instance: "i3"})

	write(t, o1, "one\n")
	mustSync(t, s)
	write(t, o2, "two\r\n")
	mustSync(t, s)
	write(t, e1, "three\npartial")
	write(t, other, "not ours\n")
	mustSync(t, s)

	tests := []struct {
		name string
		tail int
		want []string
	}{
		{"all", -1, []string{"i1 stdout one", "i2 stdout two", "i1 stderr three"}},
		{"default", 0, []string{"i1 stdout one", "i2 stdout two", "i1 stderr three"}},
		{"last two", 2, []string{"i2 stdout two", "i1 stderr three"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Tail(query(tt.tail))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(lines(got), "|") != strings.Join(tt.want, "|") {
				t.Fatalf("Tail = %q, want %q", lines(got), tt.want)
			}
		})
	}

	t.Run("detach flushes the unterminated line", func(t *testing.T) {
		if err := s.Detach(key("i1")); err != nil {
			t.Fatal(err)
		}
		got, err := s.Tail(query(1))
		if err != nil {
			t.Fatal(err)
		}
		if want := "i1 stderr partial"; len(got) != 1 || lines(got)[0] != want {
			t.Fatalf("Tail = %q, want %q", lines(got), want)
		}
		if got := s.Attached(); len(got) != 2 {
			t.Fatalf("Attached = %v, want i2 and i3", got)
		}
	})

	t.Run("bad queries", func(t *testing.T) {
		for _, q := range []platform.LogQuery{
			{Namespace: "acme", Service: "hello", Tail: -2},
			{Namespace: "ACME", Service: "hello"},
			{Namespace: "acme", Service: "../x"},
		} {
			if _, err := s.Tail(q); platform.ErrorCode(err) != platform.EINVALID {
				t.Errorf("Tail(%+v) = %v, want %s", q, err, platform.EINVALID)
			}
		}
	})
}

func mustSync(t *testing.T, s *logstore.Store) {
	t.Helper()
	if err := s.Sync("", ""); err != nil {
		t.Fatal(err)
	}
}

func TestLastLine(t *testing.T) {
	t.Parallel()
	s := newStore(t, t.TempDir(), nil)
	_, e := attach(t, s, key("i1"))
	write(t, e, "first\npanic: boom\n")
	if got := s.LastLine(key("i1"), platform.Stderr); got != "panic: boom" {
		t.Fatalf("LastLine = %q", got)
	}
	if got := s.LastLine(key("i1"), platform.Stdout); got != "" {
		t.Fatalf("LastLine(stdout) = %q, want empty", got)
	}
}

// TestReopenResumes shows that output written while no store is open (the platform is
// down) is ingested once the store reopens, exactly once.
func TestReopenResumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir, nil)
	o, _ := attach(t, s, key("i1"))
	write(t, o, "before\n")
	mustSync(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	write(t, o, "while down\n")

	s2 := newStore(t, dir, nil)
	if got := s2.Attached(); len(got) != 1 || got[0] != key("i1") {
		t.Fatalf("Attached after reopen = %v", got)
	}
	write(t, o, "after\n")
	got, err := s2.Tail(query(-1))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"i1 stdout before", "i1 stdout while down", "i1 stdout after"}
	if strings.Join(lines(got), "|") != strings.Join(want, "|") {
		t.Fatalf("Tail = %q, want %q", lines(got), want)
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	const maxBytes = 8 << 10
	dir := t.TempDir()
	s := newStore(t, dir, func(o *logstore.Options) { o.MaxBytes = maxBytes })
	o, _ := attach(t, s, key("i1"))
	raw := strings.Repeat("x", 99) + "\n"
	const total = 15000 // 1.5 MB of raw output
	for i := range total {
		write(t, o, raw)
		if i%500 == 0 {
			mustSync(t, s)
		}
	}
	mustSync(t, s)

	inst := filepath.Join(dir, "acme", "hello", "i1")
	var kept int64
	for _, name := range []string{"entries.jsonl", "entries.1.jsonl"} {
		fi, err := os.Stat(filepath.Join(inst, name))
		if err != nil {
			t.Fatal(err)
		}
		kept += fi.Size()
	}
	if kept > 2*maxBytes {
		t.Errorf("entries hold %d bytes, want at most %d", kept, 2*maxBytes)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(inst, "stdout"), &st); err != nil {
		t.Fatal(err)
	}
	if used := st.Blocks * 512; used > 1<<20+64<<10 {
		t.Errorf("raw stdout uses %d bytes on disk after ingesting 1.5 MB, want holes punched", used)
	}
	got, err := s.Tail(query(-1))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) >= total {
		t.Fatalf("Tail(-1) returned %d lines, want the bounded rest", len(got))
	}
	last, err := s.Tail(query(5))
	if err != nil || len(last) != 5 || !last[4].Time.Equal(got[len(got)-1].Time) {
		t.Fatalf("Tail(5) = %d lines (%v), want the newest 5", len(last), err)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newStore(t, dir, func(o *logstore.Options) { o.KeepStopped = 2; o.Clock = clock })
	for _, id := range []string{"a", "b", "c", "d"} {
		o, _ := attach(t, s, key(id))
		write(t, o, id+"\n")
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Detach(key(id)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Tail(query(-1))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"b stdout b", "c stdout c", "d stdout d"}
	if strings.Join(lines(got), "|") != strings.Join(want, "|") {
		t.Fatalf("Tail = %q, want %q (a dropped: only 2 stopped kept, d attached)", lines(got), want)
	}
	if _, err := os.Stat(filepath.Join(dir, "acme", "hello", "a")); !os.IsNotExist(err) {
		t.Fatalf("logs of a still on disk: %v", err)
	}
}

func TestFollow(t *testing.T) {
	t.Parallel()
	s := newStore(t, t.TempDir(), nil)
	o1, _ := attach(t, s, key("i1"))
	write(t, o1, "old\n")

	ctx, cancel := context.WithCancel(t.Context())
	q := query(-1)
	q.Follow = true
	ch, err := s.Logs(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	expect := func(want string) {
		t.Helper()
		select {
		case e := <-ch:
			if got := fmt.Sprintf("%s %s %s", e.InstanceID, e.Stream, e.Line); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q within 5s", want)
		}
	}
	expect("i1 stdout old")
	write(t, o1, "new\n")
	expect("i1 stdout new")
	_, e2 := attach(t, s, key("i2"))
	write(t, e2, "from a new instance\n")
	expect("i2 stderr from a new instance")

	cancel()
	for range ch {
	}
}
