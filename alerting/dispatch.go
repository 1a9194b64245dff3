package alerting

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/micro/platform"
	"github.com/micro/platform/alerting/notify"
)

// Bounds of the dispatcher's memory.
const (
	// maxInFlight is how many claimed notifications the dispatcher holds at most.
	maxInFlight = 256
	// maxQueue is how many a channel's worker holds at most; more are handed back to
	// the outbox, so that a slow channel cannot take every slot.
	maxQueue = 32
	// recordTimeout bounds recording an outcome, which is done even while stopping.
	recordTimeout = 5 * time.Second
	// maxErrorLen bounds the error kept in a notification's history.
	maxErrorLen = 1000
)

// dispatcher delivers the outbox: it claims due notifications and gives each to its
// channel's worker, one goroutine per channel with notifications queued.
type dispatcher struct {
	e *Engine

	mu       sync.Mutex
	queues   map[string][]claim // channel ID → its worker's queue; present while it runs
	limiters map[string]*rate.Limiter
	inFlight map[string]bool // IDs of the notifications claimed and not finished
}

// claim is a notification this dispatcher holds, and the last moment (on the
// monotonic clock) at which a send may start with enough of the lease left to record
// it.
type claim struct {
	n        *platform.Notification
	deadline time.Time
}

func newDispatcher(e *Engine) *dispatcher {
	return &dispatcher{e: e, queues: map[string][]claim{}, limiters: map[string]*rate.Limiter{}, inFlight: map[string]bool{}}
}

// loop claims due notifications whenever some are enqueued, and every Poll (retries
// fall due, other engines' leases expire).
func (d *dispatcher) loop(ctx context.Context) {
	t := time.NewTicker(d.e.opts.Poll)
	defer t.Stop()
	for {
		d.claim(ctx)
		select {
		case <-ctx.Done():
			return
		case <-d.e.kick:
		case <-t.C:
		}
	}
}

// claim leases as many due notifications as there is room for and queues them.
func (d *dispatcher) claim(ctx context.Context) {
	d.mu.Lock()
	room := maxInFlight - len(d.inFlight)
	d.mu.Unlock()
	if room <= 0 {
		return
	}
	o := d.e.opts
	list, err := o.Store.ClaimNotifications(ctx, d.e.owner, d.e.now(), o.Lease, room)
	if err != nil {
		d.e.logErr(ctx, "claim notifications", err)
		return
	}
	deadline := time.Now().Add(o.Lease - o.SendTimeout - recordTimeout)
	for _, n := range list {
		d.push(ctx, claim{n: n, deadline: deadline})
	}
}

// push queues c on its channel's worker, starting the worker if it is idle. A
// notification already held (claimed again by this dispatcher) is left to its first
// claim; one beyond the channel's queue is handed back.
func (d *dispatcher) push(ctx context.Context, c claim) {
	ch := c.n.ChannelID
	d.mu.Lock()
	if d.inFlight[c.n.ID] {
		d.mu.Unlock()
		return
	}
	q, running := d.queues[ch]
	if len(q) >= maxQueue {
		d.mu.Unlock()
		d.handBack(ctx, c.n, d.e.now().Add(time.Second))
		return
	}
	d.inFlight[c.n.ID] = true
	d.queues[ch] = append(q, c)
	d.mu.Unlock()
	if !running {
		d.e.wg.Go(func() { d.work(ctx, ch) })
	}
}

// work delivers a channel's queue in order until it is empty.
func (d *dispatcher) work(ctx context.Context, ch string) {
	for {
		d.mu.Lock()
		q := d.queues[ch]
		if len(q) == 0 || ctx.Err() != nil {
			for _, c := range q {
				delete(d.inFlight, c.n.ID)
			}
			delete(d.queues, ch)
			d.mu.Unlock()
			// Stopping hands the rest back, due now, for the next engine.
			for _, c := range q {
				d.handBack(ctx, c.n, d.e.now())
			}
			return
		}
		c := q[0]
		d.queues[ch] = q[1:]
		d.mu.Unlock()

		d.deliver(ctx, c)

		d.mu.Lock()
		delete(d.inFlight, c.n.ID)
		d.mu.Unlock()
	}
}

// limiter returns the rate limiter of channel ch.
func (d *dispatcher) limiter(ch string) *rate.Limiter {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.limiters[ch]
	if !ok {
		l = rate.NewLimiter(d.e.opts.RateLimit, d.e.opts.RateBurst)
		d.limiters[ch] = l
	}
	return l
}

