package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	platform "github.com/micro/platform"
)

// Metering and billing (docs/billing.md): any member reads the usage of the namespaces
// their token reaches; the plan and invoices need a token for every namespace, and
// changing the plan an admin. Amounts are integers of the currency's minor unit
// (billing.FormatAmount renders them); times are RFC 3339.

// Usage returns the organisation's usage in q's window (the current billing period so
// far when From and To are zero): summed per namespace, service, region and meter,
// each sum's Hour the window's start, or the hourly rollups with q.Hourly. EINVALID
// for a bad window or meter; ENOTFOUND for a namespace the organisation neither has
// nor used. It works whether or not billing is enabled.
func (c *Client) Usage(ctx context.Context, q platform.UsageQuery) ([]platform.UsageRollup, error) {
	v := url.Values{}
	for k, s := range map[string]string{"namespace": q.Namespace, "service": q.Service, "region": q.Region, "meter": string(q.Meter)} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.Format(time.RFC3339Nano))
	}
	if q.Hourly {
		v.Set("hourly", "1")
	}
	var out struct {
		Usage []platform.UsageRollup `json:"usage"`
	}
	p := path("v1", "usage")
	if err := c.do(ctx, http.MethodGet, p, v, nil, &out); err != nil {
		return nil, err
	}
	if out.Usage == nil {
		return nil, c.badResponse(http.MethodGet, p, errMissingFields)
	}
	return out.Usage, nil
}

// Plan returns the organisation's plan in force now and the catalog's plan names.
// EUNAVAILABLE when billing is not enabled on the server.
func (c *Client) Plan(ctx context.Context) (*platform.PlanView, error) {
	var out platform.PlanView
	p := path("v1", "billing", "plan")
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, err
	}
	if out.Plan.Name == "" {
		return nil, c.badResponse(http.MethodGet, p, errMissingFields)
	}
	return &out, nil
}

// SetPlan moves the organisation to the catalog's plan name from now on and returns
// the assignment. EINVALID for a plan not in the catalog (the hint lists them);
// admins and owners only.
func (c *Client) SetPlan(ctx context.Context, name string) (*platform.PlanAssignment, error) {
	var out platform.PlanAssignment
	p := path("v1", "billing", "plan")
	if err := c.do(ctx, http.MethodPut, p, nil, struct {
		Plan string `json:"plan"`
	}{name}, &out); err != nil {
		return nil, err
	}
	if out.Plan.Name == "" {
		return nil, c.badResponse(http.MethodPut, p, errMissingFields)
	}
	return &out, nil
}

// ListInvoices returns the organisation's invoices, newest period first: the current
// period's draft, then the final ones.
func (c *Client) ListInvoices(ctx context.Context) ([]*platform.Invoice, error) {
	var out struct {
		Invoices []*platform.Invoice `json:"invoices"`
	}
	p := path("v1", "invoices")
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, err
	}
	if out.Invoices == nil {
		return nil, c.badResponse(http.MethodGet, p, errMissingFields)
	}
	return out.Invoices, nil
}

// GetInvoice returns one of the organisation's invoices with its lines; "draft" is the
// current period's. ENOTFOUND for an unknown invoice.
func (c *Client) GetInvoice(ctx context.Context, id string) (*platform.Invoice, error) {
	var out platform.Invoice
	p := path("v1", "invoices", id)
	if err := c.do(ctx, http.MethodGet, p, nil, nil, &out); err != nil {
		return nil, err
	}
	if out.ID == "" {
		return nil, c.badResponse(http.MethodGet, p, errMissingFields)
	}
	return &out, nil
}
