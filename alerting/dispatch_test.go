package alerting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/micro/platform"
	"github.com/micro/platform/alerting/notify"
)

func TestRetryBackoffThenDead(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-bad", nil)
	f.channel(t, "ch-good", nil)
	sender := &fakeSender{fail: func(_ context.Context, _ int, ch notify.Channel) error {
		if ch.ID == "ch-bad" {
			return errRetryable
		}
		return nil
	}}
	opts := f.options(sender)
	opts.MaxAttempts = 4
	e, _ := start(t, opts)
	publish(t, f.store, e, crashLoop("api"))

	list := settled(t, f.store, func(l []*platform.Notification) bool {
		c := countBy(l)
		return c["firing/dead"] == 1 && c["firing/sent"] == 1
	})
	bad, good := sender.sends("ch-bad"), sender.sends("ch-good")
	if len(bad) != 4 || len(good) != 1 {
		t.Fatalf("ch-bad got %d attempts, ch-good %d; want 4 and 1", len(bad), len(good))
	}
	for i := 1; i < len(bad); i++ {
		if bad[i].Message.ID != bad[0].Message.ID {
			t.Fatalf("attempt %d has ID %s, want the notification's %s throughout", i+1, bad[i].Message.ID, bad[0].Message.ID)
		}
		// The i-th retry waits the i-th backoff: 20 ms·2^(i-1) less 10% jitter.
		min := time.Duration(float64(20*time.Millisecond<<(i-1)) * 0.9)
		if gap := bad[i].At.Sub(bad[i-1].At); gap < min {
			t.Fatalf("retry %d came %s after the attempt before, want at least %s", i, gap, min)
		}
	}
	if last := bad[len(bad)-1].At; !good[0].At.Before(last) {
		t.Fatalf("ch-good was sent at %s, after ch-bad's last attempt at %s: the failing channel delayed it", good[0].At, last)
	}
	for _, n := range list {
		if n.ChannelID == "ch-bad" && (n.Attempts != 4 || n.LastError != errRetryable.Error() || n.SentAt != nil) {
			t.Fatalf("dead notification = %+v, want 4 attempts and the last error", n)
		}
	}
}

func TestPermanentErrorIsDeadAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	sender := &fakeSender{fail: func(context.Context, int, notify.Channel) error {
		return notify.Permanently(errors.New("404 no such webhook"))
	}}
	e, _ := start(t, f.options(sender))
	publish(t, f.store, e, crashLoop("api"))
	list := settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/dead"] == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := len(sender.sends("")); n != 1 || list[0].Attempts != 1 || list[0].LastError != "404 no such webhook" {
		t.Fatalf("%d sends, notification %+v; want one attempt, dead", n, list[0])
	}
}

func TestSlowChannelDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-slow", nil)
	f.channel(t, "ch-fast", nil)
	release := make(chan struct{})
	sender := &fakeSender{fail: func(ctx context.Context, _ int, ch notify.Channel) error {
		if ch.ID == "ch-slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}}
	e, _ := start(t, f.options(sender))
	defer close(release)
	began := time.Now()
	for _, svc := range []string{"api", "web"} {
		publish(t, f.store, e, crashLoop(svc))
	}
	waitFor(t, "the fast channel", 5*time.Second, func() bool { return len(sender.sends("ch-fast")) == 2 })
	if took := time.Since(began); took > time.Second {
		t.Fatalf("the fast channel took %s while the slow one hung", took)
	}
}

func TestRateLimitPerChannel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	f.channel(t, "ch-2", nil)
	sender := &fakeSender{}
	opts := f.options(sender)
	opts.RateLimit, opts.RateBurst = 10, 2 // one every 100 ms after two
	e, _ := start(t, opts)
	for i := range 5 {
		publish(t, f.store, e, crashLoop(fmt.Sprintf("svc-%d", i)))
	}
	waitFor(t, "every notification", 5*time.Second, func() bool { return len(sender.sends("")) == 10 })
	for _, ch := range []string{"ch-1", "ch-2"} {
		got := sender.sends(ch)
		if span := got[4].At.Sub(got[0].At); span < 250*time.Millisecond {
			t.Fatalf("%s sent 5 in %s, want the limiter to spread them over at least 300 ms", ch, span)
		}
	}
}

func TestRestartSendsNoDuplicate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	first := &fakeSender{}
	e, stop := start(t, f.options(first))
	publish(t, f.store, e, crashLoop("api"))
	settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/sent"] == 1 })
	stop()
	f.store.Close()

	// Down: more crashes of api, and a first one of web.
	f.store = mustOpen(t, f.path)
	publish(t, f.store, nil, crashLoop("api"))
	publish(t, f.store, nil, crashLoop("web"))

	second := &fakeSender{}
	e2, _ := start(t, f.options(second))
	publish(t, f.store, e2, crashLoop("api"))
	caughtUp(t, f.store)
	settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/sent"] == 2 })
	time.Sleep(100 * time.Millisecond)
	got := second.sends("")
	if len(got) != 1 || got[0].Message.Key != "acme/builtin:crash_loop/web" {
		t.Fatalf("after the restart sent %d (%+v), want only web's", len(got), got)
	}
}

// TestRestartAfterCommitBeforeSend stops an engine right after it committed an alert
// and its notifications, before any was sent: the next engine sends each once.
func TestRestartAfterCommitBeforeSend(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	f.channel(t, "ch-2", nil)
	ctx := t.Context()
	dead := New(f.options(&fakeSender{})) // never started: dies after its commit
	must(t, dead.loadCursor(ctx))
	publish(t, f.store, nil, crashLoop("api"))
	for dead.readEvents(ctx) {
	}

	sender := &fakeSender{}
	start(t, f.options(sender))
	settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/sent"] == 2 })
	caughtUp(t, f.store)
	time.Sleep(100 * time.Millisecond)
	if n := len(sender.sends("")); n != 2 {
		t.Fatalf("sent %d, want one per channel", n)
	}
}

