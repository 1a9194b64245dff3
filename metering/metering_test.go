package metering

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/micro/platform"
	"github.com/micro/platform/internal/testenv"
)

// TestPublishAndFold: events published one per message, with the event's ID as the
// message's, go into hourly rollups, once each however often published (JetStream
// drops the second message); the stream keeps only what is not folded; the metrics say
// so.
func TestPublishAndFold(t *testing.T) {
	t.Parallel()
	for _, engine := range engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			srv := startNATS(t, "")
			nc := srv.connect(t)
			store := openStore(t, engine)
			reg := prometheus.NewRegistry()
			p, _ := newPublisher(t, nc, PublisherOptions{Metrics: reg, MaxBatch: 1})
			f, _ := newFolder(t, nc, store, FolderOptions{Metrics: reg, BatchWait: 10 * time.Millisecond})

			h := testHour()
			events := []platform.UsageEvent{
				event("e-1", "api", platform.MeterRequests, 1, h),
				event("e-2", "api", platform.MeterRequests, 1, h.Add(time.Minute)),
				event("e-3", "api", platform.MeterEgressBytes, 512, h.Add(time.Minute)),
				event("e-4", "web", platform.MeterInstanceSeconds, 60*platform.SizeMedium.Weight(), h.Add(-time.Hour)),
				event("e-5", "", platform.MeterBuildSeconds, 42, h.Add(-time.Minute)),
			}
			for _, e := range events {
				if !p.Publish(e) {
					t.Fatalf("Publish(%s) dropped it", e.ID)
				}
			}
			// Published again: JetStream drops these as duplicates.
			for _, e := range events[:3] {
				p.Publish(e)
			}
			mustFlush(t, p)
			waitFolded(t, nc, f, DefaultStreamName)
			wantRollups(t, store, pointers(events))

			if s := p.Stats(); s.Accepted != 8 || s.Published != 8 || s.Dropped() != 0 {
				t.Fatalf("publisher stats = %+v, want 8 accepted and published", s)
			}
			if s := f.Stats(); s.Counted != 5 || s.Duplicates != 0 || s.Position != 5 || !strings.HasPrefix(s.Stream, DefaultStreamName+"@") {
				t.Fatalf("folder stats = %+v, want 5 counted up to 5", s)
			}
			pos, err := store.UsageOffset(t.Context(), f.Stats().Stream)
			if err != nil || pos != 5 {
				t.Fatalf("UsageOffset = %d, %v; want 5", pos, err)
			}
			// Folded messages are purged.
			eventually(t, 10*time.Second, func() error {
				if n := streamMsgs(t, nc); n != 0 {
					return fmt.Errorf("the stream holds %d messages after folding", n)
				}
				return nil
			})
			wantMetric(t, reg, "platform_metering_published_total", nil, 8)
			wantMetric(t, reg, "platform_metering_dropped_total", map[string]string{"reason": DropFull}, 0)
			wantMetric(t, reg, "platform_metering_folded_total", map[string]string{"result": "counted"}, 5)
			wantMetric(t, reg, "platform_metering_position", nil, 5)
		})
	}
}

// TestPublishBatches: events that come faster than they are published travel several
// to a message; an event in two messages counts once (the store's dedupe).
func TestPublishBatches(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, "")
	nc := srv.connect(t)
	store := openStore(t, "sqlite")
	p, err := NewPublisher(nc, PublisherOptions{MaxBatch: 10})
	if err != nil {
		t.Fatal(err)
	}
	h := testHour()
	var events []*platform.UsageEvent
	for i := range 95 {
		e := event(fmt.Sprint("e-", i), fmt.Sprint("svc-", i%3), platform.MeterRequests, int64(i), h)
		events = append(events, &e)
		p.Publish(e)
	}
	for _, e := range events[:20] { // again, in other messages
		p.Publish(*e)
	}
	run(t, p.Start) // started once all are buffered: they go 10 to a message
	mustFlush(t, p)
	if n := streamLast(t, nc, DefaultStreamName); n != 12 {
		t.Fatalf("115 events in %d messages, want 12", n)
	}
	f, _ := newFolder(t, nc, store, FolderOptions{BatchWait: time.Millisecond})
	waitFolded(t, nc, f, DefaultStreamName)
	if s := f.Stats(); s.Counted != 95 || s.Duplicates != 20 {
		t.Fatalf("folder stats = %+v, want 95 counted and 20 duplicates", s)
	}
	wantRollups(t, store, events)
}

