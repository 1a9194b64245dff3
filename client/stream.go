package client

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// Stream is a sequence of values read from the server: build log lines, log entries or
// events. Use it like bufio.Scanner:
//
//	for s.Next() {
//		use(s.Value())
//	}
//	if err := s.Err(); err != nil { ... }
//
// Next returns false once the stream ends: cleanly (the server said so, or a stream that
// does not follow was read to its end), on an error, or when Close was called or the
// context of the request ended. Err then says which: nil for a clean end, the context's
// error, or a *platform.Error. Close may be called at any time, from any goroutine, and
// always should be once the stream is no longer needed.
type Stream[T any] struct {
	next  func() (T, error) // io.EOF at a clean end
	close func() error

	cur  T
	err  error
	done bool

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// newStream returns a Stream reading values with next and releasing its resources with
// close (which may be nil).
func newStream[T any](next func() (T, error), close func() error) *Stream[T] {
	return &Stream[T]{next: next, close: close}
}

// sliceStream returns a Stream over values already read.
func sliceStream[T any](values []T) *Stream[T] {
	i := 0
	return newStream(func() (T, error) {
		var zero T
		if i >= len(values) {
			return zero, io.EOF
		}
		i++
		return values[i-1], nil
	}, nil)
}

// Next advances to the next value and reports whether there is one.
func (s *Stream[T]) Next() bool {
	if s.done {
		return false
	}
	v, err := s.next()
	if err != nil {
		s.done = true
		if !errors.Is(err, io.EOF) && !s.closed.Load() {
			s.err = err
		}
		var zero T
		s.cur = zero
		_ = s.Close()
		return false
	}
	s.cur = v
	return true
}

// Value returns the value Next advanced to.
func (s *Stream[T]) Value() T { return s.cur }

// Err returns why the stream ended: nil for a clean end.
func (s *Stream[T]) Err() error { return s.err }

// Close ends the stream and releases its connection. It is idempotent.
func (s *Stream[T]) Close() error {
	s.closed.Store(true)
	s.closeOnce.Do(func() {
		if s.close != nil {
			s.closeErr = s.close()
		}
	})
	return s.closeErr
}