// TestRestartAfterInterruptedSend simulates a dispatcher killed while sending: it
// claimed a notification and never recorded the outcome. The next engine leaves it
// alone while the lease lasts, then sends it once, under the same ID.
func TestRestartAfterInterruptedSend(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	ctx := t.Context()
	dead := New(f.options(nil)) // never started: commits, claims, and dies
	must(t, dead.loadCursor(ctx))
	publish(t, f.store, nil, crashLoop("api"))
	for dead.readEvents(ctx) {
	}
	clock := newFakeClock()
	clock.t = time.Now()
	lease := dead.opts.Lease
	claimed, err := f.store.ClaimNotifications(ctx, "killed-engine", clock.Now(), lease, 10)
	must(t, err)
	if len(claimed) != 1 {
		t.Fatalf("claimed %d, want the one notification", len(claimed))
	}

	sender := &fakeSender{}
	opts := f.options(sender)
	opts.Clock = clock
	start(t, opts)
	time.Sleep(200 * time.Millisecond)
	if n := len(sender.sends("")); n != 0 {
		t.Fatalf("sent %d under another dispatcher's lease, want 0", n)
	}
	clock.Add(lease + time.Second)
	list := settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/sent"] == 1 })
	time.Sleep(100 * time.Millisecond)
	got := sender.sends("")
	if len(got) != 1 || got[0].Message.ID != claimed[0].ID || len(list) != 1 || list[0].Attempts != 1 {
		t.Fatalf("sent %d, history %+v; want %s sent once", len(got), list, claimed[0].ID)
	}
}

// TestStopHandsBack stops an engine while a send hangs: the notification is handed
// back, and the next engine sends it at once rather than after the lease.
func TestStopHandsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	hang := &fakeSender{sig: make(chan sent, 1), fail: func(ctx context.Context, _ int, _ notify.Channel) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	e, stop := start(t, f.options(hang))
	publish(t, f.store, e, crashLoop("api"))
	var attempted sent
	select {
	case attempted = <-hang.sig:
	case <-time.After(5 * time.Second):
		t.Fatal("no send started")
	}
	stop()

	sender := &fakeSender{}
	start(t, f.options(sender))
	began := time.Now()
	list := settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/sent"] == 1 })
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("the next engine sent it after %s, want at once", took)
	}
	got := sender.sends("")
	if len(got) != 1 || got[0].Message.ID != attempted.Message.ID || list[0].Attempts != 1 {
		t.Fatalf("sent %d, history %+v; want %s once, its interrupted send not counted", len(got), list, attempted.Message.ID)
	}
}

func TestTwoEnginesShareTheWork(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	sender := &fakeSender{}
	a, _ := start(t, f.options(sender))
	other := mustOpen(t, f.path) // the second engine's own connections, as another process
	opts := f.options(sender)
	opts.Store = other
	b, _ := start(t, opts)
	var wg sync.WaitGroup
	for i := range 10 {
		for range 3 {
			wg.Go(func() {
				ev := crashLoop(fmt.Sprintf("svc-%d", i))
				publish(t, f.store, a, ev)
				b.Wake()
			})
		}
	}
	wg.Wait()
	caughtUp(t, f.store)
	settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/sent"] == 10 })
	time.Sleep(200 * time.Millisecond)
	keys := map[string]int{}
	for _, s := range sender.sends("") {
		keys[s.Message.Key]++
	}
	if len(keys) != 10 {
		t.Fatalf("sent for %d alerts, want 10", len(keys))
	}
	for k, n := range keys {
		if n != 1 {
			t.Fatalf("%s sent %d times, want once", k, n)
		}
	}
}

// TestRealWebhookRetryAfter delivers through the real webhook sender to a receiver that
// first answers 429 with Retry-After: 1: the retry waits the second the receiver asked
// for (not the 20 ms backoff), carries the same delivery ID, and is signed with the
// channel's opened secret.
func TestRealWebhookRetryAfter(t *testing.T) {
	t.Parallel()
	type hit struct {
		at        time.Time
		delivery  string
		signature string
		body      []byte
	}
	var mu sync.Mutex
	var hits []hit
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		hits = append(hits, hit{time.Now(), r.Header.Get("X-Platform-Delivery"), r.Header.Get("X-Platform-Signature"), body})
		n := len(hits)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	f := newFixture(t)
	f.channel(t, "ch-hook", func(c *platform.AlertChannel) { c.Config = map[string]string{"url": srv.URL + "/alerts"} })
	opts := f.options(nil)
	opts.Senders = notify.Senders(notify.Options{AllowPrivate: true})
	e, _ := start(t, opts)
	publish(t, f.store, e, crashLoop("api"))
	list := settled(t, f.store, func(l []*platform.Notification) bool { return countBy(l)["firing/sent"] == 1 })

	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 2 || list[0].Attempts != 2 {
		t.Fatalf("receiver got %d requests, notification %+v; want 2 attempts", len(hits), list[0])
	}
	if gap := hits[1].at.Sub(hits[0].at); gap < 900*time.Millisecond {
		t.Fatalf("the retry came %s after the 429, want the second it asked for", gap)
	}
	for _, h := range hits {
		if h.delivery != list[0].ID || h.signature != notify.Sign("opened:sealed:ch-hook", h.body) {
			t.Fatalf("request delivery %q signature %q, want %s signed with the opened secret", h.delivery, h.signature, list[0].ID)
		}
	}
}
