package github

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// maxPending bounds the sign-ins in progress kept in memory, so that a flood of /login
// requests cannot exhaust memory; past it the oldest entries are dropped.
const maxPending = 10000

// onceStore holds short-lived single-use values by key: take returns a value at most
// once, and never after it expires.
type onceStore[T any] struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]onceEntry[T]
}

type onceEntry[T any] struct {
	v       T
	expires time.Time
}

func newOnceStore[T any](now func() time.Time) *onceStore[T] {
	return &onceStore[T]{now: now, entries: map[string]onceEntry[T]{}}
}

// put stores v under key until ttl has passed.
func (s *onceStore[T]) put(key string, v T, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.entries) >= maxPending {
		var oldest string
		var oldestExp time.Time
		for k, e := range s.entries {
			if !e.expires.After(now) {
				delete(s.entries, k)
				continue
			}
			if oldest == "" || e.expires.Before(oldestExp) {
				oldest, oldestExp = k, e.expires
			}
		}
		if len(s.entries) >= maxPending {
			delete(s.entries, oldest)
		}
	}
	s.entries[key] = onceEntry[T]{v: v, expires: now.Add(ttl)}
}

// take removes and returns the value under key; ok is false if there is none or it has
// expired.
func (s *onceStore[T]) take(key string) (v T, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found := s.entries[key]
	if !found {
		return v, false
	}
	delete(s.entries, key)
	if !e.expires.After(s.now()) {
		return v, false
	}
	return e.v, true
}

// randomToken returns 32 random bytes, URL-safe base64: states, nonces and codes.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// s256 is the PKCE S256 challenge of verifier (RFC 7636).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// equal compares secrets in constant time.
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
