package billing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
	"github.com/micro/platform/billing/stripe"
	"github.com/micro/platform/internal/stripetest"
	"github.com/micro/platform/sqlstore"
)

func TestMain(m *testing.M) { os.Exit(stripetest.Main(m)) }

// The Stripe client is an Exporter.
var _ billing.Exporter = (*stripe.Client)(nil)

// nov is November 2026, the period of the worked example (docs/billing.md).
var nov = billing.MonthOf(time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC))

// day returns a time of November 2026.
func day(d, hour, minute int) time.Time { return time.Date(2026, 11, d, hour, minute, 0, 0, time.UTC) }

// clock is a platform.Clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fixture is a real SQLite store, a clock and the default plans.
type fixture struct {
	store  *sqlstore.Store
	clock  *clock
	plans  billing.Plans
	stream uint64 // the position of the test's usage stream
	logs   *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), filepath.Join(t.TempDir(), "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &fixture{store: s, clock: &clock{t: nov.End.Add(3 * time.Hour)}, plans: billing.DefaultPlans(), logs: &bytes.Buffer{}}
}

// invoicer returns an Invoicer of f's store, plans and clock.
func (f *fixture) invoicer(t *testing.T, edit ...func(*billing.InvoicerOptions)) *billing.Invoicer {
	t.Helper()
	opts := billing.InvoicerOptions{Store: f.store, Plans: f.plans, Clock: f.clock,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil))}
	for _, e := range edit {
		e(&opts)
	}
	iv, err := billing.NewInvoicer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return iv
}

