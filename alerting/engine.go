package alerting

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"
	"golang.org/x/time/rate"

	"github.com/micro/platform"
	"github.com/micro/platform/alerting/notify"
)

// Store is what the engine reads and writes: alerting's own state and configuration,
// the namespaces (for their organisation), services, and the usage metric rules read.
type Store interface {
	platform.AlertStore
	GetNamespace(ctx context.Context, name string) (*platform.Namespace, error)
	ListNamespaces(ctx context.Context) ([]*platform.Namespace, error)
	ListServices(ctx context.Context, namespace string) ([]*platform.Service, error)
	GetService(ctx context.Context, namespace, name string) (*platform.Service, error)
	ListRequestUsage(ctx context.Context, namespace, service string, from, to time.Time) ([]*platform.RequestUsage, error)
	ListResourceUsage(ctx context.Context, namespace, service string, from, to time.Time) ([]*platform.ResourceUsage, error)
}

// EventLog is how the engine reads events: every namespace's, after an ID, in ID order.
type EventLog interface {
	ListEventsAfter(ctx context.Context, afterID int64, limit int) ([]*platform.Event, error)
}

// Options configure an Engine. Zero values take the defaults named.
type Options struct {
	Store Store
	// Events is the event log the engine tails; nil means Store.
	Events EventLog
	// Senders deliver notifications, by channel kind (notify.Senders).
	Senders map[string]notify.Sender
	// Open opens a channel's sealed secret (internal/seal's Box.Open); nil passes the
	// stored value as it is.
	Open func(sealed string) (string, error)
	// PublicURL is the platform's address, for links to the dashboard in messages.
	PublicURL string
	Clock     platform.Clock
	Logger    *slog.Logger

	// Poll is how often the event log and the outbox are read when nothing wakes the
	// engine (default 250 ms).
	Poll time.Duration
	// Tick is how often repeats and clearing alerts are looked at (default 5 s).
	Tick time.Duration
	// MetricInterval is how often metric rules are evaluated (default 15 s).
	MetricInterval time.Duration
	// Settle is how long a crash_loop recovery must last to resolve it (default 1 min).
	Settle time.Duration

	// Retention is how long the history keeps notifications that are done (sent, dead
	// or silenced); default 30 days. They are pruned hourly.
	Retention time.Duration

	// MaxAttempts is how many times a notification is tried before it is dead
	// (default 8).
	MaxAttempts int
	// Backoff makes the schedule of a notification's retries; the delay before attempt
	// n+1 is its n-th Next. Default: exponential from 1 s with 20% jitter, capped at
	// 10 min. A Backoff that stops ends the notification dead.
	Backoff func() retry.Backoff
	// RateLimit and RateBurst limit sends per channel (default 1/s, burst 10).
	RateLimit rate.Limit
	RateBurst int
	// SendTimeout bounds one send (default 10 s).
	SendTimeout time.Duration
	// Lease is how long a claimed notification is held before another dispatcher may
	// claim it (default 3 × SendTimeout; at least SendTimeout + 6 s, the time to send
	// and record). It is how long a notification whose send a crash interrupted waits
	// to be sent again.
	Lease time.Duration
}

// Defaults.
const (
	defaultPoll           = 250 * time.Millisecond
	defaultTick           = 5 * time.Second
	defaultMetricInterval = 15 * time.Second
	defaultSettle         = time.Minute
	defaultMaxAttempts    = 8
	defaultSendTimeout    = 10 * time.Second
	defaultRetention      = 30 * 24 * time.Hour
	pruneInterval         = time.Hour
	// eventCursor names the engine's cursor in the event log.
	eventCursor = "alerting.events"
	// eventBatch is how many events one transaction takes at most.
	eventBatch = 200
)

// DefaultBackoff is exponential from 1 s with 20% jitter, capped at 10 minutes.
func DefaultBackoff() retry.Backoff {
	return retry.WithCappedDuration(10*time.Minute, retry.WithJitterPercent(20, retry.NewExponential(time.Second)))
}

