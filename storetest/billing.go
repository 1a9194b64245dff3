package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/micro/platform"
)

// testBilling runs the parts of the BillingStore suite, each on a store of its own.
func testBilling(t *testing.T, h *harness) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"PlanHistory", testPlanHistory},
		{"Invoices", testInvoices},
		{"InvoiceExport", testInvoiceExport},
		{"InvoiceTenancy", testInvoiceTenancy},
		{"BillingCustomers", testBillingCustomers},
		{"SpendThresholds", testSpendThresholds},
		{"BillingReopen", testBillingReopen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
}

// billingPeriod is the period of the billing tests' first invoice: March 2026.
var billingPeriod = struct{ start, end time.Time }{
	time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
	time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
}

// testPlan returns a plan called name with a base amount, a price and quotas.
func testPlan(name string, base int64) platform.Plan {
	return platform.Plan{
		Name:       name,
		Currency:   "usd",
		BaseAmount: base,
		Prices: map[platform.Meter]platform.Price{
			platform.MeterRequests: {UnitAmount: 50, Per: 1_000_000, Included: 10_000_000},
		},
		Quotas: platform.Quotas{Instances: 50, Namespaces: 10, SpendLimit: 100_000},
	}
}

// mustOrg creates the organisation name.
func mustOrg(t *testing.T, s platform.Store, name string) {
	t.Helper()
	must(t, s.CreateOrg(t.Context(), &platform.Org{Name: name}))
}

// testInvoice returns an open invoice of org for the month starting months after
// billingPeriod's, whose lines add up to its total.
func testInvoice(org string, months int) *platform.Invoice {
	start := billingPeriod.start.AddDate(0, months, 0)
	end := start.AddDate(0, 1, 0)
	lines := []platform.InvoiceLine{
		{Plan: "pro", From: start, To: end, Quantity: int64(end.Sub(start) / time.Second), Per: int64(end.Sub(start) / time.Second),
			UnitAmount: 2000, Amount: 2000, Description: "Plan pro"},
		{Meter: platform.MeterRequests, Plan: "pro", From: start, To: end, Quantity: 12_000_000, Included: 10_000_000,
			UnitAmount: 50, Per: 1_000_000, Amount: 100 + int64(months), Description: "Requests"},
	}
	return &platform.Invoice{
		ID:          fmt.Sprintf("in-%s-%s", org, start.Format("20060102")),
		Org:         org,
		PeriodStart: start,
		PeriodEnd:   end,
		Currency:    "usd",
		Lines:       lines,
		Total:       lines[0].Amount + lines[1].Amount,
		Status:      platform.InvoiceOpen,
		CreatedAt:   end.Add(time.Hour + 123456789),
	}
}

// mustCreateInvoice stores inv and fails t unless it was created.
func mustCreateInvoice(t *testing.T, s platform.Store, inv *platform.Invoice) {
	t.Helper()
	created, err := s.CreateInvoice(t.Context(), inv)
	must(t, err)
	if !created {
		t.Fatalf("CreateInvoice(%s) = not created, want created", inv.ID)
	}
}

// storedInvoice is inv as the store gives it back: at microsecond precision.
func storedInvoice(inv *platform.Invoice) *platform.Invoice {
	c := *inv
	c.CreatedAt = c.CreatedAt.Truncate(time.Microsecond)
	return &c
}

// invoiceIDs returns the IDs of list, in order.
func invoiceIDs(list []*platform.Invoice) []string {
	ids := []string{}
	for _, inv := range list {
		ids = append(ids, inv.ID)
	}
	return ids
}

