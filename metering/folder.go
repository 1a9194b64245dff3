package metering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/micro/platform"
)

// Folder defaults.
const (
	// DefaultBatch is the most events one commit folds.
	DefaultBatch = 10_000
	// DefaultBatchWait is how long a partial batch waits for more events before it is
	// committed: the pipeline's latency when it is not busy.
	DefaultBatchWait = 100 * time.Millisecond
	// DefaultDedupeWindow is how long, at least, the store remembers the ID of an
	// event counted (see FolderOptions.DedupeWindow).
	DefaultDedupeWindow = time.Hour
	// DefaultPruneEvery is how often the folder has the store forget old IDs.
	DefaultPruneEvery = 5 * time.Minute
)

// purgeEvery is how often at most the folder purges the messages it committed from
// the stream.
const purgeEvery = time.Second

// FolderOptions configures a Folder.
type FolderOptions struct {
	Stream StreamOptions
	// Batch is the most events one commit folds; 0 means DefaultBatch.
	Batch int
	// BatchWait is how long a partial batch waits; 0 means DefaultBatchWait.
	BatchWait time.Duration
	// DedupeWindow is how long after an event's hour has begun, at least, a duplicate
	// of it (a re-publish, a re-emission) is recognised: the store forgets the IDs of
	// the hours that began before the stream's latest time minus the window. An event
	// that reaches the stream later than that after its time may be refused as late
	// (counted in Stats.Late and the metrics, never in the rollups). 0 means
	// DefaultDedupeWindow. The store keeps about rate × (window + 1h) IDs.
	DedupeWindow time.Duration
	// PruneEvery is how often old IDs are forgotten; 0 means DefaultPruneEvery.
	PruneEvery time.Duration
	// Logger receives the folder's warnings; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, registers platform_metering_folded_total{result},
	// platform_metering_commits_total and platform_metering_position.
	Metrics prometheus.Registerer
}

// FolderStats counts what a Folder did.
type FolderStats struct {
	// Stream is the key of the stream's position in the store (its name and creation
	// time); Position the sequence of the last message committed.
	Stream   string
	Position uint64
	// Counted, Duplicates and Late count the events of the commits, as the store
	// classified them (platform.UsageCommitResult); Invalid those that could not be
	// decoded or failed Validate, skipped.
	Counted, Duplicates, Late, Invalid uint64
	// Commits counts the transactions; Conflicts the commits refused because another
	// folder had moved the position (the folder then resumes from there).
	Commits, Conflicts uint64
}

// Folder folds the metering stream into the store's hourly rollups, exactly once. It
// reads the stream with an ordered consumer from the position the store holds, decodes
// and batches events, and commits each batch with platform.MeteringStore.CommitUsage:
// the rollups, the events' IDs and the new position in one transaction, over the old
// position. So a folder killed at any point resumes at the last commit and reads again
// what it had not committed; an event published twice is counted once (the store
// remembers IDs); and two folders on one stream never both count a message (one gets
// ECONFLICT and resumes after the other). After each commit it purges the committed
// messages from the stream, so the stream holds only what is not folded yet.
type Folder struct {
	js    jetstream.JetStream
	store platform.MeteringStore
	opts  FolderOptions
	log   *slog.Logger

	started atomic.Bool

	mu    sync.Mutex // guards stats
	stats FolderStats
}

// NewFolder returns a Folder of the stream on nc's JetStream into store; call Start to
// run it.
func NewFolder(nc *nats.Conn, store platform.MeteringStore, opts FolderOptions) (*Folder, error) {
	if err := opts.Stream.validate(); err != nil {
		return nil, err
	}
	if nc == nil || store == nil {
		return nil, platform.Errorf(platform.EINVALID, "metering: a folder needs a NATS connection and a store")
	}
	opts.Stream.setDefaults()
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.BatchWait <= 0 {
		opts.BatchWait = DefaultBatchWait
	}
	if opts.DedupeWindow <= 0 {
		opts.DedupeWindow = DefaultDedupeWindow
	}
	if opts.PruneEvery <= 0 {
		opts.PruneEvery = DefaultPruneEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("metering: jetstream: %w", err)
	}
	f := &Folder{js: js, store: store, opts: opts, log: opts.Logger}
	if opts.Metrics != nil {
		if err := registerFolderMetrics(opts.Metrics, f); err != nil {
			return nil, fmt.Errorf("metering: folder metrics: %w", err)
		}
	}
	return f, nil
}

