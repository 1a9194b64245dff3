package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/micro/platform"
)

// testMetering runs the parts of the MeteringStore suite, each on a store of its own.
func testMetering(t *testing.T, h *harness) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"Rollups", testUsageRollups},
		{"Dedupe", testUsageDedupe},
		{"Offsets", testUsageOffsets},
		{"ConcurrentCommits", testUsageConcurrentCommits},
		{"Prune", testUsagePrune},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
}

// meteringHour is the hour the metering tests' events fall in.
var meteringHour = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// usageEvent returns an event of acme's api in local at meteringHour plus at.
func usageEvent(id string, meter platform.Meter, qty int64, at time.Duration) *platform.UsageEvent {
	return &platform.UsageEvent{ID: id, Org: "o-1", Namespace: "acme", Service: "api", Region: "local",
		Meter: meter, Quantity: qty, Time: meteringHour.Add(at)}
}

// mustCommitUsage commits and checks what the commit counted.
func mustCommitUsage(t *testing.T, s platform.Store, c *platform.UsageCommit, want platform.UsageCommitResult) {
	t.Helper()
	got, err := s.CommitUsage(t.Context(), c)
	must(t, err)
	if got != want {
		t.Fatalf("CommitUsage(%s %d→%d) = %+v, want %+v", c.Stream, c.From, c.To, got, want)
	}
}

// rollups lists the rollups f selects.
func rollups(t *testing.T, s platform.Store, f platform.UsageRollupFilter) []*platform.UsageRollup {
	t.Helper()
	list, err := s.ListUsageRollups(t.Context(), f)
	must(t, err)
	return list
}

// wantOffset fails t unless stream is at want.
func wantOffset(t *testing.T, s platform.Store, stream string, want uint64) {
	t.Helper()
	got, err := s.UsageOffset(t.Context(), stream)
	must(t, err)
	if got != want {
		t.Fatalf("UsageOffset(%s) = %d, want %d", stream, got, want)
	}
}