// TestPublishDropsWhenFull: Publish never blocks: with the buffer full it drops the
// event, counts it, and the publisher logs it; what was buffered is published once
// the loop runs.
func TestPublishDropsWhenFull(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, "")
	nc := srv.connect(t)
	var logs testenv.Buffer
	reg := prometheus.NewRegistry()
	p, err := NewPublisher(nc, PublisherOptions{Buffer: 4, Metrics: reg,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h := testHour()
	for i := range 6 {
		done := make(chan bool)
		go func() { done <- p.Publish(event(fmt.Sprint("e-", i), "api", platform.MeterRequests, 1, h)) }()
		select {
		case ok := <-done:
			if ok != (i < 4) {
				t.Fatalf("Publish #%d = %v, want %v", i, ok, i < 4)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Publish blocked")
		}
	}
	if err := p.PublishWait(timeoutCtx(t, 50*time.Millisecond), event("e-w", "api", platform.MeterRequests, 1, h)); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("PublishWait on a full buffer = %v, want EUNAVAILABLE", err)
	}
	wantMetric(t, reg, "platform_metering_dropped_total", map[string]string{"reason": DropFull}, 2)
	r := run(t, p.Start)
	mustFlush(t, p)
	if s := p.Stats(); s.Accepted != 4 || s.Published != 4 || s.DroppedFull != 2 {
		t.Fatalf("stats = %+v, want 4 published and 2 dropped", s)
	}
	r.stop(t)
	if !strings.Contains(logs.String(), "usage events dropped") || !strings.Contains(logs.String(), "buffer_full=2") {
		t.Fatalf("logs do not report the drops:\n%s", logs.String())
	}
}

// TestPublishInvalid: an invalid event is dropped, counted, and never reaches the stream.
func TestPublishInvalid(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, "")
	nc := srv.connect(t)
	p, _ := newPublisher(t, nc, PublisherOptions{})
	p.Publish(platform.UsageEvent{ID: "bad", Meter: "cpu"})
	p.Publish(event("good", "api", platform.MeterRequests, 1, testHour()))
	if err := p.Flush(timeoutCtx(t, 10*time.Second)); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("Flush after an invalid event = %v, want EUNAVAILABLE (dropped)", err)
	}
	if s := p.Stats(); s.DroppedInvalid != 1 || s.Published != 1 {
		t.Fatalf("stats = %+v, want 1 invalid and 1 published", s)
	}
	if n := streamMsgs(t, nc); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}

// TestPublishStreamFull: a full stream refuses events rather than discard folded-yet
// ones; the publisher tries again, then drops and counts them.
func TestPublishStreamFull(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, "")
	nc := srv.connect(t)
	p, _ := newPublisher(t, nc, PublisherOptions{Stream: StreamOptions{MaxBytes: 4096}, Attempts: 2, MaxBatch: 1})
	h := testHour()
	for i := range 100 {
		p.Publish(event(fmt.Sprint("e-", i), "api", platform.MeterRequests, 1, h))
	}
	if err := p.Flush(timeoutCtx(t, 30*time.Second)); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("Flush = %v, want EUNAVAILABLE (dropped)", err)
	}
	s := p.Stats()
	if s.Published == 0 || s.DroppedFailed == 0 || s.Published+s.DroppedFailed != 100 || s.Retried == 0 {
		t.Fatalf("stats = %+v, want some published, the rest retried and dropped", s)
	}
	if n := streamMsgs(t, nc); n != s.Published {
		t.Fatalf("stream holds %d messages, want the %d published", n, s.Published)
	}
}

// TestPublishBeforeTheStream: events published while NATS is down wait in the buffer
// and go out once the stream can be created.
func TestPublishBeforeTheStream(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, "")
	nc := srv.connect(t)
	srv.stop()
	p, _ := newPublisher(t, nc, PublisherOptions{})
	h := testHour()
	for i := range 10 {
		p.Publish(event(fmt.Sprint("e-", i), "api", platform.MeterRequests, 1, h))
	}
	time.Sleep(300 * time.Millisecond)
	srv.start(t)
	mustFlush(t, p)
	if s := p.Stats(); s.Published != 10 {
		t.Fatalf("stats = %+v, want 10 published", s)
	}
}

