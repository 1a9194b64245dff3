package alerting

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/micro/platform"
	"github.com/micro/platform/alerting/notify"
)

// BenchmarkCrashToNotify measures how long a crash takes to reach a channel: from an
// instance.crashloop event published (appended to the SQLite store and the engine
// woken, as the control plane does) to its channel's Send, over 100 crashes of distinct
// services per iteration, one at a time. The engine runs with its default intervals; the
// channel's rate limit is off, since a limited channel delays on purpose. It reports the
// p50, p99 and worst latency in milliseconds; the target is p99 < 2 s. "poll" does not
// wake the engine: the event loop finds the event at its next poll (every 250 ms).
// "webhook" delivers through the real webhook sender (signed JSON over HTTP) to a
// receiver on loopback, and times until the receiver has read the request.
func BenchmarkCrashToNotify(b *testing.B) {
	b.Run("wake", func(b *testing.B) { benchCrashToNotify(b, true, false) })
	b.Run("poll", func(b *testing.B) { benchCrashToNotify(b, false, false) })
	b.Run("webhook", func(b *testing.B) { benchCrashToNotify(b, true, true) })
}

func benchCrashToNotify(b *testing.B, wake, webhook bool) {
	f := newFixture(b)
	sig := make(chan sent, 1)
	opts := f.options(&fakeSender{sig: sig})
	if webhook {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
			sig <- sent{At: time.Now()}
		}))
		b.Cleanup(srv.Close)
		f.channel(b, "ch-1", func(c *platform.AlertChannel) { c.Config["url"] = srv.URL })
		opts.Senders = notify.Senders(notify.Options{AllowPrivate: true})
	} else {
		f.channel(b, "ch-1", nil)
	}
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
