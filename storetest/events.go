package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/micro/platform"
)

func testEvents(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	appendEvent := func(ns, svc, typ string) *platform.Event {
		e := &platform.Event{Namespace: ns, Service: svc, Type: typ, Message: typ + " of " + svc}
		must(t, s.AppendEvent(ctx, e))
		return e
	}
	// Events need no namespace row: namespace.deleted is appended after the delete.
	all := []*platform.Event{
		appendEvent("acme", "", platform.EventNamespaceCreated),   // 0
		appendEvent("acme", "api", platform.EventBuildStarted),    // 1
		appendEvent("globex", "api", platform.EventBuildStarted),  // other namespace
		appendEvent("acme", "api", platform.EventBuildFailed),     // 3
		appendEvent("acme", "web", platform.EventBuildSucceeded),  // 4
		appendEvent("acme", "web", platform.EventReleaseCreated),  // 5
		appendEvent("acme", "api", platform.EventInstanceCrashed), // 6
	}

	t.Run("append sets increasing IDs and the time", func(t *testing.T) {
		for i := 1; i < len(all); i++ {
			if all[i].ID <= all[i-1].ID {
				t.Fatalf("event IDs %d then %d, want increasing", all[i-1].ID, all[i].ID)
			}
		}
		if d := time.Since(all[0].Time); d < 0 || d > time.Minute {
			t.Fatalf("Time = %v, want about now", all[0].Time)
		}
	})
	t.Run("append keeps a given time and data", func(t *testing.T) {
		e := &platform.Event{Namespace: "data", Type: platform.EventInstanceCrashed, Message: "exited",
			Data: map[string]string{"exit_code": "2", "instance": "i-1"}, Time: testTime}
		must(t, s.AppendEvent(ctx, e))
		sameTime(t, "written back Time", e.Time, testTime)
		got, err := s.ListEvents(ctx, platform.EventFilter{Namespace: "data"})
		must(t, err)
		sameJSON(t, "stored event", got, []*platform.Event{e})
	})
	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			name   string
			filter platform.EventFilter
			want   []*platform.Event
		}{
			{"namespace", platform.EventFilter{Namespace: "acme"}, []*platform.Event{all[0], all[1], all[3], all[4], all[5], all[6]}},
			{"service", platform.EventFilter{Namespace: "acme", Service: "api"}, []*platform.Event{all[1], all[3], all[6]}},
			{"exact type", platform.EventFilter{Namespace: "acme", Type: platform.EventBuildFailed}, []*platform.Event{all[3]}},
			{"type prefix", platform.EventFilter{Namespace: "acme", Type: "build."}, []*platform.Event{all[1], all[3], all[4]}},
			{"type without dot is exact", platform.EventFilter{Namespace: "acme", Type: "build"}, []*platform.Event{}},
			{"prefix and service", platform.EventFilter{Namespace: "acme", Service: "web", Type: "build."}, []*platform.Event{all[4]}},
			{"after", platform.EventFilter{Namespace: "acme", AfterID: all[3].ID}, []*platform.Event{all[4], all[5], all[6]}},
			{"after with limit takes the oldest", platform.EventFilter{Namespace: "acme", AfterID: all[1].ID, Limit: 2}, []*platform.Event{all[3], all[4]}},
			{"limit takes the newest", platform.EventFilter{Namespace: "acme", Limit: 2}, []*platform.Event{all[5], all[6]}},
			{"after the last", platform.EventFilter{Namespace: "acme", AfterID: all[6].ID}, []*platform.Event{}},
			{"other namespace", platform.EventFilter{Namespace: "globex"}, []*platform.Event{all[2]}},
			{"unknown namespace", platform.EventFilter{Namespace: "nobody"}, []*platform.Event{}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListEvents(ctx, tc.filter)
				must(t, err)
				sameJSON(t, "events", got, tc.want)
			})
		}
	})
	t.Run("region", func(t *testing.T) {
		inRegion := func(svc, region, typ string) *platform.Event {
			e := &platform.Event{Namespace: "placed", Service: svc, Region: region, Type: typ}
			must(t, s.AppendEvent(ctx, e))
			return e
		}
		events := []*platform.Event{
			inRegion("api", "lon1", platform.EventInstanceStarted), // 0
			inRegion("api", "fra1", platform.EventInstanceStarted), // 1
			inRegion("api", "", platform.EventReleaseCreated),      // 2
			inRegion("web", "lon1", platform.EventInstanceCrashed), // 3
			inRegion("api", "lon1", platform.EventRegionLost),      // 4
		}
		tests := []struct {
			name   string
			filter platform.EventFilter
			want   []*platform.Event
		}{
			{"none is every region", platform.EventFilter{Namespace: "placed"}, events},
			{"one region", platform.EventFilter{Namespace: "placed", Region: "lon1"}, []*platform.Event{events[0], events[3], events[4]}},
			{"region and service", platform.EventFilter{Namespace: "placed", Service: "api", Region: "lon1"}, []*platform.Event{events[0], events[4]}},
			{"region and type", platform.EventFilter{Namespace: "placed", Region: "lon1", Type: "instance."}, []*platform.Event{events[0], events[3]}},
			{"exact match", platform.EventFilter{Namespace: "placed", Region: "lon"}, []*platform.Event{}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListEvents(ctx, tc.filter)
				must(t, err)
				sameJSON(t, "events", got, tc.want)
			})
		}
	})
	t.Run("invalid", func(t *testing.T) {
		_, err := s.ListEvents(ctx, platform.EventFilter{})
		wantCode(t, err, platform.EINVALID)
		wantCode(t, s.AppendEvent(ctx, &platform.Event{Namespace: "acme"}), platform.EINVALID)
		wantCode(t, s.AppendEvent(ctx, &platform.Event{Type: platform.EventBuildFailed}), platform.EINVALID)
	})
}