// testUsageRollups: events add up into one rollup per org, namespace, service, region,
// meter and hour (in UTC, whatever the events' zone), and the filters select them.
func testUsageRollups(t *testing.T, h *harness) {
	s := h.fresh(t)
	h1 := meteringHour.Add(time.Hour)
	other := func(e *platform.UsageEvent, edit func(*platform.UsageEvent)) *platform.UsageEvent {
		edit(e)
		return e
	}
	events := []*platform.UsageEvent{
		usageEvent("e-1", platform.MeterRequests, 3, 0),
		usageEvent("e-2", platform.MeterRequests, 4, 59*time.Minute+59*time.Second), // the same hour
		usageEvent("e-3", platform.MeterRequests, 5, time.Hour),                     // the next one
		usageEvent("e-4", platform.MeterEgressBytes, 1000, time.Minute),
		other(usageEvent("e-5", platform.MeterRequests, 1, 0), func(e *platform.UsageEvent) { e.Service = "web" }),
		other(usageEvent("e-6", platform.MeterRequests, 2, 0), func(e *platform.UsageEvent) { e.Region = "eu" }),
		other(usageEvent("e-7", platform.MeterRequests, 6, 0), func(e *platform.UsageEvent) { e.Org, e.Namespace = "o-2", "globex" }),
		// Another zone: the hour is the UTC one.
		other(usageEvent("e-8", platform.MeterRequests, 10, 0), func(e *platform.UsageEvent) {
			e.Time = e.Time.Add(30 * time.Minute).In(time.FixedZone("X", 5*3600+1800))
		}),
		other(usageEvent("e-9", platform.MeterBuildSeconds, 0, 0), func(e *platform.UsageEvent) { e.Service = "" }),
	}
	mustCommitUsage(t, s, &platform.UsageCommit{Stream: "usage", From: 0, To: 9, Events: events},
		platform.UsageCommitResult{Counted: 9})
	wantOffset(t, s, "usage", 9)
	// A later commit adds to the same rows.
	mustCommitUsage(t, s, &platform.UsageCommit{Stream: "usage", From: 9, To: 10, Events: []*platform.UsageEvent{
		usageEvent("e-10", platform.MeterRequests, 100, 0),
	}}, platform.UsageCommitResult{Counted: 1})

	roll := func(org, ns, svc, region string, m platform.Meter, hour time.Time, q int64) *platform.UsageRollup {
		return &platform.UsageRollup{Org: org, Namespace: ns, Service: svc, Region: region, Meter: m, Hour: hour, Quantity: q}
	}
	apiH0 := roll("o-1", "acme", "api", "local", platform.MeterRequests, meteringHour, 3+4+10+100)
	builds := roll("o-1", "acme", "", "local", platform.MeterBuildSeconds, meteringHour, 0)
	egress := roll("o-1", "acme", "api", "local", platform.MeterEgressBytes, meteringHour, 1000)
	eu := roll("o-1", "acme", "api", "eu", platform.MeterRequests, meteringHour, 2)
	web := roll("o-1", "acme", "web", "local", platform.MeterRequests, meteringHour, 1)
	globex := roll("o-2", "globex", "api", "local", platform.MeterRequests, meteringHour, 6)
	apiH1 := roll("o-1", "acme", "api", "local", platform.MeterRequests, h1, 5)
	all := []*platform.UsageRollup{builds, eu, egress, apiH0, web, globex, apiH1}
	tests := []struct {
		name   string
		filter platform.UsageRollupFilter
		want   []*platform.UsageRollup
	}{
		{"all", platform.UsageRollupFilter{}, all},
		{"org", platform.UsageRollupFilter{Org: "o-1"}, []*platform.UsageRollup{builds, eu, egress, apiH0, web, apiH1}},
		{"namespace", platform.UsageRollupFilter{Namespace: "globex"}, []*platform.UsageRollup{globex}},
		{"service", platform.UsageRollupFilter{Org: "o-1", Service: "web"}, []*platform.UsageRollup{web}},
		{"region", platform.UsageRollupFilter{Region: "eu"}, []*platform.UsageRollup{eu}},
		{"meter", platform.UsageRollupFilter{Meter: platform.MeterEgressBytes}, []*platform.UsageRollup{egress}},
		{"from", platform.UsageRollupFilter{Org: "o-1", From: h1}, []*platform.UsageRollup{apiH1}},
		{"to", platform.UsageRollupFilter{Namespace: "acme", Meter: platform.MeterRequests, To: h1},
			[]*platform.UsageRollup{eu, apiH0, web}},
		{"from and to", platform.UsageRollupFilter{From: meteringHour, To: h1.Add(time.Hour)}, all},
		{"an empty range", platform.UsageRollupFilter{From: h1.Add(time.Hour)}, []*platform.UsageRollup{}},
		{"no match", platform.UsageRollupFilter{Org: "o-3"}, []*platform.UsageRollup{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sameJSON(t, "rollups", rollups(t, s, tc.filter), tc.want)
		})
	}
	t.Run("the same as SumUsage", func(t *testing.T) {
		sum := platform.SumUsage(append(events, usageEvent("e-10", platform.MeterRequests, 100, 0)))
		sameJSON(t, "rollups", rollups(t, s, platform.UsageRollupFilter{}), sum)
	})
}