// TestFoldersCompete: two folders of one stream into one store count every event once.
func TestFoldersCompete(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, "")
	store := openStore(t, "sqlite")
	p, _ := newPublisher(t, srv.connect(t), PublisherOptions{})
	var folders []*Folder
	for range 2 {
		f, _ := newFolder(t, srv.connect(t), store, FolderOptions{Batch: 100, BatchWait: time.Millisecond})
		folders = append(folders, f)
	}
	h := testHour()
	var events []*platform.UsageEvent
	for i := range 5000 {
		e := event(fmt.Sprint("e-", i), fmt.Sprint("svc-", i%7), platform.MeterRequests, int64(i%5), h)
		events = append(events, &e)
		if err := p.PublishWait(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	mustFlush(t, p)
	nc := srv.connect(t)
	last := streamLast(t, nc, DefaultStreamName)
	eventually(t, 60*time.Second, func() error {
		pos, err := store.UsageOffset(t.Context(), folders[0].Stats().Stream)
		if err != nil || pos < last {
			return fmt.Errorf("store at %d of %d (%v)", pos, last, err)
		}
		return nil
	})
	wantRollups(t, store, events)
	a, b := folders[0].Stats(), folders[1].Stats()
	if a.Counted+b.Counted != 5000 || a.Duplicates+b.Duplicates != 0 {
		t.Fatalf("folders counted %d + %d with %d + %d duplicates, want 5000 and none", a.Counted, b.Counted, a.Duplicates, b.Duplicates)
	}
	t.Logf("folders: %+v, %+v", a, b)
}

// TestStreamRecreated: a stream deleted and created again starts over at sequence 1;
// the folder keeps its position by the stream's creation time, so it counts the new
// stream's events instead of skipping them, and duplicates of events counted from the
// old stream count nothing.
func TestStreamRecreated(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, "")
	nc := srv.connect(t)
	store := openStore(t, "sqlite")
	p, _ := newPublisher(t, nc, PublisherOptions{})
	f, fr := newFolder(t, nc, store, FolderOptions{BatchWait: time.Millisecond})
	h := testHour()
	var events []*platform.UsageEvent
	for i := range 10 {
		e := event(fmt.Sprint("old-", i), "api", platform.MeterRequests, 1, h)
		events = append(events, &e)
		p.Publish(e)
	}
	mustFlush(t, p)
	waitFolded(t, nc, f, DefaultStreamName)
	oldKey := f.Stats().Stream
	fr.stop(t)

	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(t.Context(), DefaultStreamName); err != nil {
		t.Fatal(err)
	}
	p2, _ := newPublisher(t, nc, PublisherOptions{})
	for i := range 3 {
		e := event(fmt.Sprint("new-", i), "api", platform.MeterRequests, 10, h)
		events = append(events, &e)
		p2.Publish(e)
	}
	p2.Publish(*events[0]) // counted already
	mustFlush(t, p2)
	f2, _ := newFolder(t, nc, store, FolderOptions{BatchWait: time.Millisecond})
	waitFolded(t, nc, f2, DefaultStreamName)
	if s := f2.Stats(); s.Stream == oldKey || s.Counted != 3 || s.Duplicates != 1 {
		t.Fatalf("folder of the new stream: %+v (old key %s), want 3 counted and 1 duplicate under a new key", s, oldKey)
	}
	wantRollups(t, store, events)
}

// TestFolderSurvivesServerRestart: the stream's data and the store's position outlive a
// NATS restart; the folder resumes and counts what was published after.
func TestFolderSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, "")
	store := openStore(t, "sqlite")
	nc := srv.connect(t)
	p, pr := newPublisher(t, nc, PublisherOptions{})
	f, fr := newFolder(t, nc, store, FolderOptions{BatchWait: time.Millisecond})
	h := testHour()
	var events []*platform.UsageEvent
	publish := func(p *Publisher, prefix string) {
		for i := range 100 {
			e := event(fmt.Sprint(prefix, i), "api", platform.MeterRequests, int64(i), h)
			events = append(events, &e)
			p.Publish(e)
		}
		mustFlush(t, p)
	}
	publish(p, "a-")
	waitFolded(t, nc, f, DefaultStreamName)
	key := f.Stats().Stream
	pr.stop(t)
	fr.stop(t)
	srv.restart(t) // the same data
	nc2 := srv.connect(t)
	p2, _ := newPublisher(t, nc2, PublisherOptions{})
	publish(p2, "b-")
	f2, _ := newFolder(t, nc2, store, FolderOptions{BatchWait: time.Millisecond})
	waitFolded(t, nc2, f2, DefaultStreamName)
	if s := f2.Stats(); s.Stream != key {
		t.Fatalf("stream key after a restart = %s, want %s (the same stream)", s.Stream, key)
	}
	wantRollups(t, store, events)
}

