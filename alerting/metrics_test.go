package alerting

import (
	"context"
	"testing"
	"time"

	"github.com/micro/platform"
)

// usage is a minute of n requests to acme's service svc, each taking latency, errs of
// them failing.
func usage(svc string, minute time.Time, n, errs int64, latency time.Duration) *platform.RequestUsage {
	buckets := make([]int64, platform.LatencyBucketCount)
	buckets[platform.LatencyBucket(latency)] = n
	return &platform.RequestUsage{Namespace: "acme", Service: svc, Minute: minute, Requests: n, Errors: errs,
		LatencyMicros: n * latency.Microseconds(), MaxLatencyMicros: latency.Microseconds(), LatencyBuckets: buckets}
}

// metricEngine is an engine driven by hand on a fake clock: no goroutines.
func metricEngine(t *testing.T, f *fixture) (*Engine, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	opts := f.options(&fakeSender{})
	opts.Clock = clock
	return New(opts), clock
}

// alertState returns the state of the alert of key, "" when there is none.
func alertState(t *testing.T, f *fixture, key string) platform.AlertState {
	t.Helper()
	a, err := f.store.GetAlertByKey(context.Background(), key)
	if platform.IsNotFound(err) {
		return ""
	}
	must(t, err)
	return a.State
}

// notes returns the notifications enqueued, counted by kind and status.
func notes(t *testing.T, f *fixture) map[string]int {
	t.Helper()
	list, err := f.store.ListNotifications(context.Background(), platform.NotificationFilter{Limit: 1000})
	must(t, err)
	return countBy(list)
}

func TestMetricRuleFor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	ctx := t.Context()
	must(t, f.store.CreateAlertRule(ctx, &platform.AlertRule{ID: "ar-slow", Org: platform.DefaultOrg, Name: "slow",
		Kind: platform.AlertP99Latency, Op: ">", Threshold: 100, Window: time.Minute, For: 2 * time.Minute,
		Severity: platform.SeverityWarning}))
	e, clock := metricEngine(t, f)
	api, web := "acme/ar-slow/api", "acme/ar-slow/web"
	minute := func() time.Time { return clock.Now().Truncate(time.Minute).Add(-time.Minute) } // the window's minute
	add := func(rows ...*platform.RequestUsage) { must(t, f.store.AddRequestUsage(ctx, rows)) }

	steps := []struct {
		name     string
		usage    func() []*platform.RequestUsage
		api, web platform.AlertState
		notes    map[string]int
	}{
		{"slow: pending", func() []*platform.RequestUsage {
			return []*platform.RequestUsage{usage("api", minute(), 100, 0, 500*time.Millisecond), usage("web", minute(), 100, 0, time.Millisecond)}
		}, platform.AlertPending, "", map[string]int{}},
		{"slow for a minute: still pending", func() []*platform.RequestUsage {
			return []*platform.RequestUsage{usage("api", minute(), 100, 0, 500*time.Millisecond)}
		}, platform.AlertPending, "", map[string]int{}},
		{"slow for two minutes: firing", func() []*platform.RequestUsage {
			return []*platform.RequestUsage{usage("api", minute(), 100, 0, 500*time.Millisecond), usage("web", minute(), 10, 0, time.Second)}
		}, platform.AlertFiring, platform.AlertPending, map[string]int{"firing/pending": 1}},
		{"fast again: resolved; web without requests resolves quietly", func() []*platform.RequestUsage {
			return []*platform.RequestUsage{usage("api", minute(), 100, 0, 2*time.Millisecond)}
		}, platform.AlertResolved, platform.AlertResolved, map[string]int{"firing/pending": 1, "resolved/pending": 1}},
		{"slow again: a new incident, pending", func() []*platform.RequestUsage {
			return []*platform.RequestUsage{usage("api", minute(), 100, 0, time.Second)}
		}, platform.AlertPending, platform.AlertResolved, map[string]int{"firing/pending": 1, "resolved/pending": 1}},
	}
	for i, st := range steps {
		if i > 0 {
			clock.Add(time.Minute)
		}
		add(st.usage()...)
		e.evaluateMetrics(ctx)
		e.evaluateMetrics(ctx) // evaluating again changes nothing
		if got := alertState(t, f, api); got != st.api {
			t.Fatalf("%s: api alert %q, want %q", st.name, got, st.api)
		}
		if got := alertState(t, f, web); got != st.web {
			t.Fatalf("%s: web alert %q, want %q", st.name, got, st.web)
		}
		if got := notes(t, f); len(got) != len(st.notes) || got["firing/pending"] != st.notes["firing/pending"] ||
			got["resolved/pending"] != st.notes["resolved/pending"] {
			t.Fatalf("%s: notifications %v, want %v", st.name, got, st.notes)
		}
	}
	list, err := f.store.ListNotifications(ctx, platform.NotificationFilter{Limit: 10})
	must(t, err)
	firing := list[len(list)-1]
	if firing.Summary != "p99 latency of api is 500 ms, above 100 ms" || firing.Severity != platform.SeverityWarning ||
		firing.Reason != `rule "slow": p99 latency > 100 ms over 1m0s for 2m0s` {
		t.Fatalf("firing notification = %+v", firing)
	}
}

