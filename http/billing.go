package http

import (
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	platform "github.com/micro/platform"
)

// billingRoutes serves metering and billing (docs/billing.md): the organisation's usage,
// its plan and its invoices. Times travel as RFC 3339; amounts as integers of the
// currency's minor unit.
func (s *Server) billingRoutes(r chi.Router) {
	r.Get("/usage", s.handle(s.usage))
	r.Get("/billing/plan", s.handle(s.getPlan))
	r.Put("/billing/plan", s.handle(s.setPlan))
	r.Get("/invoices", s.handle(s.listInvoices))
	r.Get("/invoices/{id}", s.handle(s.getInvoice))
}

// time returns the RFC 3339 time parameter name, zero when absent.
func (q *queryParams) time(name string) time.Time {
	v := q.values.Get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		q.problems = append(q.problems, fmt.Sprintf("query parameter %s=%q: use an RFC 3339 time such as \"2026-12-01T00:00:00Z\"", name, v))
	}
	return t
}

// usage serves GET /v1/usage?namespace=&service=&region=&meter=&from=&to=&hourly=: the
// organisation's usage in the window (the current billing period so far by default),
// summed per namespace, service, region and meter, or hourly with hourly=1.
func (s *Server) usage(w http.ResponseWriter, r *http.Request) error {
	q := newQueryParams(r)
	uq := platform.UsageQuery{Namespace: q.String("namespace"), Service: q.String("service"), Region: q.String("region"),
		Meter: platform.Meter(q.String("meter")), From: q.time("from"), To: q.time("to"), Hourly: q.Bool("hourly")}
	if err := q.Err(); err != nil {
		return err
	}
	list, err := s.cp.Usage(r.Context(), uq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Usage []platform.UsageRollup `json:"usage"`
	}{nonNil(list)})
	return nil
}

// getPlan serves GET /v1/billing/plan: the organisation's plan and the catalog's names.
func (s *Server) getPlan(w http.ResponseWriter, r *http.Request) error {
	v, err := s.cp.Plan(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// setPlanRequest is the body of PUT /v1/billing/plan.
type setPlanRequest struct {
	Plan string `json:"plan"`
}

// setPlan serves PUT /v1/billing/plan {"plan": "pro"}: the organisation moves to the
// plan from now on; the answer is the new assignment.
func (s *Server) setPlan(w http.ResponseWriter, r *http.Request) error {
	var body setPlanRequest
	if err := decodeJSON(w, r, &body, s.opts.MaxBodyBytes); err != nil {
		return err
	}
	if body.Plan == "" {
		return platform.Errorf(platform.EINVALID, "plan is required").WithHint(`send {"plan": "NAME"}; GET /v1/billing/plan lists the catalog`)
	}
	a, err := s.cp.SetPlan(r.Context(), body.Plan)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// listInvoices serves GET /v1/invoices: the current period's draft, then the final
// invoices, newest first.
func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cp.ListInvoices(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Invoices []*platform.Invoice `json:"invoices"`
	}{nonNil(list)})
	return nil
}

// getInvoice serves GET /v1/invoices/{id}; "draft" is the current period's.
func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) error {
	id, err := pathParam(r, "id")
	if err != nil {
		return err
	}
	inv, err := s.cp.GetInvoice(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, inv)
	return nil
}