// testUsageDedupe: an event counts once however often it is committed, in one commit
// or many, on one stream or another; an ID of another hour is another event.
func testUsageDedupe(t *testing.T, h *harness) {
	s := h.fresh(t)
	e1 := usageEvent("e-1", platform.MeterRequests, 1, 0)
	e2 := usageEvent("e-2", platform.MeterRequests, 2, 0)
	mustCommitUsage(t, s, &platform.UsageCommit{Stream: "a", From: 0, To: 3, Events: []*platform.UsageEvent{e1, e2, e1}},
		platform.UsageCommitResult{Counted: 2, Duplicates: 1})
	// Redelivered later, alone or with a new event; on another stream too.
	e3 := usageEvent("e-3", platform.MeterRequests, 4, time.Minute)
	mustCommitUsage(t, s, &platform.UsageCommit{Stream: "a", From: 3, To: 5, Events: []*platform.UsageEvent{e2, e3}},
		platform.UsageCommitResult{Counted: 1, Duplicates: 1})
	mustCommitUsage(t, s, &platform.UsageCommit{Stream: "b", From: 0, To: 2, Events: []*platform.UsageEvent{e1, e3}},
		platform.UsageCommitResult{Duplicates: 2})
	// A commit of nothing but duplicates (or of no event at all) still moves the stream.
	mustCommitUsage(t, s, &platform.UsageCommit{Stream: "a", From: 5, To: 6}, platform.UsageCommitResult{})
	wantOffset(t, s, "a", 6)
	wantOffset(t, s, "b", 2)
	// The same ID in another hour is another event (emitters never reuse one).
	mustCommitUsage(t, s, &platform.UsageCommit{Stream: "a", From: 6, To: 7, Events: []*platform.UsageEvent{
		usageEvent("e-1", platform.MeterRequests, 8, time.Hour),
	}}, platform.UsageCommitResult{Counted: 1})

	got := rollups(t, s, platform.UsageRollupFilter{Org: "o-1"})
	sameJSON(t, "rollups", got, []*platform.UsageRollup{
		{Org: "o-1", Namespace: "acme", Service: "api", Region: "local", Meter: platform.MeterRequests, Hour: meteringHour, Quantity: 1 + 2 + 4},
		{Org: "o-1", Namespace: "acme", Service: "api", Region: "local", Meter: platform.MeterRequests, Hour: meteringHour.Add(time.Hour), Quantity: 8},
	})

	t.Run("many in one commit", func(t *testing.T) {
		// More events than one statement writes, a third of them duplicates.
		s := h.fresh(t)
		var events []*platform.UsageEvent
		for i := range 1500 {
			events = append(events, usageEvent(fmt.Sprintf("m-%d", i%1000), platform.MeterRequests, int64(i%1000), 0))
		}
		mustCommitUsage(t, s, &platform.UsageCommit{Stream: "a", From: 0, To: 1500, Events: events[:1200]},
			platform.UsageCommitResult{Counted: 1000, Duplicates: 200})
		mustCommitUsage(t, s, &platform.UsageCommit{Stream: "a", From: 1500, To: 1501, Events: events[1200:]},
			platform.UsageCommitResult{Duplicates: 300})
		got := rollups(t, s, platform.UsageRollupFilter{})
		if len(got) != 1 || got[0].Quantity != 999*1000/2 {
			t.Fatalf("rollups = %+v, want one of %d", got, 999*1000/2)
		}
	})
}