// org creates an organisation created at created.
func (f *fixture) org(t *testing.T, name string, created time.Time) {
	t.Helper()
	if err := f.store.CreateOrg(t.Context(), &platform.Org{Name: name, CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
}

// assign puts org on the default plan name from from on.
func (f *fixture) assign(t *testing.T, org, name string, from time.Time) {
	t.Helper()
	plan, err := f.plans.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.AssignPlan(t.Context(), &platform.PlanAssignment{Org: org, Plan: plan, From: from, By: "test"}); err != nil {
		t.Fatal(err)
	}
}

// use commits one usage event of org's shop/api for hour, through the metering store
// as the metering folder does.
func (f *fixture) use(t *testing.T, org string, m platform.Meter, hour time.Time, qty int64) {
	t.Helper()
	f.stream++
	_, err := f.store.CommitUsage(t.Context(), &platform.UsageCommit{Stream: "test", From: f.stream - 1, To: f.stream,
		Events: []*platform.UsageEvent{{ID: fmt.Sprintf("e-%d", f.stream), Org: org, Namespace: "shop", Service: "api",
			Region: "local", Meter: m, Quantity: qty, Time: hour.Add(17 * time.Minute)}}})
	if err != nil {
		t.Fatal(err)
	}
}

// workedExample is acme of docs/billing.md: on free from its creation (1 August),
// moved to pro on 11 November 10:30, with the example's usage in November.
func (f *fixture) workedExample(t *testing.T) {
	t.Helper()
	created := nov.Start.AddDate(0, -3, 0)
	f.org(t, "acme", created)
	f.assign(t, "acme", "free", created)
	f.assign(t, "acme", "pro", day(11, 10, 30))
	f.use(t, "acme", platform.MeterRequests, day(2, 0, 0), 50_000_000)
	f.use(t, "acme", platform.MeterRequests, day(11, 10, 0), 3_000_000)
	f.use(t, "acme", platform.MeterRequests, day(11, 11, 0), 7_000_000)
	f.use(t, "acme", platform.MeterInstanceSeconds, day(1, 0, 0), 9_000_000)
	f.use(t, "acme", platform.MeterInstanceSeconds, day(12, 0, 0), 4_000_000)
}

// rate is what billing.Rate makes of org's stored history and usage for period p as of
// asOf: what the invoicer must have stored.
func (f *fixture) rate(t *testing.T, org string, p billing.Period, asOf time.Time) *platform.Invoice {
	t.Helper()
	stored, err := f.store.PlanHistory(t.Context(), org)
	if err != nil {
		t.Fatal(err)
	}
	history := make([]billing.Assignment, len(stored))
	for i, a := range stored {
		history[i] = billing.Assignment{Plan: a.Plan, From: a.From}
	}
	if len(history) == 0 {
		o, err := f.store.GetOrg(t.Context(), org)
		if err != nil {
			t.Fatal(err)
		}
		history = []billing.Assignment{{Plan: f.plans.DefaultPlan(), From: o.CreatedAt.Truncate(time.Second)}}
	}
	list, err := f.store.ListUsageRollups(t.Context(), platform.UsageRollupFilter{Org: org, From: p.Start, To: p.End})
	if err != nil {
		t.Fatal(err)
	}
	rollups := make([]platform.UsageRollup, len(list))
	for i, r := range list {
		rollups[i] = *r
	}
	inv, err := billing.Rate(org, p, history, rollups, asOf)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// invoices lists org's stored invoices, newest first.
func (f *fixture) invoices(t *testing.T, org string, status platform.InvoiceStatus) []*platform.Invoice {
	t.Helper()
	list, err := f.store.ListInvoices(t.Context(), org, status)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// periodsOf returns the periods of list ("2026-11" each).
func periodsOf(list []*platform.Invoice) []string {
	out := []string{}
	for _, inv := range list {
		out = append(out, inv.PeriodStart.Format("2006-01"))
	}
	return out
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// TestInvoicerFinal: the invoice of a finished period is billing.Rate's as of its end,
// prorated across a plan change (the worked example, its golden file); every period
// since the first assignment is invoiced, none not over, none twice.
func TestInvoicerFinal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.workedExample(t)
	iv := f.invoicer(t)
	if err := iv.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	list := f.invoices(t, "acme", "")
	sameJSON(t, "acme's invoices", periodsOf(list), []string{"2026-11", "2026-10", "2026-09", "2026-08"})
	got := list[0]
	sameJSON(t, "November's invoice", got, f.rate(t, "acme", nov, nov.End))
	if got.Total != 1500 || got.Status != platform.InvoiceOpen || got.ID != "in-acme-20261101" {
		t.Fatalf("November: %s, total %d, status %s; want in-acme-20261101, 1500 (the worked example), open", got.ID, got.Total, got.Status)
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "free_to_pro_midmonth.golden"))
	if err != nil {
		t.Fatal(err)
	}
	var want platform.Invoice
	if err := json.Unmarshal(golden, &want); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "November's invoice against the golden file", got, &want)
	for _, inv := range list[1:] { // free, nothing used: no line
		if inv.Total != 0 || len(inv.Lines) != 0 || inv.Status != platform.InvoiceOpen {
			t.Fatalf("invoice %s on free: total %d, lines %+v, status %s; want an empty open invoice", inv.ID, inv.Total, inv.Lines, inv.Status)
		}
	}

	// Again, and later in December: nothing new until December is over.
	f.clock.set(time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC))
	if err := iv.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	again := f.invoices(t, "acme", "")
	sameJSON(t, "invoices after a second run", again, list)
}

// TestInvoicerGrace: a period is invoiced Grace after its end, so that usage still on
// its way through the metering pipeline counts.
func TestInvoicerGrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.org(t, "acme", nov.Start)
	f.assign(t, "acme", "pro", nov.Start)
	iv := f.invoicer(t, func(o *billing.InvoicerOptions) { o.Grace = time.Hour })
	f.clock.set(nov.End.Add(59 * time.Minute))
	f.use(t, "acme", platform.MeterRequests, nov.End.Add(-time.Hour), 12_000_000) // the last hour, folded late
	if err := iv.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if list := f.invoices(t, "acme", ""); len(list) != 0 {
		t.Fatalf("invoiced %v within the grace period", periodsOf(list))
	}
	f.clock.set(nov.End.Add(time.Hour))
	if err := iv.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	list := f.invoices(t, "acme", "")
	if len(list) != 1 || list[0].Total != 2000+100 {
		t.Fatalf("invoices after the grace period: %+v; want November's, 20.00 base + 1.00 of requests", list)
	}
}