// Stats returns what the folder did so far.
func (f *Folder) Stats() FolderStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Start folds the stream until ctx ends. A failure (the stream or the store
// unavailable, another folder's commit) ends a session, which starts again, after a
// backoff, from the position in the store. It returns an error only when called twice.
func (f *Folder) Start(ctx context.Context) error {
	if !f.started.CompareAndSwap(false, true) {
		return errors.New("metering: Folder.Start called twice")
	}
	const firstWait = 50 * time.Millisecond
	wait := firstWait
	for {
		commits := f.Stats().Commits
		err := f.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if f.Stats().Commits > commits {
			wait = firstWait // it made progress: this is a new failure
		}
		if platform.IsConflict(err) {
			f.log.Info("metering: another folder moved the stream's position; resuming from the store", "stream", f.opts.Stream.Name)
		} else {
			f.log.Warn("metering: folding stopped; resuming from the store's position", "stream", f.opts.Stream.Name,
				"err", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// batch is the events of the messages after from up to to.
type batch struct {
	from, to  uint64
	slab      []platform.UsageEvent
	invalid   int
	watermark time.Time // the latest stream time of its messages
}

// session folds from the store's position until an error or ctx's end.
func (f *Folder) session(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := ensureStream(ctx, f.js, &f.opts.Stream)
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("metering: stream info: %w", err)
	}
	key := positionKey(info)
	offset, err := f.store.UsageOffset(ctx, key)
	if err != nil {
		return err
	}
	if offset > info.State.LastSeq {
		return fmt.Errorf("metering: stream %s ends at %d, before the position %d the store holds for it",
			info.Config.Name, info.State.LastSeq, offset)
	}
	f.mu.Lock()
	f.stats.Stream, f.stats.Position = key, offset
	f.mu.Unlock()
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if offset > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, offset+1
	}
	cons, err := f.js.OrderedConsumer(ctx, info.Config.Name, cfg)
	if err != nil {
		return fmt.Errorf("metering: consumer: %w", err)
	}

	acc := &accumulator{batches: make(chan *batch, 1), done: ctx.Done(), size: f.opts.Batch}
	acc.cur = acc.fresh(offset)
	cc, err := cons.Consume(acc.add,
		// About two batches of messages of one event, or 16 MiB of messages.
		jetstream.PullMaxMessagesWithBytesLimit(min(2*f.opts.Batch, 20_000), 16<<20),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			f.log.Debug("metering: consumer", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("metering: consume: %w", err)
	}
	defer cc.Stop()
	go acc.tick(f.opts.BatchWait)

	var lastPurge, lastPrune time.Time
	for {
		var b *batch
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b = <-acc.batches:
		}
		if err := f.commit(ctx, key, b); err != nil {
			return err
		}
		b.recycle()
		if time.Since(lastPurge) >= purgeEvery {
			lastPurge = time.Now()
			// Best effort: what is not purged now is the next time.
			if err := stream.Purge(ctx, jetstream.WithPurgeSequence(b.to+1)); err != nil && ctx.Err() == nil {
				f.log.Debug("metering: purge", "err", err)
			}
		}
		if !b.watermark.IsZero() && time.Since(lastPrune) >= f.opts.PruneEvery {
			lastPrune = time.Now()
			if _, err := f.store.PruneUsageEvents(ctx, b.watermark.Add(-f.opts.DedupeWindow)); err != nil && ctx.Err() == nil {
				f.log.Warn("metering: prune usage event IDs", "err", err)
			}
		}
	}
}

// commit folds b into the store.
func (f *Folder) commit(ctx context.Context, key string, b *batch) error {
	events := make([]*platform.UsageEvent, len(b.slab))
	for i := range b.slab {
		events[i] = &b.slab[i]
	}
	res, err := f.store.CommitUsage(ctx, &platform.UsageCommit{Stream: key, From: b.from, To: b.to, Events: events})
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		if platform.IsConflict(err) {
			f.stats.Conflicts++
		}
		return err
	}
	f.stats.Position = b.to
	f.stats.Commits++
	f.stats.Counted += uint64(res.Counted)
	f.stats.Duplicates += uint64(res.Duplicates)
	f.stats.Late += uint64(res.Late)
	f.stats.Invalid += uint64(b.invalid)
	if res.Late > 0 {
		f.log.Warn("metering: late usage events refused: their hour is before the store's horizon (dedupe window)",
			"late", res.Late, "window", f.opts.DedupeWindow)
	}
	return nil
}

// accumulator collects the consumer's messages into batches and hands them to the
// session's loop, full or after BatchWait.
type accumulator struct {
	batches chan *batch
	done    <-chan struct{}
	size    int

	mu  sync.Mutex
	cur *batch
}

// slabs are the events of batches committed, for the batches to come: the store keeps
// no pointer to events after CommitUsage.
var slabs sync.Pool

func (a *accumulator) fresh(from uint64) *batch {
	b := &batch{from: from, to: from}
	if s, ok := slabs.Get().(*[]platform.UsageEvent); ok {
		b.slab = (*s)[:0]
	}
	return b
}

// recycle gives b's events to the batches to come.
func (b *batch) recycle() {
	s := b.slab[:0]
	b.slab = nil
	slabs.Put(&s)
}

// add decodes the events of one message into the current batch, skipping a message at
// or before the batch's end (delivered again after the consumer was reset), and hands
// the batch on when full.
func (a *accumulator) add(m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		return // not a stream message
	}
	a.mu.Lock()
	b := a.cur
	if meta.Sequence.Stream <= b.to {
		a.mu.Unlock()
		return
	}
	b.to = meta.Sequence.Stream
	if meta.Timestamp.After(b.watermark) {
		b.watermark = meta.Timestamp
	}
	lines := 0
	splitEvents(m.Data(), func(line []byte) {
		lines++
		b.slab = append(b.slab, platform.UsageEvent{})
		e := &b.slab[len(b.slab)-1]
		if decodeEvent(line, e) != nil || e.Validate() != nil {
			b.slab = b.slab[:len(b.slab)-1]
			b.invalid++
		}
	})
	if lines == 0 {
		b.invalid++ // an empty message
	}
	if len(b.slab) >= a.size {
		a.cur = a.fresh(b.to)
		a.handOn(b)
	}
	a.mu.Unlock()
}

// handOn passes b to the session's loop, waiting while it commits the one before. It is
// called with mu held, so that batches go in order.
func (a *accumulator) handOn(b *batch) {
	select {
	case a.batches <- b:
	case <-a.done:
	}
}

// tick hands on a partial batch every wait, until done.
func (a *accumulator) tick(wait time.Duration) {
	t := time.NewTicker(wait)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			return
		case <-t.C:
		}
		a.mu.Lock()
		b := a.cur
		if b.to == b.from {
			a.mu.Unlock()
			continue
		}
		a.cur = a.fresh(b.to)
		a.handOn(b)
		a.mu.Unlock()
	}
}
