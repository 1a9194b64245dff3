package platform

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Meter names a metered quantity: what usage events count and invoices charge for.
type Meter string

// Meters. Each counts an integer quantity in its Unit.
const (
	// MeterInstanceSeconds counts instance-seconds weighted by size: a second of one
	// instance counts its size's Weight (nano 1, … see Size.Weight).
	MeterInstanceSeconds Meter = "instance_seconds"
	// MeterRequests counts gateway requests.
	MeterRequests Meter = "requests"
	// MeterBuildSeconds counts seconds of builds.
	MeterBuildSeconds Meter = "build_seconds"
	// MeterEgressBytes counts bytes the gateway sent out.
	MeterEgressBytes Meter = "egress_bytes"
	// MeterLogBytes counts bytes of instance output stored.
	MeterLogBytes Meter = "log_bytes"
	// MeterToolCalls counts agent (MCP) tool calls.
	MeterToolCalls Meter = "tool_calls"
)

// Meters lists every meter, in the order invoices show them.
var Meters = []Meter{MeterInstanceSeconds, MeterRequests, MeterBuildSeconds, MeterEgressBytes, MeterLogBytes, MeterToolCalls}

// Valid reports whether m is one of Meters.
func (m Meter) Valid() bool { return slices.Contains(Meters, m) }

// Unit is what one of the meter's quantity is, for people.
func (m Meter) Unit() string {
	switch m {
	case MeterInstanceSeconds:
		return "size-weighted instance-second"
	case MeterRequests:
		return "request"
	case MeterBuildSeconds:
		return "build-second"
	case MeterEgressBytes, MeterLogBytes:
		return "byte"
	case MeterToolCalls:
		return "tool call"
	}
	return ""
}

// Label names the meter for people, as invoice lines and usage tables head it.
func (m Meter) Label() string {
	switch m {
	case MeterInstanceSeconds:
		return "Instance-seconds (size-weighted)"
	case MeterRequests:
		return "Requests"
	case MeterBuildSeconds:
		return "Build-seconds"
	case MeterEgressBytes:
		return "Egress bytes"
	case MeterLogBytes:
		return "Log bytes"
	case MeterToolCalls:
		return "Tool calls"
	}
	return string(m)
}

// UsageEvent is one measurement of usage, as the gateway, the runtime and the builder
// emit it. ID identifies it for good: the pipeline counts an event once however often
// it is delivered.
type UsageEvent struct {
	ID        string    `json:"id"`
	Org       string    `json:"org"`
	Namespace string    `json:"namespace"`
	Service   string    `json:"service,omitempty"`
	Region    string    `json:"region,omitempty"`
	Meter     Meter     `json:"meter"`
	Quantity  int64     `json:"quantity"`
	Time      time.Time `json:"time"`
}

// Validate returns EINVALID listing what the event lacks.
func (e *UsageEvent) Validate() error {
	var problems []string
	if e.ID == "" {
		problems = append(problems, "a usage event needs an id")
	}
	if e.Org == "" || e.Namespace == "" {
		problems = append(problems, "a usage event needs an org and a namespace")
	}
	if !e.Meter.Valid() {
		problems = append(problems, fmt.Sprintf("meter %q is not one of the meters", e.Meter))
	}
	if e.Quantity < 0 {
		problems = append(problems, "a usage quantity is never negative")
	}
	if e.Time.IsZero() {
		problems = append(problems, "a usage event needs a time")
	}
	return invalidProblems(problems)
}

// UsageRollup is the usage of one meter by one service of a namespace in one region
// during one hour (UTC): the sum of the quantities of the distinct events in it.
type UsageRollup struct {
	Org       string    `json:"org"`
	Namespace string    `json:"namespace"`
	Service   string    `json:"service,omitempty"`
	Region    string    `json:"region,omitempty"`
	Meter     Meter     `json:"meter"`
	Hour      time.Time `json:"hour"`
	Quantity  int64     `json:"quantity"`
}

// Plan is what an organisation pays and may use: a price and an included quantity per
// meter, and quotas. Plans are defined in the server's configuration.
type Plan struct {
	Name string `json:"name" yaml:"name"`
	// Currency is an ISO 4217 code in lower case ("usd", "eur"); amounts are in its
	// minor unit (cents).
	Currency string `json:"currency" yaml:"currency"`
	// Prices are per meter: UnitAmount minor units for every Per units beyond Included.
	Prices map[Meter]Price `json:"prices,omitempty" yaml:"prices"`
	// BaseAmount is charged every period, prorated for part of one.
	BaseAmount int64  `json:"base_amount,omitempty" yaml:"base_amount"`
	Quotas     Quotas `json:"quotas" yaml:"quotas"`
}

// Price is a meter's price in a plan: UnitAmount minor units per Per units (Per 0 is
// 1), after the first Included units of the period, which are free.
type Price struct {
	UnitAmount int64 `json:"unit_amount" yaml:"unit_amount"`
	Per        int64 `json:"per,omitempty" yaml:"per"`
	Included   int64 `json:"included,omitempty" yaml:"included"`
}