// testPlanHistory: assignments come back ordered by when they take effect, then by
// when they were made, each with its plan as assigned; bad ones change nothing.
func testPlanHistory(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustOrg(t, s, "acme")
	mustOrg(t, s, "globex")
	t1 := time.Date(2026, 3, 11, 10, 30, 0, 0, time.UTC)
	t2 := t1.Add(48 * time.Hour)

	none, err := s.PlanHistory(ctx, "acme")
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("history before any assignment = %+v, want none", none)
	}
	pro := &platform.PlanAssignment{Org: "acme", Plan: testPlan("pro", 2000), From: t2.Add(999 * time.Millisecond), By: "alice"}
	must(t, s.AssignPlan(ctx, pro))
	if !pro.From.Equal(t2) || pro.CreatedAt.IsZero() {
		t.Fatalf("written back: From %v (want %v, to the second), CreatedAt %v (want now)", pro.From, t2, pro.CreatedAt)
	}
	free := &platform.PlanAssignment{Org: "acme", Plan: platform.Plan{Name: "free", Currency: "usd"}, From: t1,
		By: "platform", CreatedAt: testTime}
	must(t, s.AssignPlan(ctx, free))
	sameTime(t, "CreatedAt", free.CreatedAt, testTime)
	// The same time as pro, made later: after it.
	enterprise := &platform.PlanAssignment{Org: "acme", Plan: testPlan("enterprise", 50000), From: t2.In(time.FixedZone("CET", 3600))}
	must(t, s.AssignPlan(ctx, enterprise))
	if enterprise.From.Location() != time.UTC {
		t.Fatalf("From written back in %v, want UTC", enterprise.From.Location())
	}
	must(t, s.AssignPlan(ctx, &platform.PlanAssignment{Org: "globex", Plan: testPlan("pro", 2000), From: t1}))

	history, err := s.PlanHistory(ctx, "acme")
	must(t, err)
	sameJSON(t, "acme's history", history, []*platform.PlanAssignment{free, pro, enterprise})

	t.Run("errors change nothing", func(t *testing.T) {
		wantCode(t, s.AssignPlan(ctx, &platform.PlanAssignment{Org: "nope", Plan: testPlan("pro", 1), From: t1}), platform.ENOTFOUND)
		for name, a := range map[string]*platform.PlanAssignment{
			"no org":     {Plan: testPlan("pro", 1), From: t1},
			"no plan":    {Org: "acme", From: t1},
			"no from":    {Org: "acme", Plan: testPlan("pro", 1)},
			"nothing":    {},
			"nil":        nil,
			"org absent": {Org: "nope"},
		} {
			t.Run(name, func(t *testing.T) {
				wantCode(t, s.AssignPlan(ctx, a), platform.EINVALID)
			})
		}
		again, err := s.PlanHistory(ctx, "acme")
		must(t, err)
		sameJSON(t, "acme's history after refusals", again, history)
		unknown, err := s.PlanHistory(ctx, "nope")
		must(t, err)
		if len(unknown) != 0 {
			t.Fatalf("history of an unknown org = %+v, want none", unknown)
		}
	})
	t.Run("per org", func(t *testing.T) {
		gx, err := s.PlanHistory(ctx, "globex")
		must(t, err)
		if len(gx) != 1 || gx[0].Org != "globex" || gx[0].Plan.Name != "pro" {
			t.Fatalf("globex's history = %+v, want its one assignment", gx)
		}
	})
}

