package control

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/sqlstore"
)

type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fixedClock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

type recordingPublisher struct {
	events []platform.UsageEvent
	fail   error
}

func (p *recordingPublisher) PublishWait(_ context.Context, e platform.UsageEvent) error {
	p.events = append(p.events, e)
	return nil
}
func (p *recordingPublisher) Flush(context.Context) error { return p.fail }

// TestUsageMeter: instance-seconds per complete minute an instance ran, from its start,
// weighted by its release's size, for the caller's org; build-seconds once per build;
// a failed publish leaves the minutes to be emitted again with the same IDs; a restart
// catches up the last hour.
func TestUsageMeter(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateOrg(ctx, &platform.Org{Name: "globex"}))
	must(st.CreateNamespace(ctx, &platform.Namespace{Name: "shop", Org: "globex"}))
	b := &platform.Build{ID: "b-1", Namespace: "shop", Service: "api", Source: platform.Source{Kind: platform.SourceArchive, Archive: "sha256-x"}}
	r := &platform.Release{ID: "r-1", Namespace: "shop", Service: "api", BuildID: b.ID, Replicas: 1, Size: platform.SizeMedium}
	must(st.Deploy(ctx, b, r))

	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	started := t0.Add(-90 * time.Second) // 9:58:30
	finished := t0.Add(-20 * time.Second)
	bstart := finished.Add(-61*time.Second - 500*time.Millisecond)
	b.Status, b.StartedAt, b.FinishedAt = platform.BuildSucceeded, &bstart, &finished
	must(st.UpdateBuild(ctx, b))
	must(st.ReplaceInstances(ctx, "shop", "api", "eu", []*platform.Instance{
		{ID: "i-1", Namespace: "shop", Service: "api", ReleaseID: r.ID, State: platform.InstanceRunning, StartedAt: started},
		{ID: "i-2", Namespace: "shop", Service: "api", ReleaseID: r.ID, State: platform.InstanceCrashLoop, StartedAt: started},
	}))

	clock := &fixedClock{now: t0.Add(30 * time.Second)}
	pub := &recordingPublisher{}
	p := &Plane{store: st, logger: slog.New(slog.DiscardHandler), opts: Options{Clock: clock, LocalRegion: "local"}}
	m := &usageMeter{p: p, pub: pub, sizes: map[string]platform.Size{}}
	show := func() []string {
		var out []string
		for _, e := range pub.events {
			if err := e.Validate(); err != nil {
				t.Fatalf("event %+v: %v", e, err)
			}
			out = append(out, fmt.Sprintf("%s %s %s/%s@%s %s %s=%d", e.ID, e.Org, e.Namespace, e.Service, e.Region, e.Time.Format("15:04:05"), e.Meter, e.Quantity))
		}
		pub.events = nil
		return out
	}

	// The first run catches up: 9:58 (30 s ran), 9:59 (60 s), medium weighs 5; the
	// build, 61.5 s, counts 62.
	pub.fail = fmt.Errorf("stream unreachable")
	if err := m.run(ctx); err == nil {
		t.Fatal("run hid the publisher's failure")
	}
	first := show()
	want := []string{
		fmt.Sprintf("inst/eu/i-1/%d globex shop/api@eu 09:58:00 instance_seconds=150", t0.Add(-2*time.Minute).Unix()),
		fmt.Sprintf("inst/eu/i-1/%d globex shop/api@eu 09:59:00 instance_seconds=300", t0.Add(-time.Minute).Unix()),
		"build/b-1 globex shop/api@local 09:59:40 build_seconds=62",
	}
	if !slices.Equal(first, want) {
		t.Fatalf("first run\n got %q\nwant %q", first, want)
	}
	pub.fail = nil
	if err := m.run(ctx); err != nil {
		t.Fatal(err)
	}
	if again := show(); !slices.Equal(again, want) {
		t.Fatalf("after a failed publish\n got %q\nwant the same events %q", again, want)
	}
	// A minute later: the 10:00 minute only (the build ended before it).
	clock.set(t0.Add(90 * time.Second))
	if err := m.run(ctx); err != nil {
		t.Fatal(err)
	}
	got := show()
	want = []string{fmt.Sprintf("inst/eu/i-1/%d globex shop/api@eu 10:00:00 instance_seconds=300", t0.Unix())}
	if !slices.Equal(got, want) {
		t.Fatalf("next minute\n got %q\nwant %q", got, want)
	}
	// Nothing new within the same minute.
	if err := m.run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := show(); len(got) != 0 {
		t.Fatalf("a second run in the same minute emitted %q", got)
	}
}