// Quotas are a plan's limits; 0 means unlimited.
type Quotas struct {
	Instances         int   `json:"instances,omitempty" yaml:"instances"`
	Namespaces        int   `json:"namespaces,omitempty" yaml:"namespaces"`
	Previews          int   `json:"previews,omitempty" yaml:"previews"`
	RequestsPerSecond int   `json:"requests_per_second,omitempty" yaml:"requests_per_second"`
	BuildMinutes      int64 `json:"build_minutes,omitempty" yaml:"build_minutes"`
	// SpendLimit stops new deploys and scales previews to zero when the period's
	// charges reach it (minor units); 0 is none.
	SpendLimit int64 `json:"spend_limit,omitempty" yaml:"spend_limit"`
}

// InvoiceStatus is where an invoice is.
type InvoiceStatus string

// Invoice statuses.
const (
	// InvoiceDraft is an invoice of a period not over yet (what accrues).
	InvoiceDraft InvoiceStatus = "draft"
	// InvoiceOpen is final: the period ended, its lines do not change.
	InvoiceOpen InvoiceStatus = "open"
	// InvoiceExported has been sent to the payment provider (Stripe).
	InvoiceExported InvoiceStatus = "exported"
)

// Invoice is what an organisation owes for one period.
type Invoice struct {
	ID          string        `json:"id"`
	Org         string        `json:"org"`
	PeriodStart time.Time     `json:"period_start"`
	PeriodEnd   time.Time     `json:"period_end"`
	Currency    string        `json:"currency"`
	Lines       []InvoiceLine `json:"lines"`
	// Total is the sum of the lines' amounts, in minor units.
	Total  int64         `json:"total"`
	Status InvoiceStatus `json:"status"`
	// ExternalID is the payment provider's ID of the invoice once exported.
	ExternalID string    `json:"external_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// InvoiceLine is one charge of an invoice: a meter's usage under one plan for part of
// the period (a plan change splits a meter into two lines, each prorated), or a plan's
// base amount.
type InvoiceLine struct {
	// Meter is "" for the plan's base amount.
	Meter Meter  `json:"meter,omitempty"`
	Plan  string `json:"plan"`
	// From and To are the part of the period the line covers.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Quantity is the usage; Included the part of it that is free (the plan's included
	// quantity prorated to the line's part of the period); the rest is charged at
	// UnitAmount per Per.
	Quantity   int64 `json:"quantity"`
	Included   int64 `json:"included"`
	UnitAmount int64 `json:"unit_amount"`
	Per        int64 `json:"per"`
	// Amount is the line's charge in minor units.
	Amount      int64  `json:"amount"`
	Description string `json:"description"`
}

// PlanAssignment puts an organisation on a plan from a time on, until its next
// assignment. It holds the plan as it stood when assigned, so an invoice prices a period
// by the plans in force during it even after the catalog changes.
type PlanAssignment struct {
	Org  string `json:"org"`
	Plan Plan   `json:"plan"`
	// From is when the plan takes effect (to the second, UTC).
	From time.Time `json:"from"`
	// By is who assigned it (a user's login, or "platform").
	By        string    `json:"by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// BillingStore keeps what billing decides: the plan history of each organisation, its
// invoices (final ones: a draft is computed, never stored), the payment provider's
// customer of each organisation, and the spend-limit thresholds already announced.
type BillingStore interface {
	// AssignPlan appends a to its org's history. EINVALID without an org, a plan name or
	// a From; ENOTFOUND for an unknown org.
	AssignPlan(ctx context.Context, a *PlanAssignment) error
	// PlanHistory returns an org's assignments ordered by From (then by creation), none
	// for an org never assigned a plan.
	PlanHistory(ctx context.Context, org string) ([]*PlanAssignment, error)
	// CreateInvoice stores a final invoice (Status open) unless one of the same ID
	// exists; created reports whether it was stored. An existing invoice is left as it
	// is, so regenerating a period is harmless. EINVALID for a draft or an invoice
	// without an ID or org; ECONFLICT when the org has an invoice of another ID for the
	// same period.
	CreateInvoice(ctx context.Context, inv *Invoice) (created bool, err error)
	// GetInvoice returns an invoice by ID; ENOTFOUND if none.
	GetInvoice(ctx context.Context, id string) (*Invoice, error)
	// ListInvoices returns an org's invoices, newest period first; status "" means all.
	ListInvoices(ctx context.Context, org string, status InvoiceStatus) ([]*Invoice, error)
	// MarkInvoiceExported records that the payment provider holds the invoice as
	// externalID (Status exported). Marking it again with the same ID is a no-op;
	// ECONFLICT with another ID; ENOTFOUND for an unknown invoice.
	MarkInvoiceExported(ctx context.Context, id, externalID string) error
	// SetBillingCustomer records the payment provider's customer of an org (EINVALID
	// without an org or a customer ID, ENOTFOUND for an unknown org); BillingCustomer
	// returns it, "" when none is recorded.
	SetBillingCustomer(ctx context.Context, org, customerID string) error
	BillingCustomer(ctx context.Context, org string) (string, error)
	// MarkSpendThreshold records that org's spend reached threshold (75, 90, 100) of
	// its limit in the period starting at periodStart; first is false when it was
	// recorded before, so each threshold is announced once a period.
	MarkSpendThreshold(ctx context.Context, org string, periodStart time.Time, threshold int) (first bool, err error)
}