// testInvoices: an invoice is stored once (a second create leaves the first), drafts and
// incomplete invoices are refused, lists are newest period first and filter by status.
func testInvoices(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mar := testInvoice("acme", 0)
	mustCreateInvoice(t, s, mar)
	got, err := s.GetInvoice(ctx, mar.ID)
	must(t, err)
	sameJSON(t, "stored invoice", got, storedInvoice(mar))

	t.Run("idempotent", func(t *testing.T) {
		again := testInvoice("acme", 0)
		again.Lines[1].Amount += 7
		again.Total += 7
		again.CreatedAt = time.Time{}
		created, err := s.CreateInvoice(ctx, again)
		must(t, err)
		if created {
			t.Fatal("a second invoice of one ID was created")
		}
		if !again.CreatedAt.IsZero() {
			t.Fatalf("CreatedAt written back on an invoice not created: %v", again.CreatedAt)
		}
		got, err := s.GetInvoice(ctx, mar.ID)
		must(t, err)
		sameJSON(t, "invoice after a second create", got, storedInvoice(mar))
	})
	t.Run("refused", func(t *testing.T) {
		for name, edit := range map[string]func(*platform.Invoice){
			"draft":          func(inv *platform.Invoice) { inv.Status = platform.InvoiceDraft },
			"no status":      func(inv *platform.Invoice) { inv.Status = "" },
			"exported":       func(inv *platform.Invoice) { inv.Status = platform.InvoiceExported; inv.ExternalID = "in_1" },
			"no id":          func(inv *platform.Invoice) { inv.ID = "" },
			"no org":         func(inv *platform.Invoice) { inv.Org = "" },
			"no period":      func(inv *platform.Invoice) { inv.PeriodStart, inv.PeriodEnd = time.Time{}, time.Time{} },
			"no currency":    func(inv *platform.Invoice) { inv.Currency = "" },
			"bad total":      func(inv *platform.Invoice) { inv.Total++ },
			"period reverse": func(inv *platform.Invoice) { inv.PeriodStart, inv.PeriodEnd = inv.PeriodEnd, inv.PeriodStart },
		} {
			t.Run(name, func(t *testing.T) {
				inv := testInvoice("acme", 1)
				edit(inv)
				created, err := s.CreateInvoice(ctx, inv)
				wantCode(t, err, platform.EINVALID)
				if created {
					t.Fatal("created = true with an error")
				}
			})
		}
		created, err := s.CreateInvoice(ctx, nil)
		wantCode(t, err, platform.EINVALID)
		if created {
			t.Fatal("created a nil invoice")
		}
		_, err = s.GetInvoice(ctx, testInvoice("acme", 1).ID)
		wantCode(t, err, platform.ENOTFOUND)
		list, err := s.ListInvoices(ctx, "acme", "")
		must(t, err)
		if ids := invoiceIDs(list); len(ids) != 1 || ids[0] != mar.ID {
			t.Fatalf("invoices after refusals = %v, want only %s", ids, mar.ID)
		}
	})
	t.Run("one a period", func(t *testing.T) {
		other := testInvoice("acme", 0)
		other.ID = "in-acme-other"
		created, err := s.CreateInvoice(ctx, other)
		wantCode(t, err, platform.ECONFLICT)
		if created {
			t.Fatal("created = true with an error")
		}
		_, err = s.GetInvoice(ctx, other.ID)
		wantCode(t, err, platform.ENOTFOUND)
	})
	t.Run("list", func(t *testing.T) {
		// Created out of order: listed newest period first.
		jan, may, apr := testInvoice("acme", -2), testInvoice("acme", 2), testInvoice("acme", 1)
		for _, inv := range []*platform.Invoice{jan, may, apr} {
			mustCreateInvoice(t, s, inv)
		}
		must(t, s.MarkInvoiceExported(ctx, jan.ID, "in_jan"))
		must(t, s.MarkInvoiceExported(ctx, apr.ID, "in_apr"))
		for _, tc := range []struct {
			status platform.InvoiceStatus
			want   []string
		}{
			{"", []string{may.ID, apr.ID, mar.ID, jan.ID}},
			{platform.InvoiceOpen, []string{may.ID, mar.ID}},
			{platform.InvoiceExported, []string{apr.ID, jan.ID}},
			{platform.InvoiceDraft, []string{}},
		} {
			list, err := s.ListInvoices(ctx, "acme", tc.status)
			must(t, err)
			sameJSON(t, fmt.Sprintf("invoices of status %q", tc.status), invoiceIDs(list), tc.want)
		}
		list, err := s.ListInvoices(ctx, "acme", platform.InvoiceOpen)
		must(t, err)
		sameJSON(t, "the listed invoice", list[0], storedInvoice(may))
		_, err = s.ListInvoices(ctx, "acme", "paid")
		wantCode(t, err, platform.EINVALID)
		none, err := s.ListInvoices(ctx, "nope", "")
		must(t, err)
		if none == nil || len(none) != 0 {
			t.Fatalf("invoices of an org without any = %#v, want an empty list", none)
		}
	})
	t.Run("no lines", func(t *testing.T) {
		empty := testInvoice("empty", 0)
		empty.Lines, empty.Total = nil, 0
		mustCreateInvoice(t, s, empty)
		got, err := s.GetInvoice(ctx, empty.ID)
		must(t, err)
		if got.Lines == nil || len(got.Lines) != 0 || got.Total != 0 {
			t.Fatalf("an invoice without lines came back as %+v, want an empty list of lines", got)
		}
	})
}

