package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	platform "github.com/micro/platform"
)

// InvoicerStore is what the Invoicer reads and writes: the organisations, their usage
// rollups and what billing keeps. platform.Store has it all.
type InvoicerStore interface {
	platform.BillingStore
	// ListUsageRollups is platform.MeteringStore's.
	ListUsageRollups(ctx context.Context, f platform.UsageRollupFilter) ([]*platform.UsageRollup, error)
	// ListOrgs and GetOrg are platform.OrgStore's.
	ListOrgs(ctx context.Context) ([]*platform.Org, error)
	GetOrg(ctx context.Context, name string) (*platform.Org, error)
}

// Exporter sends final invoices to the payment provider. *stripe.Client (package
// billing/stripe) implements it; both calls are idempotent, so that an export repeated
// after a failure or a crash at any point completes the first one and never charges
// twice.
type Exporter interface {
	// EnsureCustomer returns the provider's id of org's customer, creating it (with
	// email as its billing address) unless it exists.
	EnsureCustomer(ctx context.Context, org *platform.Org, email string) (customerID string, err error)
	// ExportInvoice sends inv to the provider as a finalised invoice of customerID and
	// returns the provider's id of it; again for the same invoice, it returns the same id
	// without creating anything twice.
	ExportInvoice(ctx context.Context, inv *platform.Invoice, customerID string) (externalID string, err error)
}

// DefaultInvoiceInterval is how often Start runs the Invoicer when its options name no
// Interval.
const DefaultInvoiceInterval = time.Hour

// DefaultInvoiceGrace is how long after a period's end the Invoicer waits before it
// invoices the period, when its options name no Grace: usage events reach the rollups
// up to the metering pipeline's dedupe window (an hour, plus the rest of the hour)
// after their time, and a final invoice never changes.
const DefaultInvoiceGrace = 2 * time.Hour

// InvoicerOptions configure an Invoicer.
type InvoicerOptions struct {
	// Store holds the organisations, the rollups and the invoices: required.
	Store InvoicerStore
	// Plans are the server's plans: an organisation never assigned one is on
	// Plans.Default from its creation.
	Plans Plans
	// Exporter sends open invoices to the payment provider; nil exports nothing (the
	// invoices stay open).
	Exporter Exporter
	// CustomerEmail returns the billing address of an organisation's new customer at
	// the payment provider; nil (or "") creates the customer without one.
	CustomerEmail func(ctx context.Context, org *platform.Org) (string, error)
	// Clock tells when periods end and a draft is rated; nil is the system's.
	Clock platform.Clock
	// Logger gets a line for every invoice created and exported and every failure; nil
	// discards them.
	Logger *slog.Logger
	// Interval is how often Start runs RunOnce: 0 is DefaultInvoiceInterval.
	Interval time.Duration
	// Grace is how long after a period's end RunOnce waits before it invoices the
	// period: 0 is DefaultInvoiceGrace, negative none.
	Grace time.Duration
}

// Invoicer turns the usage of every organisation into a final invoice per period and
// exports the invoices to the payment provider. It is a reconciler: each run
// (RunOnce) creates the invoices that are missing and exports those not exported yet,
// from the store's state alone, so a run after a crash at any point finishes what the
// crashed one began, and runs repeated change nothing.
type Invoicer struct {
	opts InvoicerOptions
	log  *slog.Logger
	run  sync.Mutex // one RunOnce at a time
	wg   sync.WaitGroup
}

// NewInvoicer returns an Invoicer; Start runs it every Interval, RunOnce once. EINVALID
// without a store or with plans that do not validate.
func NewInvoicer(opts InvoicerOptions) (*Invoicer, error) {
	if opts.Store == nil {
		return nil, platform.Errorf(platform.EINVALID, "an invoicer needs a store")
	}
	if err := opts.Plans.Validate(); err != nil {
		return nil, err
	}
	if opts.Clock == nil {
		opts.Clock = platform.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInvoiceInterval
	}
	switch {
	case opts.Grace == 0:
		opts.Grace = DefaultInvoiceGrace
	case opts.Grace < 0:
		opts.Grace = 0
	}
	return &Invoicer{opts: opts, log: opts.Logger.With("component", "invoicer")}, nil
}

