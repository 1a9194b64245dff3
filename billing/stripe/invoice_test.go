package stripe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/stripetest"
)

// checkExported asserts that Stripe (the Recorder's state) holds inv exported exactly once
// for customerID under invoiceID: one customer of the org, one invoice, finalised, and one
// item per line with the line's amount, each made under its idempotency key.
func checkExported(t *testing.T, r *stripetest.Recorder, inv *platform.Invoice, customerID, invoiceID string) {
	t.Helper()
	customers := r.Objects("customer")
	if len(customers) != 1 || customers[0].ID != customerID ||
		customers[0].Metadata()[metaOrg] != inv.Org || customers[0].Key != customerKey(inv.Org) {
		t.Errorf("customers: %+v, want one, %s, of org %s", customers, customerID, inv.Org)
	}
	invoices := r.Objects("invoice")
	if len(invoices) != 1 {
		t.Fatalf("%d Stripe invoices, want 1", len(invoices))
	}
	si := invoices[0]
	if si.ID != invoiceID || si.Str("status") != "open" || si.Str("customer") != customerID ||
		si.Metadata()[metaInvoice] != inv.ID || si.Key != invoiceKey(inv.ID) {
		t.Errorf("Stripe invoice %s (status %s, customer %s, metadata %v, key %s), want %s, open, %s",
			si.ID, si.Str("status"), si.Str("customer"), si.Metadata(), si.Key, invoiceID, customerID)
	}
	items := r.Objects("invoiceitem")
	if len(items) != len(inv.Lines) {
		t.Errorf("%d Stripe invoice items, want %d (one per line)", len(items), len(inv.Lines))
	}
	var total int64
	seen := map[int]bool{}
	for _, it := range items {
		i, err := strconv.Atoi(it.Metadata()[metaLine])
		if err != nil || i < 0 || i >= len(inv.Lines) || seen[i] {
			t.Errorf("item %s: line %q (seen: %v)", it.ID, it.Metadata()[metaLine], seen[i])
			continue
		}
		seen[i] = true
		amount := fmt.Sprint(it.JSON["amount"])
		if amount != fmt.Sprint(inv.Lines[i].Amount) || it.Str("invoice") != invoiceID || it.Key != lineKey(inv.ID, i) {
			t.Errorf("item %s of line %d: amount %s, invoice %s, key %s; want %d, %s, %s",
				it.ID, i, amount, it.Str("invoice"), it.Key, inv.Lines[i].Amount, invoiceID, lineKey(inv.ID, i))
		}
		total += inv.Lines[i].Amount
	}
	if total != inv.Total {
		t.Errorf("the items add up to %d, the invoice to %d", total, inv.Total)
	}
}