func (o Options) withDefaults() Options {
	if o.Events == nil {
		o.Events = o.Store
	}
	if o.Clock == nil {
		o.Clock = platform.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Poll <= 0 {
		o.Poll = defaultPoll
	}
	if o.Tick <= 0 {
		o.Tick = defaultTick
	}
	if o.MetricInterval <= 0 {
		o.MetricInterval = defaultMetricInterval
	}
	if o.Settle <= 0 {
		o.Settle = defaultSettle
	}
	if o.Retention <= 0 {
		o.Retention = defaultRetention
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = defaultMaxAttempts
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 1
	}
	if o.RateBurst <= 0 {
		o.RateBurst = 10
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = defaultSendTimeout
	}
	if o.Lease <= 0 {
		o.Lease = 3 * o.SendTimeout
	}
	// A send starts only with time left in the lease to finish and record it.
	o.Lease = max(o.Lease, o.SendTimeout+recordTimeout+time.Second)
	return o
}

// Engine evaluates alert rules and delivers notifications. Start runs it; Wake tells it
// that events were appended.
type Engine struct {
	opts  Options
	log   *slog.Logger
	owner string // the lease owner of this engine's claims

	wake chan struct{} // events were appended
	kick chan struct{} // notifications were enqueued
	wg   sync.WaitGroup

	cursor int64 // the event log position committed last; the event loop's own

	nsMu  sync.Mutex
	nsOrg map[string]string // namespace → organisation (names never change hands)

	disp *dispatcher
}

// New returns an engine; Start runs it.
func New(opts Options) *Engine {
	opts = opts.withDefaults()
	e := &Engine{
		opts:  opts,
		log:   opts.Logger.With("component", "alerting"),
		owner: platform.NewID("alerting"),
		wake:  make(chan struct{}, 1),
		kick:  make(chan struct{}, 1),
		nsOrg: map[string]string{},
	}
	e.disp = newDispatcher(e)
	return e
}

// Start runs the engine until ctx ends: the event loop, the ticker of repeats and
// clearing, metric evaluation and the dispatcher. It reads the event cursor first and
// returns its error, if any; Wait waits for everything to stop.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.loadCursor(ctx); err != nil {
		return err
	}
	loops := []func(context.Context){e.eventLoop, e.tickLoop, e.metricLoop, e.disp.loop, e.pruneLoop}
	for _, loop := range loops {
		e.wg.Go(func() { loop(ctx) })
	}
	return nil
}

// SetPublicURL sets Options.PublicURL, for a caller that learns its address only once
// it listens; call it before Start.
func (e *Engine) SetPublicURL(u string) { e.opts.PublicURL = u }

// Wait returns once every goroutine of the engine has stopped, after Start's context
// ended.
func (e *Engine) Wait() { e.wg.Wait() }

// Wake tells the engine that events were appended, so it reads them now rather than at
// its next poll. The control plane calls it after each event it publishes; it never
// blocks.
func (e *Engine) Wake() { signal(e.wake) }

// Kick tells the engine that notifications were enqueued outside it (a test
// notification), so that the dispatcher claims them at once.
func (e *Engine) Kick() { signal(e.kick) }

// signal sends on a one-slot channel unless a signal is already waiting.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// now is the engine's clock in UTC.
func (e *Engine) now() time.Time { return e.opts.Clock.Now().UTC() }

// orgOf returns the organisation of namespace ns; ENOTFOUND if it is gone.
func (e *Engine) orgOf(ctx context.Context, ns string) (string, error) {
	e.nsMu.Lock()
	org, ok := e.nsOrg[ns]
	e.nsMu.Unlock()
	if ok {
		return org, nil
	}
	n, err := e.opts.Store.GetNamespace(ctx, ns)
	if err != nil {
		return "", err
	}
	org = n.Org
	if org == "" {
		org = platform.DefaultOrg
	}
	e.nsMu.Lock()
	e.nsOrg[ns] = org
	e.nsMu.Unlock()
	return org, nil
}

// every runs fn now and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
