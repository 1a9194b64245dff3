package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// fakePublisher records the usage events handed to it; flushes fail while fail is set.
type fakePublisher struct {
	mu     sync.Mutex
	events []platform.UsageEvent
	fail   error
}

func (p *fakePublisher) PublishWait(_ context.Context, e platform.UsageEvent) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
	return nil
}

func (p *fakePublisher) Flush(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fail
}

// TestBilledUsage: a flush makes one event per namespace, service, minute and meter, for
// the organisation of the caller's token and the gateway's region; events of a failed
// publish are re-emitted with the same IDs; unauthorised calls, unknown services and
// nothing new make no events.
func TestBilledUsage(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{}
	tg := newTestGateway(t, func(o *Options) { o.Metering, o.Region = pub, "eu" })
	ctx := context.Background()

	var egress int64
	for range 3 {
		w := tg.do(req{headers: acme()})
		if w.Code != 200 {
			t.Fatalf("call: %d %s", w.Code, w.Body)
		}
		egress += int64(w.Body.Len())
	}
	tg.do(req{headers: map[string]string{HeaderNamespace: "acme"}}) // unauthenticated
	pub.fail = errors.New("stream unreachable")
	if err := tg.Flush(ctx); err == nil || !strings.Contains(err.Error(), "stream unreachable") {
		t.Fatalf("Flush = %v, want the publisher's failure", err)
	}
	first := slices.Clone(pub.events)
	pub.fail = nil
	tg.clock.Advance(time.Minute)
	tg.do(req{headers: acme()})
	if err := tg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tg.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	m0 := time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)
	ev := func(e platform.UsageEvent) string {
		return fmt.Sprintf("%s %s/%s@%s %s %s=%d", e.Org, e.Namespace, e.Service, e.Region, e.Time.Format("15:04"), e.Meter, e.Quantity)
	}
	var got []string
	for _, e := range pub.events {
		got = append(got, ev(e))
	}
	per := egress / 3
	want := []string{
		// the first flush, whose publish failed …
		"default acme/helloworld@eu 05:06 requests=3",
		fmt.Sprintf("default acme/helloworld@eu 05:06 egress_bytes=%d", egress),
		// … again, with the same IDs, and the next minute's
		"default acme/helloworld@eu 05:06 requests=3",
		fmt.Sprintf("default acme/helloworld@eu 05:06 egress_bytes=%d", egress),
		"default acme/helloworld@eu 05:07 requests=1",
		fmt.Sprintf("default acme/helloworld@eu 05:07 egress_bytes=%d", per),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
	if len(first) != 2 || pub.events[2].ID != first[0].ID || pub.events[3].ID != first[1].ID {
		t.Fatalf("re-emitted events changed IDs: %v then %v", first, pub.events[2:4])
	}
	ids := map[string]bool{}
	for _, e := range pub.events[2:] {
		if ids[e.ID] {
			t.Fatalf("two events share ID %s", e.ID)
		}
		ids[e.ID] = true
		if err := e.Validate(); err != nil {
			t.Fatalf("event %s: %v", e.ID, err)
		}
	}
	if !m0.Equal(pub.events[0].Time) {
		t.Fatalf("event time %s, want the minute %s", pub.events[0].Time, m0)
	}
}

type fixedLimits map[string]int

func (l fixedLimits) RequestsPerSecond(org string) int { return l[org] }

// TestRateLimit: an organisation's calls beyond its plan's requests per second are
// refused with quota_exceeded (429) and not billed; another organisation's are not
// affected; a second later there is room again.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	pub := &fakePublisher{}
	tg := newTestGateway(t, func(o *Options) { o.Metering, o.Limits = pub, fixedLimits{platform.DefaultOrg: 3} })
	var codes []int
	for range 5 {
		w := tg.do(req{headers: acme()})
		codes = append(codes, w.Code)
		if w.Code == 429 {
			if e := errorOf(t, w); e.Code != platform.EQUOTA || !strings.Contains(e.Message, "3 requests per second") || e.Hint == "" {
				t.Fatalf("refusal %+v", e)
			}
		}
	}
	if !slices.Equal(codes, []int{200, 200, 200, 429, 429}) {
		t.Fatalf("statuses %v, want three served and two refused", codes)
	}
	if err := tg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(pub.events) == 0 || pub.events[0].Meter != platform.MeterRequests || pub.events[0].Quantity != 3 {
		t.Fatalf("billed %+v, want the 3 served requests", pub.events)
	}
	time.Sleep(time.Second)
	if w := tg.do(req{headers: acme()}); w.Code != 200 {
		t.Fatalf("a second later: %d %s", w.Code, w.Body)
	}
}