// testUsageOffsets: a commit moves its stream by compare-and-set; one that does not
// start where the stream is writes nothing; invalid commits write nothing.
func testUsageOffsets(t *testing.T, h *harness) {
	s, closeS, reopen := h.openWithReopen(t)
	ctx := t.Context()
	wantOffset(t, s, "usage", 0)
	mustCommitUsage(t, s, &platform.UsageCommit{Stream: "usage", From: 0, To: 10, Events: []*platform.UsageEvent{
		usageEvent("e-1", platform.MeterRequests, 1, 0),
	}}, platform.UsageCommitResult{Counted: 1})
	stale := []*platform.UsageCommit{
		{Stream: "usage", From: 0, To: 12},  // as if never committed
		{Stream: "usage", From: 5, To: 12},  // behind
		{Stream: "usage", From: 11, To: 12}, // ahead
	}
	for _, c := range stale {
		c.Events = []*platform.UsageEvent{usageEvent("e-2", platform.MeterRequests, 1, 0)}
		_, err := s.CommitUsage(ctx, c)
		wantCode(t, err, platform.ECONFLICT)
	}
	bad := []struct {
		name string
		c    *platform.UsageCommit
	}{
		{"no stream", &platform.UsageCommit{From: 10, To: 11}},
		{"not forward", &platform.UsageCommit{Stream: "usage", From: 10, To: 10}},
		{"backwards", &platform.UsageCommit{Stream: "usage", From: 10, To: 9}},
		{"out of range", &platform.UsageCommit{Stream: "usage", From: 10, To: 1 << 63}},
		{"invalid event", &platform.UsageCommit{Stream: "usage", From: 10, To: 11, Events: []*platform.UsageEvent{
			usageEvent("e-2", platform.MeterRequests, 1, 0),
			{ID: "e-3", Org: "o-1", Namespace: "acme", Meter: "cpu", Quantity: -1, Time: meteringHour},
		}}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CommitUsage(ctx, tc.c)
			wantCode(t, err, platform.EINVALID)
		})
	}
	// Nothing of the refused commits was written: e-2 counts now.
	wantOffset(t, s, "usage", 10)
	mustCommitUsage(t, s, &platform.UsageCommit{Stream: "usage", From: 10, To: 12, Events: []*platform.UsageEvent{
		usageEvent("e-2", platform.MeterRequests, 1, 0),
	}}, platform.UsageCommitResult{Counted: 1})
	got := rollups(t, s, platform.UsageRollupFilter{})
	if len(got) != 1 || got[0].Quantity != 2 {
		t.Fatalf("rollups = %+v, want one of 2", got)
	}
	closeS()

	s2, closeS2 := reopen()
	defer closeS2()
	wantOffset(t, s2, "usage", 12)
	sameJSON(t, "rollups after reopen", rollups(t, s2, platform.UsageRollupFilter{}), got)
	// Remembered IDs survive too.
	mustCommitUsage(t, s2, &platform.UsageCommit{Stream: "usage", From: 12, To: 13, Events: []*platform.UsageEvent{
		usageEvent("e-1", platform.MeterRequests, 1, 0),
	}}, platform.UsageCommitResult{Duplicates: 1})
}