// TestExportRequests checks each request of a first export: stripe-mock accepts every
// one (they are valid Stripe API calls), every POST carries its own idempotency key made
// of our ids, and the parameters carry the amounts and ids.
func TestExportRequests(t *testing.T) {
	r := stripetest.NewRecorder(t, stripetest.URL(t))
	c, _ := newClient(t, r.URL())
	inv := testInvoice()
	customerID, invoiceID, err := export(t.Context(), c, inv, "")
	if err != nil {
		t.Fatal(err)
	}
	checkExported(t, r, inv, customerID, invoiceID)

	want := []string{
		"GET /v1/customers/search",
		"POST /v1/customers " + customerKey("acme"),
		"GET /v1/invoices",
		"POST /v1/invoices " + invoiceKey(inv.ID),
		"GET /v1/invoiceitems",
	}
	for i := range inv.Lines {
		want = append(want, "POST /v1/invoiceitems "+lineKey(inv.ID, i))
	}
	want = append(want, "POST /v1/invoices/"+invoiceID+"/finalize "+finalizeKey(inv.ID))
	reqs := r.Requests()
	var got []string
	for _, q := range reqs {
		got = append(got, strings.TrimSpace(q.Method+" "+q.Path+" "+q.IdempotencyKey))
		if !q.Executed || q.Status != http.StatusOK {
			t.Errorf("%s %s: status %d (executed %v): stripe-mock refused it", q.Method, q.Path, q.Status, q.Executed)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("requests:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	form := func(i int, key string) string { return reqs[i].Form.Get(key) }
	checks := []struct{ got, want string }{
		{reqs[0].Query.Get("query"), "metadata['platform_org']:'acme'"},
		{form(1, "name"), "Acme Inc."},
		{form(1, "email"), "billing@acme.example"},
		{form(1, "metadata[platform_org]"), "acme"},
		{reqs[2].Query.Get("customer"), customerID},
		{form(3, "customer"), customerID},
		{form(3, "currency"), "usd"},
		{form(3, "auto_advance"), "false"},
		{form(3, "pending_invoice_items_behavior"), "exclude"},
		{form(3, "collection_method"), "charge_automatically"},
		{form(3, "metadata[platform_invoice_id]"), inv.ID},
		{form(3, "metadata[platform_period_start]"), "2026-01-01T00:00:00Z"},
		{reqs[4].Query.Get("invoice"), invoiceID},
		{form(len(reqs)-1, "auto_advance"), "true"},
	}
	for i, l := range inv.Lines {
		q := 5 + i
		checks = append(checks,
			struct{ got, want string }{form(q, "amount"), fmt.Sprint(l.Amount)},
			struct{ got, want string }{form(q, "currency"), "usd"},
			struct{ got, want string }{form(q, "customer"), customerID},
			struct{ got, want string }{form(q, "invoice"), invoiceID},
			struct{ got, want string }{form(q, "metadata[platform_line]"), fmt.Sprint(i)},
			struct{ got, want string }{form(q, "metadata[platform_quantity]"), fmt.Sprint(l.Quantity)},
			struct{ got, want string }{form(q, "period[start]"), fmt.Sprint(l.From.Unix())},
			struct{ got, want string }{form(q, "period[end]"), fmt.Sprint(l.To.Unix())},
		)
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("parameter %q, want %q", ch.got, ch.want)
		}
	}
	if d := form(7, "description"); d != "Requests, plan free: 90000 used" {
		t.Errorf("the description of a line without one: %q", d)
	}
}

// TestExportAgainstStripeMock runs an export straight against stripe-mock, with nothing in
// between: stripe-go's own requests, as they leave it, are valid.
func TestExportAgainstStripeMock(t *testing.T) {
	c, _ := newClient(t, stripetest.URL(t), func(o *Options) { o.DaysUntilDue = 30 })
	customerID, invoiceID, err := export(t.Context(), c, testInvoice(), "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(customerID, "cus_") || !strings.HasPrefix(invoiceID, "in_") {
		t.Errorf("ids %q, %q", customerID, invoiceID)
	}
}

// TestReplayCreatesNothing exports an invoice, then does it again as a caller would
// after losing, or keeping, what the first export returned: nothing more reaches Stripe
// as a change, and the same ids come back.
func TestReplayCreatesNothing(t *testing.T) {
	upstream := stripetest.URL(t)
	for _, tc := range []struct {
		name string
		// kept: the caller stored the ids and passes them; expired: 24 hours passed.
		kept, expired bool
		// wantPOSTs: requests that reach the Recorder in the replay (none executes).
		wantPOSTs []string
	}{
		// Search does not see the new customer yet: its creation's key finds it.
		{name: "at once, ids lost", wantPOSTs: []string{customerKey("acme")}},
		{name: "at once, ids kept", kept: true},
		{name: "after the keys expired, ids lost", expired: true},
		{name: "after the keys expired, ids kept", kept: true, expired: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := stripetest.NewRecorder(t, upstream)
			c, _ := newClient(t, r.URL())
			inv := testInvoice()
			customerID, invoiceID, err := export(t.Context(), c, inv, "")
			if err != nil {
				t.Fatal(err)
			}
			if tc.expired {
				r.ExpireKeys()
			}
			r.Reset()

			keptCustomer := ""
			if tc.kept {
				keptCustomer = customerID
				inv.ExternalID, inv.Status = invoiceID, platform.InvoiceExported
			}
			c2, _ := newClient(t, r.URL()) // as after a restart
			customer2, invoice2, err := export(t.Context(), c2, inv, keptCustomer)
			if err != nil {
				t.Fatal(err)
			}
			if customer2 != customerID || invoice2 != invoiceID {
				t.Errorf("the replay returned %s, %s; the export %s, %s", customer2, invoice2, customerID, invoiceID)
			}
			var keys []string
			for _, p := range posts(r.Requests(), false) {
				keys = append(keys, p.IdempotencyKey)
				if p.Executed || !p.Replayed {
					t.Errorf("the replay executed POST %s (%s)", p.Path, p.IdempotencyKey)
				}
			}
			if !slices.Equal(keys, tc.wantPOSTs) {
				t.Errorf("the replay sent POSTs with keys %q, want %q", keys, tc.wantPOSTs)
			}
			checkExported(t, r, inv, customerID, invoiceID)
		})
	}
}

// TestCrashAndReplay stops the first export at each of its POSTs — before Stripe gets
// it, or after Stripe executed it and the answer was lost, as in a crash or a dropped
// connection — then exports again with a new client, at once or after the idempotency
// keys expired: every replay completes the export with each object made once.
func TestCrashAndReplay(t *testing.T) {
	upstream := stripetest.URL(t)
	inv := testInvoice()
	steps := 1 + 1 + len(inv.Lines) + 1 // customer, invoice, the lines, finalize
	for n := 1; n <= steps; n++ {
		for _, executed := range []bool{false, true} {
			for _, expired := range []bool{false, true} {
				name := fmt.Sprintf("POST %d %s, replay %s", n,
					map[bool]string{false: "lost", true: "executed, answer lost"}[executed],
					map[bool]string{false: "at once", true: "after the keys expired"}[expired])
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					crashAndReplay(t, upstream, n, executed, expired)
				})
			}
		}
	}
}