// testInvoiceExport: an invoice is marked exported once, as one external ID; marking it
// again as the same is harmless, as another a conflict.
func testInvoiceExport(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	inv := testInvoice("acme", 0)
	mustCreateInvoice(t, s, inv)
	must(t, s.MarkInvoiceExported(ctx, inv.ID, "in_123"))
	want := storedInvoice(inv)
	want.Status, want.ExternalID = platform.InvoiceExported, "in_123"
	got, err := s.GetInvoice(ctx, inv.ID)
	must(t, err)
	sameJSON(t, "exported invoice", got, want)

	must(t, s.MarkInvoiceExported(ctx, inv.ID, "in_123"))
	wantCode(t, s.MarkInvoiceExported(ctx, inv.ID, "in_456"), platform.ECONFLICT)
	wantCode(t, s.MarkInvoiceExported(ctx, "in-acme-nope", "in_123"), platform.ENOTFOUND)
	wantCode(t, s.MarkInvoiceExported(ctx, inv.ID, ""), platform.EINVALID)
	// Creating it again leaves it exported.
	created, err := s.CreateInvoice(ctx, testInvoice("acme", 0))
	must(t, err)
	if created {
		t.Fatal("an exported invoice was created again")
	}
	got, err = s.GetInvoice(ctx, inv.ID)
	must(t, err)
	sameJSON(t, "exported invoice after the conflicts and a second create", got, want)
}

// testInvoiceTenancy: an org's lists hold its invoices only, however alike the others'.
func testInvoiceTenancy(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	a0, a1 := testInvoice("a", 0), testInvoice("a", 1)
	b0, ab := testInvoice("b", 0), testInvoice("ab", 0)
	for _, inv := range []*platform.Invoice{a0, a1, b0, ab} {
		mustCreateInvoice(t, s, inv)
	}
	must(t, s.MarkInvoiceExported(ctx, b0.ID, "in_b"))
	for _, tc := range []struct {
		org    string
		status platform.InvoiceStatus
		want   []string
	}{
		{"a", "", []string{a1.ID, a0.ID}},
		{"a", platform.InvoiceOpen, []string{a1.ID, a0.ID}},
		{"a", platform.InvoiceExported, []string{}},
		{"b", "", []string{b0.ID}},
		{"b", platform.InvoiceOpen, []string{}},
		{"ab", "", []string{ab.ID}},
		{"", "", []string{}},
	} {
		list, err := s.ListInvoices(ctx, tc.org, tc.status)
		must(t, err)
		sameJSON(t, fmt.Sprintf("invoices of %q, status %q", tc.org, tc.status), invoiceIDs(list), tc.want)
		for _, inv := range list {
			if inv.Org != tc.org {
				t.Fatalf("ListInvoices(%q) gave %s of org %q", tc.org, inv.ID, inv.Org)
			}
		}
	}
}

// testBillingCustomers: one customer per org, replaced by a later one; none is "".
func testBillingCustomers(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mustOrg(t, s, "acme")
	mustOrg(t, s, "globex")
	wantCustomer := func(org, want string) {
		t.Helper()
		got, err := s.BillingCustomer(ctx, org)
		must(t, err)
		if got != want {
			t.Fatalf("BillingCustomer(%s) = %q, want %q", org, got, want)
		}
	}
	wantCustomer("acme", "")
	must(t, s.SetBillingCustomer(ctx, "acme", "cus_1"))
	wantCustomer("acme", "cus_1")
	wantCustomer("globex", "")
	must(t, s.SetBillingCustomer(ctx, "acme", "cus_1")) // again: the same
	must(t, s.SetBillingCustomer(ctx, "globex", "cus_2"))
	must(t, s.SetBillingCustomer(ctx, "acme", "cus_3"))
	wantCustomer("acme", "cus_3")
	wantCustomer("globex", "cus_2")

	wantCode(t, s.SetBillingCustomer(ctx, "nope", "cus_4"), platform.ENOTFOUND)
	wantCode(t, s.SetBillingCustomer(ctx, "", "cus_4"), platform.EINVALID)
	wantCode(t, s.SetBillingCustomer(ctx, "acme", ""), platform.EINVALID)
	wantCustomer("acme", "cus_3")
	wantCustomer("nope", "")
}

