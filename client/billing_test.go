package client

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// TestBillingRequests covers the metering and billing methods: the request sent (the
// usage query as parameters, times in RFC 3339) and the answer decoded.
func TestBillingRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hour := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	rollup := `{"org":"default","namespace":"acme","service":"api","region":"local","meter":"requests","hour":"2026-11-20T15:00:00Z","quantity":1234}`
	wantRollup := platform.UsageRollup{Org: "default", Namespace: "acme", Service: "api", Region: "local", Meter: platform.MeterRequests, Hour: hour, Quantity: 1234}
	invoice := `{"id":"in-default-20261101","org":"default","period_start":"2026-11-01T00:00:00Z","period_end":"2026-12-01T00:00:00Z","currency":"usd",` +
		`"lines":[],"total":0,"status":"draft","created_at":"2026-11-20T15:00:00Z"}`
	wantInvoice := &platform.Invoice{ID: "in-default-20261101", Org: "default", PeriodStart: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		PeriodEnd: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Currency: "usd", Lines: []platform.InvoiceLine{}, Status: platform.InvoiceDraft, CreatedAt: hour}
	plan := `{"name":"pro","currency":"usd","base_amount":2000,"quotas":{}}`
	tests := []struct {
		name     string
		response string
		call     func(*Client) (any, error)
		want     recorded
		wantOut  any
	}{
		{
			name: "usage of the period so far", response: `{"usage":[` + rollup + `]}`,
			call:    func(c *Client) (any, error) { return c.Usage(ctx, platform.UsageQuery{}) },
			want:    recorded{Method: "GET", Path: "/v1/usage", Auth: "Bearer tok"},
			wantOut: []platform.UsageRollup{wantRollup},
		},
		{
			name: "usage with every filter", response: `{"usage":[]}`,
			call: func(c *Client) (any, error) {
				return c.Usage(ctx, platform.UsageQuery{Namespace: "acme", Service: "api", Region: "lon1", Meter: platform.MeterRequests,
					From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 2, 1, 0, 0, 0, time.FixedZone("", 3600)), Hourly: true})
			},
			want: recorded{Method: "GET", Path: "/v1/usage", Auth: "Bearer tok",
				Query: "from=2026-11-01T00%3A00%3A00Z&hourly=1&meter=requests&namespace=acme&region=lon1&service=api&to=2026-11-02T01%3A00%3A00%2B01%3A00"},
			wantOut: []platform.UsageRollup{},
		},
		{
			name:     "plan",
			response: `{"org":"default","plan":` + plan + `,"since":"2026-11-20T15:00:00Z","by":"admin","catalog":["free","pro"],"default_plan":"free"}`,
			call:     func(c *Client) (any, error) { return c.Plan(ctx) },
			want:     recorded{Method: "GET", Path: "/v1/billing/plan", Auth: "Bearer tok"},
			wantOut: &platform.PlanView{Org: "default", Plan: platform.Plan{Name: "pro", Currency: "usd", BaseAmount: 2000}, Since: hour, By: "admin",
				Catalog: []string{"free", "pro"}, DefaultPlan: "free"},
		},
		{
			name: "set the plan", response: `{"org":"default","plan":` + plan + `,"from":"2026-11-20T15:00:00Z","by":"admin","created_at":"2026-11-20T15:00:00Z"}`,
			call: func(c *Client) (any, error) { return c.SetPlan(ctx, "pro") },
			want: recorded{Method: "PUT", Path: "/v1/billing/plan", Auth: "Bearer tok", ContentType: "application/json", Body: `{"plan":"pro"}`},
			wantOut: &platform.PlanAssignment{Org: "default", Plan: platform.Plan{Name: "pro", Currency: "usd", BaseAmount: 2000}, From: hour, By: "admin",
				CreatedAt: hour},
		},
		{
			name: "invoices", response: `{"invoices":[` + invoice + `]}`,
			call:    func(c *Client) (any, error) { return c.ListInvoices(ctx) },
			want:    recorded{Method: "GET", Path: "/v1/invoices", Auth: "Bearer tok"},
			wantOut: []*platform.Invoice{wantInvoice},
		},
		{
			name: "the draft", response: invoice,
			call:    func(c *Client) (any, error) { return c.GetInvoice(ctx, "draft") },
			want:    recorded{Method: "GET", Path: "/v1/invoices/draft", Auth: "Bearer tok"},
			wantOut: wantInvoice,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reqs := newServer(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, tt.response) })
			out, err := tt.call(New(srv.URL, WithToken("tok")))
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if len(*reqs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(*reqs))
			}
			got := (*reqs)[0]
			got.UA = ""
			if got != tt.want {
				t.Errorf("request = %+v\nwant      %+v", got, tt.want)
			}
			if !reflect.DeepEqual(out, tt.wantOut) {
				t.Errorf("out = %#v\nwant  %#v", out, tt.wantOut)
			}
		})
	}
}

// TestBillingAnswersWithoutTheirFields: an answer without what the API promises is
// EUNAVAILABLE, not a zero value; the server's errors come back as they were.
func TestBillingAnswersWithoutTheirFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/invoices/nope" {
			writeJSON(w, 503, `{"error":{"code":"unavailable","message":"billing is not enabled on this platform","hint":"PLATFORM_BILLING_ENABLED=true"}}`)
			return
		}
		writeJSON(w, 200, `{}`)
	})
	c := New(srv.URL, WithToken("tok"))
	for name, call := range map[string]func() error{
		"usage":    func() error { _, err := c.Usage(ctx, platform.UsageQuery{}); return err },
		"plan":     func() error { _, err := c.Plan(ctx); return err },
		"set plan": func() error { _, err := c.SetPlan(ctx, "pro"); return err },
		"invoices": func() error { _, err := c.ListInvoices(ctx); return err },
		"invoice":  func() error { _, err := c.GetInvoice(ctx, "draft"); return err },
	} {
		if err := call(); platform.ErrorCode(err) != platform.EUNAVAILABLE {
			t.Errorf("%s of {}: %v, want unavailable", name, err)
		}
	}
	_, err := c.GetInvoice(ctx, "nope")
	if platform.ErrorMessage(err) != "billing is not enabled on this platform" || platform.ErrorHint(err) != "PLATFORM_BILLING_ENABLED=true" {
		t.Errorf("error = %v (hint %q)", err, platform.ErrorHint(err))
	}
}