// TestLateEvents: an event of an hour the store has forgotten (older than the dedupe
// window as the stream sees it) is refused as late, counted as such, never in the
// rollups; an on-time duplicate of a counted event counts nothing.
func TestLateEvents(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, "")
	nc := srv.connect(t)
	store := openStore(t, "sqlite")
	var logs testenv.Buffer
	p, _ := newPublisher(t, nc, PublisherOptions{})
	f, _ := newFolder(t, nc, store, FolderOptions{BatchWait: time.Millisecond, DedupeWindow: time.Hour,
		PruneEvery: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	now := time.Now()
	onTime := event("on-time", "api", platform.MeterRequests, 1, now)
	p.Publish(onTime)
	mustFlush(t, p)
	waitFolded(t, nc, f, DefaultStreamName)
	// The prune after that commit moved the horizon to the hour of now-1h.
	eventually(t, 10*time.Second, func() error {
		h, err := store.UsageHorizon(t.Context())
		if err != nil || !h.Equal(platform.UsageHour(now.Add(-time.Hour))) {
			return fmt.Errorf("horizon %v (%v), want %v", h, err, platform.UsageHour(now.Add(-time.Hour)))
		}
		return nil
	})
	p.Publish(event("late", "api", platform.MeterRequests, 100, now.Add(-3*time.Hour)))
	// Bypass JetStream's duplicate window: a re-emission after it.
	publishRaw(t, nc, onTime)
	mustFlush(t, p)
	waitFolded(t, nc, f, DefaultStreamName)
	if s := f.Stats(); s.Counted != 1 || s.Late != 1 || s.Duplicates != 1 {
		t.Fatalf("stats = %+v, want 1 counted, 1 late, 1 duplicate", s)
	}
	wantRollups(t, store, []*platform.UsageEvent{&onTime})
	if !strings.Contains(logs.String(), "late usage events refused") {
		t.Fatalf("no warning about the late event:\n%s", logs.String())
	}
}

// TestFolderSkipsInvalidMessages: a message that is not a valid event is skipped and
// counted; it does not stop the folder.
func TestFolderSkipsInvalidMessages(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, "")
	nc := srv.connect(t)
	store := openStore(t, "sqlite")
	p, _ := newPublisher(t, nc, PublisherOptions{})
	mustFlush(t, p) // the stream exists
	js, _ := jetstream.New(nc)
	for _, data := range []string{"garbage", `{"id":"x","org":"o","namespace":"n","meter":"cpu","quantity":1,"time":"2026-03-01T12:00:00Z"}`} {
		if _, err := js.Publish(t.Context(), DefaultSubject+".requests", []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	good := event("good", "api", platform.MeterRequests, 3, testHour())
	p.Publish(good)
	mustFlush(t, p)
	f, _ := newFolder(t, nc, store, FolderOptions{BatchWait: time.Millisecond})
	waitFolded(t, nc, f, DefaultStreamName)
	if s := f.Stats(); s.Invalid != 2 || s.Counted != 1 {
		t.Fatalf("stats = %+v, want 2 invalid and 1 counted", s)
	}
	wantRollups(t, store, []*platform.UsageEvent{&good})
}

// TestPublishConcurrently: many goroutines publishing at once (the gateway's handlers)
// lose nothing while the buffer has room.
func TestPublishConcurrently(t *testing.T) {
	t.Parallel()
	srv := startNATS(t, "")
	nc := srv.connect(t)
	store := openStore(t, "sqlite")
	p, _ := newPublisher(t, nc, PublisherOptions{})
	f, _ := newFolder(t, nc, store, FolderOptions{})
	h := testHour()
	var mu sync.Mutex
	var events []*platform.UsageEvent
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 1000 {
				e := event(fmt.Sprintf("g%d-%d", g, i), fmt.Sprint("svc-", g%3), platform.MeterRequests, 1, h)
				if err := p.PublishWait(t.Context(), e); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				events = append(events, &e)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	mustFlush(t, p)
	waitFolded(t, nc, f, DefaultStreamName)
	wantRollups(t, store, events)
}

func mustFlush(tb testing.TB, p *Publisher) {
	tb.Helper()
	if err := p.Flush(timeoutCtx(tb, 60*time.Second)); err != nil {
		tb.Fatalf("Flush: %v (stats %+v)", err, p.Stats())
	}
}

// timeoutCtx returns a context that ends after d or when tb ends.
func timeoutCtx(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// streamMsgs returns how many messages the stream holds.
func streamMsgs(tb testing.TB, nc *nats.Conn) uint64 {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := js.Stream(context.Background(), DefaultStreamName)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Msgs
}

// publishRaw publishes e on the stream without a message ID: as a re-emission after
// JetStream's duplicate window would arrive.
func publishRaw(tb testing.TB, nc *nats.Conn, e platform.UsageEvent) {
	tb.Helper()
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(context.Background(), DefaultSubject+"."+string(e.Meter), appendEvent(nil, &e)); err != nil {
		tb.Fatal(err)
	}
}

// wantMetric fails tb unless the series of name with labels has value v.
func wantMetric(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string, v float64) {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := true
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					match = false
				}
			}
			if !match {
				continue
			}
			got := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			if got != v {
				tb.Fatalf("%s%v = %v, want %v", name, labels, got, v)
			}
			return
		}
	}
	tb.Fatalf("no series %s%v", name, labels)
}