// TestInvoicerDefaultPlan: an organisation never assigned a plan is on the default one
// from its creation, invoiced from its first usage; one that never used anything has
// nothing to invoice.
func TestInvoicerDefaultPlan(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.plans.Default = "pro" // so that the default plan charges something
	created := day(10, 12, 0).Add(30 * time.Second)
	f.org(t, "globex", created.AddDate(0, -2, 0)) // used nothing until November
	f.org(t, "idle", created.AddDate(-1, 0, 0))
	f.use(t, "globex", platform.MeterRequests, day(20, 5, 0), 11_000_000)
	if err := f.invoicer(t).RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	list := f.invoices(t, "globex", "")
	sameJSON(t, "globex's invoices", periodsOf(list), []string{"2026-11"})
	sameJSON(t, "globex's November", list[0], f.rate(t, "globex", nov, nov.End))
	if list[0].Total != 2000+50 || list[0].Lines[0].Plan != "pro" || !list[0].Lines[0].From.Equal(nov.Start) {
		t.Fatalf("globex's November: %+v; want pro all month", list[0])
	}
	if idle := f.invoices(t, "idle", ""); len(idle) != 0 {
		t.Fatalf("an organisation without plan or usage was invoiced: %v", periodsOf(idle))
	}
}

// TestInvoicerFailureIsolated: an organisation whose period cannot be rated is
// reported and the others are invoiced; its other periods too.
func TestInvoicerFailureIsolated(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.workedExample(t)
	f.org(t, "euro", nov.Start.AddDate(0, -1, 0))
	f.assign(t, "euro", "pro", nov.Start.AddDate(0, -1, 0))
	eur, err := f.plans.Lookup("pro")
	if err != nil {
		t.Fatal(err)
	}
	eur.Currency = "eur" // a currency change within November: Rate refuses it
	if err := f.store.AssignPlan(t.Context(), &platform.PlanAssignment{Org: "euro", Plan: eur, From: day(15, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	err = f.invoicer(t).RunOnce(t.Context())
	if platform.ErrorCode(err) != platform.EINVALID || !strings.Contains(err.Error(), "organisation euro") {
		t.Fatalf("RunOnce: %v; want euro's rating error", err)
	}
	sameJSON(t, "euro's invoices", periodsOf(f.invoices(t, "euro", "")), []string{"2026-10"})
	sameJSON(t, "acme's invoices", periodsOf(f.invoices(t, "acme", "")), []string{"2026-11", "2026-10", "2026-09", "2026-08"})
	if !strings.Contains(f.logs.String(), "org=euro") {
		t.Fatalf("the failure was not logged:\n%s", f.logs)
	}
}

// TestInvoicerStart: Start runs at once and every Interval until its context ends.
func TestInvoicerStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.workedExample(t)
	iv := f.invoicer(t, func(o *billing.InvoicerOptions) { o.Interval = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	iv.Start(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for len(f.invoices(t, "acme", "")) != 4 {
		if time.Now().After(deadline) {
			t.Fatal("Start did not invoice within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A period ends: the next tick invoices it.
	f.clock.set(nov.End.AddDate(0, 1, 0).Add(3 * time.Hour))
	for len(f.invoices(t, "acme", "")) != 5 {
		if time.Now().After(deadline) {
			t.Fatal("Start did not invoice December within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	iv.Wait()
}

func TestNewInvoicer(t *testing.T) {
	t.Parallel()
	if _, err := billing.NewInvoicer(billing.InvoicerOptions{Plans: billing.DefaultPlans()}); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("without a store: %v", err)
	}
	f := newFixture(t)
	if _, err := billing.NewInvoicer(billing.InvoicerOptions{Store: f.store}); platform.ErrorCode(err) != platform.EINVALID {
		t.Errorf("without plans: %v", err)
	}
}

// flakyStore fails the first call of the methods named in fail, after the store did
// nothing: what a crash between the export and its record looks like.
type flakyStore struct {
	*sqlstore.Store
	mu   sync.Mutex
	fail map[string]int
}

func (s *flakyStore) failing(method string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail[method] > 0 {
		s.fail[method]--
		return true
	}
	return false
}

var errCrash = errors.New("crashed")

func (s *flakyStore) MarkInvoiceExported(ctx context.Context, id, externalID string) error {
	if s.failing("MarkInvoiceExported") {
		return errCrash
	}
	return s.Store.MarkInvoiceExported(ctx, id, externalID)
}

func (s *flakyStore) SetBillingCustomer(ctx context.Context, org, customerID string) error {
	if s.failing("SetBillingCustomer") {
		return errCrash
	}
	return s.Store.SetBillingCustomer(ctx, org, customerID)
}

// stripeExporter returns a Stripe client of stripe-mock behind a Recorder.
func stripeExporter(t *testing.T) (*stripe.Client, *stripetest.Recorder) {
	t.Helper()
	r := stripetest.NewRecorder(t, stripetest.URL(t))
	c, err := stripe.New(stripe.Options{Key: stripetest.Key, URL: r.URL(), MaxNetworkRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

// creates counts the executed POSTs of reqs that create an object at path.
func creates(reqs []stripetest.Request, path string) int {
	n := 0
	for _, r := range reqs {
		if r.Method == http.MethodPost && r.Path == path && r.Executed {
			n++
		}
	}
	return n
}

// exportFixture is acme with a pro month (one invoice), exported through Stripe.
func exportFixture(t *testing.T, fail map[string]int) (*fixture, *flakyStore, *billing.Invoicer, *stripetest.Recorder) {
	t.Helper()
	f := newFixture(t)
	f.org(t, "acme", nov.Start)
	f.assign(t, "acme", "pro", nov.Start)
	f.use(t, "acme", platform.MeterRequests, day(3, 4, 0), 12_345_678)
	f.use(t, "acme", platform.MeterEgressBytes, day(4, 4, 0), 123_000_000_000)
	store := &flakyStore{Store: f.store, fail: fail}
	c, r := stripeExporter(t)
	iv := f.invoicer(t, func(o *billing.InvoicerOptions) {
		o.Store = store
		o.Exporter = c
		o.CustomerEmail = func(_ context.Context, o *platform.Org) (string, error) { return "billing@" + o.Name + ".example", nil }
	})
	return f, store, iv, r
}

// wantExported checks that acme's one invoice is exported as Stripe's one invoice, of
// one customer, with one item per line, finalised.
func wantExported(t *testing.T, f *fixture, r *stripetest.Recorder) {
	t.Helper()
	list := f.invoices(t, "acme", "")
	if len(list) != 1 {
		t.Fatalf("acme has %d invoices, want 1", len(list))
	}
	inv := list[0]
	customers, invoices, items := r.Objects("customer"), r.Objects("invoice"), r.Objects("invoiceitem")
	if len(customers) != 1 || len(invoices) != 1 || len(items) != len(inv.Lines) {
		t.Fatalf("Stripe has %d customers, %d invoices, %d items; want 1, 1, %d", len(customers), len(invoices), len(items), len(inv.Lines))
	}
	if inv.Status != platform.InvoiceExported || inv.ExternalID != invoices[0].ID {
		t.Fatalf("stored invoice: status %s, external id %q; want exported as %s", inv.Status, inv.ExternalID, invoices[0].ID)
	}
	if s := invoices[0].Str("status"); s != "open" || invoices[0].Metadata()["platform_invoice_id"] != inv.ID {
		t.Fatalf("Stripe invoice: status %s, metadata %v; want open, of %s", s, invoices[0].Metadata(), inv.ID)
	}
	customer, err := f.store.BillingCustomer(t.Context(), "acme")
	if err != nil || customer != customers[0].ID || invoices[0].Str("customer") != customer {
		t.Fatalf("customer: stored %q (%v), Stripe's %s, the invoice's %s", customer, err, customers[0].ID, invoices[0].Str("customer"))
	}
	if e := customers[0].Str("email"); e != "billing@acme.example" {
		t.Fatalf("customer email %q", e)
	}
	var sum int64
	for _, it := range items {
		switch a := it.JSON["amount"].(type) {
		case int64:
			sum += a
		case float64:
			sum += int64(a)
		case json.Number:
			n, _ := a.Int64()
			sum += n
		}
	}
	if sum != inv.Total || inv.Total == 0 {
		t.Fatalf("Stripe's items add up to %d, the invoice to %d", sum, inv.Total)
	}
}

// TestInvoicerExport: an open invoice goes to Stripe once; a run with nothing to do
// sends nothing.
func TestInvoicerExport(t *testing.T) {
	t.Parallel()
	f, _, iv, r := exportFixture(t, nil)
	if err := iv.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantExported(t, f, r)
	r.Reset()
	if err := iv.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if reqs := r.Requests(); len(reqs) != 0 {
		t.Fatalf("a run with everything exported sent %d requests to Stripe, want none: %+v", len(reqs), reqs)
	}
}

// TestInvoicerExportCrashBeforeMark: the export reached Stripe but the invoicer died
// before recording it. The next run exports the invoice again: Stripe's idempotency
// (the key of the creation within 24 hours, the invoice found by its metadata after)
// gives back the same Stripe invoice; nothing is created or charged twice.
func TestInvoicerExportCrashBeforeMark(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		expired bool // the next run comes after Stripe forgot the idempotency keys
	}{
		{"within the keys' 24 hours", false},
		{"after the keys expired", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, _, iv, r := exportFixture(t, map[string]int{"MarkInvoiceExported": 1})
			err := iv.RunOnce(t.Context())
			if !errors.Is(err, errCrash) {
				t.Fatalf("first run: %v, want the crash", err)
			}
			if open := f.invoices(t, "acme", platform.InvoiceOpen); len(open) != 1 {
				t.Fatalf("after the crash %d invoices are open, want 1", len(open))
			}
			if n := len(r.Objects("invoice")); n != 1 {
				t.Fatalf("Stripe has %d invoices after the first run, want 1", n)
			}
			if tc.expired {
				r.ExpireKeys()
			}
			r.Reset()
			if err := iv.RunOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
			wantExported(t, f, r)
			reqs := r.Requests()
			if len(reqs) == 0 {
				t.Fatal("the second run did not export the invoice again")
			}
			for _, path := range []string{"/v1/invoices", "/v1/invoiceitems", "/v1/customers"} {
				if n := creates(reqs, path); n != 0 {
					t.Fatalf("the replay executed %d POSTs to %s, want none: %+v", n, path, reqs)
				}
			}
		})
	}
}

// TestInvoicerCustomerCrash: the customer was created at Stripe but not recorded; the
// next run finds the same customer.
func TestInvoicerCustomerCrash(t *testing.T) {
	t.Parallel()
	f, _, iv, r := exportFixture(t, map[string]int{"SetBillingCustomer": 1})
	if err := iv.RunOnce(t.Context()); !errors.Is(err, errCrash) {
		t.Fatalf("first run: %v, want the crash", err)
	}
	if n := len(r.Objects("invoice")); n != 0 {
		t.Fatalf("exported to a customer not recorded: %d Stripe invoices", n)
	}
	if err := iv.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantExported(t, f, r)
}

// TestInvoicerExportInterrupted: the connection drops mid-export (a line's item was
// created, its answer lost); the next run completes the Stripe invoice without a
// second item.
func TestInvoicerExportInterrupted(t *testing.T) {
	t.Parallel()
	f, _, iv, r := exportFixture(t, nil)
	// POSTs: the customer, the invoice, then the items: the second item's answer is lost.
	r.Fail(4, true)
	if err := iv.RunOnce(t.Context()); platform.ErrorCode(err) != platform.EUNAVAILABLE {
		t.Fatalf("first run: %v, want %s", err, platform.EUNAVAILABLE)
	}
	if err := iv.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantExported(t, f, r)
}
