package control_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
	"github.com/micro/platform/control"
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

// orgCreatedAt creates organisation org, created at created, with a local owner login,
// and returns a context with the owner's API token.
func (h *accounts) orgCreatedAt(org, login string, created time.Time) context.Context {
	h.t.Helper()
	ctx := h.t.Context()
	if err := h.store.CreateOrg(ctx, &platform.Org{Name: org, CreatedAt: created}); err != nil {
		h.t.Fatal(err)
	}
	u := &platform.User{ID: "u-" + login, Login: login, Source: platform.UserLocal}
	if err := h.store.CreateUser(ctx, u); err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.PutMembership(ctx, &platform.Membership{Org: org, UserID: u.ID, Role: platform.RoleOwner, Source: platform.MemberLocal}); err != nil {
		h.t.Fatal(err)
	}
	secret, _, err := h.plane.Directory().IssueToken(ctx, u.ID, org, platform.TokenAPI, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.as(secret)
}

// TestBillingOff: without plans, the plan and invoices say billing is not enabled and
// how to enable it; usage still answers.
func TestBillingOff(t *testing.T) {
	t.Parallel()
	h := newAccounts(t)
	_, err := h.plane.Plan(h.owner)
	wantErr(t, err, platform.EUNAVAILABLE, "billing is not enabled on this platform")
	if hint := platform.ErrorHint(err); !strings.Contains(hint, "PLATFORM_BILLING_ENABLED") || !strings.Contains(hint, "billing.enabled") {
		t.Errorf("hint %q does not say how to enable billing", hint)
	}
	_, err = h.plane.SetPlan(h.owner, "pro")
	wantErr(t, err, platform.EUNAVAILABLE, "billing is not enabled")
	_, err = h.plane.ListInvoices(h.owner)
	wantErr(t, err, platform.EUNAVAILABLE, "billing is not enabled")
	_, err = h.plane.GetInvoice(h.owner, "draft")
	wantErr(t, err, platform.EUNAVAILABLE, "billing is not enabled")
	if _, err := h.plane.Usage(h.owner, platform.UsageQuery{}); err != nil {
		t.Fatalf("usage without billing: %v", err)
	}
	// Refusals come first: a viewer learns it may not change the plan.
	viewer, _ := h.member("vera", platform.RoleViewer)
	_, err = h.plane.SetPlan(viewer, "pro")
	wantErr(t, err, platform.EFORBIDDEN, "billing.manage needs the admin role")
}

// TestPlanAndInvoices follows docs/billing.md's worked example: acme, created on
// 1 November 2026 and on the default plan (free) since, moves to pro on 11 November at
// 10:30 UTC. Its draft on the 20th prorates pro's base amount to then; its final
// November invoice is the document's 15.00 USD; the December draft comes first.
func TestPlanAndInvoices(t *testing.T) {
	t.Parallel()
	plans := billing.DefaultPlans()
	h := newAccounts(t, func(o *control.Options) { o.Plans = &plans })
	ctx := t.Context()
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 11, day, hour, minute, 0, 0, time.UTC) }
	h.clock.now = at(3, 9, 0)
	acme := h.orgCreatedAt("acme", "ada", nov)
	if _, err := h.plane.CreateNamespace(acme, "shop"); err != nil {
		t.Fatal(err)
	}

	v, err := h.plane.Plan(acme)
	if err != nil {
		t.Fatal(err)
	}
	if v.Plan.Name != "free" || !v.Default || !v.Since.Equal(nov) || v.DefaultPlan != "free" ||
		strings.Join(v.Catalog, ",") != "free,pro,enterprise" {
		t.Fatalf("plan of a new org = %+v, want free (the default) since its creation, and the catalog", v)
	}

	// Who may change it, and to what.
	h.clock.now = at(11, 10, 30)
	for _, role := range []platform.Role{platform.RoleViewer, platform.RoleDeveloper} {
		ctx := h.memberOf("acme", "m-"+string(role), role)
		if _, err := h.plane.Plan(ctx); err != nil {
			t.Fatalf("a %s reads the plan: %v", role, err)
		}
		_, err := h.plane.SetPlan(ctx, "pro")
		wantErr(t, err, platform.EFORBIDDEN, "billing.manage needs the admin role")
	}
	_, err = h.plane.SetPlan(acme, "gold")
	wantErr(t, err, platform.EINVALID, `no plan "gold" on this platform`)
	if hint := platform.ErrorHint(err); hint != "choose one of free, pro, enterprise" {
		t.Errorf("hint = %q, want the catalog", hint)
	}
	a, err := h.plane.SetPlan(acme, "pro")
	if err != nil {
		t.Fatal(err)
	}
	if a.Org != "acme" || a.Plan.Name != "pro" || !a.From.Equal(at(11, 10, 30)) || a.By != "ada" {
		t.Fatalf("assignment = %+v", a)
	}
	history, err := h.store.PlanHistory(ctx, "acme")
	if err != nil || len(history) != 2 || history[0].Plan.Name != "free" || !history[0].From.Equal(nov) || history[1].Plan.Name != "pro" {
		t.Fatalf("history = %+v, %v; want free from the org's creation, then pro", history, err)
	}
	if v, err = h.plane.Plan(acme); err != nil || v.Plan.Name != "pro" || v.Default || !v.Since.Equal(at(11, 10, 30)) || v.By != "ada" {
		t.Fatalf("plan after the move = %+v, %v", v, err)
	}
	audit, err := h.plane.ListAudit(acme, platform.AuditFilter{Action: platform.AuditBillingPlan})
	if err != nil || len(audit) != 1 || audit[0].Target != "org/acme" || !strings.Contains(audit[0].Detail, "moved to plan pro") {
		t.Fatalf("audit = %+v, %v", audit, err)
	}

	h.commitUsage(
		ev("acme", "shop", "api", platform.MeterRequests, at(5, 12, 0), 50_000_000),
		ev("acme", "shop", "api", platform.MeterRequests, at(11, 10, 15), 3_000_000), // its hour began under free
		ev("acme", "shop", "api", platform.MeterRequests, at(15, 8, 0), 7_000_000),
		ev("acme", "shop", "api", platform.MeterInstanceSeconds, at(3, 12, 0), 9_000_000),
		ev("acme", "shop", "api", platform.MeterInstanceSeconds, at(12, 1, 0), 4_000_000),
	)

	// The draft on the 20th at 15:30: pro's base for 9 days 5 hours (795,600 of
	// 2,592,000 seconds) is 613.88 → 614; the usage lines as the document's.
	h.clock.now = at(20, 15, 30)
	draft, err := h.plane.GetInvoice(acme, "draft")
	if err != nil {
		t.Fatal(err)
	}
	if draft.ID != "in-acme-20261101" || draft.Status != platform.InvoiceDraft || draft.Total != 614+172+24 {
		t.Fatalf("draft = %s %s total %d, want in-acme-20261101 draft 810; lines %+v", draft.ID, draft.Status, draft.Total, draft.Lines)
	}
	byID, err := h.plane.GetInvoice(acme, draft.ID)
	if err != nil || byID.Total != draft.Total || byID.Status != platform.InvoiceDraft {
		t.Fatalf("the draft by its ID = %+v, %v", byID, err)
	}
	list, err := h.plane.ListInvoices(acme)
	if err != nil || len(list) != 1 || list[0].ID != draft.ID {
		t.Fatalf("invoices on the 20th = %+v, %v; want the draft", list, err)
	}

	// The period ends; the invoicer stores the final invoice (the document's 15.00 USD).
	h.clock.now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	rollups, err := h.store.ListUsageRollups(ctx, platform.UsageRollupFilter{Org: "acme", From: nov, To: nov.AddDate(0, 1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var rs []platform.UsageRollup
	for _, r := range rollups {
		rs = append(rs, *r)
	}
	hist := make([]billing.Assignment, len(history))
	for i, a := range history {
		hist[i] = billing.Assignment{Plan: a.Plan, From: a.From}
	}
	final, err := billing.Rate("acme", billing.MonthOf(nov), hist, rs, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || final.Total != 1500 {
		t.Fatalf("final November invoice = %+v, %v; want 1,500", final, err)
	}
	if _, err := h.store.CreateInvoice(ctx, final); err != nil {
		t.Fatal(err)
	}
	list, err = h.plane.ListInvoices(acme)
	if err != nil || len(list) != 2 || list[0].ID != "in-acme-20261201" || list[0].Status != platform.InvoiceDraft ||
		list[1].ID != "in-acme-20261101" || list[1].Status != platform.InvoiceOpen || list[1].Total != 1500 {
		t.Fatalf("invoices in December = %+v, %v; want December's draft, then November's final", list, err)
	}
	got, err := h.plane.GetInvoice(acme, "in-acme-20261101")
	if err != nil || got.Total != 1500 || len(got.Lines) != len(final.Lines) {
		t.Fatalf("November's invoice = %+v, %v", got, err)
	}

	// Tenancy: another organisation neither sees nor finds acme's invoices; a token
	// narrowed to namespaces reads no org-wide amounts.
	globex := h.orgCreatedAt("globex", "gus", nov)
	_, err = h.plane.GetInvoice(globex, "in-acme-20261101")
	wantErr(t, err, platform.ENOTFOUND, `invoice "in-acme-20261101" not found`)
	_, err = h.plane.GetInvoice(acme, "in-nope-20261101")
	wantErr(t, err, platform.ENOTFOUND, `invoice "in-nope-20261101" not found`)
	theirs, err := h.plane.ListInvoices(globex)
	if err != nil || len(theirs) != 1 || theirs[0].ID != "in-globex-20261201" || theirs[0].Total != 0 {
		t.Fatalf("globex's invoices = %+v, %v; want its own free draft", theirs, err)
	}
	_, narrow, err := h.plane.CreateToken(acme, platform.CreateTokenRequest{Name: "ci", Role: platform.RoleAdmin, Namespaces: []string{"shop"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.plane.ListInvoices(h.as(narrow))
	wantErr(t, err, platform.EFORBIDDEN, "billing.read needs a token for every namespace")
}

// memberOf adds a local user with role to org and returns a context with a token of
// theirs.
func (h *accounts) memberOf(org, login string, role platform.Role) context.Context {
	h.t.Helper()
	ctx := h.t.Context()
	u := &platform.User{ID: "u-" + login, Login: login, Source: platform.UserLocal}
	if err := h.store.CreateUser(ctx, u); err != nil {
		h.t.Fatal(err)
	}
	if err := h.store.PutMembership(ctx, &platform.Membership{Org: org, UserID: u.ID, Role: role, Source: platform.MemberLocal}); err != nil {
		h.t.Fatal(err)
	}
	secret, _, err := h.plane.Directory().IssueToken(ctx, u.ID, org, platform.TokenAPI, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.as(secret)
}
