package control

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	platform "github.com/micro/platform"
)

// hub appends events to the store and fans them out to live subscribers in this process.
type hub struct {
	store  platform.EventStore
	logger *slog.Logger
	alerts Alerts // woken after an append; nil: none

	mu        sync.Mutex
	subs      map[*subscriber]struct{}
	listeners []func(*platform.Event)
}

type subscriber struct {
	filter platform.EventFilter
	ch     chan *platform.Event
}

func newHub(store platform.EventStore, logger *slog.Logger, alerts Alerts) *hub {
	return &hub{store: store, logger: logger, alerts: alerts, subs: make(map[*subscriber]struct{})}
}

// Publish stores e and delivers it to matching subscribers. A failure to store is logged,
// not returned: an event is a report of something that already happened.
func (h *hub) Publish(ctx context.Context, e *platform.Event) {
	if err := h.store.AppendEvent(context.WithoutCancel(ctx), e); err != nil {
		h.logger.Error("append event", "type", e.Type, "namespace", e.Namespace, "err", err)
		return
	}
	h.logger.Info("event", "type", e.Type, "namespace", e.Namespace, "service", e.Service, "message", e.Message)
	if h.alerts != nil {
		h.alerts.Wake()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, f := range h.listeners {
		f(e)
	}
	for s := range h.subs {
		if !matches(s.filter, e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			// A subscriber that does not keep up is cut off rather than slowing every
			// publisher; the client resumes from its last event ID.
			delete(h.subs, s)
			close(s.ch)
		}
	}
}

func matches(f platform.EventFilter, e *platform.Event) bool {
	if f.Namespace != e.Namespace {
		return false
	}
	if f.Service != "" && f.Service != e.Service {
		return false
	}
	if f.Type != "" {
		if strings.HasSuffix(f.Type, ".") {
			return strings.HasPrefix(e.Type, f.Type)
		}
		return f.Type == e.Type
	}
	return true
}

// Subscribe replays stored events after f.AfterID, then sends live ones until ctx ends.
// The channel closes when ctx ends or the subscriber falls too far behind.
func (h *hub) Subscribe(ctx context.Context, f platform.EventFilter) (<-chan *platform.Event, error) {
	s := &subscriber{filter: f, ch: make(chan *platform.Event, 256)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()

	// Subscribe before reading the store so nothing falls between the two; the ID check
	// below drops what both delivered.
	replay := f
	replay.Limit = 1000
	past, err := h.store.ListEvents(ctx, replay)
	if err != nil {
		h.unsubscribe(s)
		return nil, err
	}
	out := make(chan *platform.Event, 16)
	go func() {
		defer close(out)
		defer h.unsubscribe(s)
		last := f.AfterID
		send := func(e *platform.Event) bool {
			if e.ID <= last {
				return true
			}
			last = e.ID
			select {
			case out <- e:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for _, e := range past {
			if !send(e) {
				return
			}
		}
		for {
			select {
			case e, ok := <-s.ch:
				if !ok || !send(e) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// OnEvent calls f with every event of every namespace this process publishes, after it
// is stored. f must not block (the MCP endpoint schedules a refresh of a namespace's
// tools).
func (p *Plane) OnEvent(f func(*platform.Event)) {
	p.events.mu.Lock()
	defer p.events.mu.Unlock()
	p.events.listeners = append(p.events.listeners, f)
}
