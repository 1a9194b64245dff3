package metering

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/micro/platform"
)

// Publisher defaults.
const (
	// DefaultBuffer is how many events wait for the publisher's loop: about a second
	// of a busy gateway. Each takes about 150 bytes.
	DefaultBuffer = 1 << 16
	// DefaultMaxPending is how many publishes may await the stream's acknowledgement.
	DefaultMaxPending = 1 << 13
	// DefaultAckTimeout is how long a publish waits for its acknowledgement before it
	// is tried again.
	DefaultAckTimeout = 5 * time.Second
	// DefaultAttempts is how often an event is published before it is dropped.
	DefaultAttempts = 4
	// DefaultMaxBatch is the most events one message carries.
	DefaultMaxBatch = 128
)

// dropLogEvery is how often at most the publisher logs that it dropped events.
const dropLogEvery = 10 * time.Second

// PublisherOptions configures a Publisher.
type PublisherOptions struct {
	Stream StreamOptions
	// Buffer is how many events may wait to be published; a Publish that finds it full
	// drops its event. 0 means DefaultBuffer.
	Buffer int
	// MaxPending bounds the publishes awaiting acknowledgement; the loop waits for
	// acknowledgements beyond it (and the buffer fills). 0 means DefaultMaxPending.
	MaxPending int
	// AckTimeout is how long a publish waits for its acknowledgement before it counts
	// as failed and is tried again; 0 means DefaultAckTimeout.
	AckTimeout time.Duration
	// Attempts is how often an event is published before it is dropped; 0 means
	// DefaultAttempts.
	Attempts int
	// MaxBatch is the most events one message carries; 0 means DefaultMaxBatch, 1 one
	// event per message. The loop never waits to fill a message: it takes what is
	// buffered, so a message carries one event unless events come faster than they
	// are published.
	MaxBatch int
	// Logger receives warnings about dropped events, at most one per 10s; nil discards
	// them.
	Logger *slog.Logger
	// Metrics, when set, registers platform_metering_published_total and
	// platform_metering_dropped_total{reason}.
	Metrics prometheus.Registerer
}

// Drop reasons, the label of platform_metering_dropped_total and the fields of
// PublisherStats.
const (
	// DropFull: the buffer was full when Publish was called (the stream is slow or
	// unreachable, or events come faster than it takes them).
	DropFull = "buffer_full"
	// DropInvalid: the event failed platform.UsageEvent.Validate.
	DropInvalid = "invalid"
	// DropFailed: every attempt to publish the event failed (the stream refused it,
	// being full, or did not acknowledge it in time).
	DropFailed = "failed"
)

// PublisherStats counts what a Publisher did with the events it was given.
type PublisherStats struct {
	// Accepted events went into the buffer.
	Accepted uint64
	// Published events were acknowledged by the stream (a duplicate the stream dropped
	// is acknowledged too).
	Published uint64
	// Retried counts publishes tried again after a failure.
	Retried uint64
	// DroppedFull, DroppedInvalid and DroppedFailed count the events dropped, by
	// reason (DropFull, DropInvalid, DropFailed). DroppedFull events were never
	// accepted.
	DroppedFull, DroppedInvalid, DroppedFailed uint64
}

// Dropped is the number of events dropped for any reason.
func (s PublisherStats) Dropped() uint64 { return s.DroppedFull + s.DroppedInvalid + s.DroppedFailed }

