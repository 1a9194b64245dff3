package metering

import (
	"strconv"
	"testing"
	"time"

	"github.com/micro/platform"
)

// BenchmarkIngest measures the pipeline end to end: b.N distinct events handed to a
// Publisher (as the gateway would, from several goroutines), through the JetStream
// stream of an embedded server (file storage), folded by a Folder into the store's
// rollups (SQLite or PostgreSQL), committed. It reports events/s from the first
// Publish to the last commit. Run it with a fixed count, e.g.
//
//	go test -run '^$' -bench Ingest -benchtime 1000000x ./metering/
func BenchmarkIngest(b *testing.B) {
	for _, engine := range engines() {
		b.Run(engine, func(b *testing.B) { benchIngest(b, engine) })
	}
}

func benchIngest(b *testing.B, engine string) {
	srv := startNATS(b, "")
	store := openStore(b, engine)
	p, _ := newPublisher(b, srv.connect(b), PublisherOptions{})
	f, _ := newFolder(b, srv.connect(b), store, FolderOptions{})
	// The events of a busy region: 50 services of 10 namespaces, requests and egress.
	const producers = 4
	hour := testHour()
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "gw-1/" + strconv.Itoa(i)
	}
	services := make([]string, 50)
	for i := range services {
		services[i] = "svc-" + strconv.Itoa(i)
	}
	namespaces := make([]string, 10)
	for i := range namespaces {
		namespaces[i] = "ns-" + strconv.Itoa(i)
	}

	b.ResetTimer()
	start := time.Now()
	done := make(chan struct{}, producers)
	for g := range producers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := g; i < b.N; i += producers {
				e := platform.UsageEvent{ID: ids[i], Org: "o-1", Namespace: namespaces[i%10], Service: services[i%50],
					Region: "local", Meter: platform.MeterRequests, Quantity: 1, Time: hour.Add(time.Duration(i) * time.Microsecond)}
				if i%2 == 1 {
					e.Meter, e.Quantity = platform.MeterEgressBytes, int64(i%4096)
				}
				if err := p.PublishWait(b.Context(), e); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for range producers {
		<-done
	}
	published := time.Since(start)
	for f.Stats().Counted < uint64(b.N) {
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("after 10m: %+v", f.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	s := f.Stats()
	if s.Counted != uint64(b.N) || s.Duplicates != 0 {
		b.Fatalf("folder stats %+v, want %d counted", s, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/published.Seconds(), "published/s")
	b.ReportMetric(float64(s.Commits), "commits")
	if ps := p.Stats(); ps.Dropped() != 0 {
		b.Fatalf("publisher dropped: %+v", ps)
	}
}

// BenchmarkCommitUsage measures the store alone: commits of 10,000 distinct events of
// 50 services, as the folder makes them. It reports events/s.
func BenchmarkCommitUsage(b *testing.B) {
	for _, engine := range engines() {
		b.Run(engine, func(b *testing.B) {
			if testing.Short() {
				b.Skip("needs a real store")
			}
			store := openStore(b, engine)
			hour := testHour()
			const size = 10_000
			var pos uint64
			n := 0
			events := make([]*platform.UsageEvent, size)
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				for i := range events {
					events[i] = &platform.UsageEvent{ID: "gw-1/" + strconv.Itoa(n), Org: "o-1", Namespace: "acme",
						Service: "svc-" + strconv.Itoa(n%50), Meter: platform.MeterRequests, Quantity: 1, Time: hour}
					n++
				}
				res, err := store.CommitUsage(b.Context(), &platform.UsageCommit{Stream: "s", From: pos, To: pos + 1, Events: events})
				if err != nil || res.Counted != size {
					b.Fatalf("commit: %+v, %v", res, err)
				}
				pos++
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkPublish measures what the gateway's hot path pays per event: Publish into a
// buffer with room, from parallel goroutines (the loop is not running).
func BenchmarkPublish(b *testing.B) {
	p, err := NewPublisher(startNATS(b, "").connect(b), PublisherOptions{})
	if err != nil {
		b.Fatal(err)
	}
	e := platform.UsageEvent{ID: "gw-1/42/requests", Org: "o-1", Namespace: "acme", Service: "api", Region: "local",
		Meter: platform.MeterRequests, Quantity: 1, Time: time.Now()}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !p.Publish(e) {
				// The buffer is full: empty it, as the loop would.
				for len(p.buf) > 0 {
					<-p.buf
				}
			}
		}
	})
}
