package storetest

import (
	"testing"
	"time"

	"github.com/micro/platform"
)

// testReopen writes one of everything, closes the store, opens it again on the same
// storage and reads it all back.
func testReopen(t *testing.T, h *harness) {
	s, closeS, reopen := h.openWithReopen(t)
	ctx := t.Context()
	mustNamespace(t, s, "acme")
	b, r := deploy(t, s, "acme", "api", "")
	must(t, s.ReplaceInstances(ctx, "acme", "api", "local", []*platform.Instance{{ID: "i-1", ReleaseID: r.ID, State: platform.InstanceRunning}}))
	event := &platform.Event{Namespace: "acme", Service: "api", Region: "local", Type: platform.EventReleaseCreated,
		Data: map[string]string{"version": "v1"}}
	must(t, s.AppendEvent(ctx, event))
	expires := testTime.Add(time.Hour).Truncate(time.Microsecond)
	token := &platform.Token{ID: "t-1", Name: "ci", Hash: "hash-1", Namespaces: []string{"acme"}, ExpiresAt: &expires}
	must(t, s.CreateToken(ctx, token))
	must(t, s.AddRequestUsage(ctx, []*platform.RequestUsage{{Namespace: "acme", Service: "api", Minute: testTime, Requests: 7}}))
	closeS()

	s2, closeS2 := reopen()
	defer closeS2()

	gotB, err := s2.GetBuild(ctx, b.ID)
	must(t, err)
	sameJSON(t, "build", gotB, b)
	gotR, err := s2.GetRelease(ctx, r.ID)
	must(t, err)
	sameJSON(t, "release", gotR, r)
	svc, err := s2.GetService(ctx, "acme", "api")
	must(t, err)
	if svc.DesiredRelease != r.ID {
		t.Fatalf("DesiredRelease = %q, want %q", svc.DesiredRelease, r.ID)
	}
	instances, err := s2.ListInstances(ctx, "acme", "api")
	must(t, err)
	if len(instances) != 1 || instances[0].ID != "i-1" || instances[0].Region != "local" {
		t.Fatalf("instances = %+v, want i-1 in local", instances)
	}
	events, err := s2.ListEvents(ctx, platform.EventFilter{Namespace: "acme"})
	must(t, err)
	sameJSON(t, "events", events, []*platform.Event{event})
	gotToken, err := s2.GetTokenByHash(ctx, "hash-1")
	must(t, err)
	sameJSON(t, "token", gotToken, token)
	usage, err := s2.ListRequestUsage(ctx, "acme", "", testTime.Add(-time.Hour), testTime.Add(time.Hour))
	must(t, err)
	if len(usage) != 1 || usage[0].Requests != 7 {
		t.Fatalf("usage = %+v, want one row of 7 requests", usage)
	}

	// Sequences continue where they were: versions and event IDs never repeat.
	_, r2 := deploy(t, s2, "acme", "api", "")
	if r2.Version != "v2" {
		t.Fatalf("version after reopen = %q, want v2", r2.Version)
	}
	next := &platform.Event{Namespace: "acme", Type: platform.EventReleaseCreated}
	must(t, s2.AppendEvent(ctx, next))
	if next.ID <= event.ID {
		t.Fatalf("event ID after reopen = %d, want more than %d", next.ID, event.ID)
	}
}
