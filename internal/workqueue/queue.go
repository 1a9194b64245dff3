// Package workqueue is a de-duplicating work queue of string keys, shared by the control
// plane's and the regions' reconcilers: a key is never processed by two workers at once.
package workqueue

import (
	"context"
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
