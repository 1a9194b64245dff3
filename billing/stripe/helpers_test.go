package stripe

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	platform "github.com/micro/platform"
	"github.com/micro/platform/internal/stripetest"
)

func TestMain(m *testing.M) { os.Exit(stripetest.Main(m)) }

var (
	periodStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	planChange  = time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)
	periodEnd   = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
)

// testOrg is the organisation of testInvoice.
var testOrg = &platform.Org{Name: "acme", DisplayName: "Acme Inc."}

// testInvoice is an open invoice of a period with a plan change: base amounts and meters
// of both plans, one line entirely within its included quantity (0).
func testInvoice() *platform.Invoice {
	lines := []platform.InvoiceLine{
		{Plan: "free", From: periodStart, To: planChange, Amount: 0, Description: "Base amount (free)"},
		{Plan: "pro", From: planChange, To: periodEnd, Amount: 1161, Description: "Base amount (pro), prorated"},
		{Meter: platform.MeterRequests, Plan: "free", From: periodStart, To: planChange, Quantity: 90_000, Included: 100_000, Per: 1000, UnitAmount: 5},
		{Meter: platform.MeterRequests, Plan: "pro", From: planChange, To: periodEnd, Quantity: 2_500_000, Included: 354_838, UnitAmount: 2, Per: 1000, Amount: 4292},
		{Meter: platform.MeterInstanceSeconds, Plan: "pro", From: planChange, To: periodEnd, Quantity: 950_400, UnitAmount: 1, Per: 3600, Amount: 264},
	}
	inv := &platform.Invoice{
		ID: "inv-acme-2026-01", Org: "acme", PeriodStart: periodStart, PeriodEnd: periodEnd,
		Currency: "usd", Lines: lines, Status: platform.InvoiceOpen, CreatedAt: periodEnd,
	}
	for _, l := range lines {
		inv.Total += l.Amount
	}
	return inv
}

// newClient returns a Client of url with stripe-mock's key and no retries (unless
// overridden), logging into the returned buffer at debug level.
func newClient(tb testing.TB, url string, edit ...func(*Options)) (*Client, *syncBuffer) {
	tb.Helper()
	logs := &syncBuffer{}
	opts := Options{
		Key:               stripetest.Key,
		URL:               url,
		MaxNetworkRetries: -1,
		Logger:            slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, e := range edit {
		e(&opts)
	}
	c, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return c, logs
}

// export runs what the billing engine does for one invoice: ensure the customer (unless
// one is kept), export the invoice. It returns the ids a caller would keep.
func export(ctx context.Context, c *Client, inv *platform.Invoice, customerID string) (string, string, error) {
	if customerID == "" {
		id, err := c.EnsureCustomer(ctx, testOrg, "billing@acme.example")
		if err != nil {
			return "", "", err
		}
		customerID = id
	}
	invoiceID, err := c.ExportInvoice(ctx, inv, customerID)
	return customerID, invoiceID, err
}

// noRequests is a Stripe that fails the test when called.
func noRequests(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.Error(w, "no", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// posts returns the recorded POSTs, executed ones only when executed is set.
func posts(reqs []stripetest.Request, executed bool) []stripetest.Request {
	var out []stripetest.Request
	for _, r := range reqs {
		if r.Method == http.MethodPost && (!executed || r.Executed) {
			out = append(out, r)
		}
	}
	return out
}