func crashAndReplay(t *testing.T, upstream string, n int, executed, expired bool) {
	r := stripetest.NewRecorder(t, upstream)
	inv := testInvoice()
	r.Fail(n, executed)
	c, _ := newClient(t, r.URL())
	// What the caller kept: the customer's id once EnsureCustomer returned it.
	customerID, err := c.EnsureCustomer(t.Context(), testOrg, "billing@acme.example")
	if err == nil {
		_, err = c.ExportInvoice(t.Context(), inv, customerID)
	}
	if err == nil {
		t.Fatal("the export succeeded through a failed request")
	}
	if platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Errorf("the failed export: %v, want %s", err, platform.EUNAVAILABLE)
	}
	if expired {
		r.ExpireKeys()
	}
	r.Reset()
	c2, _ := newClient(t, r.URL())
	customerID, invoiceID, err := export(t.Context(), c2, inv, customerID)
	if err != nil {
		t.Fatalf("the replay: %v", err)
	}
	checkExported(t, r, inv, customerID, invoiceID)
	for _, q := range r.Requests() {
		if q.Executed && q.Status != http.StatusOK {
			t.Errorf("the replay: %s %s got %d", q.Method, q.Path, q.Status)
		}
	}
}

// TestRetriesReuseTheKey lets stripe-go retry: each lost answer is retried with the same
// key, and the export succeeds in one call with each object made once.
func TestRetriesReuseTheKey(t *testing.T) {
	r := stripetest.NewRecorder(t, stripetest.URL(t))
	c, _ := newClient(t, r.URL(), func(o *Options) { o.MaxNetworkRetries = 2 })
	inv := testInvoice()
	// POSTs: 1 the customer, 2 the invoice (lost), 3 its retry, 4 line 0, 5 line 1, 6 line 2.
	r.Fail(2, true)
	r.Fail(6, true)
	customerID, invoiceID, err := export(t.Context(), c, inv, "")
	if err != nil {
		t.Fatal(err)
	}
	checkExported(t, r, inv, customerID, invoiceID)
	byKey := map[string][]stripetest.Request{}
	for _, p := range posts(r.Requests(), false) {
		byKey[p.IdempotencyKey] = append(byKey[p.IdempotencyKey], p)
	}
	for _, k := range []string{invoiceKey(inv.ID), lineKey(inv.ID, 2)} {
		if got := byKey[k]; len(got) != 2 || !got[0].Executed || got[0].Status != 0 || !got[1].Replayed {
			t.Errorf("key %s: %+v, want an executed request whose answer was lost, then a replayed one", k, got)
		}
	}
}

// TestChangedInvoiceConflicts: an invoice whose lines changed after part of it was
// exported is refused with ECONFLICT, and nothing more is created.
func TestChangedInvoiceConflicts(t *testing.T) {
	r := stripetest.NewRecorder(t, stripetest.URL(t))
	c, _ := newClient(t, r.URL())
	inv := testInvoice()
	customerID, err := c.EnsureCustomer(t.Context(), testOrg, "")
	if err != nil {
		t.Fatal(err)
	}
	r.Fail(4, false) // line 2: lines 0 and 1 are on the Stripe invoice
	if _, err := c.ExportInvoice(t.Context(), inv, customerID); err == nil {
		t.Fatal("no failure")
	}
	before := len(r.Objects("invoiceitem"))

	changed := testInvoice()
	changed.Lines[1].Amount++
	changed.Total++
	_, err = c.ExportInvoice(t.Context(), changed, customerID)
	if platform.ErrorCode(err) != platform.ECONFLICT || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a changed line: %v, want %s naming line 1", err, platform.ECONFLICT)
	}
	if got := len(r.Objects("invoiceitem")); got != before {
		t.Errorf("%d items after the refusal, %d before", got, before)
	}
	if si := r.Objects("invoice")[0]; si.Str("status") != "draft" {
		t.Errorf("the partial invoice is %s, want draft", si.Str("status"))
	}

	// The original completes it.
	invoiceID, err := c.ExportInvoice(t.Context(), inv, customerID)
	if err != nil {
		t.Fatal(err)
	}
	checkExported(t, r, inv, customerID, invoiceID)
}

