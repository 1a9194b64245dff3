package control_test

import (
	"fmt"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// billingNow is the clock of the billing tests: 20 November 2026, 15:30 UTC.
var billingNow = time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)

// commitUsage counts events into the store's rollups, as the metering folder does.
func (h *accounts) commitUsage(events ...*platform.UsageEvent) {
	h.t.Helper()
	ctx := h.t.Context()
	for i, e := range events {
		if e.ID == "" {
			e.ID = fmt.Sprintf("ev-%s-%d-%d", e.Namespace, e.Time.Unix(), i)
		}
	}
	off, err := h.store.UsageOffset(ctx, "test")
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.store.CommitUsage(ctx, &platform.UsageCommit{Stream: "test", From: off, To: off + 1, Events: events}); err != nil {
		h.t.Fatal(err)
	}
}

// ev is a usage event of org's namespace ns.
func ev(org, ns, svc string, m platform.Meter, at time.Time, q int64) *platform.UsageEvent {
	return &platform.UsageEvent{Org: org, Namespace: ns, Service: svc, Region: "local", Meter: m, Quantity: q, Time: at}
}

// TestUsage: the caller's organisation's usage of the current period, summed per
// namespace, service, region and meter (or hourly), of the namespaces its token
// reaches; never another organisation's.
func TestUsage(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	h.clock.now = billingNow
	h.namespace("acme", "globex")
	other := h.orgOwner("initech", "ian")
	if _, err := h.plane.CreateNamespace(other, "initech-prod"); err != nil {
		t.Fatal(err)
	}
	def := platform.DefaultOrg
	h.commitUsage(
		ev(def, "acme", "api", platform.MeterRequests, billingNow.Add(-2*time.Hour), 1000),
		ev(def, "acme", "api", platform.MeterRequests, billingNow.Add(-time.Hour), 2500),
		ev(def, "acme", "api", platform.MeterInstanceSeconds, billingNow.Add(-time.Hour), 3600),
		ev(def, "globex", "worker", platform.MeterRequests, billingNow.Add(-time.Hour), 7),
		// Last month's: outside the default window.
		ev(def, "acme", "api", platform.MeterRequests, time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC), 99),
		// A namespace deleted since, still billed.
		ev(def, "gone", "old", platform.MeterLogBytes, billingNow.Add(-3*time.Hour), 512),
		ev("initech", "initech-prod", "api", platform.MeterRequests, billingNow.Add(-time.Hour), 1_000_000),
	)

	got, err := h.plane.Usage(h.owner, platform.UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	want := []platform.UsageRollup{
		{Org: def, Namespace: "acme", Service: "api", Region: "local", Meter: platform.MeterInstanceSeconds, Hour: start, Quantity: 3600},
		{Org: def, Namespace: "acme", Service: "api", Region: "local", Meter: platform.MeterRequests, Hour: start, Quantity: 3500},
		{Org: def, Namespace: "globex", Service: "worker", Region: "local", Meter: platform.MeterRequests, Hour: start, Quantity: 7},
		{Org: def, Namespace: "gone", Service: "old", Region: "local", Meter: platform.MeterLogBytes, Hour: start, Quantity: 512},
	}
	checkUsage(t, "the period so far", got, want)

	hourly, err := h.plane.Usage(h.owner, platform.UsageQuery{Namespace: "acme", Meter: platform.MeterRequests, Hourly: true,
		From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	checkUsage(t, "hourly requests of acme since October", hourly, []platform.UsageRollup{
		{Org: def, Namespace: "acme", Service: "api", Region: "local", Meter: platform.MeterRequests, Hour: time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC), Quantity: 99},
		{Org: def, Namespace: "acme", Service: "api", Region: "local", Meter: platform.MeterRequests, Hour: billingNow.Add(-2 * time.Hour).Truncate(time.Hour), Quantity: 1000},
		{Org: def, Namespace: "acme", Service: "api", Region: "local", Meter: platform.MeterRequests, Hour: billingNow.Add(-time.Hour).Truncate(time.Hour), Quantity: 2500},
	})

	// A window ending at a period's start is that whole previous period by default.
	oct, err := h.plane.Usage(h.owner, platform.UsageQuery{To: start})
	if err != nil {
		t.Fatal(err)
	}
	checkUsage(t, "October", oct, []platform.UsageRollup{
		{Org: def, Namespace: "acme", Service: "api", Region: "local", Meter: platform.MeterRequests, Hour: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Quantity: 99},
	})

	gone, err := h.plane.Usage(h.owner, platform.UsageQuery{Namespace: "gone"})
	if err != nil || len(gone) != 1 || gone[0].Quantity != 512 {
		t.Fatalf("usage of a deleted namespace = %+v, %v; want its 512 log bytes", gone, err)
	}

	// Tenancy: another organisation's namespace is not found, and its usage never shows.
	_, err = h.plane.Usage(h.owner, platform.UsageQuery{Namespace: "initech-prod"})
	wantErr(t, err, platform.ENOTFOUND, `namespace "initech-prod" not found`)
	_, err = h.plane.Usage(h.owner, platform.UsageQuery{Namespace: "nope"})
	wantErr(t, err, platform.ENOTFOUND, `namespace "nope" not found`)
	theirs, err := h.plane.Usage(other, platform.UsageQuery{})
	if err != nil || len(theirs) != 1 || theirs[0].Org != "initech" || theirs[0].Quantity != 1_000_000 {
		t.Fatalf("initech's usage = %+v, %v", theirs, err)
	}

	// Any member reads it; a narrowed token sees its namespaces only.
	viewer, _ := h.member("vera", platform.RoleViewer)
	if v, err := h.plane.Usage(viewer, platform.UsageQuery{}); err != nil || len(v) != len(want) {
		t.Fatalf("a viewer reads %d rows, %v; want %d", len(v), err, len(want))
	}
	_, narrowSecret, err := h.plane.CreateToken(h.owner, platform.CreateTokenRequest{Name: "ci", Role: platform.RoleViewer, Namespaces: []string{"globex"}})
	if err != nil {
		t.Fatal(err)
	}
	narrow := h.as(narrowSecret)
	nv, err := h.plane.Usage(narrow, platform.UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	checkUsage(t, "a token narrowed to globex", nv, want[2:3])
	_, err = h.plane.Usage(narrow, platform.UsageQuery{Namespace: "acme"})
	wantErr(t, err, platform.EFORBIDDEN, "may not read namespace acme")

	// Bad queries say what is wrong.
	for _, tt := range []struct {
		q    platform.UsageQuery
		want string
	}{
		{platform.UsageQuery{Meter: "cpu"}, `meter "cpu" is not one of instance_seconds, requests`},
		{platform.UsageQuery{From: billingNow, To: billingNow}, "from must be before to"},
		{platform.UsageQuery{From: billingNow.Add(time.Hour)}, "from must be before to"},
		{platform.UsageQuery{From: billingNow.AddDate(-1, 0, -2)}, "longer than 366 days"},
	} {
		_, err := h.plane.Usage(h.owner, tt.q)
		wantErr(t, err, platform.EINVALID, tt.want)
	}
	if _, err := h.plane.Usage(h.owner, platform.UsageQuery{From: billingNow.AddDate(-1, 0, 0)}); err != nil {
		t.Fatalf("a year's window: %v", err)
	}
}

func checkUsage(t *testing.T, what string, got, want []platform.UsageRollup) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range want {
		if !got[i].Hour.Equal(want[i].Hour) {
			t.Errorf("%s: row %d hour %s, want %s", what, i, got[i].Hour, want[i].Hour)
		}
		got[i].Hour = want[i].Hour
		if got[i] != want[i] {
			t.Errorf("%s: row %d = %+v, want %+v", what, i, got[i], want[i])
		}
	}
}