// Publisher puts usage events on the metering stream without ever making its caller
// wait: Publish copies the event into a bounded buffer and returns; a loop (Start)
// encodes events and publishes them asynchronously, and tries a failed publish again.
// A message carries one event, with the event's ID as its message ID (Nats-Msg-Id), or,
// when events come faster than they are published, up to MaxBatch events, named by a
// hash of their IDs; either way JetStream drops the same message published again within
// its duplicate window, and the folder's store drops an event counted before. What it
// cannot buffer or publish it drops, counts (Stats, metrics) and logs.
//
// It is safe for concurrent use. One Publisher per process is enough: the gateway's
// handlers, the runtime and the builder can share it.
type Publisher struct {
	js   jetstream.JetStream
	opts PublisherOptions
	log  *slog.Logger

	buf   chan platform.UsageEvent
	retry chan *attempt
	acks  chan *attempt

	accepted, published, retried          atomic.Uint64
	droppedFull, droppedInvalid, dropFail atomic.Uint64
	// settled counts accepted events published or dropped; retrying those waiting to
	// be tried again.
	settled  atomic.Uint64
	retrying atomic.Int64

	started atomic.Bool
	closing atomic.Bool // the loop has ended: failures are not tried again
	logMu   sync.Mutex
	logged  PublisherStats // the drops last logged
	lastLog time.Time
}

// attempt is the publish of one message and the events it carries.
type attempt struct {
	msg    *nats.Msg
	events uint64
	future jetstream.PubAckFuture
	n      int // attempts made
	err    error
}

// NewPublisher returns a Publisher on the JetStream of nc; call Start to run it. Events
// published before Start wait in the buffer.
func NewPublisher(nc *nats.Conn, opts PublisherOptions) (*Publisher, error) {
	if err := opts.Stream.validate(); err != nil {
		return nil, err
	}
	if nc == nil {
		return nil, platform.Errorf(platform.EINVALID, "metering: a publisher needs a NATS connection")
	}
	opts.Stream.setDefaults()
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = DefaultAckTimeout
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultAttempts
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(opts.MaxPending),
		jetstream.WithPublishAsyncTimeout(opts.AckTimeout))
	if err != nil {
		return nil, fmt.Errorf("metering: jetstream: %w", err)
	}
	p := &Publisher{
		js:    js,
		opts:  opts,
		log:   opts.Logger,
		buf:   make(chan platform.UsageEvent, opts.Buffer),
		retry: make(chan *attempt, opts.MaxPending),
		acks:  make(chan *attempt, opts.MaxPending),
	}
	if opts.Metrics != nil {
		if err := registerPublisherMetrics(opts.Metrics, p); err != nil {
			return nil, fmt.Errorf("metering: publisher metrics: %w", err)
		}
	}
	return p, nil
}

// Publish hands e to the publisher and returns at once: true when it was buffered,
// false when the buffer was full (or Start has returned) and e was dropped (counted,
// and logged). It never blocks, allocates nothing and does not validate (the loop
// does): it is made for a request's hot path.
func (p *Publisher) Publish(e platform.UsageEvent) bool {
	if p.closing.Load() {
		p.droppedFull.Add(1)
		return false
	}
	select {
	case p.buf <- e:
		p.accepted.Add(1)
		return true
	default:
		p.droppedFull.Add(1)
		return false
	}
}

// PublishWait hands e to the publisher, waiting for room in the buffer until ctx ends
// (EUNAVAILABLE then): for emitters that must not drop and may wait, such as the
// runtime's periodic instance-seconds.
func (p *Publisher) PublishWait(ctx context.Context, e platform.UsageEvent) error {
	if p.closing.Load() {
		return platform.Errorf(platform.EUNAVAILABLE, "metering: usage event %s not buffered: the publisher has stopped", e.ID)
	}
	select {
	case p.buf <- e:
		p.accepted.Add(1)
		return nil
	case <-ctx.Done():
		return platform.Errorf(platform.EUNAVAILABLE, "metering: usage event %s not buffered: %v", e.ID, ctx.Err())
	}
}

// Flush waits until every event accepted before the call was published or dropped, or
// until ctx ends (EUNAVAILABLE). It returns EUNAVAILABLE when events were dropped while
// it waited.
func (p *Publisher) Flush(ctx context.Context) error {
	target := p.accepted.Load()
	before := p.droppedInvalid.Load() + p.dropFail.Load()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for p.settled.Load() < target || p.retrying.Load() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return platform.Errorf(platform.EUNAVAILABLE, "metering: flush: %d of %d usage events not yet published: %v",
				target-min(target, p.settled.Load()), target, ctx.Err())
		}
	}
	if n := p.droppedInvalid.Load() + p.dropFail.Load() - before; n > 0 {
		return platform.Errorf(platform.EUNAVAILABLE, "metering: flush: %d usage events dropped", n)
	}
	return nil
}