// deliver waits for the channel's rate limit, sends c's notification and records the
// outcome. A send that could not start before c's deadline is handed back to the outbox
// instead, due when the limiter would have let it go.
func (d *dispatcher) deliver(ctx context.Context, c claim) {
	n, o := c.n, d.e.opts
	r := d.limiter(n.ChannelID).Reserve()
	wait := r.Delay()
	if time.Now().Add(wait).After(c.deadline) {
		r.Cancel()
		d.handBack(ctx, n, d.e.now().Add(wait))
		return
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			r.Cancel()
			d.handBack(ctx, n, d.e.now())
			return
		case <-t.C:
		}
	}

	ch, err := o.Store.GetAlertChannel(ctx, n.ChannelID)
	switch {
	case platform.IsNotFound(err):
		d.record(ctx, n, notify.Permanently(err))
		return
	case err != nil:
		d.e.logErr(ctx, "read alert channel", err, "channel", n.ChannelID)
		d.handBack(ctx, n, d.e.now().Add(time.Second))
		return
	}
	sender := o.Senders[ch.Kind]
	if sender == nil {
		d.record(ctx, n, notify.Permanently(platform.Errorf(platform.EINVALID, "no sender for channel kind %q", ch.Kind)))
		return
	}
	secret := ch.Secret
	if secret != "" && o.Open != nil {
		if secret, err = o.Open(ch.Secret); err != nil {
			// The message says no more: the sealed value is the channel's secret.
			d.record(ctx, n, notify.Permanently(platform.Errorf(platform.EINTERNAL, "the channel's secret cannot be opened")))
			return
		}
	}
	sctx, cancel := context.WithTimeout(ctx, o.SendTimeout)
	err = sender.Send(sctx, notify.Channel{ID: ch.ID, Kind: ch.Kind, Config: ch.Config, Secret: secret}, d.message(n))
	cancel()
	if err != nil && ctx.Err() != nil {
		// Stopping cut the send short: not an attempt. Handed back, due now: the
		// receiver may have got it, and drops the copy by its ID.
		d.handBack(ctx, n, d.e.now())
		return
	}
	d.record(ctx, n, err)
}

// message is what notification n says, for its sender.
func (d *dispatcher) message(n *platform.Notification) notify.Message {
	return notify.Message{
		Kind: notify.Kind(n.Kind), Key: n.Key, ID: n.ID, Org: n.Org, Severity: string(n.Severity), Rule: n.Rule,
		Namespace: n.Namespace, Service: n.Service, Region: n.Region, Summary: n.Summary, Reason: n.Reason,
		Since: n.Since, URL: d.e.dashboardURL(n.Namespace, n.Service),
	}
}

// dashboardURL links to the dashboard page of a service, or of a namespace for an
// alert about no service: {PublicURL}/ui/n/{ns}/s/{svc}. "" without a PublicURL.
func (e *Engine) dashboardURL(ns, svc string) string {
	if e.opts.PublicURL == "" || ns == "" {
		return ""
	}
	u := strings.TrimSuffix(e.opts.PublicURL, "/") + "/ui/n/" + url.PathEscape(ns)
	if svc != "" {
		u += "/s/" + url.PathEscape(svc)
	}
	return u
}

// record stores the outcome of an attempt: sent; dead for a permanent error or the last
// attempt; otherwise failed and due again after the backoff (or the delay the provider
// asked for). It records even while the engine stops, so that a message sent is not
// sent again.
func (d *dispatcher) record(ctx context.Context, n *platform.Notification, sendErr error) {
	o := d.e.opts
	now := d.e.now()
	n.Attempts++
	switch {
	case sendErr == nil:
		n.Status, n.SentAt, n.LastError = platform.NotificationSent, &now, ""
	case notify.Permanent(sendErr) || n.Attempts >= o.MaxAttempts:
		n.Status, n.LastError = platform.NotificationDead, errorText(sendErr)
	default:
		delay, ok := d.backoff(n.Attempts)
		if after, asked := notify.RetryAfter(sendErr); asked && after > 0 {
			delay = after
		}
		n.Status, n.LastError = platform.NotificationFailed, errorText(sendErr)
		if !ok {
			n.Status = platform.NotificationDead
		}
		n.NextAttemptAt = now.Add(delay)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := o.Store.UpdateNotification(rctx, n); err != nil {
		d.e.log.Error("record notification", "notification", n.ID, "status", n.Status, "err", err)
		return
	}
	if n.Status == platform.NotificationDead {
		d.e.log.Warn("notification dead", "notification", n.ID, "channel", n.ChannelID, "attempts", n.Attempts, "err", n.LastError)
	}
}

// handBack releases n's lease without counting an attempt, due again at due.
func (d *dispatcher) handBack(ctx context.Context, n *platform.Notification, due time.Time) {
	n.NextAttemptAt = due
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := d.e.opts.Store.UpdateNotification(rctx, n); err != nil {
		d.e.log.Error("hand notification back", "notification", n.ID, "err", err)
	}
}

// backoff returns the delay after the attempts-th failed attempt: the attempts-th Next
// of a fresh Backoff, so that the schedule survives a restart. false when the Backoff
// stops.
func (d *dispatcher) backoff(attempts int) (time.Duration, bool) {
	b := d.e.opts.Backoff()
	var delay time.Duration
	for range attempts {
		var stop bool
		if delay, stop = b.Next(); stop {
			return 0, false
		}
	}
	return delay, true
}

// errorText is err's message, bounded, for the history.
func errorText(err error) string {
	s := err.Error()
	if len(s) > maxErrorLen {
		s = s[:maxErrorLen] + "…"
	}
	return s
}
