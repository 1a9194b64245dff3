package alerting

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-retry"
	"golang.org/x/time/rate"

	"github.com/micro/platform"
	"github.com/micro/platform/alerting/notify"
	"github.com/micro/platform/sqlstore"
)

// publicURL is the platform's address in the tests' messages.
const publicURL = "https://platform.example"

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sent is one Send a fakeSender got.
type sent struct {
	Channel notify.Channel
	Message notify.Message
	At      time.Time
}

// fakeSender records what it is asked to send; fail, when set, decides the outcome of
// each send (n counts the sends to the channel, from 1).
type fakeSender struct {
	mu   sync.Mutex
	got  []sent
	fail func(ctx context.Context, n int, ch notify.Channel) error
	sig  chan sent // receives every send, when set
}

func (f *fakeSender) Send(ctx context.Context, ch notify.Channel, m notify.Message) error {
	f.mu.Lock()
	s := sent{Channel: ch, Message: m, At: time.Now()}
	f.got = append(f.got, s)
	n := 0
	for _, g := range f.got {
		if g.Channel.ID == ch.ID {
			n++
		}
	}
	fail := f.fail
	f.mu.Unlock()
	if f.sig != nil {
		f.sig <- s
	}
	if fail != nil {
		return fail(ctx, n, ch)
	}
	return nil
}

// sends returns what the sender got for channel ch ("" every channel).
func (f *fakeSender) sends(ch string) []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sent
	for _, s := range f.got {
		if ch == "" || s.Channel.ID == ch {
			out = append(out, s)
		}
	}
	return out
}

// fixture is a store with namespace acme (default org) and its services api and web.
type fixture struct {
	path  string
	store *sqlstore.Store
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "platform.db")
	f := &fixture{path: path, store: mustOpen(t, path)}
	ctx := context.Background()
	must(t, f.store.CreateNamespace(ctx, &platform.Namespace{Name: "acme"}))
	for _, svc := range []string{"api", "web"} {
		b := &platform.Build{ID: platform.NewID("b"), Namespace: "acme", Service: svc,
			Source: platform.Source{Kind: platform.SourceArchive, Archive: "sha256-x"}}
		r := &platform.Release{ID: platform.NewID("r"), Namespace: "acme", Service: svc, BuildID: b.ID, Replicas: 1}
		must(t, f.store.Deploy(ctx, b, r))
	}
	return f
}

func mustOpen(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// channel stores a channel of the default org of kind webhook (the fake senders
// do not care) with the given routing.
func (f *fixture) channel(t testing.TB, id string, edit func(c *platform.AlertChannel)) *platform.AlertChannel {
	t.Helper()
	c := &platform.AlertChannel{ID: id, Org: platform.DefaultOrg, Name: id, Kind: platform.ChannelWebhook,
		Config: map[string]string{"url": "https://hooks.example/" + id}, Secret: "sealed:" + id}
	if edit != nil {
		edit(c)
	}
	must(t, f.store.CreateAlertChannel(context.Background(), c))
	return c
}

// options returns engine options on the fixture's store with sender for every channel
// kind, short intervals, and a test's retry schedule.
func (f *fixture) options(sender notify.Sender) Options {
	senders := map[string]notify.Sender{}
	for _, k := range platform.ChannelKinds {
		senders[k] = sender
	}
	return Options{
		Store:     f.store,
		Senders:   senders,
		Open:      func(sealed string) (string, error) { return "opened:" + sealed, nil },
		PublicURL: publicURL,
		Poll:      20 * time.Millisecond,
		Tick:      20 * time.Millisecond,
		Settle:    100 * time.Millisecond,
		RateLimit: rate.Inf,
		Backoff: func() retry.Backoff {
			return retry.WithJitterPercent(10, retry.NewExponential(20*time.Millisecond))
		},
		SendTimeout: 2 * time.Second,
	}
}

// start starts an engine with opts, stopped when t ends (or by the returned function).
func start(t testing.TB, opts Options) (*Engine, func()) {
	t.Helper()
	e := New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	must(t, e.Start(ctx))
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			e.Wait()
		})
	}
	t.Cleanup(stop)
	return e, stop
}

// publish appends an event and wakes the engine, as the control plane does.
func publish(t testing.TB, s platform.Store, e *Engine, ev *platform.Event) *platform.Event {
	t.Helper()
	must(t, s.AppendEvent(context.Background(), ev))
	if e != nil {
		e.Wake()
	}
	return ev
}

// crashLoop is the event of service svc's instance crash-looping in region fra1.
func crashLoop(svc string) *platform.Event {
	return &platform.Event{Namespace: "acme", Service: svc, Region: "fra1", Type: platform.EventInstanceCrashLoop,
		Message: "restarted 5 times, exiting too often; last: exit status 2: panic: boom"}
}

// eventOf returns an event of type typ about acme's service svc.
func eventOf(typ, svc string) *platform.Event {
	return &platform.Event{Namespace: "acme", Service: svc, Region: "fra1", Type: typ, Message: typ + " of " + svc}
}

// waitFor polls cond until it holds, failing t after timeout.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// caughtUp waits until the engine has committed the cursor past every event appended.
func caughtUp(t testing.TB, s *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, "the engine to read every event", 10*time.Second, func() bool {
		last, err := s.ListEventsAfter(ctx, 0, 100000)
		must(t, err)
		pos, _, err := s.AlertCursor(ctx, eventCursor)
		must(t, err)
		return len(last) == 0 || pos >= last[len(last)-1].ID
	})
}

// settled waits until no notification is pending or leased: every one is sent, dead,
// silenced, or failed and waiting.
func settled(t testing.TB, s *sqlstore.Store, want func([]*platform.Notification) bool) []*platform.Notification {
	t.Helper()
	var list []*platform.Notification
	waitFor(t, "notifications to settle", 10*time.Second, func() bool {
		var err error
		list, err = s.ListNotifications(context.Background(), platform.NotificationFilter{Limit: 10000})
		must(t, err)
		return want(list)
	})
	return list
}

// countBy counts notifications by kind and status, "firing/sent" etc.
func countBy(list []*platform.Notification) map[string]int {
	m := map[string]int{}
	for _, n := range list {
		m[string(n.Kind)+"/"+string(n.Status)]++
	}
	return m
}

// errRetryable is a sender's error worth retrying.
var errRetryable = errors.New("503 Service Unavailable")