// Stats returns what the publisher did so far.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{
		Accepted:       p.accepted.Load(),
		Published:      p.published.Load(),
		Retried:        p.retried.Load(),
		DroppedFull:    p.droppedFull.Load(),
		DroppedInvalid: p.droppedInvalid.Load(),
		DroppedFailed:  p.dropFail.Load(),
	}
}

// Start creates the stream if it is missing (trying again until it can) and publishes
// the buffered events until ctx ends. Then it goes on for at most drainTimeout to
// publish what is buffered and wait for the acknowledgements, and returns. It returns
// an error only when called twice.
func (p *Publisher) Start(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("metering: Publisher.Start called twice")
	}
	ackDone := make(chan struct{})
	go func() {
		defer close(ackDone)
		p.awaitAcks()
	}()
	if p.ensureStream(ctx) {
		p.loop(ctx.Done(), false)
		// Drain: publish what is buffered, then wait for the acknowledgements.
		drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
		p.loop(drain.Done(), true)
		cancel()
	}
	p.closing.Store(true)
	close(p.acks)
	<-ackDone
	// What is left was not published in time: dropped. Retries still waiting for their
	// backoff drop themselves now that closing is set.
	for {
		select {
		case a := <-p.retry:
			p.retrying.Add(-1)
			p.drop(a)
			continue
		case <-p.buf:
			p.dropFail.Add(1)
			p.settled.Add(1)
			continue
		default:
		}
		if p.retrying.Load() == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.logDrops(true)
	return nil
}

// drainTimeout bounds the drain after Start's context ends.
const drainTimeout = 5 * time.Second

