package http_test

import (
	"strings"
	"testing"
	"time"

	platform "github.com/micro/platform"
)

// TestBillingRoutes covers every metering and billing route: status, body and what the
// ControlPlane was asked.
func TestBillingRoutes(t *testing.T) {
	t.Parallel()
	const ts0 = `"2026-01-02T03:04:05Z"`
	usage := `{"usage":[{"org":"default","namespace":"acme","service":"hello","region":"local","meter":"requests","hour":"2026-01-02T03:00:00Z","quantity":1234}]}`
	plan := `{"name":"pro","currency":"usd","base_amount":2000,"quotas":{}}`
	invoice := func(status string) string {
		return `{"id":"in-default-20260101","org":"default","period_start":"2026-01-01T00:00:00Z","period_end":"2026-02-01T00:00:00Z","currency":"usd",` +
			`"lines":[{"plan":"pro","from":"2026-01-01T00:00:00Z","to":"2026-02-01T00:00:00Z","quantity":2678400,"included":0,"unit_amount":2000,` +
			`"per":2678400,"amount":2000,"description":"Plan pro"},{"meter":"requests","plan":"pro","from":"2026-01-01T00:00:00Z","to":"2026-02-01T00:00:00Z",` +
			`"quantity":13000000,"included":10000000,"unit_amount":50,"per":1000000,"amount":150,"description":"Requests"}],"total":2150,` +
			`"status":"` + status + `","created_at":` + ts0 + `}`
	}
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string
		wantCall   string
		wantArg    any
	}{
		{name: "usage of the period so far", method: "GET", path: "/v1/usage",
			wantStatus: 200, wantBody: usage, wantCall: "Usage", wantArg: platform.UsageQuery{}},
		{name: "usage with every filter", method: "GET",
			path:       "/v1/usage?namespace=acme&service=hello&region=lon1&meter=requests&from=2026-01-01T00:00:00Z&to=2026-01-02T12:00:00%2B01:00&hourly=1",
			wantStatus: 200, wantBody: usage, wantCall: "Usage",
			wantArg: platform.UsageQuery{Namespace: "acme", Service: "hello", Region: "lon1", Meter: platform.MeterRequests,
				From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC), Hourly: true}},
		{name: "plan", method: "GET", path: "/v1/billing/plan", wantStatus: 200, wantCall: "Plan",
			wantBody: `{"org":"default","plan":{"name":"free","currency":"usd","quotas":{"instances":3}},"default":true,"since":` + ts0 +
				`,"by":"platform","catalog":["free","pro"],"default_plan":"free"}`},
		{name: "set the plan", method: "PUT", path: "/v1/billing/plan", body: `{"plan":"pro"}`, wantStatus: 200, wantCall: "SetPlan", wantArg: "pro",
			wantBody: `{"org":"default","plan":` + plan + `,"from":` + ts0 + `,"by":"admin","created_at":` + ts0 + `}`},
		{name: "invoices", method: "GET", path: "/v1/invoices", wantStatus: 200, wantCall: "ListInvoices",
			wantBody: `{"invoices":[` + invoice("open") + `]}`},
		{name: "the draft", method: "GET", path: "/v1/invoices/draft", wantStatus: 200, wantCall: "GetInvoice", wantArg: "draft",
			wantBody: invoice("draft")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := &fakeControlPlane{}
			ts := newTestServer(t, cp, nil)
			resp, got := ts.do(t, tt.method, tt.path, adminSecret, strings.NewReader(tt.body))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, got)
			}
			assertJSONEqual(t, got, tt.wantBody)
			if calls := cp.Calls(); len(calls) != 1 || calls[0] != tt.wantCall {
				t.Fatalf("ControlPlane calls = %v, want [%s]", calls, tt.wantCall)
			}
			if tt.wantArg != nil && !equalUsageArg(cp.LastArg(), tt.wantArg) {
				t.Errorf("ControlPlane got %#v, want %#v", cp.LastArg(), tt.wantArg)
			}
		})
	}
}

// equalUsageArg is equalArg with a UsageQuery's times compared as instants.
func equalUsageArg(got, want any) bool {
	g, ok1 := got.(platform.UsageQuery)
	w, ok2 := want.(platform.UsageQuery)
	if ok1 && ok2 {
		if !g.From.Equal(w.From) || !g.To.Equal(w.To) {
			return false
		}
		g.From, g.To, w.From, w.To = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		return g == w
	}
	return equalArg(got, want)
}

// TestBillingRouteRefusals covers the requests refused before the ControlPlane is asked
// (bad times, meters are the plane's, strict bodies) and those it refuses.
func TestBillingRouteRefusals(t *testing.T) {
	t.Parallel()
	off := platform.Errorf(platform.EUNAVAILABLE, "billing is not enabled on this platform").WithHint("PLATFORM_BILLING_ENABLED=true")
	tests := []struct {
		name       string
		cp         *fakeControlPlane
		method     string
		path       string
		secret     string
		body       string
		wantStatus int
		wantCode   string
		wantMsg    string
		wantCalls  int
	}{
		{name: "usage with bad times and hourly, every one named", method: "GET", path: "/v1/usage?from=2026-01-01&to=yesterday&hourly=yes",
			secret: adminSecret, wantStatus: 400, wantCode: platform.EINVALID,
			wantMsg: `query parameter from="2026-01-01": use an RFC 3339 time such as "2026-12-01T00:00:00Z"; query parameter to="yesterday": use an RFC 3339 time` +
				` such as "2026-12-01T00:00:00Z"; query parameter hourly="yes" must be true or false`},
		{name: "usage without a token", method: "GET", path: "/v1/usage", wantStatus: 401, wantCode: platform.EUNAUTHENTICATED, wantCalls: 1},
		{name: "another organisation's invoice", method: "GET", path: "/v1/invoices/in-globex-20260101", secret: adminSecret,
			wantStatus: 404, wantCode: platform.ENOTFOUND, wantMsg: `invoice "in-globex-20260101" not found`, wantCalls: 1},
		{name: "plan without a name", method: "PUT", path: "/v1/billing/plan", secret: adminSecret, body: `{}`,
			wantStatus: 400, wantCode: platform.EINVALID, wantMsg: "plan is required"},
		{name: "plan with an unknown field", method: "PUT", path: "/v1/billing/plan", secret: adminSecret, body: `{"name":"pro"}`,
			wantStatus: 400, wantCode: platform.EINVALID, wantMsg: `unknown field "name"`},
		{name: "plan by a narrowed token", method: "PUT", path: "/v1/billing/plan", secret: scopedSecret, body: `{"plan":"pro"}`,
			wantStatus: 403, wantCode: platform.EFORBIDDEN, wantCalls: 1},
		{name: "billing off", cp: &fakeControlPlane{err: off}, method: "GET", path: "/v1/invoices", secret: adminSecret,
			wantStatus: 503, wantCode: platform.EUNAVAILABLE, wantMsg: "billing is not enabled on this platform", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cp := tt.cp
			if cp == nil {
				cp = &fakeControlPlane{}
			}
			ts := newTestServer(t, cp, nil)
			resp, got := ts.do(t, tt.method, tt.path, tt.secret, strings.NewReader(tt.body))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, got)
			}
			body := mustErrorBody(t, resp, got)
			if body.Code != tt.wantCode || !strings.Contains(body.Message, tt.wantMsg) {
				t.Errorf("error = %+v, want %s containing %q", body, tt.wantCode, tt.wantMsg)
			}
			if n := len(cp.Calls()); n != tt.wantCalls {
				t.Errorf("ControlPlane called %d times, want %d", n, tt.wantCalls)
			}
		})
	}
}