// testSpendThresholds: each threshold of each org and period is first once, even when
// marked concurrently.
func testSpendThresholds(t *testing.T, h *harness) {
	s := h.fresh(t)
	ctx := t.Context()
	mar, apr := billingPeriod.start, billingPeriod.end
	mark := func(org string, start time.Time, threshold int, want bool) {
		t.Helper()
		first, err := s.MarkSpendThreshold(ctx, org, start, threshold)
		must(t, err)
		if first != want {
			t.Fatalf("MarkSpendThreshold(%s, %s, %d) = %v, want %v", org, start.Format(time.DateOnly), threshold, first, want)
		}
	}
	mark("acme", mar, 75, true)
	mark("acme", mar, 75, false)
	mark("acme", mar.In(time.FixedZone("CET", 3600)), 75, false) // the same instant
	mark("acme", mar, 90, true)
	mark("acme", apr, 75, true)
	mark("globex", mar, 75, true)
	mark("acme", mar, 90, false)

	for name, call := range map[string]func() (bool, error){
		"no org":         func() (bool, error) { return s.MarkSpendThreshold(ctx, "", mar, 75) },
		"no period":      func() (bool, error) { return s.MarkSpendThreshold(ctx, "acme", time.Time{}, 75) },
		"zero threshold": func() (bool, error) { return s.MarkSpendThreshold(ctx, "acme", mar, 0) },
		"over 100":       func() (bool, error) { return s.MarkSpendThreshold(ctx, "acme", mar, 101) },
	} {
		first, err := call()
		if platform.ErrorCode(err) != platform.EINVALID || first {
			t.Fatalf("%s: first %v, error %v; want %s", name, first, err, platform.EINVALID)
		}
	}
	mark("acme", mar, 100, true) // the refusals recorded nothing

	t.Run("concurrent", func(t *testing.T) {
		const n = 8
		var wg sync.WaitGroup
		firsts := make(chan bool, n)
		for range n {
			wg.Go(func() {
				first, err := s.MarkSpendThreshold(ctx, "initech", mar, 90)
				if err != nil {
					t.Error(err)
				}
				firsts <- first
			})
		}
		wg.Wait()
		close(firsts)
		count := 0
		for f := range firsts {
			if f {
				count++
			}
		}
		if count != 1 {
			t.Fatalf("%d of %d concurrent marks were first, want 1", count, n)
		}
	})
}

// testBillingReopen: plan history, invoices, customers and thresholds survive a reopen.
func testBillingReopen(t *testing.T, h *harness) {
	s, closeS, reopen := h.openWithReopen(t)
	ctx := t.Context()
	mustOrg(t, s, "acme")
	a := &platform.PlanAssignment{Org: "acme", Plan: testPlan("pro", 2000), From: billingPeriod.start, By: "alice"}
	must(t, s.AssignPlan(ctx, a))
	inv := testInvoice("acme", 0)
	mustCreateInvoice(t, s, inv)
	must(t, s.MarkInvoiceExported(ctx, inv.ID, "in_1"))
	must(t, s.SetBillingCustomer(ctx, "acme", "cus_1"))
	_, err := s.MarkSpendThreshold(ctx, "acme", billingPeriod.start, 75)
	must(t, err)
	closeS()

	s2, closeS2 := reopen()
	defer closeS2()
	history, err := s2.PlanHistory(ctx, "acme")
	must(t, err)
	sameJSON(t, "history", history, []*platform.PlanAssignment{a})
	got, err := s2.GetInvoice(ctx, inv.ID)
	must(t, err)
	want := storedInvoice(inv)
	want.Status, want.ExternalID = platform.InvoiceExported, "in_1"
	sameJSON(t, "invoice", got, want)
	if c, err := s2.BillingCustomer(ctx, "acme"); err != nil || c != "cus_1" {
		t.Fatalf("customer = %q, %v; want cus_1", c, err)
	}
	if first, err := s2.MarkSpendThreshold(ctx, "acme", billingPeriod.start, 75); err != nil || first {
		t.Fatalf("threshold after reopen: first %v, %v; want false", first, err)
	}
}