// ensureStream creates the stream if missing, trying again with backoff until ctx
// ends (false).
func (p *Publisher) ensureStream(ctx context.Context) bool {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := ensureStream(tctx, p.js, &p.opts.Stream)
		cancel()
		if err == nil {
			return true
		}
		p.log.Warn("metering: usage stream unavailable; buffering events", "stream", p.opts.Stream.Name, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

// loop publishes buffered events and retries until done is closed; draining, it
// returns early once nothing is buffered, retrying or awaiting acknowledgement.
func (p *Publisher) loop(done <-chan struct{}, draining bool) {
	idle := time.NewTicker(10 * time.Millisecond)
	defer idle.Stop()
	for {
		select {
		case <-done:
			return
		case a := <-p.retry:
			p.retrying.Add(-1)
			p.send(a, done)
		case e := <-p.buf:
			if a := p.message(e); a != nil {
				p.send(a, done)
			}
		case <-idle.C:
			p.logDrops(false)
			if draining && len(p.buf) == 0 && p.retrying.Load() == 0 && p.settled.Load() >= p.accepted.Load() {
				return
			}
		}
	}
}

// message returns the message of e and of the events buffered after it, at most
// MaxBatch, or nil when none is valid. Invalid events are dropped.
func (p *Publisher) message(e platform.UsageEvent) *attempt {
	data := make([]byte, 0, min(len(p.buf)+1, p.opts.MaxBatch)*200)
	var id string
	var ids hash.Hash
	n := 0
	for {
		if err := e.Validate(); err != nil {
			p.droppedInvalid.Add(1)
			p.settled.Add(1)
			p.log.Debug("metering: invalid usage event dropped", "id", e.ID, "err", err)
			p.logDrops(false)
		} else {
			if n > 0 {
				data = append(data, '\n')
			}
			data = appendEvent(data, &e)
			switch n {
			case 0:
				id = e.ID
			case 1:
				ids = sha256.New()
				ids.Write([]byte(id))
				fallthrough
			default:
				ids.Write([]byte{'\n'})
				ids.Write([]byte(e.ID))
			}
			n++
		}
		if n == p.opts.MaxBatch {
			break
		}
		select {
		case e = <-p.buf:
			continue
		default:
		}
		break
	}
	if n == 0 {
		return nil
	}
	if n > 1 {
		// A message of several events is named by its events' IDs: the same message
		// tried again is the same ID, which JetStream drops if it has it.
		id = "batch:" + hex.EncodeToString(ids.Sum(nil)[:16])
	}
	return &attempt{events: uint64(n), msg: &nats.Msg{
		Subject: p.opts.Stream.Subject + "." + eventsToken,
		Header:  nats.Header{jetstream.MsgIDHeader: []string{id}},
		Data:    data,
	}}
}

// send publishes a once more and hands it to the acknowledgement loop. While too many
// publishes await acknowledgement it waits (backpressure: the buffer fills); when the
// client refuses for another reason (the connection is closed) it waits a little and
// tries again, up to the attempts. It drops a when done is closed first.
func (p *Publisher) send(a *attempt, done <-chan struct{}) {
	for {
		f, err := p.js.PublishMsgAsync(a.msg, jetstream.WithStallWait(100*time.Millisecond))
		if err == nil {
			a.n++
			a.future = f
			p.acks <- a
			return
		}
		wait := time.Duration(0)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			a.n++
			a.err = err
			if a.n >= p.opts.Attempts {
				p.drop(a)
				return
			}
			p.retried.Add(1)
			wait = backoff(a.n)
		}
		select {
		case <-done:
			a.err = cmp.Or(a.err, err)
			p.drop(a)
			return
		case <-time.After(wait):
		}
	}
}

// awaitAcks waits for the acknowledgement of each publish, in order, until acks is
// closed: an acknowledged event is published, a failed one goes back to the loop
// until its attempts are spent.
func (p *Publisher) awaitAcks() {
	for a := range p.acks {
		select {
		case <-a.future.Ok():
			p.published.Add(a.events)
			p.settled.Add(a.events)
		case err := <-a.future.Err():
			a.err = err
			if a.n >= p.opts.Attempts || p.closing.Load() {
				p.drop(a)
				continue
			}
			p.retried.Add(1)
			p.retrying.Add(1)
			time.AfterFunc(backoff(a.n), func() {
				if p.closing.Load() {
					p.retrying.Add(-1)
					p.drop(a)
					return
				}
				select {
				case p.retry <- a:
				default: // cannot happen: retry holds MaxPending, as many as can be pending
					p.retrying.Add(-1)
					p.drop(a)
				}
			})
		}
	}
}

// backoff is the wait before attempt n+1.
func backoff(n int) time.Duration {
	return min(50*time.Millisecond<<(n-1), 2*time.Second)
}

// drop counts the accepted events of a that could not be published.
func (p *Publisher) drop(a *attempt) {
	p.dropFail.Add(a.events)
	p.settled.Add(a.events)
	p.log.Debug("metering: usage events dropped", "message", a.msg.Header.Get(jetstream.MsgIDHeader), "events", a.events,
		"attempts", a.n, "err", a.err)
	p.logDrops(false)
}

// logDrops logs the drops since the last log, at most once per dropLogEvery unless
// final.
func (p *Publisher) logDrops(final bool) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	if !final && time.Since(p.lastLog) < dropLogEvery {
		return
	}
	s := p.Stats()
	full, invalid, failed := s.DroppedFull-p.logged.DroppedFull, s.DroppedInvalid-p.logged.DroppedInvalid,
		s.DroppedFailed-p.logged.DroppedFailed
	if full+invalid+failed == 0 {
		return
	}
	p.lastLog, p.logged = time.Now(), s
	p.log.Warn("metering: usage events dropped: usage went unbilled",
		"stream", p.opts.Stream.Name, DropFull, full, DropInvalid, invalid, DropFailed, failed,
		"published_total", s.Published)
}
