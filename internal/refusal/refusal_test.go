package refusal

import (
	"testing"
	"time"
)

// TestLimiter: a burst passes, the rest is counted until the bucket refills, and the
// count is handed to the next entry written.
func TestLimiter(t *testing.T) {
	var l Limiter
	now := time.Unix(1000, 0)
	for i := range DefaultBurst {
		if ok, n := l.Take(now); !ok || n != 0 {
			t.Fatalf("entry %d of the burst: ok=%v suppressed=%d", i, ok, n)
		}
	}
	for range 5 {
		if ok, _ := l.Take(now); ok {
			t.Fatal("an entry past the burst was allowed")
		}
	}
	ok, n := l.Take(now.Add(DefaultEvery))
	if !ok || n != 5 {
		t.Fatalf("after one interval: ok=%v suppressed=%d, want true and 5", ok, n)
	}
	if Note(5) == "" || Note(0) != "" {
		t.Error("Note")
	}
}
