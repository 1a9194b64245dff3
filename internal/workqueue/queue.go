// Package workqueue is a de-duplicating work queue of string keys, shared by the control
// plane's and the regions' reconcilers: a key is never processed by two workers at once.
package workqueue

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Queue is a de-duplicating work queue of service keys ("namespace/name"): a key added
// while queued is queued once, and a key added while being processed is processed again
// afterwards, so one service is never reconciled by two workers at once.
type Queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	pending    []string
	queued     map[string]bool
	processing map[string]bool
	dirty      map[string]bool
	closed     bool
}

// New returns an empty Queue.
func New() *Queue {
	q := &Queue{queued: map[string]bool{}, processing: map[string]bool{}, dirty: map[string]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues key.
func (q *Queue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.processing[key] {
		q.dirty[key] = true
		return
	}
	if q.queued[key] {
		return
	}
	q.queued[key] = true
	q.pending = append(q.pending, key)
	q.cond.Signal()
}

// AddAfter queues key after d.
func (q *Queue) AddAfter(key string, d time.Duration) {
	time.AfterFunc(d, func() { q.Add(key) })
}

// Get blocks until a key is ready or the queue is closed (ok false).
func (q *Queue) Get() (key string, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.pending) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", false
	}
	key = q.pending[0]
	q.pending = q.pending[1:]
	delete(q.queued, key)
	q.processing[key] = true
	return key, true
}

// Done marks key processed, queueing it again if it was added meanwhile.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if q.dirty[key] {
		delete(q.dirty, key)
		if !q.queued[key] && !q.closed {
			q.queued[key] = true
			q.pending = append(q.pending, key)
			q.cond.Signal()
		}
	}
}

// CloseOn closes the queue when ctx ends, waking every Get.
func (q *Queue) CloseOn(ctx context.Context) {
	<-ctx.Done()
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// retryAfter is how soon a key whose processing failed is processed again.
const retryAfter = 2 * time.Second

// Work processes keys until the queue is closed: process returns how soon to look at
// the key again (0: when it is added again); a failure is logged and retried after
// 2 s unless process asked for another delay.
func (q *Queue) Work(ctx context.Context, logger *slog.Logger, process func(ctx context.Context, key string) (time.Duration, error)) {
	for {
		k, ok := q.Get()
		if !ok {
			return
		}
		after, err := process(ctx, k)
		if err != nil && ctx.Err() == nil {
			ns, name := SplitKey(k)
			logger.Error("reconcile", "namespace", ns, "service", name, "err", err)
			if after == 0 {
				after = retryAfter
			}
		}
		q.Done(k)
		if after > 0 && ctx.Err() == nil {
			q.AddAfter(k, after)
		}
	}
}

// Key is the queue key of a service.
func Key(ns, name string) string { return ns + "/" + name }

// SplitKey returns the namespace and name of a service's key.
func SplitKey(k string) (ns, name string) {
	ns, name, _ = strings.Cut(k, "/")
	return ns, name
}
