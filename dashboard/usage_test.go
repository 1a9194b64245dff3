package dashboard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
	"github.com/micro/platform/billing"
)

// usageCP is a control plane for the usage page: a caller of role, November's usage, and
// billing on (plans) or off.
type usageCP struct {
	platform.ControlPlane
	role    platform.Role
	billing bool
	setPlan string
}

func (c *usageCP) Whoami(context.Context) (*platform.Whoami, error) {
	return &platform.Whoami{Token: &platform.Token{ID: "t1", Name: "me", Role: c.role}, Org: platform.DefaultOrg, Role: c.role}, nil
}

func (c *usageCP) ListNamespaces(context.Context) ([]*platform.Namespace, error) {
	return []*platform.Namespace{{Name: "acme"}}, nil
}

var nov = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func (c *usageCP) Usage(_ context.Context, q platform.UsageQuery) ([]platform.UsageRollup, error) {
	if q != (platform.UsageQuery{}) {
		return nil, platform.Errorf(platform.EINVALID, "the page asks for the period so far, got %+v", q)
	}
	r := func(svc string, m platform.Meter, n int64) platform.UsageRollup {
		return platform.UsageRollup{Org: platform.DefaultOrg, Namespace: "acme", Service: svc, Region: "local", Meter: m, Hour: nov, Quantity: n}
	}
	return []platform.UsageRollup{
		r("api", platform.MeterInstanceSeconds, 3_600_000), r("api", platform.MeterRequests, 12_345_678),
		r("worker", platform.MeterRequests, 1_000), r("worker", platform.MeterLogBytes, 2048),
	}, nil
}

func (c *usageCP) Plan(context.Context) (*platform.PlanView, error) {
	if !c.billing {
		return nil, platform.Errorf(platform.EUNAVAILABLE, "billing is not enabled on this platform").WithHint("the operator sets PLATFORM_BILLING_ENABLED=true")
	}
	ps := billing.DefaultPlans()
	pro, _ := ps.Lookup("pro")
	return &platform.PlanView{Org: platform.DefaultOrg, Plan: pro, Since: nov.Add(24 * time.Hour), By: "ada", Catalog: ps.Names(), DefaultPlan: ps.Default}, nil
}

func (c *usageCP) ListInvoices(context.Context) ([]*platform.Invoice, error) {
	ps := billing.DefaultPlans()
	pro, _ := ps.Lookup("pro")
	draft, err := billing.Rate(platform.DefaultOrg, billing.MonthOf(nov), []billing.Assignment{{Plan: pro, From: nov}}, []platform.UsageRollup{
		{Org: platform.DefaultOrg, Namespace: "acme", Service: "api", Meter: platform.MeterRequests, Hour: nov, Quantity: 12_345_678},
	}, nov.Add(15*24*time.Hour))
	if err != nil {
		return nil, err
	}
	final := &platform.Invoice{ID: "in-default-20261001", Org: platform.DefaultOrg, PeriodStart: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC),
		PeriodEnd: nov, Currency: "usd", Total: 123456, Status: platform.InvoiceOpen, Lines: []platform.InvoiceLine{}}
	return []*platform.Invoice{draft, final}, nil
}

func (c *usageCP) SetPlan(_ context.Context, name string) (*platform.PlanAssignment, error) {
	c.setPlan = name
	return &platform.PlanAssignment{Org: platform.DefaultOrg, Plan: platform.Plan{Name: name}, From: nov.Add(time.Hour)}, nil
}

// serveUsage sends a request to the dashboard as the caller of cp.
func serveUsage(t *testing.T, cp *usageCP, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	d := New(Options{ControlPlane: cp, Auth: nopAuth{}, SessionCookie: "s", CSRF: fixedCSRF{}, CSRFCookie: "c"})
	mux := chi.NewRouter()
	mux.Mount(Prefix, d)
	req = req.WithContext(platform.NewContextWithToken(req.Context(), &platform.Token{ID: "t1", Name: "me", Role: cp.role}))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

// The usage page shows the period's usage per meter (labels, units, thousands
// separators) and per namespace and service, the plan and the invoices with the draft
// first and itemised; only an admin or owner gets the plan selector; without billing it
// says how to enable it and still shows the usage.
func TestUsagePage(t *testing.T) {
	t.Parallel()
	owner := &usageCP{role: platform.RoleOwner, billing: true}
	body := serveUsage(t, owner, httptest.NewRequest(http.MethodGet, "/ui/usage", nil)).Body.String()
	for _, want := range []string{
		`<a href="/ui/usage" aria-current="page">Usage</a>`,
		`<time datetime="2026-11-01T00:00:00Z">1 Nov 2026</time>`,
		`<th scope="row">Requests</th><td class="num">12,346,678</td><td>request</td>`,
		`<th scope="row">Instance-seconds (size-weighted)</th><td class="num">3,600,000</td>`,
		`<th scope="row">Log bytes</th><td class="num">2,048</td><td>byte</td>`,
		`<th scope="row">acme</th><td>worker</td><td>local</td><td>Requests</td><td class="num">1,000 <span class="muted">request</span></td>`,
		"Plan <strong>pro</strong>: 20.00 USD a month, since",
		`<form method="post" action="/ui/usage/plan"`, `name="csrf_token"`,
		`<option>free</option><option selected>pro</option><option>enterprise</option>`,
		`<code>in-default-20261101</code></th><td>1 Nov – 30 Nov 2026</td><td><span class="badge">draft</span>`,
		`<code>in-default-20261001</code></th><td>1 Oct – 31 Oct 2026</td><td><span class="badge">open</span></td><td class="num">1,234.56 USD</td>`,
		"This period's draft, line by line", `<th scope="row">Base amount</th><td>pro</td>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the owner's usage page lacks %q", want)
		}
	}
	if strings.Index(body, "in-default-20261101") > strings.Index(body, "in-default-20261001") {
		t.Error("the draft is not first")
	}

	viewer := &usageCP{role: platform.RoleViewer, billing: true}
	body = serveUsage(t, viewer, httptest.NewRequest(http.MethodGet, "/ui/usage", nil)).Body.String()
	if !strings.Contains(body, "Plan <strong>pro</strong>") || !strings.Contains(body, "in-default-20261001") || strings.Contains(body, "/ui/usage/plan") ||
		strings.Contains(body, "plan-name") {
		t.Errorf("a viewer sees the plan and invoices and no selector: %s", body)
	}

	off := &usageCP{role: platform.RoleOwner}
	rec := serveUsage(t, off, httptest.NewRequest(http.MethodGet, "/ui/usage", nil))
	body = rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "billing is not enabled on this platform.") || !strings.Contains(body, "PLATFORM_BILLING_ENABLED=true") ||
		!strings.Contains(body, "12,346,678") || strings.Contains(body, "/ui/usage/plan") {
		t.Errorf("without billing: HTTP %d: %s", rec.Code, body)
	}

	req := httptest.NewRequest(http.MethodPost, "/ui/usage/plan", strings.NewReader(url.Values{"plan": {"enterprise"}, "csrf_token": {"csrf"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = serveUsage(t, owner, req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/usage#plan" || owner.setPlan != "enterprise" ||
		!strings.Contains(rec.Header().Get("Set-Cookie"), "enterprise") {
		t.Errorf("the plan selector: HTTP %d to %q, set %q, cookie %q", rec.Code, rec.Header().Get("Location"), owner.setPlan, rec.Header().Get("Set-Cookie"))
	}
}