// TestExternalIDOfAnotherInvoice: a kept id that names another invoice's export is a
// conflict, not a reason to add lines to it.
func TestExternalIDOfAnotherInvoice(t *testing.T) {
	r := stripetest.NewRecorder(t, stripetest.URL(t))
	c, _ := newClient(t, r.URL())
	customerID, invoiceID, err := export(t.Context(), c, testInvoice(), "")
	if err != nil {
		t.Fatal(err)
	}
	other := testInvoice()
	other.ID, other.ExternalID = "inv-acme-2026-02", invoiceID
	if _, err := c.ExportInvoice(t.Context(), other, customerID); platform.ErrorCode(err) != platform.ECONFLICT {
		t.Errorf("an ExternalID of another invoice: %v, want %s", err, platform.ECONFLICT)
	}
	if n := len(posts(r.Requests(), true)); n != 1+1+len(other.Lines)+1 {
		t.Errorf("%d POSTs executed, want only the first export's", n)
	}
}

// TestExportRefusals: what cannot be exported is refused with every problem at once,
// before any request.
func TestExportRefusals(t *testing.T) {
	c, _ := newClient(t, noRequests(t))
	for _, tc := range []struct {
		name     string
		edit     func(*platform.Invoice)
		customer string
		want     []string
	}{
		{name: "draft", edit: func(i *platform.Invoice) { i.Status = platform.InvoiceDraft }, customer: "cus_1",
			want: []string{`status is "draft"`}},
		{name: "lines do not add up", edit: func(i *platform.Invoice) { i.Total++ }, customer: "cus_1",
			want: []string{"add up to 5717, the total is 5718"}},
		{name: "everything", customer: "", edit: func(i *platform.Invoice) {
			i.ID, i.Org, i.Currency, i.Status = "", "", "USD", ""
			i.Lines[0].To = i.Lines[0].From.Add(-1)
		}, want: []string{"no id", "no organisation", "no Stripe customer", `status is ""`, `currency "USD"`, "line 0 ends before it starts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := testInvoice()
			tc.edit(inv)
			_, err := c.ExportInvoice(context.Background(), inv, tc.customer)
			if platform.ErrorCode(err) != platform.EINVALID {
				t.Fatalf("%v, want %s", err, platform.EINVALID)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: does not say %q", err, w)
				}
			}
		})
	}
	if _, err := c.ExportInvoice(context.Background(), nil, "cus_1"); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("nil invoice: %v", err)
	}
}

// TestExportGoldenInvoices exports the final invoices that package billing's rating
// produces (its golden files): each reaches Stripe whole, line for line.
func TestExportGoldenInvoices(t *testing.T) {
	upstream := stripetest.URL(t)
	files, err := filepath.Glob("../testdata/*.golden")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden invoices of package billing: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var inv platform.Invoice
		if err := json.Unmarshal(raw, &inv); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if inv.Status != platform.InvoiceOpen {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := stripetest.NewRecorder(t, upstream)
			c, _ := newClient(t, r.URL())
			customerID, err := c.EnsureCustomer(t.Context(), &platform.Org{Name: inv.Org}, "")
			if err != nil {
				t.Fatal(err)
			}
			invoiceID, err := c.ExportInvoice(t.Context(), &inv, customerID)
			if err != nil {
				t.Fatal(err)
			}
			checkExported(t, r, &inv, customerID, invoiceID)
			for _, q := range posts(r.Requests(), true) {
				if q.Path == "/v1/invoiceitems" {
					i, _ := strconv.Atoi(q.Form.Get("metadata[platform_line]"))
					if d := q.Form.Get("description"); d != inv.Lines[i].Description {
						t.Errorf("line %d: description %q, want the invoice's %q", i, d, inv.Lines[i].Description)
					}
				}
			}
		})
	}
}