// Start runs RunOnce now and every Interval until ctx ends, in a goroutine; a run's
// errors are logged (RunOnce logs each) and the next run tries again. Wait returns
// once it has stopped.
func (iv *Invoicer) Start(ctx context.Context) {
	iv.wg.Go(func() {
		t := time.NewTicker(iv.opts.Interval)
		defer t.Stop()
		for {
			if err := iv.RunOnce(ctx); err != nil && ctx.Err() == nil {
				iv.log.Warn("invoicing run incomplete: the next run retries", "err", err, "next_in", iv.opts.Interval)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// Wait returns once the goroutine Start began has returned.
func (iv *Invoicer) Wait() { iv.wg.Wait() }

// RunOnce invoices and exports:
//
//  1. for every organisation, every period (calendar month, UTC) that ended at least
//     Grace ago, from the period of its first plan assignment or of its first usage
//     rollup (whichever is earlier: an organisation with neither has nothing to
//     invoice), that has no invoice yet: its invoice, rated by Rate as of the period's
//     end (so the stored invoice is Rate's, dated the period's end) under its plan
//     history (Plans.Default from its creation if it was never assigned a plan) and
//     stored with CreateInvoice;
//  2. with an Exporter, every open invoice, oldest first: the organisation's customer
//     (the one stored, else EnsureCustomer, then stored), ExportInvoice, then
//     MarkInvoiceExported with the provider's id.
//
// A failure of one organisation, period or invoice is logged and does not stop the
// others; RunOnce returns them all joined (nil when everything converged). Nothing is
// done twice: CreateInvoice keeps the first invoice of a period, and an export
// interrupted before MarkInvoiceExported (a crash, a failure of the store) is found by
// the Exporter on the next run, which returns the same invoice without charging again.
func (iv *Invoicer) RunOnce(ctx context.Context) error {
	iv.run.Lock()
	defer iv.run.Unlock()
	orgs, err := iv.opts.Store.ListOrgs(ctx)
	if err != nil {
		return fmt.Errorf("invoicer: list organisations: %w", err)
	}
	now := iv.opts.Clock.Now().UTC()
	var errs []error
	for _, o := range orgs {
		if ctx.Err() != nil {
			return errors.Join(append(errs, ctx.Err())...)
		}
		errs = append(errs, iv.invoiceOrg(ctx, o, now)...)
	}
	if iv.opts.Exporter != nil {
		for _, o := range orgs {
			if ctx.Err() != nil {
				return errors.Join(append(errs, ctx.Err())...)
			}
			errs = append(errs, iv.exportOrg(ctx, o)...)
		}
	}
	return errors.Join(errs...)
}

// invoiceOrg creates the missing invoices of o's periods that ended Grace before now.
func (iv *Invoicer) invoiceOrg(ctx context.Context, o *platform.Org, now time.Time) []error {
	fail := func(err error, what string, args ...any) []error {
		iv.log.Error("invoicing failed", append([]any{"org", o.Name, "step", what, "err", err}, args...)...)
		return []error{fmt.Errorf("invoice organisation %s: %s: %w", o.Name, what, err)}
	}
	stored, err := iv.opts.Store.PlanHistory(ctx, o.Name)
	if err != nil {
		return fail(err, "plan history")
	}
	history := iv.history(o, stored)
	invoices, err := iv.opts.Store.ListInvoices(ctx, o.Name, "")
	if err != nil {
		return fail(err, "list invoices")
	}
	invoiced := make(map[int64]bool, len(invoices))
	for _, inv := range invoices {
		invoiced[inv.PeriodStart.Unix()] = true
	}
	// The periods that ended Grace ago are invoiced from the first of: the period of
	// the first assignment, that of the oldest invoice, that of the first usage. Usage
	// is looked for before the oldest invoice only (or before the first period not
	// over if none), which is almost always none: one cheap query.
	var first time.Time
	earlier := func(t time.Time) {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if len(stored) > 0 {
		earlier(MonthOf(stored[0].From).Start) // PlanHistory is ordered by From
	}
	usageTo := MonthOf(now.Add(-iv.opts.Grace)).Start
	if len(invoices) > 0 {
		oldest := invoices[len(invoices)-1].PeriodStart // newest first
		earlier(MonthOf(oldest).Start)
		usageTo = oldest
	}
	early, err := iv.opts.Store.ListUsageRollups(ctx, platform.UsageRollupFilter{Org: o.Name, To: usageTo})
	if err != nil {
		return fail(err, "usage before "+usageTo.Format(time.DateOnly))
	}
	if len(early) > 0 {
		earlier(MonthOf(early[0].Hour).Start) // ordered by hour
	}
	if first.IsZero() {
		return nil // never assigned a plan, never used anything
	}

	var errs []error
	for p := MonthOf(first); !now.Before(p.End.Add(iv.opts.Grace)); p = p.Next() {
		if invoiced[p.Start.Unix()] {
			continue
		}
		if ctx.Err() != nil {
			return append(errs, ctx.Err())
		}
		rollups, err := iv.rollups(ctx, o.Name, p)
		if err != nil {
			errs = append(errs, fail(err, "usage", "period", p.String())...)
			continue
		}
		inv, err := Rate(o.Name, p, history, rollups, p.End)
		if err != nil {
			errs = append(errs, fail(err, "rate "+p.String(), "period", p.String())...)
			continue
		}
		created, err := iv.opts.Store.CreateInvoice(ctx, inv)
		if err != nil {
			errs = append(errs, fail(err, "store invoice "+inv.ID, "period", p.String())...)
			continue
		}
		if created {
			iv.log.Info("invoiced a period", "org", o.Name, "invoice", inv.ID, "period", p.String(),
				"total", FormatAmount(inv.Total, inv.Currency), "lines", len(inv.Lines))
		}
	}
	return errs
}

// history returns o's plan history for rating: the stored one, or, for an
// organisation never assigned a plan, the default plan from its creation on.
func (iv *Invoicer) history(o *platform.Org, stored []*platform.PlanAssignment) []Assignment {
	if len(stored) == 0 {
		since := o.CreatedAt.UTC().Truncate(time.Second)
		if since.IsZero() {
			since = time.Unix(0, 0).UTC() // created before organisations kept the time
		}
		return []Assignment{{Plan: iv.opts.Plans.DefaultPlan(), From: since}}
	}
	out := make([]Assignment, len(stored))
	for i, a := range stored {
		out[i] = Assignment{Plan: a.Plan, From: a.From}
	}
	return out
}

// rollups returns org's rollups of period p.
func (iv *Invoicer) rollups(ctx context.Context, org string, p Period) ([]platform.UsageRollup, error) {
	list, err := iv.opts.Store.ListUsageRollups(ctx, platform.UsageRollupFilter{Org: org, From: p.Start, To: p.End})
	if err != nil {
		return nil, err
	}
	out := make([]platform.UsageRollup, len(list))
	for i, r := range list {
		out[i] = *r
	}
	return out, nil
}

// exportOrg exports o's open invoices, oldest first.
func (iv *Invoicer) exportOrg(ctx context.Context, o *platform.Org) []error {
	fail := func(err error, what string, args ...any) []error {
		iv.log.Error("invoice export failed", append([]any{"org", o.Name, "step", what, "err", err}, args...)...)
		return []error{fmt.Errorf("export invoices of organisation %s: %s: %w", o.Name, what, err)}
	}
	open, err := iv.opts.Store.ListInvoices(ctx, o.Name, platform.InvoiceOpen)
	if err != nil {
		return fail(err, "list open invoices")
	}
	if len(open) == 0 {
		return nil
	}
	slices.Reverse(open) // newest first as listed
	customer, err := iv.customer(ctx, o)
	if err != nil {
		return fail(err, "customer")
	}
	var errs []error
	for _, inv := range open {
		if ctx.Err() != nil {
			return append(errs, ctx.Err())
		}
		external, err := iv.opts.Exporter.ExportInvoice(ctx, inv, customer)
		if err != nil {
			errs = append(errs, fail(err, "export "+inv.ID, "invoice", inv.ID)...)
			continue
		}
		if err := iv.opts.Store.MarkInvoiceExported(ctx, inv.ID, external); err != nil {
			errs = append(errs, fail(err, "mark "+inv.ID+" exported as "+external, "invoice", inv.ID)...)
			continue
		}
		iv.log.Info("exported an invoice", "org", o.Name, "invoice", inv.ID, "external_id", external,
			"total", FormatAmount(inv.Total, inv.Currency))
	}
	return errs
}

// customer returns o's customer at the payment provider: the one stored, else the one
// EnsureCustomer finds or creates, which it stores.
func (iv *Invoicer) customer(ctx context.Context, o *platform.Org) (string, error) {
	id, err := iv.opts.Store.BillingCustomer(ctx, o.Name)
	if err != nil || id != "" {
		return id, err
	}
	email := ""
	if iv.opts.CustomerEmail != nil {
		if email, err = iv.opts.CustomerEmail(ctx, o); err != nil {
			return "", fmt.Errorf("billing email: %w", err)
		}
	}
	if id, err = iv.opts.Exporter.EnsureCustomer(ctx, o, email); err != nil {
		return "", err
	}
	if id == "" {
		return "", platform.Errorf(platform.EUNAVAILABLE, "the payment provider returned no customer for organisation %s", o.Name)
	}
	if err := iv.opts.Store.SetBillingCustomer(ctx, o.Name, id); err != nil {
		return "", fmt.Errorf("store customer %s: %w", id, err)
	}
	iv.log.Info("recorded the payment provider's customer of an organisation", "org", o.Name, "customer", id)
	return id, nil
}