// testEventPaging appends more events than the default limit and pages through them.
func testEventPaging(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	const n = 130
	// A client pages from an event it has seen; AfterID 0 would mean "the newest" instead.
	first := &platform.Event{Namespace: "busy", Type: platform.EventNamespaceCreated}
	must(t, s.AppendEvent(ctx, first))
	var ids []int64
	for i := range n {
		e := &platform.Event{Namespace: "busy", Type: platform.EventInstanceStarted, Message: fmt.Sprint(i)}
		must(t, s.AppendEvent(ctx, e))
		ids = append(ids, e.ID)
	}
	idsOf := func(list []*platform.Event) []int64 {
		out := []int64{}
		for _, e := range list {
			out = append(out, e.ID)
		}
		return out
	}

	t.Run("default limit is the newest 100", func(t *testing.T) {
		got, err := s.ListEvents(ctx, platform.EventFilter{Namespace: "busy"})
		must(t, err)
		sameJSON(t, "IDs", idsOf(got), ids[n-100:])
	})
	t.Run("paging after IDs sees each event once", func(t *testing.T) {
		var seen []int64
		after := first.ID
		for {
			got, err := s.ListEvents(ctx, platform.EventFilter{Namespace: "busy", AfterID: after, Limit: 7})
			must(t, err)
			if len(got) == 0 {
				break
			}
			if len(got) > 7 {
				t.Fatalf("page of %d events, want at most 7", len(got))
			}
			seen = append(seen, idsOf(got)...)
			after = got[len(got)-1].ID
		}
		sameJSON(t, "paged IDs", seen, ids)
	})
}

// testEventStream follows events with AfterID, as `platform events --follow` does, while
// several goroutines append: the follower must see every event exactly once, which holds
// only if appends become visible in ID order.
func testEventStream(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	start := &platform.Event{Namespace: "acme", Type: platform.EventNamespaceCreated}
	must(t, s.AppendEvent(ctx, start))
	const writers, each = 4, 40
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		appended []int64
	)
	errc := make(chan error, writers*each)
	for range writers {
		wg.Go(func() {
			for range each {
				e := &platform.Event{Namespace: "acme", Type: platform.EventInstanceStarted}
				err := s.AppendEvent(ctx, e)
				errc <- err
				mu.Lock()
				appended = append(appended, e.ID)
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var seen []int64
	after := start.ID
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		got, err := s.ListEvents(ctx, platform.EventFilter{Namespace: "acme", AfterID: after, Limit: 1000})
		must(t, err)
		for _, e := range got {
			seen = append(seen, e.ID)
			after = e.ID
		}
		if finished && len(got) == 0 {
			break
		}
	}
	close(errc)
	for err := range errc {
		must(t, err)
	}
	slices.Sort(appended)
	sameJSON(t, "IDs seen by the follower", seen, appended)
}