// testUsageConcurrentCommits: of many folders committing the same messages at once,
// exactly one succeeds; the others get ECONFLICT and count nothing. Folders of
// different streams committing the same events count each once.
func testUsageConcurrentCommits(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	const folders = 8
	var wg sync.WaitGroup
	errs := make([]error, folders)
	for i := range folders {
		wg.Go(func() {
			_, errs[i] = s.CommitUsage(ctx, &platform.UsageCommit{Stream: "usage", From: 0, To: 5, Events: []*platform.UsageEvent{
				usageEvent(fmt.Sprintf("f-%d", i), platform.MeterRequests, 1, 0),
			}})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case platform.ErrorCode(err) != platform.ECONFLICT:
			t.Fatalf("concurrent commit: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d commits of the same messages succeeded, want 1", won)
	}
	if got := rollups(t, s, platform.UsageRollupFilter{}); len(got) != 1 || got[0].Quantity != 1 {
		t.Fatalf("rollups = %+v, want one of 1", got)
	}

	// Streams in parallel, each with the same 200 events in batches of 20, while the
	// horizon is pruned (before the events' hour, so none is late).
	s = h.fresh(t)
	var events []*platform.UsageEvent
	for i := range 200 {
		events = append(events, usageEvent(fmt.Sprintf("p-%d", i), platform.MeterRequests, 1, time.Duration(i)*time.Second))
	}
	counted := make([]int, 4)
	for i := range counted {
		wg.Go(func() {
			stream := fmt.Sprintf("s-%d", i)
			for b := range 10 {
				res, err := s.CommitUsage(ctx, &platform.UsageCommit{Stream: stream, From: uint64(b * 20), To: uint64(b*20 + 20),
					Events: events[b*20 : b*20+20]})
				if err != nil {
					t.Errorf("stream %s: %v", stream, err)
					return
				}
				counted[i] += res.Counted
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			if _, err := s.PruneUsageEvents(ctx, meteringHour.Add(-time.Hour)); err != nil {
				t.Errorf("prune: %v", err)
			}
		}
	})
	wg.Wait()
	if total := counted[0] + counted[1] + counted[2] + counted[3]; total != 200 {
		t.Fatalf("streams counted %v = %d events, want 200", counted, total)
	}
	if got := rollups(t, s, platform.UsageRollupFilter{}); len(got) != 1 || got[0].Quantity != 200 {
		t.Fatalf("rollups = %+v, want one of 200", got)
	}
}

// testUsagePrune: pruning forgets the IDs of hours before the horizon and refuses
// events of those hours from then on, so that a duplicate never counts twice; the
// horizon never moves back.
func testUsagePrune(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	horizon, err := s.UsageHorizon(ctx)
	must(t, err)
	if !horizon.IsZero() {
		t.Fatalf("horizon of a new store = %v, want none", horizon)
	}
	h0, h1, h2 := meteringHour, meteringHour.Add(time.Hour), meteringHour.Add(2*time.Hour)
	mustCommitUsage(t, s, &platform.UsageCommit{Stream: "usage", From: 0, To: 3, Events: []*platform.UsageEvent{
		usageEvent("a", platform.MeterRequests, 1, 0),
		usageEvent("b", platform.MeterRequests, 2, 10*time.Minute),
		usageEvent("c", platform.MeterRequests, 4, time.Hour),
	}}, platform.UsageCommitResult{Counted: 3})

	// Pruning before h0 forgets nothing; before any time in h1, h0's IDs.
	forgotten, err := s.PruneUsageEvents(ctx, h0)
	must(t, err)
	if forgotten != 0 {
		t.Fatalf("prune before %v forgot %d, want 0", h0, forgotten)
	}
	forgotten, err = s.PruneUsageEvents(ctx, h1.Add(42*time.Minute))
	must(t, err)
	if forgotten != 2 {
		t.Fatalf("prune before %v forgot %d, want 2", h1, forgotten)
	}
	horizon, err = s.UsageHorizon(ctx)
	must(t, err)
	sameTime(t, "horizon", horizon, h1)
	// Never back.
	forgotten, err = s.PruneUsageEvents(ctx, h0)
	must(t, err)
	if forgotten != 0 {
		t.Fatalf("prune back to %v forgot %d, want 0", h0, forgotten)
	}
	horizon, err = s.UsageHorizon(ctx)
	must(t, err)
	sameTime(t, "horizon after a prune back", horizon, h1)

	// A duplicate of a forgotten hour is late: it counts nothing, nor does a new event
	// of that hour. Those of h1 are still remembered.
	mustCommitUsage(t, s, &platform.UsageCommit{Stream: "usage", From: 3, To: 7, Events: []*platform.UsageEvent{
		usageEvent("a", platform.MeterRequests, 1, 0),
		usageEvent("new-in-h0", platform.MeterRequests, 8, 59*time.Minute),
		usageEvent("c", platform.MeterRequests, 4, time.Hour),
		usageEvent("d", platform.MeterRequests, 16, time.Hour+time.Second),
	}}, platform.UsageCommitResult{Counted: 1, Duplicates: 1, Late: 2})
	sameJSON(t, "rollups", rollups(t, s, platform.UsageRollupFilter{}), []*platform.UsageRollup{
		{Org: "o-1", Namespace: "acme", Service: "api", Region: "local", Meter: platform.MeterRequests, Hour: h0, Quantity: 3},
		{Org: "o-1", Namespace: "acme", Service: "api", Region: "local", Meter: platform.MeterRequests, Hour: h1, Quantity: 20},
	})
	// The rollups stay; only IDs go.
	forgotten, err = s.PruneUsageEvents(ctx, h2.Add(time.Hour))
	must(t, err)
	if forgotten != 2 {
		t.Fatalf("prune before %v forgot %d, want 2", h2.Add(time.Hour), forgotten)
	}
	if got := rollups(t, s, platform.UsageRollupFilter{}); len(got) != 2 {
		t.Fatalf("rollups after pruning = %+v, want both", got)
	}
}