func TestMetricRuleDeletedResolves(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.channel(t, "ch-1", nil)
	ctx := t.Context()
	must(t, f.store.CreateAlertRule(ctx, &platform.AlertRule{ID: "ar-err", Org: platform.DefaultOrg, Namespace: "acme",
		Service: "api", Name: "errors", Kind: platform.AlertErrorRate, Op: ">", Threshold: 5, Severity: platform.SeverityCritical}))
	e, clock := metricEngine(t, f)
	m := clock.Now().Truncate(time.Minute).Add(-time.Minute)
	must(t, f.store.AddRequestUsage(ctx, []*platform.RequestUsage{usage("api", m, 100, 20, time.Millisecond)}))
	e.evaluateMetrics(ctx)
	if got := alertState(t, f, "acme/ar-err/api"); got != platform.AlertFiring {
		t.Fatalf("with For 0 the alert is %q, want firing at once", got)
	}
	must(t, f.store.DeleteAlertRule(ctx, "ar-err"))
	e.evaluateMetrics(ctx)
	if got := alertState(t, f, "acme/ar-err/api"); got != platform.AlertResolved {
		t.Fatalf("after the rule was deleted the alert is %q, want resolved", got)
	}
	if got := notes(t, f); got["firing/pending"] != 1 || got["resolved/pending"] != 1 {
		t.Fatalf("notifications %v, want one firing, one resolved", got)
	}
}

func TestMeasure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	e, clock := metricEngine(t, f)
	now := clock.Now()
	m1 := now.Truncate(time.Minute).Add(-time.Minute)
	m2 := m1.Add(-time.Minute)
	must(t, f.store.AddRequestUsage(ctx, []*platform.RequestUsage{
		usage("api", m1, 90, 9, 10*time.Millisecond), usage("api", m2, 30, 3, 300*time.Millisecond),
		usage("api", now, 1000, 1000, time.Second), // the current minute is left out
	}))
	must(t, f.store.PutResourceUsage(ctx, []*platform.ResourceUsage{
		{Namespace: "acme", Service: "api", Minute: m1, CPUMillicores: 500, MemoryBytes: 100 << 20},
		{Namespace: "acme", Service: "api", Minute: m2, CPUMillicores: 250, MemoryBytes: 300 << 20},
	}))
	tests := []struct {
		kind platform.AlertKind
		api  float64
		web  *float64
	}{
		{platform.AlertErrorRate, 10, nil},
		{platform.AlertP99Latency, 300, nil}, // the bucket of 512 ms, capped by the slowest request,
		{platform.AlertRequestRate, 1, ptr(0.0)},
		{platform.AlertCPU, 0.375, nil},
		{platform.AlertMemory, 300 << 20, nil},
	}
	for _, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			r := &platform.AlertRule{Kind: tc.kind, Window: 2 * time.Minute}
			got, err := e.measure(ctx, r, "acme", []string{"api", "web"}, now)
			must(t, err)
			if got["api"] != tc.api {
				t.Fatalf("api = %v, want %v", got["api"], tc.api)
			}
			w, ok := got["web"]
			if (tc.web == nil) != !ok || (ok && w != *tc.web) {
				t.Fatalf("web = %v (%v), want %v", w, ok, tc.web)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
