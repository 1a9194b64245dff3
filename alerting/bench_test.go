package alerting

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkCrashToNotify measures how long a crash takes to reach a channel: from an
// instance.crashloop event published (appended to the SQLite store and the engine
// woken, as the control plane does) to its channel's Send, over 100 crashes of distinct
// services per iteration, one at a time. The engine runs with its default intervals; the
// channel's rate limit is off, since a limited channel delays on purpose. It reports the
// p50, p99 and worst latency in milliseconds; the target is p99 < 2 s. "poll" does not
// wake the engine: the event loop finds the event at its next poll (every 250 ms).
func BenchmarkCrashToNotify(b *testing.B) {
	b.Run("wake", func(b *testing.B) { benchCrashToNotify(b, true) })
	b.Run("poll", func(b *testing.B) { benchCrashToNotify(b, false) })
}

func benchCrashToNotify(b *testing.B, wake bool) {
	f := newFixture(b)
	f.channel(b, "ch-1", nil)
	sig := make(chan sent, 1)
	opts := f.options(&fakeSender{sig: sig})
	opts.Poll, opts.Tick, opts.Settle = 0, 0, 0 // the defaults
	e, _ := start(b, opts)

	var latencies []time.Duration
	n := 0
	for b.Loop() {
		for range 100 {
			n++
			began := time.Now()
			woken := e
			if !wake {
				woken = nil
			}
			publish(b, f.store, woken, crashLoop(fmt.Sprintf("svc-%d", n)))
			select {
			case s := <-sig:
				latencies = append(latencies, s.At.Sub(began))
			case <-time.After(10 * time.Second):
				b.Fatalf("crash %d was not notified within 10 s", n)
			}
		}
	}
	slices.Sort(latencies)
	at := func(q float64) float64 {
		d := latencies[min(len(latencies)-1, int(q*float64(len(latencies))))]
		return float64(d) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(at(1), "max-ms")
	b.ReportMetric(0, "ns/op")
	if p99 := at(0.99); p99 >= 2000 {
		b.Errorf("p99 crash to notification = %.0f ms, want < 2000 ms", p99)
	}
}
